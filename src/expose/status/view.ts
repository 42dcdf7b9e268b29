/**
 * What the status page and /api/status show, computed from the snapshots alone: plain JSON-ready
 * data (null for "not known", never undefined), so the page and the API cannot disagree.
 */

import { type AuthorizationAssessment, assessAuthorization, type UnknownReason } from '../../collect/authorization.js';
import { ALERT_RESPONSE_LIMIT_SECONDS, OLDEST_OPEN_KEPT, summarizeAlerts } from '../../collect/security-alerts.js';
import { NAME } from '../../lib/name.js';
import { boundText } from '../../lib/text.js';
import {
  FAILURE_REASONS,
  type FailureReason,
  isMandatory,
  type PartnerType,
  POLICIES,
  type Policy,
  RELATIONS,
  type Relation,
  type Requirement,
  requirementDetails,
  requirementTypeOf,
  type TenantSnapshot,
} from '../../snapshot.js';

/**
 * Longest text the page and /api/status show for one value (a message, a label); Graph's own
 * values are bounded when they are read, this bounds whatever else reaches a snapshot.
 */
export const MAX_SHOWN_CHARS = 1024;

/** The security alert response time the requirement allows: 24 hours. */
export const ALERT_RESPONSE_REQUIREMENT_SECONDS = 24 * 3600;

/** Requirement types in words; a type not listed here is shown as Graph sent it. */
export const REQUIREMENT_TITLES: Readonly<Record<string, string>> = {
  securityContactProvided: 'Security contact provided',
  mfaEnforcedForAdmins: 'MFA for partner admins',
  mfaEnforcedForAdminsOfCustomers: 'MFA for customer admins',
  securityAlertsPromptlyResolved: 'Security alerts resolved within 24 hours',
  spendingBudgetSetForCustomerAzureSubscriptions: 'Spending budgets on customer Azure subscriptions',
};

/** A moment: ISO 8601 (UTC) and how far from the page's "now" it is. */
export interface Moment {
  readonly at: string;
  /** Seconds between the moment and now; positive in the past, negative in the future. */
  readonly ageSeconds: number;
}

/** x out of total, with either side possibly unknown. */
export interface Count {
  readonly count: number | null;
  readonly total: number | null;
}

export interface RequirementView {
  readonly type: string;
  /** The type in words, or the type as sent. */
  readonly title: string;
  /**
   * "mandatory" (active and one of the requirements CSP authorization depends on), "recommended"
   * (any other active one), "preview", Graph's own word for another state, or null.
   */
  readonly state: string | null;
  readonly compliance: 'compliant' | 'non-compliant' | 'unknown';
  readonly score: number | null;
  readonly maxScore: number | null;
  /** The action URL as Graph sent it. */
  readonly actionUrl: string | null;
  /** The action URL when it is a usable http(s) URL (normalised), else null: only this becomes a link. */
  readonly actionLink: string | null;
  readonly helpUrl: string | null;
  readonly helpLink: string | null;
  readonly updated: Moment | null;
  /** The requirement's own figures in words ("5 of 6 admins use MFA"), or null. */
  readonly detail: string | null;
}

export interface HistoryPointView {
  /** YYYY-MM-DD (UTC) of the entry. */
  readonly date: string;
  readonly at: string;
  readonly score: number | null;
  readonly compliantRequirements: number | null;
  readonly totalRequirements: number | null;
}

export interface MfaView {
  readonly partnerAdmins: (Count & { readonly requiredNotUsingMfa: number | null }) | null;
  readonly partnerUsers: (Count & { readonly requiredNotUsingMfa: number | null }) | null;
  /** The partner tenant's MFA policies: true enabled, false disabled, null unknown. */
  readonly policies: Readonly<Record<Policy, boolean | null>> | null;
  /** Customer tenants with MFA enforced for their admins. */
  readonly customerTenants: Count | null;
  readonly customerInsights: {
    readonly customers: number;
    readonly pages: number;
    readonly truncated: boolean;
    readonly policyEnabled: Readonly<Record<Policy, number>>;
  } | null;
}

export interface AlertResponseView {
  readonly averageSeconds: number;
  readonly requirementSeconds: number;
  readonly withinRequirement: boolean;
}

