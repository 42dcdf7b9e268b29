/** The plain, immutable data that flows from polling to serving. Nothing here knows about HTTP. */

/** Why a poll failed; every value is exported (at 0) from the start so rate() works at once. */
export const FAILURE_REASONS = [
  'token',
  'timeout',
  'network',
  'throttled',
  'unavailable',
  'unauthorized',
  'forbidden',
  'not_found',
  'http_error',
  'invalid_response',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** What Graph said about the partner security score in one successful poll. */
export interface SecurityScore {
  readonly id?: string;
  readonly currentScore: number;
  readonly maxScore?: number;
  /** lastRefreshDateTime as Unix seconds: when Microsoft last checked the data. */
  readonly lastRefreshTimestamp?: number;
  /** updatedDateTime as Unix seconds: when the score or its data last changed. */
  readonly updatedTimestamp?: number;
}

/** How the most recent poll went. */
export interface PollRecord {
  readonly startedMs: number;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly reason?: FailureReason;
  readonly message?: string;
}

/** Everything known about one partner tenant, replaced as a whole after every poll. */
export interface TenantSnapshot {
  /** AZURE_TENANT_ID, the token's tid claim, "demo", or "unknown" until a token names it. */
  readonly tenantId: string;
  /** The last score read successfully (kept through failed polls). */
  readonly score?: SecurityScore;
  readonly lastSuccessMs?: number;
  readonly lastPoll?: PollRecord;
  readonly nextPollMs?: number;
  readonly polls: number;
  readonly consecutiveFailures: number;
  readonly failures: Readonly<Record<FailureReason, number>>;
  /** Graph requests by HTTP status code ("none" when no response arrived). */
  readonly requests: Readonly<Record<string, number>>;
}

/** The snapshot of a tenant that has not been polled yet. */
export function initialSnapshot(tenantId: string): TenantSnapshot {
  const failures = Object.fromEntries(FAILURE_REASONS.map((r) => [r, 0])) as Record<FailureReason, number>;
  return Object.freeze({ tenantId, polls: 0, consecutiveFailures: 0, failures: Object.freeze(failures), requests: Object.freeze({}) });
}
