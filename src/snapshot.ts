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
  'mfa_required',
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

/** The relations of the score the exporter can read besides the score itself. */
export const RELATIONS = ['requirements', 'history', 'customerInsights', 'securityAlerts'] as const;
export type Relation = (typeof RELATIONS)[number];

/**
 * How a relation fared in the most recent successful poll: read, not available for this tenant
 * (Graph answered 404), failed (any other error; the previous data is kept), or turned off.
 */
export type RelationStatus = 'ok' | 'unavailable' | 'failed' | 'disabled';

/**
 * The requirements a CSP partner's authorization depends on since October 2025: MFA for partner
 * admins, a security contact, security alerts resolved within 24 hours. The others are scored but
 * recommended (and "preview" ones count less). This is a direct partner's (and an indirect
 * provider's) set; mandatoryRequirements() gives each partner type its own.
 */
export const MANDATORY_REQUIREMENTS: readonly string[] = ['mfaEnforcedForAdmins', 'securityContactProvided', 'securityAlertsPromptlyResolved'];

/** The CSP partner types (Partner Center): direct bill, indirect provider, indirect reseller. */
export const PARTNER_TYPES = ['direct', 'indirect_provider', 'indirect_reseller'] as const;
export type PartnerType = (typeof PARTNER_TYPES)[number];

/**
 * What the partner program says about a tenant, from the configuration (partner_type and
 * validation_month in the tenants file, --partner.type and --partner.validation-month).
 */
export interface PartnerProgram {
  readonly type: PartnerType;
  /** The anniversary month (1-12) in which Microsoft validates the requirements every year, when configured. */
  readonly validationMonth?: number;
}

/** A partner that says nothing else: direct, validation month unknown. */
export const DEFAULT_PARTNER_PROGRAM: PartnerProgram = Object.freeze({ type: 'direct' });

/**
 * The one definition of the requirement types a partner's authorization depends on. Indirect
 * resellers are exempt from the alert-response requirement (Partner Center, "New indirect reseller
 * requirements"); direct partners and indirect providers have all three.
 */
export function mandatoryRequirements(type: PartnerType): readonly string[] {
  return type === 'indirect_reseller' ? MANDATORY_REQUIREMENTS.filter((r) => r !== 'securityAlertsPromptlyResolved') : MANDATORY_REQUIREMENTS;
}

/**
 * Whether a requirement counts for the partner's authorization: its type (as Graph sent it) is
 * mandatory for the partner type and it is not in preview (preview requirements are not enforced yet).
 */
export function isMandatory(requirement: Requirement, type: PartnerType): boolean {
  // Enum values compared without case: Graph sends lower camel case, but nothing promises it.
  const sent = requirementTypeOf(requirement).toLowerCase();
  return requirement.state?.toLowerCase() !== 'preview' && mandatoryRequirements(type).some((m) => m.toLowerCase() === sent);
}

/** The requirementType as Graph sent it, also when the label was renamed to tell two of one type apart. */
export function requirementTypeOf(requirement: Requirement): string {
  return requirement.sentType ?? requirement.type;
}

/** The three MFA policy switches Graph reports; undefined when Graph sent an unknown value. */
export const POLICIES = ['securityDefaults', 'mfaConditionalAccessPolicy', 'legacyPerUserMfa'] as const;
export type Policy = (typeof POLICIES)[number];
export type PolicyStatuses = Readonly<Partial<Record<Policy, boolean>>>;

/** What a requirement subtype adds to the base securityRequirement. */
export type RequirementDetails =
  | {
      readonly kind: 'adminsMfa';
      readonly totalAdmins?: number;
      readonly mfaEnabledAdmins?: number;
      readonly adminsRequiredNotUsingMfa?: number;
      readonly totalUsers?: number;
      readonly mfaEnabledUsers?: number;
      readonly usersRequiredNotUsingMfa?: number;
      readonly policies: PolicyStatuses;
    }
  | { readonly kind: 'customersMfa'; readonly compliantTenants?: number; readonly totalTenants?: number }
  | { readonly kind: 'spendingBudget'; readonly customersWithBudget?: number; readonly totalCustomers?: number }
  | { readonly kind: 'responseTime'; readonly averageResponseTimeSeconds?: number };