/** Open alerts listed by name on the page and in /api/status, the oldest first: enough to act on, bounded whatever Graph sends. */
export const MAX_LISTED_ALERTS = OLDEST_OPEN_KEPT;
/** An open alert this old is flagged (PartnerSecurityAlertOpenTooLong's threshold); at 24 hours it is over the requirement. */
export const OPEN_ALERT_WARN_SECONDS = 20 * 3600;

export interface OpenAlertView {
  readonly customerTenantId: string | null;
  readonly alertType: string;
  readonly severity: string;
  readonly status: string;
  readonly detected: Moment;
}

/** The open partner security alerts (test alerts counted apart), what the page's "Open security alerts" section shows. */
export interface SecurityAlertsView {
  /** Open non-test alerts. */
  readonly open: number;
  /** Open non-test alerts by severity, most first. */
  readonly bySeverity: readonly { readonly severity: string; readonly count: number }[];
  /** Open test alerts (isTest): they never page. */
  readonly testOpen: number;
  /** The oldest open non-test alert's age against 24 hours: ok under 20 h, warn from 20 h, bad from 24 h. */
  readonly oldest: { readonly detected: Moment; readonly state: 'ok' | 'warn' | 'bad'; readonly limitSeconds: number } | null;
  /** The oldest open non-test alerts, at most MAX_LISTED_ALERTS. */
  readonly oldestAlerts: readonly OpenAlertView[];
  /** Non-test alerts resolved in the last 30 days, and the exporter's own average response time over them. */
  readonly resolvedIn30Days: number;
  readonly averageResponseSeconds: number | null;
}

export interface HealthView {
  readonly lastPoll: {
    readonly started: Moment;
    readonly durationMs: number;
    readonly result: 'succeeded' | 'failed';
    readonly reason: FailureReason | null;
    readonly message: string | null;
  } | null;
  readonly lastSuccess: Moment | null;
  readonly nextPoll: Moment | null;
  readonly polls: number;
  readonly consecutiveFailures: number;
  /** Failed polls since the exporter started, by reason (every reason, 0 included). */
  readonly failures: Readonly<Record<FailureReason, number>>;
  /** How each relation fared in the last successful poll: ok, unavailable, failed, disabled, or null before one. */
  readonly relations: Readonly<Record<Relation, string | null>>;
}

/** A mandatory requirement that is not met, with where to fix it. */
export interface FailingRequirementView {
  readonly type: string;
  readonly title: string;
  readonly actionUrl: string | null;
  /** The action URL when it is a usable http(s) URL, else null: only this becomes a link. */
  readonly actionLink: string | null;
}

/**
 * Is the partner's CSP authorization at risk: the first thing the page says, in one sentence.
 * "unknown" is never shown as "not at risk": the sentence says why it is unknown.
 */
export interface AuthorizationView {
  readonly state: 'at_risk' | 'not_at_risk' | 'unknown';
  /** The whole sentence as plain text (the page shows it with links). */
  readonly sentence: string;
  readonly partnerType: PartnerType;
  /** The requirement types mandatory for this partner type. */
  readonly mandatory: readonly string[];
  /** The mandatory requirements not met now. */
  readonly failing: readonly FailingRequirementView[];
  /** Why the state is unknown (or, beside "at_risk", what else is), in words. */
  readonly unknown: readonly string[];
  /** The configured anniversary month (1-12). */
  readonly validationMonth: number | null;
  /** The start of the anniversary month of the next validation; in the past while that month is under way. */
  readonly nextValidation: Moment | null;
}

export interface TenantView {
  readonly tenantId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly authorization: AuthorizationView;
  readonly score: {
    readonly current: number;
    readonly max: number | null;
    /** current / max in percent, when max is known and positive. */
    readonly percent: number | null;
    /** When Microsoft last checked the data (lastRefreshDateTime). */
    readonly lastRefresh: Moment | null;
    /** When the score or its data last changed (updatedDateTime). */
    readonly updated: Moment | null;
  } | null;
  /** Non-compliant first, then unknown, then compliant; mandatory before preview within each. */
  readonly requirements: readonly RequirementView[] | null;
  readonly requirementsSummary: { readonly compliant: number; readonly nonCompliant: number; readonly unknown: number } | null;
  /** Oldest first. */
  readonly history: readonly HistoryPointView[] | null;
  readonly mfa: MfaView | null;
  readonly alertResponse: AlertResponseView | null;
  /** null when the alerts were not read (turned off, unavailable, or before the first poll). */
  readonly securityAlerts: SecurityAlertsView | null;
  readonly health: HealthView;
}

