/**
 * What the partner security alerts of one snapshot add up to, for the metrics, the status page and
 * backfill alike: open alerts by label set, the oldest open ones, and the 30-day window Microsoft
 * scores securityAlertsPromptlyResolved over. Alerts are aggregated (counted, or the oldest
 * taken), never written one per series: two alerts with the same labels add up instead of
 * overwriting each other, and no alert id ever becomes a label. Every label taken from an alert is
 * bounded: status and severity by their documented members and a few others, alert_type by
 * --collector.security-alerts.max-alert-types, and every family by MAX_ALERT_SERIES.
 */
import { ALERT_RESOLVED_REASONS, ALERT_SEVERITIES, ALERT_STATUSES, type SecurityAlert, type SecurityAlerts, UNKNOWN_ALERT_VALUE } from '../snapshot.js';

/** The window Microsoft averages the response time over (securityAlertsPromptlyResolved). */
export const ALERT_WINDOW_SECONDS = 30 * 24 * 3600;
/** What the requirement allows as an average response time. */
export const ALERT_RESPONSE_LIMIT_SECONDS = 24 * 3600;
/** The alert_type value alerts of types beyond --collector.security-alerts.max-alert-types are counted under. */
export const OTHER_ALERT_TYPE = 'other';
/** "New this week", as Partner Center's Security Alerts dashboard counts them. */
export const DETECTED_WINDOW_SECONDS = 7 * 24 * 3600;
/** Graph's securityAlertSeverity values counted (at 0 too) in the 7-day detections. */
export const COUNTED_SEVERITIES = ['informational', 'low', 'medium', 'high'] as const;
/** A resolvedReason other than Graph's (ALERT_RESOLVED_REASONS), or none, is counted as this. */
export const OTHER_RESOLVED_REASON = 'other';
/** The status or severity value alerts beyond the documented members and MAX_OTHER_ALERT_VALUES others are counted under. */
export const OTHER_ALERT_VALUE = 'other';
/**
 * Values of status, and of severity, labelled per tenant besides the documented members and
 * "unknown": room for the few members Microsoft may add (they arrive as themselves, see
 * Prefer: include-unknown-enum-members), not for a Graph that sends a new value on every alert.
 */
export const MAX_OTHER_ALERT_VALUES = 5;
/**
 * Series any alert family carries per tenant at most, whatever Graph sends: alert types fold into
 * "other" and per-customer series leave customers out until the family fits.
 */
export const MAX_ALERT_SERIES = 1000;

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

/** The alerts of one snapshot, added up. Test alerts are only in testOpen. */
export interface AlertSummary {
  readonly open: readonly OpenAlertCount[];
  /** Open test alerts (isTest) by severity: counted apart, they never page. */
  readonly testOpen: ReadonlyMap<string, number>;
  /** Detection time of the oldest open non-test alert, by severity. */
  readonly oldestOpenBySeverity: ReadonlyMap<string, number>;
  /** Open non-test alerts with a detection time, oldest first. */
  readonly oldestOpen: readonly SecurityAlert[];
  /** Alert types counted under "other" because of the type cap or the series bound. */
  readonly foldedTypes: number;
  /** Status values of open alerts counted under "other" (beyond the documented ones and MAX_OTHER_ALERT_VALUES). */
  readonly foldedStatuses: number;
  /** Severity values of open alerts counted under "other" (beyond the documented ones and MAX_OTHER_ALERT_VALUES). */
  readonly foldedSeverities: number;
  /** Non-test alerts resolved within the window ending now. */
  readonly resolvedInWindow: number;
  /** Those by resolution reason: legitimate, ignore, fraud and other, every one present (0 too). */
  readonly resolvedByReason: ReadonlyMap<string, number>;
  /** Non-test alerts detected in the 7 days before now, by severity: Graph's four always present (0 too), others as sent. */
  readonly detectedLast7Days: ReadonlyMap<string, number>;
  /** Mean of resolved minus detected over those (absent when none has both dates), seconds. */
  readonly averageResponseSeconds?: number;
  /**
   * Per customer, type and severity, for at most maxCustomers customers (those with the oldest open
   * alerts first), and no more customers than fit in MAX_ALERT_SERIES of these.
   */
  readonly customers: readonly CustomerOpenAlerts[];
  /** Customers in customers. */
  readonly customersKept: number;
  /** Customers with open non-test alerts, beyond the per-customer cap too. */
  readonly customersWithOpenAlerts: number;
}

