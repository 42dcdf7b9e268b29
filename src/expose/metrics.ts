/** The exposition: per-tenant series from the latest snapshots (so vanished series vanish), the web server's and the process's. */
import { Registry } from 'prom-client';
import { type AuthorizationAssessment, assessAuthorization, nextValidationMs, requirementsStale } from '../collect/authorization.js';
import { BUDGET_CUTS, type BudgetState } from '../collect/budget.js';
import { type AlertSummary, MAX_ALERT_SERIES, MAX_OTHER_ALERT_VALUES, OTHER_RESOLVED_REASON, summarizeAlerts } from '../collect/security-alerts.js';
import {
  ALERT_RESOLVED_REASONS,
  FAILURE_REASONS,
  isMandatory,
  POLICIES,
  type PolicyStatuses,
  RELATIONS,
  type RequirementDetails,
  requirementDetails,
  type TenantSnapshot,
} from '../snapshot.js';
import { createDataPartCache, type DataRender, type DataResult } from './data-part.js';
import { deflateFinal, gzipOfSegments } from './gzip.js';
import { createProcessMetrics, type ProcessReading } from './process-metrics.js';
import type { BuildInfo, MetricSpec, RenderContext, Sample } from './render.js';

type Labels = Record<string, string>;

const CACHED = 'Cached: refreshed every poll, not at scrape time.';

/** The score while it is fresh enough to show (see --poll.max-staleness). */
function freshScore(t: TenantSnapshot, ctx: RenderContext) {
  if (t.score === undefined || t.lastSuccessMs === undefined) return undefined;
  // Aged on the monotonic clock when the snapshot has it: a wall-clock step must not age a score.
  const ageMs = t.lastSuccessMonoMs === undefined ? ctx.nowMs - t.lastSuccessMs : ctx.monoNowMs - t.lastSuccessMonoMs;
  if (ctx.maxStalenessMs > 0 && ageMs > ctx.maxStalenessMs) return undefined;
  return t.score;
}

function one(value: number | undefined): Sample[] {
  return value === undefined ? [] : [[{}, value]];
}

/** The tenant's data while its score is fresh enough to show; relation data goes stale with it. */
function fresh(t: TenantSnapshot, ctx: RenderContext) {
  return freshScore(t, ctx) === undefined ? undefined : t.relations;
}

function bit(value: boolean | undefined): number | undefined {
  return value === undefined ? undefined : value ? 1 : 0;
}

/** One sample from the first requirement carrying the given subtype details. */
function detail<K extends RequirementDetails['kind']>(kind: K, read: (d: Extract<RequirementDetails, { kind: K }>) => number | undefined) {
  return (t: TenantSnapshot, ctx: RenderContext): Sample[] => {
    const found = requirementDetails(fresh(t, ctx)?.requirements, kind);
    return one(found === undefined ? undefined : read(found));
  };
}

function policySamples(policies: PolicyStatuses, extra: Labels = {}): Sample[] {
  return POLICIES.flatMap((policy) => {
    const value = bit(policies[policy]);
    return value === undefined ? [] : [[{ ...extra, policy }, value] as const];
  });
}

function perRequirement(read: (r: NonNullable<NonNullable<TenantSnapshot['relations']['requirements']>[number]>) => number | undefined) {
  return (t: TenantSnapshot, ctx: RenderContext): Sample[] =>
    (fresh(t, ctx)?.requirements ?? []).flatMap((r) => {
      const value = read(r);
      return value === undefined ? [] : [[{ requirement_type: r.type }, value] as const];
    });
}

function latestHistory(t: TenantSnapshot, ctx: RenderContext) {
  const history = fresh(t, ctx)?.history;
  return history?.[history.length - 1];
}

function perCustomer(read: (c: NonNullable<TenantSnapshot['relations']['customerInsights']>['customers'][number]) => number | undefined) {
  return (t: TenantSnapshot, ctx: RenderContext): Sample[] =>
    (fresh(t, ctx)?.customerInsights?.customers ?? []).flatMap((c) => {
      const value = read(c);
      return value === undefined ? [] : [[{ customer_tenant_id: c.tenantId }, value] as const];
    });
}

// One assessment per snapshot and render time, shared by the authorization rows.
const assessments = new WeakMap<TenantSnapshot, { nowMs: number; assessment: AuthorizationAssessment }>();

/** Whether the tenant's authorization is at risk, as of the render (src/collect/authorization.ts). */
function authorization(t: TenantSnapshot, ctx: RenderContext): AuthorizationAssessment {
  const cached = assessments.get(t);
  if (cached !== undefined && cached.nowMs === ctx.nowMs) return cached.assessment;
  const assessment = assessAuthorization(t, ctx.nowMs, ctx.maxStalenessMs, ctx.monoNowMs);
  assessments.set(t, { nowMs: ctx.nowMs, assessment });
  return assessment;
}

/** The count of failing mandatory requirements, absent while the answer is unknown: never a reassuring 0 without data. */
function failingMandatory(t: TenantSnapshot, ctx: RenderContext): number | undefined {
  const a = authorization(t, ctx);
  return a.state === 'unknown' ? undefined : a.failing.length;
}

