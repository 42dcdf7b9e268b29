/**
 * What the partner security alerts of one snapshot add up to, for the metrics, the status page and
 * backfill alike: open alerts by label set, the oldest open ones, and the 30-day window Microsoft
 * scores securityAlertsPromptlyResolved over. Alerts are aggregated (counted, or the oldest
 * taken), never written one per series: two alerts with the same labels add up instead of
 * overwriting each other, and no alert id ever becomes a label.
 */
import type { SecurityAlert, SecurityAlerts } from '../snapshot.js';

/** The window Microsoft averages the response time over (securityAlertsPromptlyResolved). */
export const ALERT_WINDOW_SECONDS = 30 * 24 * 3600;
/** What the requirement allows as an average response time. */
export const ALERT_RESPONSE_LIMIT_SECONDS = 24 * 3600;
/** The alert_type value alerts of types beyond --collector.security-alerts.max-alert-types are counted under. */
export const OTHER_ALERT_TYPE = 'other';
/** "New this week", as Partner Center's Security Alerts dashboard counts them. */
export const DETECTED_WINDOW_SECONDS = 7 * 24 * 3600;
/** Graph's securityAlertSeverity values: each is counted (at 0 too) in the 7-day detections. */
export const ALERT_SEVERITIES = ['informational', 'low', 'medium', 'high'] as const;
/** Graph's securityAlertResolvedReason values; any other (a value Microsoft adds, or none) is counted as OTHER_RESOLVED_REASON. */
export const RESOLVED_REASONS = ['legitimate', 'ignore', 'fraud'] as const;
export const OTHER_RESOLVED_REASON = 'other';

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
  /** Alert types counted under "other" because of the type cap. */
  readonly foldedTypes: number;
  /** Non-test alerts resolved within the window ending now. */
  readonly resolvedInWindow: number;
  /** Those by resolution reason: legitimate, ignore, fraud and other, every one present (0 too). */
  readonly resolvedByReason: ReadonlyMap<string, number>;
  /** Non-test alerts detected in the 7 days before now, by severity: Graph's four always present (0 too), others as sent. */
  readonly detectedLast7Days: ReadonlyMap<string, number>;
  /** Mean of resolved minus detected over those (absent when none has both dates), seconds. */
  readonly averageResponseSeconds?: number;
  /** Per customer, type and severity, for at most maxCustomers customers (those with the oldest open alerts first). */
  readonly customers: readonly CustomerOpenAlerts[];
  /** Customers with open non-test alerts, beyond the per-customer cap too. */
  readonly customersWithOpenAlerts: number;
}

/** Adds up the alerts as of nowSeconds. */
export function summarizeAlerts(data: SecurityAlerts, nowSeconds: number): AlertSummary {
  const live = data.alerts.filter((a) => !a.isTest);
  const openAlerts = live.filter((a) => a.open);
  const typeOf = typeLabeller(openAlerts, data.maxAlertTypes);

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
  for (const alert of data.alerts) if (alert.isTest && alert.open) testOpen.set(alert.severity, (testOpen.get(alert.severity) ?? 0) + 1);

  // Resolved within the 30 days before now, as Microsoft's window counts them.
  const windowStart = nowSeconds - ALERT_WINDOW_SECONDS;
  const resolved = live.filter((a) => !a.open && a.resolvedTimestamp !== undefined && a.resolvedTimestamp > windowStart && a.resolvedTimestamp <= nowSeconds);
  const timed = resolved.flatMap((a) =>
    a.detectedTimestamp === undefined || a.resolvedTimestamp === undefined ? [] : [Math.max(0, a.resolvedTimestamp - a.detectedTimestamp)],
  );
  const averageResponseSeconds = timed.length === 0 ? undefined : timed.reduce((sum, t) => sum + t, 0) / timed.length;
  const resolvedByReason = new Map<string, number>([...RESOLVED_REASONS, OTHER_RESOLVED_REASON].map((r) => [r, 0]));
  for (const alert of resolved) {
    const reason = RESOLVED_REASONS.find((r) => r === alert.resolvedReason?.toLowerCase()) ?? OTHER_RESOLVED_REASON;
    resolvedByReason.set(reason, (resolvedByReason.get(reason) ?? 0) + 1);
  }

  // Detected in the 7 days before now, open or not: Partner Center's "new this week".
  const detectedLast7Days = new Map<string, number>(ALERT_SEVERITIES.map((s) => [s, 0]));
  for (const alert of live) {
    const at = alert.detectedTimestamp;
    if (at !== undefined && at > nowSeconds - DETECTED_WINDOW_SECONDS && at <= nowSeconds)
      detectedLast7Days.set(alert.severity, (detectedLast7Days.get(alert.severity) ?? 0) + 1);
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
  const chosen = [...byCustomer.entries()].sort(([a, ga], [b, gb]) => oldestOf(ga) - oldestOf(gb) || (a < b ? -1 : a > b ? 1 : 0)).slice(0, data.maxCustomers);

  return {
    open: [...open.values()],
    testOpen,
    oldestOpenBySeverity,
    oldestOpen: openAlerts.filter((a) => a.detectedTimestamp !== undefined).sort((a, b) => (a.detectedTimestamp ?? 0) - (b.detectedTimestamp ?? 0)),
    foldedTypes: typeOf.folded,
    resolvedInWindow: resolved.length,
    resolvedByReason,
    detectedLast7Days,
    ...(averageResponseSeconds === undefined ? {} : { averageResponseSeconds }),
    customers: chosen.flatMap(([, groups]) => [...groups.values()]),
    customersWithOpenAlerts: byCustomer.size,
  };
}

/**
 * alertType is free text: at most max types keep their name (the ones with the most open alerts,
 * then by name, so the choice does not depend on Graph's order); the rest are counted as "other".
 */
function typeLabeller(openAlerts: readonly SecurityAlert[], max: number): ((type: string) => string) & { folded: number } {
  const counts = new Map<string, number>();
  for (const a of openAlerts) counts.set(a.alertType, (counts.get(a.alertType) ?? 0) + 1);
  const ranked = [...counts.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)).map(([type]) => type);
  const kept = new Set(ranked.slice(0, max));
  const label = (type: string) => (kept.has(type) ? type : OTHER_ALERT_TYPE);
  return Object.assign(label, { folded: ranked.length - kept.size });
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