/** Adds up the alerts as of nowSeconds. */
export function summarizeAlerts(data: SecurityAlerts, nowSeconds: number): AlertSummary {
  // Status and severity are folded first, over the open alerts that carry them as labels: status
  // only labels non-test alerts, severity test alerts too (partner_security_alerts_test_open).
  const allOpen = data.alerts.filter((a) => a.open);
  const statusOf = valueLabeller(
    allOpen.filter((a) => !a.isTest),
    (a) => a.status,
    ALERT_STATUSES,
  );
  const severityOf = valueLabeller(allOpen, (a) => a.severity, ALERT_SEVERITIES);
  const labelled = data.alerts.map((a) => (a.open ? { ...a, status: statusOf(a.status), severity: severityOf(a.severity) } : a));
  const live = labelled.filter((a) => !a.isTest);
  const openAlerts = live.filter((a) => a.open);
  const typeOf = typeLabeller(openAlerts, data.maxAlertTypes, MAX_ALERT_SERIES);

  const open = new Map<string, { status: string; severity: string; alertType: string; count: number }>();
  const oldestOpenBySeverity = new Map<string, number>();
  for (const alert of openAlerts) {
    const alertType = typeOf(alert.alertType);
    const key = JSON.stringify([alert.status, alert.severity, alertType]);
    const entry = open.get(key) ?? { status: alert.status, severity: alert.severity, alertType, count: 0 };
    entry.count++;
    open.set(key, entry);
    if (alert.detectedTimestamp !== undefined) {
      const oldest = oldestOpenBySeverity.get(alert.severity);
      if (oldest === undefined || alert.detectedTimestamp < oldest) oldestOpenBySeverity.set(alert.severity, alert.detectedTimestamp);
    }
  }

  const testOpen = new Map<string, number>();
  for (const alert of labelled) if (alert.isTest && alert.open) testOpen.set(alert.severity, (testOpen.get(alert.severity) ?? 0) + 1);

  // Resolved within the 30 days before now, as Microsoft's window counts them.
  const windowStart = nowSeconds - ALERT_WINDOW_SECONDS;
  const resolved = live.filter((a) => !a.open && a.resolvedTimestamp !== undefined && a.resolvedTimestamp > windowStart && a.resolvedTimestamp <= nowSeconds);
  const timed = resolved.flatMap((a) =>
    a.detectedTimestamp === undefined || a.resolvedTimestamp === undefined ? [] : [Math.max(0, a.resolvedTimestamp - a.detectedTimestamp)],
  );
  const averageResponseSeconds = timed.length === 0 ? undefined : timed.reduce((sum, t) => sum + t, 0) / timed.length;
  // By reason, so the fraud rate can be read; a reason Microsoft adds, or none, is "other".
  const resolvedByReason = new Map<string, number>([...ALERT_RESOLVED_REASONS, OTHER_RESOLVED_REASON].map((r) => [r, 0]));
  for (const alert of resolved) {
    const reason = ALERT_RESOLVED_REASONS.find((r) => r.toLowerCase() === alert.resolvedReason?.toLowerCase()) ?? OTHER_RESOLVED_REASON;
    resolvedByReason.set(reason, (resolvedByReason.get(reason) ?? 0) + 1);
  }

  // Detected in the 7 days before now, open or not: Partner Center's "new this week". Severities
  // are bounded as for the open alerts (the documented ones, "unknown", a few others, "other").
  const detected = data.alerts.filter(
    (a) => !a.isTest && a.detectedTimestamp !== undefined && a.detectedTimestamp > nowSeconds - DETECTED_WINDOW_SECONDS && a.detectedTimestamp <= nowSeconds,
  );
  const detectedSeverityOf = valueLabeller(detected, (a) => a.severity, ALERT_SEVERITIES);
  const detectedLast7Days = new Map<string, number>(COUNTED_SEVERITIES.map((s) => [s, 0]));
  for (const alert of detected) {
    const severity = detectedSeverityOf(alert.severity);
    detectedLast7Days.set(severity, (detectedLast7Days.get(severity) ?? 0) + 1);
  }

  const byCustomer = new Map<string, Map<string, CustomerOpenAlerts>>();
  for (const alert of openAlerts) {
    if (alert.customerTenantId === undefined) continue;
    const groups = byCustomer.get(alert.customerTenantId) ?? new Map<string, CustomerOpenAlerts>();
    byCustomer.set(alert.customerTenantId, groups);
    const alertType = typeOf(alert.alertType);
    const key = JSON.stringify([alertType, alert.severity]);
    const before = groups.get(key);
    const oldest = minDefined(before?.oldestDetectedTimestamp, alert.detectedTimestamp);
    groups.set(key, {
      customerTenantId: alert.customerTenantId,
      alertType,
      severity: alert.severity,
      count: (before?.count ?? 0) + 1,
      ...(oldest === undefined ? {} : { oldestDetectedTimestamp: oldest }),
    });
  }
  const oldestOf = (groups: Map<string, CustomerOpenAlerts>) =>
    Math.min(...[...groups.values()].map((g) => g.oldestDetectedTimestamp ?? Number.POSITIVE_INFINITY));
  const ranked = [...byCustomer.entries()].sort(([a, ga], [b, gb]) => oldestOf(ga) - oldestOf(gb) || (a < b ? -1 : a > b ? 1 : 0));
  // Customers in that order while they fit: at most maxCustomers, and at most MAX_ALERT_SERIES groups in all.
  const chosen: (typeof ranked)[number][] = [];
  let series = 0;
  for (const entry of ranked) {
    if (chosen.length >= data.maxCustomers || series + entry[1].size > MAX_ALERT_SERIES) break;
    chosen.push(entry);
    series += entry[1].size;
  }

  return {
    open: [...open.values()],
    testOpen,
    oldestOpenBySeverity,
    oldestOpen: openAlerts.filter((a) => a.detectedTimestamp !== undefined).sort((a, b) => (a.detectedTimestamp ?? 0) - (b.detectedTimestamp ?? 0)),
    foldedTypes: typeOf.folded,
    foldedStatuses: statusOf.folded,
    foldedSeverities: severityOf.folded,
    resolvedInWindow: resolved.length,
    resolvedByReason,
    detectedLast7Days,
    ...(averageResponseSeconds === undefined ? {} : { averageResponseSeconds }),
    customers: chosen.flatMap(([, groups]) => [...groups.values()]),
    customersKept: chosen.length,
    customersWithOpenAlerts: byCustomer.size,
  };
}