// One summary per snapshot and render time: the alert rows below share it instead of each adding up the alerts.
const alertSummaries = new WeakMap<TenantSnapshot, { nowMs: number; summary: AlertSummary | undefined }>();

/** The tenant's security alerts added up as of the render, while its data is fresh enough to show. */
function alertSummary(t: TenantSnapshot, ctx: RenderContext): AlertSummary | undefined {
  const cached = alertSummaries.get(t);
  if (cached !== undefined && cached.nowMs === ctx.nowMs) return cached.summary;
  const alerts = fresh(t, ctx)?.securityAlerts;
  const summary = alerts === undefined ? undefined : summarizeAlerts(alerts, ctx.nowMs / 1000);
  alertSummaries.set(t, { nowMs: ctx.nowMs, summary });
  return summary;
}

/** The partner tenant's MFA counts (mfaEnforcedForAdmins details): one unlabelled gauge each. */
const MFA_COUNTS: readonly (readonly [string, string, (d: Extract<RequirementDetails, { kind: 'adminsMfa' }>) => number | undefined])[] = [
  ['partner_security_admins', 'Admins in the partner tenant (mfaEnforcedForAdmins).', (d) => d.totalAdmins],
  ['partner_security_admins_mfa_enabled', 'Partner tenant admins with MFA enabled.', (d) => d.mfaEnabledAdmins],
  ['partner_security_admins_required_not_using_mfa', 'Partner tenant admins required to use MFA who do not.', (d) => d.adminsRequiredNotUsingMfa],
  ['partner_security_users', 'Users in the partner tenant.', (d) => d.totalUsers],
  ['partner_security_users_mfa_enabled', 'Partner tenant users with MFA enabled.', (d) => d.mfaEnabledUsers],
  ['partner_security_users_required_not_using_mfa', 'Partner tenant users required to use MFA who do not.', (d) => d.usersRequiredNotUsingMfa],
];

/** Per-customer counts from customer insights: one gauge each, labelled by customer. */
const CUSTOMER_COUNTS: readonly (readonly [string, string, Parameters<typeof perCustomer>[0]])[] = [
  ['partner_security_customer_admins_mfa_compliant', 'Customer admins compliant with MFA (customer insights).', (c) => c.compliantAdmins],
  ['partner_security_customer_non_admins_mfa_compliant', 'Customer non-admin users compliant with MFA (customer insights).', (c) => c.compliantNonAdmins],
  ['partner_security_customer_users', 'Users in a customer tenant (customer insights).', (c) => c.totalUsers],
];

/** Live names that backfill (src/cli/backfill.ts) writes the score history under too. */
export const SCORE_CURRENT = 'partner_security_score_current';
export const HISTORY_COMPLIANT_REQUIREMENTS = 'partner_security_history_compliant_requirements';
export const HISTORY_REQUIREMENTS = 'partner_security_history_requirements';

/**
 * How a tenant's series are labelled (live and backfilled): tenant_id, then every constant label
 * any tenant carries, blank where this tenant has none.
 */
export function tenantLabeller(constant: readonly string[]): (tenantId: string, labels: Readonly<Record<string, string>>) => Labels {
  const blank = Object.fromEntries(constant.map((name) => [name, '']));
  return (tenantId, labels) => ({ tenant_id: tenantId, ...blank, ...labels });
}

