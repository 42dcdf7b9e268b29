/**
 * The bounds on alert labels through the built exporter and the TLS fake of Graph, each at the
 * bound and one beyond it: status and severity values besides the documented ones, the series of
 * one alert family, and the customers of the per-customer series.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_ALERT_SERIES, MAX_OTHER_ALERT_VALUES } from '../../src/collect/security-alerts.js';
import {
  type Exporter,
  INTEGRATION_TIMEOUT_MS,
  killExporters,
  type Sample,
  sampleValue,
  startExporter,
  TENANT_ID,
  until,
  WITH_SECURITY_ALERTS,
} from '../helpers/exporter.js';
import { closeFakeClouds, startFakeCloud } from '../helpers/fake-cloud.js';

const tenant = { tenant_id: TENANT_ID };

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

type TestContext = { onTestFinished: (fn: () => Promise<void>) => void };

/** An exporter reading these alerts (one page), once it has read them. */
async function exporterFor(alerts: Record<string, unknown>[], args: string[], { onTestFinished }: TestContext): Promise<Exporter> {
  const cloud = await startFakeCloud({ onTestFinished });
  cloud.alertsDefault = { body: { value: alerts } };
  const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1m', ...args] });
  await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 1, 20_000, 'alerts read');
  return exporter;
}

function alert(i: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: `a${i}`, alertType: 'x', status: 'active', severity: 'high', detectedDateTime: new Date(Date.now() - (i + 1) * 1000).toISOString(), ...fields };
}

const series = (samples: readonly Sample[], name: string) => samples.filter((s) => s.name === name);

describe('alert label bounds', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it(`keeps ${MAX_OTHER_ALERT_VALUES} undocumented statuses and severities, and folds one more into "other"`, async (context) => {
    const values = (n: number) =>
      Array.from({ length: n }, (_, i) => alert(i, { status: `status${i}-${'s'.repeat(200)}`, severity: `severity${i}-${'v'.repeat(200)}` }));
    const [atBound, beyond] = await Promise.all([
      exporterFor(values(MAX_OTHER_ALERT_VALUES), [], context),
      exporterFor(values(MAX_OTHER_ALERT_VALUES + 1), [], context),
    ]);
    const at = await atBound.samples();
    expect(sampleValue(at, 'partner_security_alerts_folded_statuses', tenant)).toBe(0);
    expect(sampleValue(at, 'partner_security_alerts_folded_severities', tenant)).toBe(0);
    expect(series(at, 'partner_security_alerts_open').filter((s) => s.labels.status === 'other' || s.labels.severity === 'other')).toEqual([]);
    const past = await beyond.samples();
    expect(sampleValue(past, 'partner_security_alerts_folded_statuses', tenant)).toBe(1);
    expect(sampleValue(past, 'partner_security_alerts_folded_severities', tenant)).toBe(1);
    expect(sampleValue(past, 'partner_security_alerts_open', { ...tenant, status: 'other', severity: 'other', alert_type: 'x' })).toBe(1);
    expect(series(past, 'partner_security_alerts_open')).toHaveLength(MAX_OTHER_ALERT_VALUES + 1);
    expect(sampleValue(past, 'partner_security_alerts_oldest_open_detected_timestamp_seconds', { ...tenant, severity: 'other' })).toBeGreaterThan(0);
  });

  it(`names every alert type while partner_security_alerts_open fits in ${MAX_ALERT_SERIES} series, and folds types beyond`, async (context) => {
    const types = (n: number) => Array.from({ length: n }, (_, i) => alert(i, { alertType: `type${String(i).padStart(4, '0')}` }));
    const args = ['--collector.security-alerts.max-alert-types=5000'];
    const [atBound, beyond] = await Promise.all([exporterFor(types(MAX_ALERT_SERIES), args, context), exporterFor(types(MAX_ALERT_SERIES + 1), args, context)]);
    const at = await atBound.samples();
    expect(series(at, 'partner_security_alerts_open')).toHaveLength(MAX_ALERT_SERIES);
    expect(sampleValue(at, 'partner_security_alerts_folded_alert_types', tenant)).toBe(0);
    const past = await beyond.samples();
    expect(series(past, 'partner_security_alerts_open')).toHaveLength(MAX_ALERT_SERIES);
    expect(sampleValue(past, 'partner_security_alerts_folded_alert_types', tenant)).toBe(2);
    expect(sampleValue(past, 'partner_security_alerts_open', { ...tenant, status: 'active', severity: 'high', alert_type: 'other' })).toBe(2);
  });

  it(`keeps per-customer series within ${MAX_ALERT_SERIES} series and says when customers were left out, and not before`, async (context) => {
    const customers = (n: number) => Array.from({ length: n }, (_, i) => alert(i, { customerTenantId: `customer-${i}` }));
    const args = ['--collector.security-alerts.customers', '--collector.customer-insights.max-customers=5000'];
    const [atBound, beyond] = await Promise.all([
      exporterFor(customers(MAX_ALERT_SERIES), args, context),
      exporterFor(customers(MAX_ALERT_SERIES + 1), args, context),
    ]);
    const at = await atBound.samples();
    expect(series(at, 'partner_security_customer_alerts_oldest_open_detected_timestamp_seconds')).toHaveLength(MAX_ALERT_SERIES);
    expect(sampleValue(at, 'partner_security_customer_alerts_truncated', tenant)).toBe(0);
    const past = await beyond.samples();
    expect(series(past, 'partner_security_customer_alerts_oldest_open_detected_timestamp_seconds')).toHaveLength(MAX_ALERT_SERIES);
    expect(series(past, 'partner_security_customer_alerts_open')).toHaveLength(MAX_ALERT_SERIES);
    expect(sampleValue(past, 'partner_security_customer_alerts_truncated', tenant)).toBe(1);
  });

  it('says customers were left out only beyond --collector.customer-insights.max-customers, never at it', async (context) => {
    const customers = (n: number) => Array.from({ length: n }, (_, i) => alert(i, { customerTenantId: `customer-${i}` }));
    const args = ['--collector.security-alerts.customers', '--collector.customer-insights.max-customers=3'];
    const [atBound, beyond] = await Promise.all([exporterFor(customers(3), args, context), exporterFor(customers(4), args, context)]);
    const at = await atBound.samples();
    expect(series(at, 'partner_security_customer_alerts_open')).toHaveLength(3);
    expect(sampleValue(at, 'partner_security_customer_alerts_truncated', tenant)).toBe(0);
    const past = await beyond.samples();
    expect(series(past, 'partner_security_customer_alerts_open')).toHaveLength(3);
    expect(sampleValue(past, 'partner_security_customer_alerts_truncated', tenant)).toBe(1);
  });
});