type Labeller = ((value: string) => string) & { readonly folded: number };

/** Values ranked by how many alerts carry them, then by name, so the choice does not depend on Graph's order. */
function rankedValues(alerts: readonly SecurityAlert[], labelOf: (a: SecurityAlert) => string): string[] {
  const counts = new Map<string, number>();
  for (const a of alerts) counts.set(labelOf(a), (counts.get(labelOf(a)) ?? 0) + 1);
  return [...counts.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)).map(([value]) => value);
}

/**
 * status and severity: the documented members and "unknown" keep their name, and so do at most
 * MAX_OTHER_ALERT_VALUES others (those on the most open alerts); the rest are counted as "other".
 */
function valueLabeller(openAlerts: readonly SecurityAlert[], labelOf: (a: SecurityAlert) => string, documented: readonly string[]): Labeller {
  const known = new Set([...documented, UNKNOWN_ALERT_VALUE]);
  const others = rankedValues(openAlerts, labelOf).filter((v) => !known.has(v));
  const kept = new Set(others.slice(0, MAX_OTHER_ALERT_VALUES));
  const label = (value: string) => (known.has(value) || kept.has(value) ? value : OTHER_ALERT_VALUE);
  return Object.assign(label, { folded: others.length - kept.size });
}

/**
 * alertType is free text: at most max types keep their name (the ones with the most open alerts,
 * then by name), and fewer when partner_security_alerts_open would carry more than maxSeries
 * series (status x severity x type); the rest are counted as "other". Folding every type leaves
 * at most (statuses x severities) series, far below maxSeries once those two are bounded.
 */
function typeLabeller(openAlerts: readonly SecurityAlert[], max: number, maxSeries: number): Labeller {
  const ranked = rankedValues(openAlerts, (a) => a.alertType);
  const pairs = new Map<string, Set<string>>();
  for (const a of openAlerts) {
    const set = pairs.get(a.alertType) ?? new Set<string>();
    set.add(JSON.stringify([a.status, a.severity]));
    pairs.set(a.alertType, set);
  }
  // Series with the first k types named: theirs, plus the "other" type's (the pairs of all the rest).
  const restPairs: number[] = new Array(ranked.length + 1).fill(0);
  const rest = new Set<string>();
  for (let k = ranked.length - 1; k >= 0; k--) {
    for (const pair of pairs.get(ranked[k] ?? '') ?? []) rest.add(pair);
    restPairs[k] = rest.size;
  }
  const namedPairs: number[] = [0];
  for (const type of ranked) namedPairs.push((namedPairs.at(-1) ?? 0) + (pairs.get(type)?.size ?? 0));
  let keep = Math.min(max, ranked.length);
  while (keep > 0 && (namedPairs[keep] ?? 0) + (restPairs[keep] ?? 0) > maxSeries) keep--;
  const kept = new Set(ranked.slice(0, keep));
  const label = (type: string) => (kept.has(type) ? type : OTHER_ALERT_TYPE);
  return Object.assign(label, { folded: ranked.length - kept.size });
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