/** Every per-tenant metric. A new piece of Graph data is a new row here. */
export const TENANT_METRICS: readonly MetricSpec[] = [
  {
    name: SCORE_CURRENT,
    type: 'gauge',
    labels: [],
    help: `Partner security score reported by Graph (currentScore, 0 to the maximum). ${CACHED}`,
    samples: (t, c) => one(freshScore(t, c)?.currentScore),
  },
  {
    name: 'partner_security_score_max',
    type: 'gauge',
    labels: [],
    help: `Highest partner security score attainable (maxScore). ${CACHED}`,
    samples: (t, c) => one(freshScore(t, c)?.maxScore),
  },
  {
    name: 'partner_security_score_last_refresh_timestamp',
    type: 'gauge',
    labels: [],
    help: `Unix time in seconds Microsoft last checked the partner's security data (lastRefreshDateTime). ${CACHED}`,
    samples: (t, c) => one(freshScore(t, c)?.lastRefreshTimestamp),
  },
  {
    name: 'partner_security_score_updated_timestamp',
    type: 'gauge',
    labels: [],
    help: `Unix time in seconds the score or its data last changed (updatedDateTime). ${CACHED}`,
    samples: (t, c) => one(freshScore(t, c)?.updatedTimestamp),
  },
  {
    name: 'partner_security_requirement_score',
    type: 'gauge',
    labels: ['requirement_type'],
    help: `Points a security requirement currently earns. ${CACHED}`,
    samples: perRequirement((r) => r.score),
  },
  {
    name: 'partner_security_requirement_max_score',
    type: 'gauge',
    labels: ['requirement_type'],
    help: `Points a security requirement can earn. ${CACHED}`,
    samples: perRequirement((r) => r.maxScore),
  },
  {
    name: 'partner_security_requirement_compliant',
    type: 'gauge',
    labels: ['requirement_type'],
    help: `1 if the requirement is compliant, 0 if not; absent when Graph does not say. ${CACHED}`,
    samples: perRequirement((r) => bit(r.compliant)),
  },
  {
    name: 'partner_security_requirement_info',
    type: 'gauge',
    labels: ['requirement_type', 'state', 'action_url', 'help_url'],
    help: `Constant 1 describing a requirement: state (active or preview) and its action and help links. ${CACHED}`,
    samples: (t, c) =>
      (fresh(t, c)?.requirements ?? []).map(
        (r) => [{ requirement_type: r.type, state: r.state ?? '', action_url: r.actionUrl ?? '', help_url: r.helpUrl ?? '' }, 1] as const,
      ),
  },
  {
    name: 'partner_security_requirement_updated_timestamp',
    type: 'gauge',
    labels: ['requirement_type'],
    help: `Unix time in seconds the requirement's data last changed (updatedDateTime). ${CACHED}`,
    samples: perRequirement((r) => r.updatedTimestamp),
  },
  {
    name: 'partner_security_requirement_mandatory',
    type: 'gauge',
    labels: ['requirement_type'],
    help: `1 if the requirement is mandatory for this partner's type (partner_type, --partner.type) and not in preview, else 0 (recommended). ${CACHED}`,
    samples: (t, c) => perRequirement((r) => (isMandatory(r, t.partner.type) ? 1 : 0))(t, c),
  },
  {
    name: 'partner_security_mandatory_requirements_noncompliant',
    type: 'gauge',
    labels: [],
    help: `Requirements mandatory for this partner's type that Graph reports as not compliant now (each counted, a type sent twice too); absent when not known (requirements not read, stale, or a mandatory one missing or without a status, unless another is already not compliant). ${CACHED}`,
    samples: (t, c) => one(failingMandatory(t, c)),
  },
  {
    name: 'partner_security_authorization_at_risk',
    type: 'gauge',
    labels: [],
    help: `1 if a requirement mandatory for this partner is not compliant, so its CSP authorization is at risk at the next validation; 0 if every mandatory requirement is reported and compliant; absent when not known, never 0 without current data. ${CACHED}`,
    samples: (t, c) => {
      const failing = failingMandatory(t, c);
      return one(failing === undefined ? undefined : bit(failing > 0));
    },
  },
  {
    name: 'partner_security_next_validation_timestamp_seconds',
    type: 'gauge',
    labels: [],
    help: 'Unix time in seconds of the start (UTC) of the anniversary month in which Microsoft next validates the requirements (validation_month, --partner.validation-month); inside that month, its start; absent when not configured.',
    samples: (t, c) => one(t.partner.validationMonth === undefined ? undefined : nextValidationMs(t.partner.validationMonth, c.nowMs) / 1000),
  },
  ...MFA_COUNTS.map(([name, help, read]): MetricSpec => ({ name, type: 'gauge', labels: [], help: `${help} ${CACHED}`, samples: detail('adminsMfa', read) })),
  {
    name: 'partner_security_mfa_policy_enabled',
    type: 'gauge',
    labels: ['policy'],
    help: `1 if an MFA policy of the partner tenant is enabled, 0 if disabled (policy: ${POLICIES.join(', ')}). ${CACHED}`,
    samples: (t, c) => {
      const d = requirementDetails(fresh(t, c)?.requirements, 'adminsMfa');
      return d === undefined ? [] : policySamples(d.policies);
    },
  },
  {
    name: 'partner_security_customer_tenants',
    type: 'gauge',
    labels: [],
    help: `Customer tenants evaluated for admin MFA (mfaEnforcedForAdminsOfCustomers). ${CACHED}`,
    samples: detail('customersMfa', (d) => d.totalTenants),
  },
  {
    name: 'partner_security_customer_tenants_mfa_enforced',
    type: 'gauge',
    labels: [],
    help: `Customer tenants with MFA enforced for their admins. ${CACHED}`,
    samples: detail('customersMfa', (d) => d.compliantTenants),
  },
  {
    name: 'partner_security_spending_budget_customers',
    type: 'gauge',
    labels: [],
    help: `Customers with Azure subscriptions evaluated for a spending budget. ${CACHED}`,
    samples: detail('spendingBudget', (d) => d.totalCustomers),
  },
  {
    name: 'partner_security_spending_budget_customers_with_budget',
    type: 'gauge',
    labels: [],
    help: `Customers with a spending budget set on their Azure subscriptions. ${CACHED}`,
    samples: detail('spendingBudget', (d) => d.customersWithBudget),
  },
  {
    name: 'partner_security_alert_response_time_average_seconds',
    type: 'gauge',
    labels: [],
    help: `Average time to respond to security alerts over the last 30 days, in seconds (the requirement is 24 hours). ${CACHED}`,
    samples: detail('responseTime', (d) => d.averageResponseTimeSeconds),
  },
  {
    name: HISTORY_COMPLIANT_REQUIREMENTS,
    type: 'gauge',
    labels: [],
    help: `Compliant requirements in the latest score history entry. ${CACHED}`,
    samples: (t, c) => one(latestHistory(t, c)?.compliantRequirements),
  },
  {
    name: HISTORY_REQUIREMENTS,
    type: 'gauge',
    labels: [],
    help: `Requirements evaluated in the latest score history entry. ${CACHED}`,
    samples: (t, c) => one(latestHistory(t, c)?.totalRequirements),
  },
  {
    name: 'partner_security_history_latest_timestamp',
    type: 'gauge',
    labels: [],
    help: `Unix time in seconds of the latest score history entry (createdDateTime). ${CACHED}`,
    samples: (t, c) => one(latestHistory(t, c)?.createdTimestamp),
  },
  ...CUSTOMER_COUNTS.map(
    ([name, help, read]): MetricSpec => ({ name, type: 'gauge', labels: ['customer_tenant_id'], help: `${help} ${CACHED}`, samples: perCustomer(read) }),
  ),
  {
    name: 'partner_security_customer_mfa_policy_enabled',
    type: 'gauge',
    labels: ['customer_tenant_id', 'policy'],
    help: `1 if an MFA policy of a customer tenant is enabled, 0 if disabled (customer insights). ${CACHED}`,
    samples: (t, c) =>
      (fresh(t, c)?.customerInsights?.customers ?? []).flatMap((customer) => policySamples(customer.policies, { customer_tenant_id: customer.tenantId })),
  },
  {
    name: 'partner_security_customer_insights_customers',
    type: 'gauge',
    labels: [],
    help: `Customers read from customer insights (all pages read, beyond the per-customer cap). ${CACHED}`,
    samples: (t, c) => one(fresh(t, c)?.customerInsights?.seen),
  },
  {
    name: 'partner_security_customer_insights_policy_enabled_customers',
    type: 'gauge',
    labels: ['policy'],
    help: `Customers read from customer insights with an MFA policy enabled. ${CACHED}`,
    samples: (t, c) => {
      const insights = fresh(t, c)?.customerInsights;
      return insights === undefined ? [] : POLICIES.map((policy) => [{ policy }, insights.policyEnabled[policy]] as const);
    },
  },
  {
    name: 'partner_security_customer_insights_pages',
    type: 'gauge',
    labels: [],
    help: `Pages of customer insights read in the last poll. ${CACHED}`,
    samples: (t, c) => one(fresh(t, c)?.customerInsights?.pages),
  },
  {
    name: 'partner_security_customer_insights_truncated',
    type: 'gauge',
    labels: [],
    help: '1 if a cap (--collector.max-pages, --collector.max-bytes, --collector.customer-insights.max-customers) left customers out, else 0.',
    samples: (t, c) => one(bit(fresh(t, c)?.customerInsights?.truncated)),
  },
  {
    name: 'partner_security_alerts_open',
    type: 'gauge',
    labels: ['status', 'severity', 'alert_type'],
    help: `Open partner security alerts (not resolved and without a resolution date), test alerts excluded; alert types beyond --collector.security-alerts.max-alert-types, and statuses and severities beyond the documented ones and ${MAX_OTHER_ALERT_VALUES} others, count as "other"; at most ${MAX_ALERT_SERIES} series per tenant. ${CACHED}`,
    samples: (t, c) => (alertSummary(t, c)?.open ?? []).map((o) => [{ status: o.status, severity: o.severity, alert_type: o.alertType }, o.count] as const),
  },
  {
    name: 'partner_security_alerts_oldest_open_detected_timestamp_seconds',
    type: 'gauge',
    labels: ['severity'],
    help: `Unix time in seconds the oldest open non-test security alert of a severity was detected (detectedDateTime); time() minus it is its age. ${CACHED}`,
    samples: (t, c) => [...(alertSummary(t, c)?.oldestOpenBySeverity ?? [])].map(([severity, ts]) => [{ severity }, ts] as const),
  },
  {
    name: 'partner_security_alerts_test_open',
    type: 'gauge',
    labels: ['severity'],
    help: `Open test security alerts (isTest), counted apart from partner_security_alerts_open: they never page. ${CACHED}`,
    samples: (t, c) => [...(alertSummary(t, c)?.testOpen ?? [])].map(([severity, n]) => [{ severity }, n] as const),
  },
  {
    name: 'partner_security_alerts_detected_7d',
    type: 'gauge',
    labels: ['severity'],
    help: `Non-test security alerts detected (detectedDateTime) in the 7 days before the poll, open or resolved, by severity: Partner Center's "new this week". ${CACHED}`,
    samples: (t, c) => [...(alertSummary(t, c)?.detectedLast7Days ?? [])].map(([severity, n]) => [{ severity }, n] as const),
  },
  {
    name: 'partner_security_alerts_resolved_30d',
    type: 'gauge',
    labels: ['reason'],
    help: `Non-test security alerts resolved (resolvedOnDateTime) in the 30 days before the poll, the window Microsoft averages over, by resolvedReason (${[...ALERT_RESOLVED_REASONS, OTHER_RESOLVED_REASON].join(', ')}: any other value or none). ${CACHED}`,
    samples: (t, c) => [...(alertSummary(t, c)?.resolvedByReason ?? [])].map(([reason, n]) => [{ reason }, n] as const),
  },
  {
    name: 'partner_security_alerts_response_time_30d_average_seconds',
    type: 'gauge',
    labels: [],
    help: `The exporter's own average of resolvedOnDateTime minus detectedDateTime over the non-test alerts resolved in the last 30 days, in seconds; absent without one. It estimates what Graph reports as averageResponseTimeInHours (partner_security_alert_response_time_average_seconds) from the alerts themselves: it follows each resolution at once, while Graph's figure changes when Microsoft refreshes the score. ${CACHED}`,
    samples: (t, c) => one(alertSummary(t, c)?.averageResponseSeconds),
  },
  {
    name: 'partner_security_alerts_folded_alert_types',
    type: 'gauge',
    labels: [],
    help: `Alert types of open alerts counted under alert_type="other" because of --collector.security-alerts.max-alert-types or the bound of ${MAX_ALERT_SERIES} series per alert family (0 when none). ${CACHED}`,
    samples: (t, c) => one(alertSummary(t, c)?.foldedTypes),
  },
  {
    name: 'partner_security_alerts_folded_statuses',
    type: 'gauge',
    labels: [],
    help: `Status values of open alerts counted under status="other": beyond the documented ones, "unknown" and ${MAX_OTHER_ALERT_VALUES} others (0 when none). ${CACHED}`,
    samples: (t, c) => one(alertSummary(t, c)?.foldedStatuses),
  },
  {
    name: 'partner_security_alerts_folded_severities',
    type: 'gauge',
    labels: [],
    help: `Severity values of open alerts counted under severity="other": beyond the documented ones, "unknown" and ${MAX_OTHER_ALERT_VALUES} others (0 when none). ${CACHED}`,
    samples: (t, c) => one(alertSummary(t, c)?.foldedSeverities),
  },
  {
    name: 'partner_security_customer_alerts_open',
    type: 'gauge',
    labels: ['customer_tenant_id', 'severity'],
    help: `Open non-test security alerts of a customer tenant by severity (--collector.security-alerts.customers). ${CACHED}`,
    samples: (t, c) => {
      const bySeverity = new Map<string, { customer_tenant_id: string; severity: string; n: number }>();
      for (const g of alertSummary(t, c)?.customers ?? []) {
        const key = JSON.stringify([g.customerTenantId, g.severity]);
        const entry = bySeverity.get(key) ?? { customer_tenant_id: g.customerTenantId, severity: g.severity, n: 0 };
        entry.n += g.count;
        bySeverity.set(key, entry);
      }
      return [...bySeverity.values()].map(({ n, ...labels }) => [labels, n] as const);
    },
  },
  {
    name: 'partner_security_customer_alerts_oldest_open_detected_timestamp_seconds',
    type: 'gauge',
    labels: ['customer_tenant_id', 'alert_type', 'severity'],
    help: `Unix time in seconds the oldest open non-test alert of a customer, type and severity was detected (--collector.security-alerts.customers). ${CACHED}`,
    samples: (t, c) =>
      (alertSummary(t, c)?.customers ?? []).flatMap((g) =>
        g.oldestDetectedTimestamp === undefined
          ? []
          : [[{ customer_tenant_id: g.customerTenantId, alert_type: g.alertType, severity: g.severity }, g.oldestDetectedTimestamp] as const],
      ),
  },
  {
    name: 'partner_security_customer_alerts_truncated',
    type: 'gauge',
    labels: [],
    help: `1 if customers with open alerts were left out of the per-customer alert series by --collector.customer-insights.max-customers or the bound of ${MAX_ALERT_SERIES} series per alert family, else 0 (--collector.security-alerts.customers). ${CACHED}`,
    samples: (t, c) => {
      const s = alertSummary(t, c);
      const alerts = fresh(t, c)?.securityAlerts;
      if (s === undefined || alerts === undefined || alerts.maxCustomers === 0) return [];
      return one(bit(s.customersWithOpenAlerts > s.customersKept));
    },
  },
  {
    name: 'partner_security_relation_up',
    type: 'gauge',
    labels: ['relation'],
    help: `1 if a relation (${RELATIONS.join(', ')}) was read in the last successful poll, 0 if it was not available or failed; absent when turned off.`,
    samples: (t) =>
      RELATIONS.flatMap((relation) => {
        const status = t.relationStatus[relation];
        return status === undefined || status === 'disabled' ? [] : [[{ relation }, status === 'ok' ? 1 : 0] as const];
      }),
  },
  {
    name: 'partner_security_relation_truncated',
    type: 'gauge',
    labels: ['relation'],
    help: "1 if a cap (--collector.max-pages, --collector.max-bytes or the relation's item cap) cut the exported data of a relation short, else 0; absent without data.",
    samples: (t) =>
      RELATIONS.flatMap((relation) => (t.relations[relation] === undefined ? [] : [[{ relation }, t.truncated?.[relation] === undefined ? 0 : 1] as const])),
  },
  {
    name: 'partner_security_up',
    type: 'gauge',
    labels: [],
    help: '1 if the most recent poll of Graph succeeded, 0 if it failed.',
    samples: (t) => one(t.lastPoll === undefined ? undefined : t.lastPoll.ok ? 1 : 0),
  },
  {
    name: 'partner_security_last_success_timestamp_seconds',
    type: 'gauge',
    labels: [],
    help: 'Unix time in seconds of the last successful poll of Graph.',
    samples: (t) => one(t.lastSuccessMs === undefined ? undefined : t.lastSuccessMs / 1000),
  },
  {
    name: 'partner_security_poll_duration_seconds',
    type: 'gauge',
    labels: [],
    help: 'Duration in seconds of the most recent poll of Graph.',
    samples: (t) => one(t.lastPoll === undefined ? undefined : t.lastPoll.durationMs / 1000),
  },
  {
    name: 'partner_security_next_poll_timestamp_seconds',
    type: 'gauge',
    labels: [],
    help: 'Unix time in seconds the next poll of Graph is due.',
    samples: (t) => one(t.nextPollMs === undefined ? undefined : t.nextPollMs / 1000),
  },
  { name: 'partner_security_polls_total', type: 'counter', labels: [], help: 'Polls of Graph completed, successful or not.', samples: (t) => one(t.polls) },
  {
    name: 'partner_security_poll_failures_total',
    type: 'counter',
    labels: ['reason'],
    help: `Failed polls of Graph by reason (${FAILURE_REASONS.join(', ')}).`,
    samples: (t) => FAILURE_REASONS.map((reason) => [{ reason }, t.failures[reason]] as const),
  },
  {
    name: 'partner_security_graph_requests_total',
    type: 'counter',
    labels: ['code'],
    help: 'Requests sent to Graph by HTTP status code of the answer ("none" when no answer arrived).',
    samples: (t) => Object.entries(t.requests).map(([code, n]) => [{ code }, n] as const),
  },
];