/** One security requirement as Graph reported it. */
export interface Requirement {
  /**
   * The requirement_type label: the requirementType enum value as sent (unknown future values are
   * kept as they are), renamed "<type>:<id>" when Graph sent two of one type (sentType keeps the type).
   */
  readonly type: string;
  /** The requirementType as sent, set only when type was renamed (requirementTypeOf reads either). */
  readonly sentType?: string;
  /** true compliant, false non-compliant (any spelling), undefined when Graph did not say. */
  readonly compliant?: boolean;
  readonly state?: string;
  readonly actionUrl?: string;
  readonly helpUrl?: string;
  readonly score?: number;
  readonly maxScore?: number;
  readonly updatedTimestamp?: number;
  readonly details?: RequirementDetails;
}

/** The details of the first requirement that carries details of that kind (Graph sends one of each). */
export function requirementDetails<K extends RequirementDetails['kind']>(
  requirements: readonly Requirement[] | undefined,
  kind: K,
): Extract<RequirementDetails, { kind: K }> | undefined {
  for (const r of requirements ?? []) if (r.details?.kind === kind) return r.details as Extract<RequirementDetails, { kind: K }>;
  return undefined;
}

/** One day of the score's history. */
export interface HistoryEntry {
  readonly createdTimestamp: number;
  readonly score?: number;
  readonly compliantRequirements?: number;
  readonly totalRequirements?: number;
}

/** One customer's MFA insight. */
export interface CustomerInsight {
  readonly tenantId: string;
  readonly compliantAdmins?: number;
  readonly compliantNonAdmins?: number;
  readonly totalUsers?: number;
  readonly policies: PolicyStatuses;
}

/** The customer insights of one poll, within the page and customer caps. */
export interface CustomerInsights {
  /** Per-customer data, at most --collector.customer-insights.max-customers of them. */
  readonly customers: readonly CustomerInsight[];
  /** Customers read (all pages fetched), which may exceed customers.length. */
  readonly seen: number;
  /** Customers read with each policy enabled (over all seen). */
  readonly policyEnabled: Readonly<Record<Policy, number>>;
  readonly pages: number;
  /** True when a cap stopped paging or dropped per-customer series. */
  readonly truncated: boolean;
}

/** Which bound cut a relation short: pages, bytes across pages, or the number of items kept. */
export const CAPS = ['pages', 'bytes', 'items'] as const;
export type Cap = (typeof CAPS)[number];

/** How a cap cut a relation short in one poll. */
export interface RelationTruncation {
  /** The bound that stopped reading (pages, bytes) or dropped items (items). */
  readonly cap: Cap;
  /** Items read from Graph (only those on the pages read). */
  readonly seen: number;
  /** Items kept, at most the relation's item cap. */
  readonly kept: number;
}

/** Graph's securityAlertStatus value for a closed alert (any other status counts as open, unless the alert has a resolution date). */
export const RESOLVED_ALERT_STATUS = 'resolved';
/** securityAlertStatus as documented; compared without case and labelled in this spelling. */
export const ALERT_STATUSES: readonly string[] = ['active', 'resolved', 'investigating', 'unknownFutureValue'];
/** securityAlertSeverity as documented; compared without case and labelled in this spelling. */
export const ALERT_SEVERITIES: readonly string[] = ['informational', 'high', 'medium', 'low', 'unknownFutureValue'];
/** securityAlertResolvedReason as documented; compared without case and kept in this spelling. */
export const ALERT_RESOLVED_REASONS: readonly string[] = ['legitimate', 'ignore', 'fraud'];
/** The status or severity of an alert that carries none. */
export const UNKNOWN_ALERT_VALUE = 'unknown';

