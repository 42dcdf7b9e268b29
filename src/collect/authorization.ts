/**
 * Is the partner's CSP authorization at risk? One answer from one snapshot, for the metrics, the
 * status page and /api/status alike: at risk (a mandatory requirement is not compliant), not at
 * risk (every mandatory requirement is there and compliant), or unknown, and why. Never a
 * reassuring "not at risk" without current data: a mandatory requirement Graph did not send, one
 * without a compliance status, requirements not read or older than --poll.max-staleness all make
 * the answer unknown unless another mandatory requirement already puts the partner at risk.
 */
import {
  isMandatory,
  mandatoryRequirements,
  type PartnerType,
  type RelationStatus,
  type Requirement,
  requirementTypeOf,
  type TenantSnapshot,
} from '../snapshot.js';

/** Why the answer is (partly) unknown. */
export type UnknownReason =
  /** No successful poll yet. */
  | { readonly kind: 'not_polled' }
  /** The requirements were not read in the last successful poll: turned off, not offered for the tenant, failed without earlier data. */
  | { readonly kind: 'not_read'; readonly status: RelationStatus | null }
  /** The requirements were last read at readMs, longer ago than --poll.max-staleness. */
  | { readonly kind: 'stale'; readonly readMs: number }
  /** Mandatory requirement types Graph's answer did not contain. */
  | { readonly kind: 'missing'; readonly types: readonly string[] }
  /** Mandatory requirements Graph sent without a compliance status. */
  | { readonly kind: 'compliance_unknown'; readonly types: readonly string[] };

/** The authorization signal of one tenant at one moment. */
export interface AuthorizationAssessment {
  readonly state: 'at_risk' | 'not_at_risk' | 'unknown';
  readonly partnerType: PartnerType;
  /** The requirement types mandatory for this partner type. */
  readonly mandatory: readonly string[];
  /** The mandatory requirements not compliant now, every one Graph sent (a type sent twice counts twice). */
  readonly failing: readonly Requirement[];
  /** Why the state is unknown; beside "at_risk", what else is not known. Empty when everything is known. */
  readonly unknown: readonly UnknownReason[];
  /** When the requirements were read (ms), when they were. */
  readonly readMs?: number;
  /** The start of the anniversary month (ms, UTC) of the next validation, when the month is configured. */
  readonly nextValidationMs?: number;
}

/**
 * The start (UTC) of the anniversary month whose validation is still ahead or under way: this
 * year's month until it has ended, then next year's. Inside the month it is the month's start,
 * already past: the validation is under way.
 */
export function nextValidationMs(month: number, nowMs: number): number {
  const year = new Date(nowMs).getUTCFullYear();
  return nowMs < Date.UTC(year, month, 1) ? Date.UTC(year, month - 1, 1) : Date.UTC(year + 1, month - 1, 1);
}

/** When the tenant's requirements were read (ms): kept through failures, so possibly long ago. */
function requirementsReadMs(t: TenantSnapshot): number | undefined {
  // Snapshots made before relationsReadMs existed (and in tests) read their requirements at the last success.
  return t.relations.requirements === undefined ? undefined : (t.relationsReadMs?.requirements ?? t.lastSuccessMs);
}

/**
 * Whether the tenant's requirements are older than maxStalenessMs (0: never) at nowMs. Aged on the
 * monotonic clock (monoNowMs, as the poller's) when the snapshot has the read's monotonic time, so a
 * wall-clock step neither ages nor freshens them. Allocates nothing: a scrape asks it.
 */
export function requirementsStale(t: TenantSnapshot, nowMs: number, maxStalenessMs: number, monoNowMs?: number): boolean {
  const readMs = requirementsReadMs(t);
  if (readMs === undefined || maxStalenessMs <= 0) return false;
  const readMonoMs = t.relationsReadMonoMs?.requirements ?? (t.relationsReadMs?.requirements === undefined ? t.lastSuccessMonoMs : undefined);
  const ageMs = readMonoMs !== undefined && monoNowMs !== undefined ? monoNowMs - readMonoMs : nowMs - readMs;
  return ageMs > maxStalenessMs;
}

/**
 * Assesses a tenant at nowMs. Requirements read longer than maxStalenessMs ago are stale (0: never),
 * as the metrics drop a score that old.
 */
export function assessAuthorization(t: TenantSnapshot, nowMs: number, maxStalenessMs: number, monoNowMs?: number): AuthorizationAssessment {
  const partnerType = t.partner.type;
  const mandatory = mandatoryRequirements(partnerType);
  const month = t.partner.validationMonth;
  const base = { partnerType, mandatory, ...(month === undefined ? {} : { nextValidationMs: nextValidationMs(month, nowMs) }) };
  const unknown = (reason: UnknownReason): AuthorizationAssessment => ({ ...base, state: 'unknown', failing: [], unknown: [reason] });

  const requirements = t.relations.requirements;
  if (requirements === undefined) {
    if (t.lastSuccessMs === undefined) return unknown({ kind: 'not_polled' });
    return unknown({ kind: 'not_read', status: t.relationStatus.requirements ?? null });
  }
  const readMs = requirementsReadMs(t);
  if (readMs === undefined) return unknown({ kind: 'not_polled' });
  if (requirementsStale(t, nowMs, maxStalenessMs, monoNowMs)) return { ...unknown({ kind: 'stale', readMs }), readMs };

  const counted = requirements.filter((r) => isMandatory(r, partnerType));
  const failing = counted.filter((r) => r.compliant === false);
  const sent = new Set(requirements.map((r) => requirementTypeOf(r).toLowerCase()));
  const missing = mandatory.filter((type) => !sent.has(type.toLowerCase()));
  const undecided = [...new Set(counted.filter((r) => r.compliant === undefined).map((r) => r.type))];
  const reasons: UnknownReason[] = [
    ...(missing.length === 0 ? [] : [{ kind: 'missing', types: missing } as const]),
    ...(undecided.length === 0 ? [] : [{ kind: 'compliance_unknown', types: undecided } as const]),
  ];
  const state = failing.length > 0 ? 'at_risk' : reasons.length > 0 ? 'unknown' : 'not_at_risk';
  return { ...base, state, failing, unknown: reasons, readMs };
}