export interface MetricsOptions {
  snapshots: () => readonly TenantSnapshot[];
  /** Names of the constant labels any tenant carries (from the tenants file). */
  constantLabels?: readonly string[];
  build: BuildInfo;
  maxStalenessMs: number;
  /** Wall clock, Unix ms (default Date.now). */
  now?: () => number;
  /** Monotonic clock the scores' age is measured on (default performance.now, as the poller's). */
  monoNow?: () => number;
  /** Node.js and process metrics (on by default; off makes golden tests deterministic). */
  processMetrics?: boolean;
  /** How the web config file's last (re)load went; undefined without one. */
  webConfigStatus?: () => { readonly ok: boolean; readonly lastSuccessMs: number } | undefined;
  /**
   * What the web server refused (basic auth) and the connections it closed, by reason; undefined
   * before it listens. Asked at every scrape: the same object while no count changed spares the work.
   */
  webCounters?: () =>
    | { readonly authRejected: Readonly<Record<'unauthorized' | 'queue_full', number>>; readonly connectionsDropped: Readonly<Record<string, number>> }
    | undefined;
  /** Where the memory budget stands (src/collect/budget.ts; the same object while it stands still); undefined: no partner_security_memory_* series. */
  memoryBudget?: () => BudgetState;
  /** The per-tenant families (default TENANT_METRICS). */
  families?: readonly MetricSpec[];
  /**
   * The largest data part rendered whole and kept as plain text between polls (default
   * DEFAULT_MAX_PLAIN_BYTES); a bigger one is kept in deflated segments per tenant (src/expose/data-part.ts).
   */
  maxPlainBytes?: number;
}