/** Everything the status page shows. */
export interface StatusView {
  readonly exporter: {
    readonly name: string;
    readonly version: string;
    readonly telemetryPath: string;
  };
  readonly generatedAt: string;
  readonly tenants: readonly TenantView[];
}

export interface StatusViewOptions {
  nowMs: number;
  version: string;
  telemetryPath: string;
  /** --poll.max-staleness: requirements older than this make the authorization unknown (0 or absent: never). */
  /** The monotonic clock the poller measures on (performance.now): requirements age on it. */
  monoNowMs?: number;
  maxStalenessMs?: number;
  /** Removes secrets from every text shown (the exporter's redactor); none by default. */
  redact?: (text: string) => string;
}

/** Builds the status view of the given snapshots at nowMs. */
export function statusView(snapshots: readonly TenantSnapshot[], options: StatusViewOptions): StatusView {
  return {
    exporter: { name: NAME, version: options.version, telemetryPath: options.telemetryPath },
    generatedAt: new Date(options.nowMs).toISOString(),
    tenants: snapshots.map((snapshot) => tenantView(snapshot, options, shownText(options.redact ?? ((text) => text)))),
  };
}

/** Text as the page shows it: redacted first (a cut must not leave half a secret), then visible and bounded. */
type Shown = (text: string) => string;
function shownText(redact: (text: string) => string): Shown {
  return (text) => boundText(redact(text), MAX_SHOWN_CHARS);
}

function tenantView(t: TenantSnapshot, options: StatusViewOptions, shown: Shown): TenantView {
  const { nowMs, maxStalenessMs = 0 } = options;
  const moment = (ms: number | undefined): Moment | null => (ms === undefined ? null : momentOf(ms, nowMs));
  const seconds = (s: number | undefined) => moment(s === undefined ? undefined : s * 1000);
  const requirements = t.relations.requirements?.map((r) => requirementView(r, t.partner.type, nowMs, shown)).sort(byUrgency);
  const score = t.score;
  return {
    tenantId: shown(t.tenantId),
    labels: Object.fromEntries(Object.entries(t.labels).map(([name, value]) => [shown(name), shown(value)])),
    authorization: authorizationView(assessAuthorization(t, nowMs, maxStalenessMs, options.monoNowMs), t.partner.validationMonth, nowMs, shown),
    score:
      score === undefined
        ? null
        : {
            current: score.currentScore,
            max: score.maxScore ?? null,
            percent: score.maxScore !== undefined && score.maxScore > 0 ? (score.currentScore / score.maxScore) * 100 : null,
            lastRefresh: seconds(score.lastRefreshTimestamp),
            updated: seconds(score.updatedTimestamp),
          },
    requirements: requirements ?? null,
    requirementsSummary:
      requirements === undefined
        ? null
        : {
            compliant: requirements.filter((r) => r.compliance === 'compliant').length,
            nonCompliant: requirements.filter((r) => r.compliance === 'non-compliant').length,
            unknown: requirements.filter((r) => r.compliance === 'unknown').length,
          },
    history:
      t.relations.history?.map((h) => {
        const at = new Date(h.createdTimestamp * 1000).toISOString();
        return {
          date: at.slice(0, 10),
          at,
          score: h.score ?? null,
          compliantRequirements: h.compliantRequirements ?? null,
          totalRequirements: h.totalRequirements ?? null,
        };
      }) ?? null,
    mfa: mfaView(t),
    alertResponse: alertResponseView(t.relations.requirements),
    securityAlerts: securityAlertsView(t, nowMs, shown),
    health: {
      lastPoll:
        t.lastPoll === undefined
          ? null
          : {
              started: momentOf(t.lastPoll.startedMs, nowMs),
              durationMs: t.lastPoll.durationMs,
              result: t.lastPoll.ok ? 'succeeded' : 'failed',
              reason: t.lastPoll.reason ?? null,
              message: t.lastPoll.message === undefined ? null : shown(t.lastPoll.message),
            },
      lastSuccess: moment(t.lastSuccessMs),
      nextPoll: moment(t.nextPollMs),
      polls: t.polls,
      consecutiveFailures: t.consecutiveFailures,
      failures: Object.fromEntries(FAILURE_REASONS.map((r) => [r, t.failures[r] ?? 0])) as Record<FailureReason, number>,
      relations: Object.fromEntries(RELATIONS.map((r) => [r, t.relationStatus[r] ?? null])) as Record<Relation, string | null>,
    },
  };
}