/**
 * One partner security alert, reduced to what the metrics, the status page and the demo need.
 * resolvedBy, activityLogs, descriptions and affected resources are personal or free text: they
 * are never read into the snapshot, so nothing downstream can leak them.
 */
export interface SecurityAlert {
  /** Graph's id, bounded; used to tell alerts apart, never a metric label. */
  readonly id?: string;
  /** alertType as sent, bounded label text ("unknown" when absent). */
  readonly alertType: string;
  /** status in its documented spelling (ALERT_STATUSES), other values as sent; "unknown" when absent. */
  readonly status: string;
  /** severity in its documented spelling (ALERT_SEVERITIES), other values as sent; "unknown" when absent. */
  readonly severity: string;
  /** The affected customer's tenant id, bounded label text. */
  readonly customerTenantId?: string;
  /** detectedDateTime as Unix seconds (absent when more than a day ahead of the poll). */
  readonly detectedTimestamp?: number;
  /** resolvedOnDateTime as Unix seconds (absent when more than a day ahead of the poll). */
  readonly resolvedTimestamp?: number;
  /** resolvedReason as sent (legitimate, ignore, fraud, or a value Microsoft adds), bounded label text. */
  readonly resolvedReason?: string;
  /** isTest (true, or "true" in any case): test alerts are counted apart and never page. */
  readonly isTest: boolean;
  /** Not resolved: status is not "resolved" (in any case) and the alert carries no resolution date. */
  readonly open: boolean;
}

/** Open alerts sharing status, severity and (possibly folded) type. */
export interface OpenAlertCount {
  readonly status: string;
  readonly severity: string;
  readonly alertType: string;
  readonly count: number;
}

/** One customer's open alerts of one type and severity. */
export interface CustomerOpenAlerts {
  readonly customerTenantId: string;
  readonly alertType: string;
  readonly severity: string;
  readonly count: number;
  /** detectedDateTime of the oldest of them, Unix seconds (absent when none says). */
  readonly oldestDetectedTimestamp?: number;
}

/**
 * The partner security alerts of one poll, within the page, byte and alert caps, added up as they
 * were read (src/collect/security-alerts.ts): what the metrics and the status page show, not the
 * alerts themselves (a tenant at the default cap reads 10,000 of them every poll). Labels are
 * already bounded here (status, severity and type folded into "other", customers capped). Only
 * the windows that end at the render move with the clock: for them, the dated alerts keep a few
 * numbers each.
 */
export interface SecurityAlerts {
  /** Alerts read (distinct ids over the pages read). */
  readonly seen: number;
  /** Alerts within --collector.security-alerts.max-alerts: every open one first, then the most recently resolved. */
  readonly kept: number;
  /** alert_type values that get a label of their own (--collector.security-alerts.max-alert-types). */
  readonly maxAlertTypes: number;
  /** Customers that get per-customer series: 0 unless --collector.security-alerts.customers. */
  readonly maxCustomers: number;
  /** Open non-test alerts by status, severity and type, labels bounded, in the order first read. */
  readonly open: readonly OpenAlertCount[];
  /** Open test alerts (isTest) by severity, in the order first read. */
  readonly testOpen: readonly (readonly [severity: string, count: number])[];
  /** Detection time of the oldest open non-test alert, by severity, in the order first read. */
  readonly oldestOpenBySeverity: readonly (readonly [severity: string, timestamp: number])[];
  /** Alert types, statuses and severities counted under "other". */
  readonly foldedTypes: number;
  readonly foldedStatuses: number;
  readonly foldedSeverities: number;
  /** The oldest open non-test alerts with a detection time, oldest first, labels bounded (a few, for the status page). */
  readonly oldestOpen: readonly SecurityAlert[];
  /** Per customer, type and severity, for the customers kept (those with the oldest open alerts first). */
  readonly customers: readonly CustomerOpenAlerts[];
  /** Customers in customers. */
  readonly customersKept: number;
  /** Customers with open non-test alerts, beyond the per-customer caps too. */
  readonly customersWithOpenAlerts: number;
  /**
   * The kept non-test alerts that carry a date, in the order kept (open ones first, then resolved,
   * newest first): detection and resolution times (NaN where none, or open), Unix seconds; the
   * severity as sent (an index into severities) and the resolution reason (an index into
   * ALERT_RESOLVED_REASONS, its length for any other).
   */
  readonly dated: {
    readonly detectedAt: Float64Array;
    readonly resolvedAt: Float64Array;
    readonly severity: Uint32Array;
    readonly reason: Uint8Array;
    readonly severities: readonly string[];
  };
}