/**
 * Data parts up to this size are rendered whole and kept as plain text too (the demo's is 0.2 MB);
 * bigger ones are kept in deflated segments per tenant (50 tenants of 1,000 customers: 70 MB of text).
 */
export const DEFAULT_MAX_PLAIN_BYTES = 4 * 1024 * 1024;

/** A gzip answer is joined into one buffer below this size of its deflated data part (the demo's is 11 KB). */
const JOIN_GZIP_BELOW_BYTES = 256 * 1024;

/** An answer to GET /metrics: its chunks in order, and its length when known before they are written. */
export interface Answer {
  /** Undefined when the answer is rendered while it is written (sent chunked). */
  readonly length: number | undefined;
  /** Then each chunk is valid only until the next is asked for: write it (and wait until it is written) first. */
  readonly chunks: Iterable<Buffer> | AsyncIterable<Buffer>;
}

export interface Metrics {
  readonly contentType: string;
  render(): Promise<string>;
  /**
   * The same exposition as UTF-8 chunks for the HTTP layer to write one after the other: a kept data
   * part serves every scrape until the next poll; a data part too big to keep is rendered anew into
   * the answer as it is written.
   */
  renderChunks(): Promise<Answer>;
  /**
   * The same exposition as one gzip stream: the data part is deflated once per render, the process
   * metrics once per reading, and the joined answer is shared by every scrape until either changes.
   */
  renderGzipChunks(): Promise<readonly Buffer[]>;
  /**
   * renderGzipChunks' answer without waiting, when the data part is rendered already (between polls,
   * the scrapes Prometheus makes): the scrape path then runs start to end in one go.
   */
  gzipNow(): readonly Buffer[] | undefined;
}