function momentOf(ms: number, nowMs: number): Moment {
  return { at: new Date(ms).toISOString(), ageSeconds: Math.round((nowMs - ms) / 1000) };
}

/** A requirement type in words: its title, or the type as sent; a renamed duplicate ("<type>:<id>") by its sent type's title. */
function titleOf(r: Requirement, shown: Shown): string {
  return REQUIREMENT_TITLES[requirementTypeOf(r)] ?? shown(r.type);
}

function requirementView(r: Requirement, partnerType: PartnerType, nowMs: number, shown: Shown): RequirementView {
  const type = shown(r.type);
  return {
    type,
    title: titleOf(r, shown),
    state: r.state === undefined ? null : r.state === 'active' ? (isMandatory(r, partnerType) ? 'mandatory' : 'recommended') : shown(r.state),
    compliance: r.compliant === undefined ? 'unknown' : r.compliant ? 'compliant' : 'non-compliant',
    score: r.score ?? null,
    maxScore: r.maxScore ?? null,
    actionUrl: r.actionUrl === undefined ? null : shown(r.actionUrl),
    actionLink: webLink(r.actionUrl),
    helpUrl: r.helpUrl === undefined ? null : shown(r.helpUrl),
    helpLink: webLink(r.helpUrl),
    updated: r.updatedTimestamp === undefined ? null : momentOf(r.updatedTimestamp * 1000, nowMs),
    detail: requirementDetail(r),
  };
}

/** The partner types in words, with their article. */
export const PARTNER_TYPE_NAMES: Readonly<Record<PartnerType, string>> = {
  direct: 'a direct partner',
  indirect_provider: 'an indirect provider',
  indirect_reseller: 'an indirect reseller',
};

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** "March 2027" for a moment (UTC). */
export function monthOf(at: string): string {
  return `${MONTHS[Number(at.slice(5, 7)) - 1] ?? at.slice(5, 7)} ${at.slice(0, 4)}`;
}

function authorizationView(a: AuthorizationAssessment, validationMonth: number | undefined, nowMs: number, shown: Shown): AuthorizationView {
  const failing = a.failing.map((r) => ({
    type: shown(r.type),
    title: titleOf(r, shown),
    actionUrl: r.actionUrl === undefined ? null : shown(r.actionUrl),
    actionLink: webLink(r.actionUrl),
  }));
  const nextValidation = a.nextValidationMs === undefined ? null : momentOf(a.nextValidationMs, nowMs);
  const unknown = a.unknown.map((reason) => unknownText(reason, nowMs, shown));
  const view = {
    state: a.state,
    partnerType: a.partnerType,
    mandatory: a.mandatory,
    failing,
    unknown,
    validationMonth: validationMonth ?? null,
    nextValidation,
  };
  return { ...view, sentence: authorizationSentence(view) };
}

