/**
 * What the partner security alerts of one snapshot add up to, for the metrics, the status page and
 * backfill alike: open alerts by label set, the oldest open ones, and the 30-day window Microsoft
 * scores securityAlertsPromptlyResolved over. Alerts are aggregated (counted, or the oldest
 * taken), never written one per series: two alerts with the same labels add up instead of
 * overwriting each other, and no alert id ever becomes a label.
 */
import type { CustomerOpenAlerts, OpenAlertCount, SecurityAlert, SecurityAlerts } from '../snapshot.js';

/** The window Microsoft averages the response time over (securityAlertsPromptlyResolved). */
export const ALERT_WINDOW_SECONDS = 30 * 24 * 3600;
/** What the requirement allows as an average response time. */
export const ALERT_RESPONSE_LIMIT_SECONDS = 24 * 3600;
/** The alert_type value alerts of types beyond --collector.security-alerts.max-alert-types are counted under. */
export const OTHER_ALERT_TYPE = 'other';

/** How many of the oldest open alerts are kept by name (the status page lists them). */
export const OLDEST_OPEN_KEPT = 5;

/** The alerts of one snapshot, added up. Test alerts are only in testOpen. */
export interface AlertSummary {
  readonly open: readonly OpenAlertCount[];
  /** Open test alerts (isTest) by severity: counted apart, they never page. */
  readonly testOpen: ReadonlyMap<string, number>;
  /** Detection time of the oldest open non-test alert, by severity. */
  readonly oldestOpenBySeverity: ReadonlyMap<string, number>;
  /** Open non-test alerts with a detection time, oldest first: at most OLDEST_OPEN_KEPT. */
  readonly oldestOpen: readonly SecurityAlert[];
  /** Alert types counted under "other" because of the type cap. */
  readonly foldedTypes: number;
  /** Non-test alerts resolved within the window ending now. */
  readonly resolvedInWindow: number;
  /** Mean of resolved minus detected over those (absent when none has both dates), seconds. */
  readonly averageResponseSeconds?: number;
  /** Per customer, type and severity, for at most maxCustomers customers (those with the oldest open alerts first). */
  readonly customers: readonly CustomerOpenAlerts[];
  /** Customers with open non-test alerts, beyond the per-customer cap too. */
  readonly customersWithOpenAlerts: number;
}

/** Adds up the alerts as of nowSeconds: the 30-day window ends now; the rest was added up as they were read. */
export function summarizeAlerts(data: SecurityAlerts, nowSeconds: number): AlertSummary {
  // Resolved within the 30 days before now, as Microsoft's window counts them.
  const windowStart = nowSeconds - ALERT_WINDOW_SECONDS;
  const { resolvedAt, detectedAt } = data.resolved;
  let resolvedInWindow = 0;
  let timed = 0;
  let total = 0;
  for (let i = 0; i < resolvedAt.length; i++) {
    const resolved = resolvedAt[i] ?? Number.NaN;
    if (!(resolved > windowStart && resolved <= nowSeconds)) continue;
    resolvedInWindow++;
    const detected = detectedAt[i] ?? Number.NaN;
    if (Number.isNaN(detected)) continue;
    timed++;
    total += Math.max(0, resolved - detected);
  }
  return {
    open: data.open,
    testOpen: new Map(data.testOpen),
    oldestOpenBySeverity: new Map(data.oldestOpenBySeverity),
    oldestOpen: data.oldestOpen,
    foldedTypes: data.foldedTypes,
    resolvedInWindow,
    ...(timed === 0 ? {} : { averageResponseSeconds: total / timed }),
    customers: data.customers,
    customersWithOpenAlerts: data.customersWithOpenAlerts,
  };
}

/** Adds alerts up one by one, as the pages come, and keeps only what SecurityAlerts holds. */
export interface AlertAggregator {
  add(alert: SecurityAlert): void;
  /** What was added up; seen is how many alerts were read (kept or not). */
  done(seen: number): SecurityAlerts;
}