/**
 * Creates the metrics. Two parts make one exposition:
 * - the data part (every tenant series and the build info) changes only when a poll lands or a
 *   score goes stale; it is written as text from one RenderInput (src/expose/render.ts), chunk by
 *   chunk into a compressor, once, and kept deflated (and plain, when small) until it changes;
 * - the live part (the web server's counters and reload status, process metrics) is small and
 *   written at each scrape (process metrics read at most once a second, process-metrics.ts).
 * A render that fails fails the scrapes waiting for it and is not kept: the next scrape renders again.
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const now = options.now ?? Date.now;
  const monoNow = options.monoNow ?? (() => performance.now());
  const data = createDataPartCache({
    part: { families: options.families ?? TENANT_METRICS, tenantLabels: tenantLabeller(options.constantLabels ?? []), build: options.build },
    maxPlainBytes: options.maxPlainBytes ?? DEFAULT_MAX_PLAIN_BYTES,
    // Requirements can go stale between polls while the score is fresh: the authorization rows change then too.
    keyOf: (t, ctx) => (freshScore(t, ctx) === undefined ? 0 : 1) | (requirementsStale(t, ctx.nowMs, ctx.maxStalenessMs, ctx.monoNowMs) ? 2 : 0),
  });
  const processMetrics = (options.processMetrics ?? true) ? createProcessMetrics() : undefined;
  const noProcess: ProcessReading = { text: '', bytes: Buffer.alloc(0) };
  const readProcess = () => processMetrics?.read() ?? noProcess;
  // The gzip answer, kept with the data render and the live part it was made from.
  let gzipped: { data: DataRender; live: Buffer; answer: readonly Buffer[] } | undefined;

  // The clock readings a scrape checks the kept render against, in one object used again by every scrape.
  const at = { nowMs: 0, monoNowMs: 0, maxStalenessMs: options.maxStalenessMs };
  const renderData = (): DataRender => {
    at.nowMs = now();
    at.monoNowMs = monoNow();
    return data.render(options.snapshots(), at);
  };

  /**
   * The web server's part and the process metrics, as one buffer (the last part of the answer):
   * the same buffer while neither changed, so a scrape storm allocates nothing here. The sources
   * hand out the same objects while nothing changed; new objects saying the same keep the buffer too.
   */
  let liveCache:
    | {
        readonly status: unknown;
        readonly counts: unknown;
        readonly budget: unknown;
        readonly reading: ProcessReading;
        readonly web: string;
        readonly bytes: Buffer;
      }
    | undefined;
  const live = (): Buffer => {
    const status = options.webConfigStatus?.();
    const counts = options.webCounters?.();
    const budget = options.memoryBudget?.();
    const reading = readProcess();
    const kept = liveCache;
    if (kept !== undefined && kept.status === status && kept.counts === counts && kept.budget === budget && kept.reading === reading) return kept.bytes;
    const web = webText(status, counts) + (budget === undefined ? '' : budgetText(budget));
    const bytes =
      kept !== undefined && kept.web === web && kept.reading === reading
        ? kept.bytes
        : web === ''
          ? reading.bytes
          : Buffer.concat([Buffer.from(web), reading.bytes]);
    liveCache = { status, counts, budget, reading, web, bytes };
    return bytes;
  };

  /** The gzip answer of a render that is done: the one kept while neither it nor the live part changed. */
  const gzipOf = (render: DataRender, result: DataResult): readonly Buffer[] => {
    const rest = live();
    if (gzipped?.data !== render || gzipped.live !== rest) {
      // One buffer is written fastest; a big deflated part is not copied again every time the live part changes.
      const chunks = gzipOfSegments(result.parts, deflateFinal(rest));
      const size = chunks.reduce((n, c) => n + c.length, 0);
      gzipped = { data: render, live: rest, answer: size > JOIN_GZIP_BELOW_BYTES ? chunks : [Buffer.concat(chunks, size)] };
    }
    return gzipped.answer;
  };

  const renderChunks = async (): Promise<Answer> => {
    const render = renderData();
    const result = await render.result;
    const rest = live();
    if (result.plain !== undefined) return { length: result.plain.length + rest.length, chunks: rest.length > 0 ? [result.plain, rest] : [result.plain] };
    // Too big to keep plain: written as the answer is sent, chunk by chunk.
    const text = data.plainChunks(render, result);
    return {
      length: undefined,
      chunks: (async function* () {
        yield* text;
        if (rest.length > 0) yield rest;
      })(),
    };
  };

  return {
    contentType: CONTENT_TYPE,
    render: async () => {
      let text = '';
      for await (const chunk of (await renderChunks()).chunks) text += chunk.toString('utf8');
      return text;
    },
    renderChunks,
    renderGzipChunks: async () => {
      const render = renderData();
      return gzipOf(render, await render.result);
    },
    gzipNow: () => {
      const render = renderData();
      const result = data.settled(render);
      return result === undefined ? undefined : gzipOf(render, result);
    },
  };
}