/** Why the signal is unknown, in words. */
function unknownText(reason: UnknownReason, nowMs: number, shown: Shown): string {
  const titles = (types: readonly string[]) => types.map((t) => REQUIREMENT_TITLES[t] ?? shown(t)).join(', ');
  switch (reason.kind) {
    case 'not_polled':
      return 'no poll of Microsoft Graph has succeeded yet';
    case 'not_read':
      return reason.status === 'disabled'
        ? 'reading the requirements is turned off (--no-collector.requirements)'
        : reason.status === 'unavailable'
          ? 'Graph does not offer the requirements for this tenant'
          : 'the requirements could not be read';
    case 'stale':
      return `the requirements were last read ${formatNumber((nowMs - reason.readMs) / 3_600_000)} h ago, longer ago than --poll.max-staleness`;
    case 'missing':
      return `Graph's answer lacks the mandatory ${reason.types.length === 1 ? 'requirement' : 'requirements'} ${titles(reason.types)}`;
    case 'compliance_unknown':
      return `Graph does not say whether ${titles(reason.types)} ${reason.types.length === 1 ? 'is' : 'are'} compliant`;
  }
}

/** "March 2027 (in 3 months)", "March 2027, under way", or the hint to configure it. */
function validationText(v: Pick<AuthorizationView, 'nextValidation' | 'validationMonth'>): string {
  if (v.nextValidation === null) return 'The validation month is not configured (validation_month, --partner.validation-month).';
  const month = monthOf(v.nextValidation.at);
  if (v.nextValidation.ageSeconds >= 0) return `Microsoft validates the requirements this month (${month}).`;
  return `Next validation: ${month}, in ${Math.ceil(-v.nextValidation.ageSeconds / 86_400)} days.`;
}

/** How the sentence starts for each state: the words the page puts in colour. */
export const AUTHORIZATION_LEADS: Readonly<Record<AuthorizationView['state'], string>> = {
  at_risk: 'Authorization at risk:',
  not_at_risk: 'Authorization not at risk:',
  unknown: 'Authorization risk unknown:',
};

/** The sentence the page opens with, as plain text. */
export function authorizationSentence(v: Omit<AuthorizationView, 'sentence'>): string {
  const kind = PARTNER_TYPE_NAMES[v.partnerType];
  const alsoUnknown = v.unknown.length === 0 ? '' : ` Not known: ${v.unknown.join('; ')}.`;
  switch (v.state) {
    case 'at_risk': {
      const n = v.failing.length;
      const list = v.failing.map((f) => `${f.title}${f.actionUrl === null ? '' : ` (${f.actionUrl})`}`).join(', ');
      return `${AUTHORIZATION_LEADS.at_risk} ${n} mandatory ${n === 1 ? 'requirement is' : 'requirements are'} not met: ${list}.${alsoUnknown} ${validationText(v)}`;
    }
    case 'not_at_risk':
      return `${AUTHORIZATION_LEADS.not_at_risk} all ${v.mandatory.length} requirements mandatory for ${kind} are met. ${validationText(v)}`;
    case 'unknown':
      return `${AUTHORIZATION_LEADS.unknown} ${v.unknown.join('; ')}. ${validationText(v)}`;
  }
}

const URGENCY = { 'non-compliant': 0, unknown: 1, compliant: 2 } as const;
const KIND_ORDER = (state: string | null) => (state === 'mandatory' ? 0 : state === 'recommended' ? 1 : state === 'preview' ? 3 : 2);
function byUrgency(a: RequirementView, b: RequirementView): number {
  return URGENCY[a.compliance] - URGENCY[b.compliance] || KIND_ORDER(a.state) - KIND_ORDER(b.state);
}

/**
 * The URL when it is an absolute http(s) URL, normalised by the WHATWG parser (which
 * percent-encodes quotes and angle brackets); null otherwise. A javascript: or data: URL from
 * Graph must never become a live link.
 */