type Bounds = Pick<SecurityAlerts, 'maxAlertTypes' | 'maxCustomers'>;

/**
 * At most max alerts count: every open one first (they page someone), in the order read, then the
 * most recently resolved (the 30-day window needs the newest). Open alerts are added up as they
 * come, by their own type; types beyond bounds.maxAlertTypes are folded into "other" at the end,
 * when the counts that rank them are known. Resolved ones are held as three numbers each until the
 * end picks the newest.
 */
export function alertAggregator(max: number, bounds: Bounds): AlertAggregator {
  let openKept = 0;
  const open = new Map<string, { status: string; severity: string; alertType: string; count: number }>();
  const typeCounts = new Map<string, number>();
  const testOpen = new Map<string, number>();
  const oldestBySeverity = new Map<string, number>();
  const oldestOpen: SecurityAlert[] = [];
  const customersWithOpen = new Set<string>();
  // Per customer, by their own type and severity: folded and capped at the end.
  const byCustomer = new Map<string, Map<string, { alertType: string; severity: string; count: number; oldest: number | undefined }>>();
  // Resolved: resolution time (0 when absent, as it sorts), detection time (NaN when absent), test or not.
  let resolved: [number, number, boolean, boolean][] = [];
  const newestFirst = (a: [number, number, boolean, boolean], b: [number, number, boolean, boolean]) => b[0] - a[0];
  // Graph sends each alert's status, severity and type as strings of their own: the kept groups share one of each.
  const strings = new Map<string, string>();
  const intern = (text: string) => {
    const known = strings.get(text);
    if (known !== undefined) return known;
    strings.set(text, text);
    return text;
  };

  const addOpen = (alert: SecurityAlert) => {
    if (alert.isTest) {
      testOpen.set(alert.severity, (testOpen.get(alert.severity) ?? 0) + 1);
      return;
    }
    const key = JSON.stringify([alert.status, alert.severity, alert.alertType]);
    const entry = open.get(key) ?? { status: intern(alert.status), severity: intern(alert.severity), alertType: intern(alert.alertType), count: 0 };
    entry.count++;
    open.set(key, entry);
    typeCounts.set(alert.alertType, (typeCounts.get(alert.alertType) ?? 0) + 1);
    const detected = alert.detectedTimestamp;
    if (detected !== undefined) {
      const oldest = oldestBySeverity.get(alert.severity);
      if (oldest === undefined || detected < oldest) oldestBySeverity.set(alert.severity, detected);
      // Oldest first, and of two alike the one read first, as a stable sort of them all would put them.
      let at = oldestOpen.length;
      while (at > 0 && (oldestOpen[at - 1]?.detectedTimestamp ?? 0) > detected) at--;
      if (at < OLDEST_OPEN_KEPT) {
        oldestOpen.splice(at, 0, alert);
        oldestOpen.length = Math.min(oldestOpen.length, OLDEST_OPEN_KEPT);
      }
    }
    if (alert.customerTenantId !== undefined) {
      const customer = intern(alert.customerTenantId);
      customersWithOpen.add(customer);
      // The per-customer series are off: only the number of customers is needed.
      if (bounds.maxCustomers === 0) return;
      const groups = byCustomer.get(customer) ?? new Map();
      byCustomer.set(customer, groups);
      const groupKey = JSON.stringify([alert.alertType, alert.severity]);
      const group = groups.get(groupKey) ?? { alertType: intern(alert.alertType), severity: intern(alert.severity), count: 0, oldest: undefined };
      group.count++;
      group.oldest = minDefined(group.oldest, detected);
      groups.set(groupKey, group);
    }
  };

  return {
    add(alert) {
      if (alert.open) {
        if (openKept < max) {
          openKept++;
          addOpen(alert);
        }
        return;
      }
      resolved.push([alert.resolvedTimestamp ?? 0, alert.detectedTimestamp ?? Number.NaN, alert.isTest, alert.resolvedTimestamp !== undefined]);
      // Trimmed now and then, not on every alert: at most twice the cap is ever held.
      if (resolved.length >= 2 * max) resolved = resolved.sort(newestFirst).slice(0, max);
    },
    done(seen) {
      const typeOf = typeLabeller(typeCounts, bounds.maxAlertTypes);
      const folded = new Map<string, OpenAlertCount & { count: number }>();
      for (const entry of open.values()) {
        const alertType = typeOf(entry.alertType);
        const key = JSON.stringify([entry.status, entry.severity, alertType]);
        const into = folded.get(key) ?? { status: entry.status, severity: entry.severity, alertType, count: 0 };
        into.count += entry.count;
        folded.set(key, into);
      }
      const customers = [...byCustomer].map(([customerTenantId, groups]) => {
        const merged = new Map<string, { customerTenantId: string; alertType: string; severity: string; count: number; oldest: number | undefined }>();
        for (const group of groups.values()) {
          const alertType = typeOf(group.alertType);
          const key = JSON.stringify([alertType, group.severity]);
          const into = merged.get(key) ?? { customerTenantId, alertType, severity: group.severity, count: 0, oldest: undefined };
          into.count += group.count;
          into.oldest = minDefined(into.oldest, group.oldest);
          merged.set(key, into);
        }
        const list = [...merged.values()].map(({ oldest, ...g }): CustomerOpenAlerts => (oldest === undefined ? g : { ...g, oldestDetectedTimestamp: oldest }));
        return { customerTenantId, list, oldest: Math.min(...list.map((g) => g.oldestDetectedTimestamp ?? Number.POSITIVE_INFINITY)) };
      });
      const chosen = customers
        .sort((a, b) => a.oldest - b.oldest || (a.customerTenantId < b.customerTenantId ? -1 : a.customerTenantId > b.customerTenantId ? 1 : 0))
        .slice(0, bounds.maxCustomers);
      const keptResolved = resolved.sort(newestFirst).slice(0, Math.max(0, max - openKept));
      // Only non-test alerts with a resolution time can ever fall in the window (newest first, as they were kept).
      const timed = keptResolved.filter(([, , isTest, hasTime]) => !isTest && hasTime);
      return Object.freeze({
        seen,
        kept: openKept + keptResolved.length,
        ...bounds,
        open: Object.freeze([...folded.values()].map((o) => Object.freeze({ ...o }))),
        testOpen: Object.freeze([...testOpen]),
        oldestOpenBySeverity: Object.freeze([...oldestBySeverity]),
        foldedTypes: typeOf.folded,
        oldestOpen: Object.freeze([...oldestOpen]),
        customers: Object.freeze(chosen.flatMap((c) => c.list)),
        customersWithOpenAlerts: customersWithOpen.size,
        resolved: { resolvedAt: Float64Array.from(timed, ([r]) => r), detectedAt: Float64Array.from(timed, ([, d]) => d) },
      });
    },
  };
}

/** SecurityAlerts of a list of alerts, as a poll that read them in this order would keep them. */
export function aggregateAlerts(alerts: readonly SecurityAlert[], max: number, bounds: Bounds): SecurityAlerts {
  const aggregator = alertAggregator(max, bounds);
  for (const alert of alerts) aggregator.add(alert);
  return aggregator.done(alerts.length);
}

/**
 * alertType is free text: at most max types keep their name (the ones with the most open alerts,
 * then by name, so the choice does not depend on Graph's order); the rest are counted as "other".
 */
function typeLabeller(counts: ReadonlyMap<string, number>, max: number): ((type: string) => string) & { folded: number } {
  const ranked = [...counts.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)).map(([type]) => type);
  const kept = new Set(ranked.slice(0, max));
  const label = (type: string) => (kept.has(type) ? type : OTHER_ALERT_TYPE);
  return Object.assign(label, { folded: ranked.length - kept.size });
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