/** The names of every partner_security_* family this module can write (golden tests check each has a sample). */
export function metricFamilies(): readonly string[] {
  return [
    ...TENANT_METRICS.map((m) => m.name),
    'partner_security_build_info',
    'partner_security_web_config_last_reload_successful',
    'partner_security_web_config_last_reload_success_timestamp_seconds',
    'partner_security_web_auth_rejected_total',
    'partner_security_web_connections_dropped_total',
    'partner_security_memory_budget_bytes',
    'partner_security_memory_estimated_bytes',
    'partner_security_memory_budget_cut',
    'partner_security_memory_budget_customers_per_tenant',
  ];
}

/** The Prometheus text format's content type (prom-client's). */
const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Where the memory budget stands, written at each scrape beside the web server's series. */
function budgetText(state: BudgetState): string {
  const family = (name: string, help: string, samples: readonly string[]) => `\n# HELP ${name} ${help}\n# TYPE ${name} gauge\n${samples.join('\n')}\n`;
  const { cut } = state;
  return [
    family('partner_security_memory_budget_bytes', BUDGET_HELP.budget, [`partner_security_memory_budget_bytes ${state.budgetBytes}`]),
    family('partner_security_memory_estimated_bytes', BUDGET_HELP.estimated, [`partner_security_memory_estimated_bytes ${state.estimatedBytes}`]),
    family(
      'partner_security_memory_budget_cut',
      BUDGET_HELP.cut,
      BUDGET_CUTS.map((series, i) => `partner_security_memory_budget_cut{series="${series}"} ${cut.depth > i ? 1 : 0}`),
    ),
    cut.depth === 2
      ? family('partner_security_memory_budget_customers_per_tenant', BUDGET_HELP.customers, [
          `partner_security_memory_budget_customers_per_tenant ${cut.customersPerTenant}`,
        ])
      : '',
  ].join('');
}

