/**
 * The alerts are added up as the pages come (alertAggregator) instead of being kept one object each:
 * for any alerts, caps and clock, what the metrics and the status page read must be what adding up
 * the kept alerts all at once gives. The reference below is how the exporter did it before
 * (summarizeAlerts over the list of kept alerts), word for word.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALERT_WINDOW_SECONDS,
  aggregateAlerts,
  COUNTED_SEVERITIES,
  DETECTED_WINDOW_SECONDS,
  MAX_ALERT_SERIES,
  MAX_OTHER_ALERT_VALUES,
  OLDEST_OPEN_KEPT,
  OTHER_ALERT_TYPE,
  OTHER_ALERT_VALUE,
  OTHER_RESOLVED_REASON,
  summarizeAlerts,
  typesKept,
} from '../../../src/collect/security-alerts.js';
import {
  ALERT_RESOLVED_REASONS,
  ALERT_SEVERITIES,
  ALERT_STATUSES,
  type CustomerOpenAlerts,
  type SecurityAlert,
  UNKNOWN_ALERT_VALUE,
} from '../../../src/snapshot.js';

const NOW = 1_800_000_000;
const DAY = 86_400;

/** The alerts kept under the cap (every open one first, then the newest resolved), as a poll kept them before. */
function keptAlerts(alerts: readonly SecurityAlert[], max: number): SecurityAlert[] {
  const open = alerts.filter((a) => a.open).slice(0, max);
  const resolved = alerts.filter((a) => !a.open).sort((a, b) => (b.resolvedTimestamp ?? 0) - (a.resolvedTimestamp ?? 0));
  return [...open, ...resolved.slice(0, Math.max(0, max - open.length))];
}

function reference(data: { alerts: readonly SecurityAlert[]; maxAlertTypes: number; maxCustomers: number }, nowSeconds: number) {
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
  const kept = typesKept(ranked, pairs, max, maxSeries);
  const label = (type: string) => (kept.has(type) ? type : OTHER_ALERT_TYPE);
  return Object.assign(label, { folded: ranked.length - kept.size });
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

// Often the same few times, so that ties (and their order) are tried too; around both windows' edges.
const time = fc.option(
  fc.oneof(fc.constantFrom(NOW - 31 * DAY, NOW - 8 * DAY, NOW - 7 * DAY, NOW - 2 * DAY, NOW - DAY, NOW), fc.integer({ min: NOW - 40 * DAY, max: NOW + DAY })),
  { nil: undefined },
);
/** Documented values and more than MAX_OTHER_ALERT_VALUES others, so that folding is tried. */
const others = (prefix: string) => Array.from({ length: MAX_OTHER_ALERT_VALUES + 3 }, (_, i) => `${prefix}${i}`);
const alertArb = fc
  .record({
    id: fc.string({ maxLength: 3 }),
    alertType: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'),
    status: fc.constantFrom('active', 'investigating', 'resolved', 'unknownFutureValue', 'unknown', ...others('s')),
    severity: fc.constantFrom('informational', 'high', 'medium', 'low', 'unknown', ...others('v')),
    customerTenantId: fc.option(fc.constantFrom('c1', 'c2', 'c3', 'c4'), { nil: undefined }),
    detectedTimestamp: time,
    resolvedTimestamp: time,
    resolvedReason: fc.option(fc.constantFrom('legitimate', 'Fraud', 'ignore', 'spam'), { nil: undefined }),
    isTest: fc.boolean(),
  })
  .map(
    ({ customerTenantId, detectedTimestamp, resolvedTimestamp, resolvedReason, ...a }): SecurityAlert => ({
      ...a,
      // As the parser reads them: open unless resolved or dated as resolved.
      open: a.status !== 'resolved' && resolvedTimestamp === undefined,
      ...(customerTenantId === undefined ? {} : { customerTenantId }),
      ...(detectedTimestamp === undefined ? {} : { detectedTimestamp }),
      ...(resolvedTimestamp === undefined ? {} : { resolvedTimestamp }),
      ...(resolvedReason === undefined ? {} : { resolvedReason }),
    }),
  );

describe('security alerts added up as they are read', () => {
  it('show what the kept alerts added up at once show, for any alerts, caps and clock', () => {
    fc.assert(
      fc.property(
        fc.array(alertArb, { maxLength: 80 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: NOW - DAY, max: NOW + 40 * DAY }),
        (alerts, max, maxAlertTypes, maxCustomers, now) => {
          const data = aggregateAlerts(alerts, max, { maxAlertTypes, maxCustomers });
          const expected = reference({ alerts: keptAlerts(alerts, max), maxAlertTypes, maxCustomers }, now);
          // The status page lists the few oldest: they are all that is kept of the open alerts' names.
          expect(summarizeAlerts(data, now)).toEqual({ ...expected, oldestOpen: expected.oldestOpen.slice(0, OLDEST_OPEN_KEPT) });
          expect(data.kept).toBe(keptAlerts(alerts, max).length);
          expect(data.seen).toBe(alerts.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps a handful of numbers per resolved alert and no alert object beyond the oldest open few', () => {
    const alerts: SecurityAlert[] = Array.from({ length: 10_000 }, (_, i) => ({
      id: `a${i}`,
      alertType: `t${i % 7}`,
      status: i % 10 === 0 ? 'active' : 'resolved',
      severity: 'high',
      customerTenantId: `c${i % 1000}`,
      detectedTimestamp: NOW - i,
      ...(i % 10 === 0 ? {} : { resolvedTimestamp: NOW - i + 60 }),
      isTest: false,
      open: i % 10 === 0,
    }));
    const data = aggregateAlerts(alerts, 10_000, { maxAlertTypes: 50, maxCustomers: 0 });
    expect(data.oldestOpen).toHaveLength(OLDEST_OPEN_KEPT);
    expect(data.dated.resolvedAt).toBeInstanceOf(Float64Array);
    expect(data.dated.resolvedAt.length).toBe(10_000);
    expect(data.dated.severities).toEqual(['high']);
    expect(data.customers).toEqual([]);
    expect(data.customersWithOpenAlerts).toBe(100);
    expect(data.open.reduce((n, o) => n + o.count, 0)).toBe(1000);
  });
});
