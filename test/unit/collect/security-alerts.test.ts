/**
 * The alerts are added up as the pages come (alertAggregator) instead of being kept one object each:
 * for any alerts, caps and clock, what the metrics and the status page read must be what adding up
 * the kept alerts all at once gives (the reference below is how the exporter did it before).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALERT_WINDOW_SECONDS, aggregateAlerts, OLDEST_OPEN_KEPT, OTHER_ALERT_TYPE, summarizeAlerts } from '../../../src/collect/security-alerts.js';
import type { CustomerOpenAlerts, SecurityAlert } from '../../../src/snapshot.js';

const NOW = 1_800_000_000;
const DAY = 86_400;

/** The alerts kept under the cap (every open one first, then the newest resolved), as a poll kept them before. */
function keptAlerts(alerts: readonly SecurityAlert[], max: number): SecurityAlert[] {
  const open = alerts.filter((a) => a.open).slice(0, max);
  const resolved = alerts.filter((a) => !a.open).sort((a, b) => (b.resolvedTimestamp ?? 0) - (a.resolvedTimestamp ?? 0));
  return [...open, ...resolved.slice(0, Math.max(0, max - open.length))];
}

/** The kept alerts added up all at once. */
function reference(all: readonly SecurityAlert[], max: number, maxAlertTypes: number, maxCustomers: number, nowSeconds: number) {
  const alerts = keptAlerts(all, max);
  const live = alerts.filter((a) => !a.isTest);
  const openAlerts = live.filter((a) => a.open);
  const counts = new Map<string, number>();
  for (const a of openAlerts) counts.set(a.alertType, (counts.get(a.alertType) ?? 0) + 1);
  const ranked = [...counts.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)).map(([type]) => type);
  const kept = new Set(ranked.slice(0, maxAlertTypes));
  const typeOf = (type: string) => (kept.has(type) ? type : OTHER_ALERT_TYPE);
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
  for (const alert of alerts) if (alert.isTest && alert.open) testOpen.set(alert.severity, (testOpen.get(alert.severity) ?? 0) + 1);
  const windowStart = nowSeconds - ALERT_WINDOW_SECONDS;
  const resolved = live.filter((a) => !a.open && a.resolvedTimestamp !== undefined && a.resolvedTimestamp > windowStart && a.resolvedTimestamp <= nowSeconds);
  const timed = resolved.flatMap((a) =>
    a.detectedTimestamp === undefined || a.resolvedTimestamp === undefined ? [] : [Math.max(0, a.resolvedTimestamp - a.detectedTimestamp)],
  );
  const byCustomer = new Map<string, Map<string, CustomerOpenAlerts>>();
  for (const alert of openAlerts) {
    if (alert.customerTenantId === undefined) continue;
    const groups = byCustomer.get(alert.customerTenantId) ?? new Map<string, CustomerOpenAlerts>();
    byCustomer.set(alert.customerTenantId, groups);
    const alertType = typeOf(alert.alertType);
    const key = JSON.stringify([alertType, alert.severity]);
    const before = groups.get(key);
    const candidates = [before?.oldestDetectedTimestamp, alert.detectedTimestamp].filter((t): t is number => t !== undefined);
    const oldest = candidates.length === 0 ? undefined : Math.min(...candidates);
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
  const chosen = [...byCustomer.entries()].sort(([a, ga], [b, gb]) => oldestOf(ga) - oldestOf(gb) || (a < b ? -1 : a > b ? 1 : 0)).slice(0, maxCustomers);
  return {
    open: [...open.values()],
    testOpen,
    oldestOpenBySeverity,
    oldestOpen: openAlerts
      .filter((a) => a.detectedTimestamp !== undefined)
      .sort((a, b) => (a.detectedTimestamp ?? 0) - (b.detectedTimestamp ?? 0))
      .slice(0, OLDEST_OPEN_KEPT),
    foldedTypes: ranked.length - kept.size,
    resolvedInWindow: resolved.length,
    ...(timed.length === 0 ? {} : { averageResponseSeconds: timed.reduce((sum, t) => sum + t, 0) / timed.length }),
    customers: chosen.flatMap(([, groups]) => [...groups.values()]),
    customersWithOpenAlerts: byCustomer.size,
  };
}

// Often the same few times, so that ties (and their order) are tried too.
const time = fc.option(fc.oneof(fc.constantFrom(NOW - 31 * DAY, NOW - 2 * DAY, NOW - DAY, NOW), fc.integer({ min: NOW - 40 * DAY, max: NOW + DAY })), {
  nil: undefined,
});
const alertArb = fc
  .record({
    id: fc.string({ maxLength: 3 }),
    alertType: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
    status: fc.constantFrom('active', 'investigating', 'resolved', 'unknownFutureValue'),
    severity: fc.constantFrom('high', 'medium', 'low'),
    customerTenantId: fc.option(fc.constantFrom('c1', 'c2', 'c3', 'c4'), { nil: undefined }),
    detectedTimestamp: time,
    resolvedTimestamp: time,
    isTest: fc.boolean(),
  })
  .map(
    ({ customerTenantId, detectedTimestamp, resolvedTimestamp, ...a }): SecurityAlert => ({
      ...a,
      open: a.status !== 'resolved',
      ...(customerTenantId === undefined ? {} : { customerTenantId }),
      ...(detectedTimestamp === undefined ? {} : { detectedTimestamp }),
      ...(resolvedTimestamp === undefined ? {} : { resolvedTimestamp }),
    }),
  );

describe('security alerts added up as they are read', () => {
  it('show what the kept alerts added up at once show, for any alerts, caps and clock', () => {
    fc.assert(
      fc.property(
        fc.array(alertArb, { maxLength: 60 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: NOW - DAY, max: NOW + 40 * DAY }),
        (alerts, max, maxAlertTypes, maxCustomers, now) => {
          const data = aggregateAlerts(alerts, max, { maxAlertTypes, maxCustomers });
          expect(summarizeAlerts(data, now)).toEqual(reference(alerts, max, maxAlertTypes, maxCustomers, now));
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
    expect(data.resolved.resolvedAt).toBeInstanceOf(Float64Array);
    expect(data.resolved.resolvedAt.length).toBe(9000);
    expect(data.customers).toEqual([]);
    expect(data.customersWithOpenAlerts).toBe(100);
    expect(data.open.reduce((n, o) => n + o.count, 0)).toBe(1000);
  });
});
