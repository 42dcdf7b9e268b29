/**
 * The bounds on alert labels: status and severity keep the documented members and a few others,
 * alert types and customers give way until every alert family fits in MAX_ALERT_SERIES series.
 */
import { describe, expect, it } from 'vitest';
import { aggregateAlerts, MAX_ALERT_SERIES, MAX_OTHER_ALERT_VALUES, OTHER_ALERT_VALUE, summarizeAlerts } from '../../../src/collect/security-alerts.js';
import { createMetrics } from '../../../src/expose/metrics.js';
import { ALERT_SEVERITIES, ALERT_STATUSES, initialSnapshot, type SecurityAlert, type TenantSnapshot } from '../../../src/snapshot.js';
import { parseSamples } from '../../helpers/exporter.js';

const NOW = 1_800_000_000;

function open(i: number, fields: Partial<SecurityAlert> = {}): SecurityAlert {
  return { id: `a${i}`, alertType: 't', status: 'active', severity: 'high', detectedTimestamp: NOW - i, isTest: false, open: true, ...fields };
}

const summary = (alerts: SecurityAlert[], bounds: { maxAlertTypes?: number; maxCustomers?: number } = {}) =>
  summarizeAlerts(aggregateAlerts(alerts, alerts.length, { maxAlertTypes: bounds.maxAlertTypes ?? 50, maxCustomers: bounds.maxCustomers ?? 0 }), NOW);

/** n values Graph does not document, each on one alert more than the next, so their rank is known. */
function undocumented(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
}

function alertsWith(field: 'status' | 'severity', values: readonly string[]): SecurityAlert[] {
  return values.flatMap((value, rank) => Array.from({ length: values.length - rank }, (_, k) => open(rank * 100 + k, { [field]: value })));
}

describe.each([
  ['status', ALERT_STATUSES.filter((s) => s !== 'resolved'), 'foldedStatuses'],
  ['severity', ALERT_SEVERITIES, 'foldedSeverities'],
] as const)('%s', (field, documented, folded) => {
  const labels = (s: ReturnType<typeof summary>) => new Set(s.open.map((o) => o[field]));

  it(`keeps the documented members, "unknown" and ${MAX_OTHER_ALERT_VALUES} others: at the bound nothing folds`, () => {
    const others = undocumented('x', MAX_OTHER_ALERT_VALUES);
    const s = summary(alertsWith(field, [...documented, 'unknown', ...others]));
    expect(s[folded]).toBe(0);
    expect(labels(s)).toEqual(new Set([...documented, 'unknown', ...others]));
  });

  it('folds the others on the fewest open alerts into "other" beyond the bound, and counts them', () => {
    const others = undocumented('x', MAX_OTHER_ALERT_VALUES + 2);
    const s = summary(alertsWith(field, [...documented, ...others]));
    expect(s[folded]).toBe(2);
    expect(labels(s)).toEqual(new Set([...documented, ...others.slice(0, MAX_OTHER_ALERT_VALUES), OTHER_ALERT_VALUE]));
    const other = s.open.filter((o) => o[field] === OTHER_ALERT_VALUE).reduce((n, o) => n + o.count, 0);
    // The last two values sit on 2 and 1 alerts.
    expect(other).toBe(3);
  });

  it('compares nothing but the value: documented members never fold, however many others there are', () => {
    const s = summary(alertsWith(field, [...undocumented('y', 40), ...documented]));
    for (const member of documented) expect(labels(s)).toContain(member);
    expect(s[folded]).toBe(40 - MAX_OTHER_ALERT_VALUES);
  });
});

describe(`at most ${MAX_ALERT_SERIES} series per alert family`, () => {
  it('names every type while partner_security_alerts_open fits, and folds types beyond it', () => {
    const types = (n: number) => Array.from({ length: n }, (_, i) => open(i, { alertType: `type${String(i).padStart(5, '0')}` }));
    const atBound = summary(types(MAX_ALERT_SERIES), { maxAlertTypes: 5000 });
    expect(atBound.open).toHaveLength(MAX_ALERT_SERIES);
    expect(atBound.foldedTypes).toBe(0);
    const beyond = summary(types(MAX_ALERT_SERIES + 1), { maxAlertTypes: 5000 });
    expect(beyond.open).toHaveLength(MAX_ALERT_SERIES);
    // 999 types keep their name and two share "other".
    expect(beyond.foldedTypes).toBe(2);
    expect(beyond.open.find((o) => o.alertType === 'other')?.count).toBe(2);
  });

  it('leaves customers out of the per-customer series once they would pass the bound, and says so at once', () => {
    const customers = (n: number) => Array.from({ length: n }, (_, i) => open(i, { customerTenantId: `c${i}` }));
    const atBound = summary(customers(MAX_ALERT_SERIES), { maxCustomers: 5000 });
    expect(atBound.customers).toHaveLength(MAX_ALERT_SERIES);
    expect(atBound.customersKept).toBe(MAX_ALERT_SERIES);
    const beyond = summary(customers(MAX_ALERT_SERIES + 1), { maxCustomers: 5000 });
    expect(beyond.customers).toHaveLength(MAX_ALERT_SERIES);
    expect(beyond.customersKept).toBe(MAX_ALERT_SERIES);
    expect(beyond.customersWithOpenAlerts).toBe(MAX_ALERT_SERIES + 1);
    // The oldest open alerts go first: the newest customer (c0, detected last) is the one left out.
    expect(beyond.customers.some((c) => c.customerTenantId === 'c0')).toBe(false);
  });

  it('holds for every family of /metrics whatever Graph sends: 10,000 alerts, each with its own status, severity, type and customer', async () => {
    const long = (what: string, i: number) => `${what}-${String(i).padStart(5, '0')}-${'z'.repeat(190)}`;
    const alerts = Array.from({ length: 10_000 }, (_, i) =>
      open(i, { status: long('s', i), severity: long('v', i), alertType: long('t', i), customerTenantId: long('c', i), isTest: i % 10 === 0 }),
    );
    const snapshot: TenantSnapshot = {
      ...initialSnapshot('t1'),
      score: { currentScore: 1 },
      lastSuccessMs: NOW * 1000,
      relations: { securityAlerts: aggregateAlerts(alerts, alerts.length, { maxAlertTypes: 10_000, maxCustomers: 1_000_000 }) },
      relationStatus: { securityAlerts: 'ok' },
    };
    const text = await createMetrics({
      snapshots: () => [snapshot],
      build: { version: 'v', nodeVersion: 'n' },
      maxStalenessMs: 0,
      now: () => NOW * 1000,
      processMetrics: false,
    }).render();
    const perFamily = new Map<string, number>();
    for (const sample of parseSamples(text)) perFamily.set(sample.name, (perFamily.get(sample.name) ?? 0) + 1);
    const alertFamilies = [...perFamily].filter(([name]) => /alerts/.test(name));
    expect(alertFamilies.length).toBeGreaterThanOrEqual(8);
    for (const [name, series] of alertFamilies) expect(series, name).toBeLessThanOrEqual(MAX_ALERT_SERIES);
    expect(perFamily.get('partner_security_customer_alerts_oldest_open_detected_timestamp_seconds')).toBe(MAX_ALERT_SERIES);
    const value = (name: string) => parseSamples(text).find((s) => s.name === name)?.value;
    expect(value('partner_security_alerts_folded_statuses')).toBe(9000 - MAX_OTHER_ALERT_VALUES);
    expect(value('partner_security_customer_alerts_truncated')).toBe(1);
  });
});