/** The relations' data and how each fared. */
export interface RelationsData {
  readonly requirements?: readonly Requirement[];
  readonly history?: readonly HistoryEntry[];
  readonly customerInsights?: CustomerInsights;
  readonly securityAlerts?: SecurityAlerts;
}

/** How the most recent poll went. */
export interface PollRecord {
  /** Unix time in milliseconds (wall clock). */
  readonly startedMs: number;
  /** Measured on the monotonic clock: never negative, never longer than the poll took. */
  readonly durationMs: number;
  readonly ok: boolean;
  readonly reason?: FailureReason;
  readonly message?: string;
}

/** Everything known about one partner tenant, replaced as a whole after every poll. */
export interface TenantSnapshot {
  /** AZURE_TENANT_ID, the token's tid claim, "demo", or "unknown" until a token names it. */
  readonly tenantId: string;
  /** Constant labels from the tenants file (empty for the single-tenant flags). */
  readonly labels: Readonly<Record<string, string>>;
  /** The partner type and validation month configured for the tenant. */
  readonly partner: PartnerProgram;
  /** The last score read successfully (kept through failed polls). */
  readonly score?: SecurityScore;
  /** The last relation data read successfully (each kept through a failure of its own). */
  readonly relations: RelationsData;
  /** How each relation fared in the last successful poll (absent before one). */
  readonly relationStatus: Readonly<Partial<Record<Relation, RelationStatus>>>;
  /** The relations whose kept data a cap cut short (kept with the data, like it). */
  readonly truncated?: Readonly<Partial<Record<Relation, RelationTruncation>>>;
  /**
   * When each relation's kept data was read (ms): a relation that keeps failing keeps its old data,
   * and what depends on it being current (the authorization signal) must see its age.
   */
  readonly relationsReadMs?: Readonly<Partial<Record<Relation, number>>>;
  /** The same moments on the monotonic clock (src/lib/clock.ts): a relation's age is measured on it. */
  readonly relationsReadMonoMs?: Readonly<Partial<Record<Relation, number>>>;
  /** Unix time in milliseconds of the last successful poll (wall clock: shown and exported). */
  readonly lastSuccessMs?: number;
  /** The same moment on the monotonic clock (src/lib/clock.ts): the score's age is measured on it, so a clock step never ages it. */
  readonly lastSuccessMonoMs?: number;
  readonly lastPoll?: PollRecord;
  readonly nextPollMs?: number;
  readonly polls: number;
  readonly consecutiveFailures: number;
  readonly failures: Readonly<Record<FailureReason, number>>;
  /** Graph requests by HTTP status code ("none" when no response arrived). */
  readonly requests: Readonly<Record<string, number>>;
}

/** The snapshot of a tenant that has not been polled yet. */
export function initialSnapshot(
  tenantId: string,
  labels: Readonly<Record<string, string>> = {},
  partner: PartnerProgram = DEFAULT_PARTNER_PROGRAM,
): TenantSnapshot {
  const failures = Object.fromEntries(FAILURE_REASONS.map((r) => [r, 0])) as Record<FailureReason, number>;
  return Object.freeze({
    tenantId,
    labels: Object.freeze({ ...labels }),
    partner: Object.freeze({ ...partner }),
    relations: Object.freeze({}),
    relationStatus: Object.freeze({}),
    polls: 0,
    consecutiveFailures: 0,
    failures: Object.freeze(failures),
    requests: Object.freeze({}),
  });
}