const BUDGET_HELP = {
  budget: "Bytes the data kept (every tenant's relations and the rendered answer) may take: --memory.budget, or 35% of the V8 heap limit.",
  estimated:
    'Bytes the data kept is estimated to take under the cut in force, counted from what it holds (a cost per tenant, customer, alert group and alert).',
  cut: 'Series the memory budget cuts, least important first: customer_alerts (per-customer alert series), customers (per-customer series beyond partner_security_memory_budget_customers_per_tenant customers), tenant_details (customer insights and alert aggregates, history beyond its latest entry); 1 when cut.',
  customers: 'Customers per tenant that keep their per-customer series while the memory budget cuts the rest; absent when it does not.',
} as const;

type WebConfigStatus = ReturnType<NonNullable<MetricsOptions['webConfigStatus']>>;
type WebCounts = ReturnType<NonNullable<MetricsOptions['webCounters']>>;

/** The web server's series, written at each scrape: they change with requests, not with polls. */
function webText(status: WebConfigStatus, counts: WebCounts | undefined): string {
  // As prom-client writes them: a blank line before each family, a newline after the last sample.
  let text = '';
  const family = (name: string, type: 'gauge' | 'counter', help: string, samples: readonly string[]) => {
    text += `\n${[`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples].join('\n')}\n`;
  };
  if (status !== undefined) {
    family('partner_security_web_config_last_reload_successful', 'gauge', WEB_HELP.reloadSuccessful, [
      `partner_security_web_config_last_reload_successful ${status.ok ? 1 : 0}`,
    ]);
    family('partner_security_web_config_last_reload_success_timestamp_seconds', 'gauge', WEB_HELP.reloadTimestamp, [
      `partner_security_web_config_last_reload_success_timestamp_seconds ${status.lastSuccessMs / 1000}`,
    ]);
  }
  if (counts !== undefined) {
    family(
      'partner_security_web_auth_rejected_total',
      'counter',
      WEB_HELP.authRejected,
      Object.entries(counts.authRejected).map(([reason, n]) => `partner_security_web_auth_rejected_total{reason="${reason}"} ${n}`),
    );
    family(
      'partner_security_web_connections_dropped_total',
      'counter',
      WEB_HELP.connectionsDropped,
      Object.entries(counts.connectionsDropped).map(([reason, n]) => `partner_security_web_connections_dropped_total{reason="${reason}"} ${n}`),
    );
  }
  return text;
}

const WEB_HELP = {
  reloadSuccessful: '1 if the last (re)load of --web.config.file succeeded, 0 if it failed and the previous settings are still in force.',
  reloadTimestamp: 'Unix time in seconds of the last successful (re)load of --web.config.file.',
  authRejected: 'Requests basic auth refused: reason "unauthorized" (401, wrong or missing credentials) or "queue_full" (429, too many bcrypt checks waiting).',
  connectionsDropped:
    'Connections the server closed: reason "max_connections" or "max_connections_per_address" (a limit was reached: an idle one that had not authenticated, or the new one), "unauthenticated_idle" (idle without having authenticated), "client_certificate_rejected" (a reload no longer accepts its client certificate).',
} as const;