export function webLink(url: string | undefined): string | null {
  if (url === undefined) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

function requirementDetail(r: Requirement): string | null {
  const d = r.details;
  const of = (count: number | undefined, total: number | undefined, what: string) =>
    count === undefined || total === undefined ? null : `${formatNumber(count)} of ${formatNumber(total)} ${what}`;
  switch (d?.kind) {
    case 'adminsMfa':
      return of(d.mfaEnabledAdmins, d.totalAdmins, 'admins use MFA');
    case 'customersMfa':
      return of(d.compliantTenants, d.totalTenants, 'customer tenants enforce admin MFA');
    case 'spendingBudget':
      return of(d.customersWithBudget, d.totalCustomers, 'customers have a spending budget');
    case 'responseTime':
      return d.averageResponseTimeSeconds === undefined ? null : `Average response ${formatNumber(d.averageResponseTimeSeconds / 3600)} h (limit 24 h)`;
    default:
      return null;
  }
}

function mfaView(t: TenantSnapshot): MfaView | null {
  const admins = requirementDetails(t.relations.requirements, 'adminsMfa');
  const customers = requirementDetails(t.relations.requirements, 'customersMfa');
  const insights = t.relations.customerInsights;
  if (admins === undefined && customers === undefined && insights === undefined) return null;
  const count = (c: number | undefined, total: number | undefined): Count => ({ count: c ?? null, total: total ?? null });
  return {
    partnerAdmins:
      admins === undefined ? null : { ...count(admins.mfaEnabledAdmins, admins.totalAdmins), requiredNotUsingMfa: admins.adminsRequiredNotUsingMfa ?? null },
    partnerUsers:
      admins === undefined ? null : { ...count(admins.mfaEnabledUsers, admins.totalUsers), requiredNotUsingMfa: admins.usersRequiredNotUsingMfa ?? null },
    policies: admins === undefined ? null : (Object.fromEntries(POLICIES.map((p) => [p, admins.policies[p] ?? null])) as Record<Policy, boolean | null>),
    customerTenants: customers === undefined ? null : count(customers.compliantTenants, customers.totalTenants),
    customerInsights:
      insights === undefined
        ? null
        : { customers: insights.seen, pages: insights.pages, truncated: insights.truncated, policyEnabled: { ...insights.policyEnabled } },
  };
}

function alertResponseView(requirements: readonly Requirement[] | undefined): AlertResponseView | null {
  const averageSeconds = requirementDetails(requirements, 'responseTime')?.averageResponseTimeSeconds;
  if (averageSeconds === undefined) return null;
  return { averageSeconds, requirementSeconds: ALERT_RESPONSE_REQUIREMENT_SECONDS, withinRequirement: averageSeconds <= ALERT_RESPONSE_REQUIREMENT_SECONDS };
}

function securityAlertsView(t: TenantSnapshot, nowMs: number, shown: Shown): SecurityAlertsView | null {
  const data = t.relations.securityAlerts;
  if (data === undefined) return null;
  const summary = summarizeAlerts(data, nowMs / 1000);
  const bySeverity = new Map<string, number>();
  for (const o of summary.open) bySeverity.set(o.severity, (bySeverity.get(o.severity) ?? 0) + o.count);
  const oldest = summary.oldestOpen[0];
  const oldestMoment = oldest?.detectedTimestamp === undefined ? undefined : momentOf(oldest.detectedTimestamp * 1000, nowMs);
  return {
    open: [...bySeverity.values()].reduce((sum, n) => sum + n, 0),
    bySeverity: [...bySeverity].map(([severity, count]) => ({ severity: shown(severity), count })).sort((a, b) => b.count - a.count),
    testOpen: [...summary.testOpen.values()].reduce((sum, n) => sum + n, 0),
    oldest:
      oldestMoment === undefined
        ? null
        : {
            detected: oldestMoment,
            state: oldestMoment.ageSeconds >= ALERT_RESPONSE_LIMIT_SECONDS ? 'bad' : oldestMoment.ageSeconds >= OPEN_ALERT_WARN_SECONDS ? 'warn' : 'ok',
            limitSeconds: ALERT_RESPONSE_LIMIT_SECONDS,
          },
    oldestAlerts: summary.oldestOpen.slice(0, MAX_LISTED_ALERTS).map((a) => ({
      customerTenantId: a.customerTenantId === undefined ? null : shown(a.customerTenantId),
      alertType: shown(a.alertType),
      severity: shown(a.severity),
      status: shown(a.status),
      detected: momentOf((a.detectedTimestamp ?? 0) * 1000, nowMs),
    })),
    resolvedIn30Days: summary.resolvedInWindow,
    averageResponseSeconds: summary.averageResponseSeconds ?? null,
  };
}

/** A number for people: at most two decimals, no trailing zeros. */
export function formatNumber(value: number): string {
  return String(Math.round(value * 100) / 100);
}
