/**
 * Partner security alerts through the real boundaries: the built exporter against the TLS fake of
 * Entra ID and Graph, which serves two pages of alerts with unknown enum members, nulls, a test
 * alert, a repeated alert and hostile strings.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { SECURITY_ALERT_PROPERTIES } from '../../src/graph/parse.js';
import {
  INTEGRATION_TIMEOUT_MS,
  killExporters,
  parseSamples,
  sampleSum,
  sampleValue,
  startExporter,
  TENANT_ID,
  until,
  WITH_SECURITY_ALERTS,
} from '../helpers/exporter.js';
import { ALERTS_PAGE_2, closeFakeClouds, graphErrorBody, SECURITY_ALERTS_PATH, startFakeCloud } from '../helpers/fake-cloud.js';

const tenant = { tenant_id: TENANT_ID };
const SELECT = `$select=${SECURITY_ALERT_PROPERTIES.join(',')}`;
/** 2026-11-30T22:14:05Z, 2026-11-30T10:00:00Z, 2026-11-29T12:00:00Z: the open non-test alerts of the fixtures. */
const DETECTED = { high: 1796076845, critical: 1796032800, low: 1795953600 };
/** What the fixtures hold that must never leave the exporter: user names of resolvers and activity logs. */
const PERSONAL = [
  'admin@partner.example',
  'analyst.one@partner.example',
  'previous.owner@partner.example',
  'hostile.user@customer.example',
  'second.admin@partner.example',
];

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

describe.concurrent('partner security alerts', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('asks Graph for unknown enum members as themselves on every request', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1m'] });
    await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 10_000, 'a successful poll');
    const paths = new Set(cloud.graphRequests.map((r) => r.path));
    expect(paths).toContain(SECURITY_ALERTS_PATH);
    expect(paths.size).toBeGreaterThan(1);
    for (const request of cloud.graphRequests) expect(request.headers.prefer, `${request.path}${request.query}`).toBe('include-unknown-enum-members');
  });

  it('exports open alerts over two pages by status, severity and type; test alerts apart; the oldest per severity', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1m'] });
    await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 1, 10_000, 'alerts read');
    expect(cloud.graphRequests.filter((r) => r.path === SECURITY_ALERTS_PATH).map((r) => r.query)).toEqual([
      `?${SELECT}`,
      `?${SELECT}&$skiptoken=${ALERTS_PAGE_2}`,
    ]);
    const scrape = await exporter.get('/metrics');
    const samples = parseSamples(scrape.body);
    const open = samples.filter((s) => s.name === 'partner_security_alerts_open').map((s) => ({ ...s.labels, value: s.value }));
    // The alert repeated on page 2 counts once; two alerts of the same unknown type stay apart by
    // their other labels, and the hostile type arrives without its control and bidi characters.
    expect(open).toEqual(
      expect.arrayContaining([
        { ...tenant, status: 'active', severity: 'high', alert_type: 'cryptoMiningActivityDetected', value: 1 },
        { ...tenant, status: 'investigating', severity: 'critical', alert_type: 'unknownFutureValue', value: 1 },
        { ...tenant, status: 'escalatedToMicrosoft', severity: 'low', alert_type: 'unknownFutureValue', value: 1 },
        { ...tenant, status: 'unknown', severity: 'unknown', alert_type: 'evil"} 1# HELP x<script>alert(1)</script>', value: 1 },
      ]),
    );
    expect(open).toHaveLength(4);
    expect(sampleValue(samples, 'partner_security_alerts_test_open', { ...tenant, severity: 'high' })).toBe(1);
    expect(samples.filter((s) => s.name === 'partner_security_alerts_test_open')).toHaveLength(1);
    // The test alert is the oldest open one (2026-11-20), yet it is not the oldest high-severity alert.
    expect(sampleValue(samples, 'partner_security_alerts_oldest_open_detected_timestamp_seconds', { ...tenant, severity: 'high' })).toBe(DETECTED.high);
    expect(sampleValue(samples, 'partner_security_alerts_oldest_open_detected_timestamp_seconds', { ...tenant, severity: 'critical' })).toBe(DETECTED.critical);
    expect(sampleValue(samples, 'partner_security_alerts_oldest_open_detected_timestamp_seconds', { ...tenant, severity: 'low' })).toBe(DETECTED.low);
    expect(sampleValue(samples, 'partner_security_alerts_folded_alert_types', tenant)).toBe(0);
    // Per-customer series are opt-in.
    expect(samples.some((s) => s.name.startsWith('partner_security_customer_alerts_'))).toBe(false);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: scrape.body, encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('never lets personal data (resolvedBy, activity-log actors) reach a metric, a log line, the page or /api/status', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: [WITH_SECURITY_ALERTS, '--poll.interval=1m', '--collector.security-alerts.customers', '--log.level=debug'],
    });
    await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 1, 10_000, 'alerts read');
    const everything = [
      (await exporter.get('/metrics')).body,
      (await exporter.get('/')).body,
      (await exporter.get('/api/status')).body,
      exporter.stderrLines.join('\n'),
      exporter.stdout(),
    ];
    for (const text of everything) for (const personal of PERSONAL) expect(text).not.toContain(personal);
    expect(everything[0]).toContain('partner_security_customer_alerts_open');
  });

  it('shows open alerts on the status page and in /api/status: counts by severity, the oldest against 24 h, all escaped', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1m'] });
    await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 1, 10_000, 'alerts read');
    const api = JSON.parse((await exporter.get('/api/status')).body) as { tenants: { securityAlerts: Record<string, unknown> }[] };
    const alerts = api.tenants[0]?.securityAlerts as {
      open: number;
      testOpen: number;
      bySeverity: { severity: string; count: number }[];
      oldest: { detected: { at: string; ageSeconds: number }; state: string };
      oldestAlerts: { customerTenantId: string | null; alertType: string; severity: string; detected: { at: string } }[];
    };
    expect(alerts.open).toBe(4);
    expect(alerts.testOpen).toBe(1);
    expect(alerts.bySeverity.map((s) => s.severity).sort()).toEqual(['critical', 'high', 'low', 'unknown']);
    // The test alert (2026-11-20) is older, but the oldest shown is the oldest non-test one.
    expect(alerts.oldest.detected.at).toBe('2026-11-29T12:00:00.000Z');
    expect(alerts.oldest.state).toBe(alerts.oldest.detected.ageSeconds >= 24 * 3600 ? 'bad' : alerts.oldest.detected.ageSeconds >= 20 * 3600 ? 'warn' : 'ok');
    expect(alerts.oldestAlerts.map((a) => [a.customerTenantId, a.alertType, a.severity])).toEqual([
      ['7b1e9f30-8a2c-4d5e-b6f7-0a1b2c3d4e5f', 'unknownFutureValue', 'low'],
      ['0d2c8a44-5c1e-4e0a-9d1f-4e3b1f9a6b21', 'unknownFutureValue', 'critical'],
      ['0d2c8a44-5c1e-4e0a-9d1f-4e3b1f9a6b21', 'cryptoMiningActivityDetected', 'high'],
      ['<img src=x onerror=alert(1)>', 'evil"} 1# HELP x<script>alert(1)</script>', 'unknown'],
    ]);
    const page = (await exporter.get('/')).body;
    expect(page).toContain('<h3>Open security alerts</h3>');
    expect(page).toContain('<strong class="alerts-open">4</strong> open');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('<img src=x');
    expect(page).not.toContain('<script>');
  });

  it('exports open alerts per customer by severity when asked, within the customer cap', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: [WITH_SECURITY_ALERTS, '--poll.interval=1m', '--collector.security-alerts.customers', '--collector.customer-insights.max-customers=1'],
    });
    await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 1, 10_000, 'alerts read');
    const samples = await exporter.samples();
    const perCustomer = samples.filter((s) => s.name === 'partner_security_customer_alerts_open').map((s) => ({ ...s.labels, value: s.value }));
    // Three customers have open non-test alerts; the one whose alert is oldest (2026-11-29) is kept.
    expect(perCustomer).toEqual([{ ...tenant, customer_tenant_id: '7b1e9f30-8a2c-4d5e-b6f7-0a1b2c3d4e5f', severity: 'low', value: 1 }]);
    expect(sampleValue(samples, 'partner_security_customer_alerts_truncated', tenant)).toBe(1);
    expect(
      sampleValue(samples, 'partner_security_customer_alerts_oldest_open_detected_timestamp_seconds', {
        ...tenant,
        customer_tenant_id: '7b1e9f30-8a2c-4d5e-b6f7-0a1b2c3d4e5f',
        alert_type: 'unknownFutureValue',
        severity: 'low',
      }),
    ).toBe(DETECTED.low);
  });

  it('a failing alerts endpoint still exports the score and names the relation; alerts gone from Graph vanish at the next poll', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1s'] });
    await until(async () => (await exporter.value('partner_security_alerts_open', { ...tenant, severity: 'high' })) === 1, 10_000, 'alerts read');

    cloud.alertsDefault = { status: 500, body: graphErrorBody('InternalServerError', 'boom', 'r', '') };
    await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 0, 10_000, 'relation down');
    const samples = await exporter.samples();
    expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(1);
    expect(sampleValue(samples, 'partner_security_score_current', tenant)).toBeGreaterThan(0);
    // A failed relation keeps its last data.
    expect(sampleValue(samples, 'partner_security_alerts_open', { ...tenant, severity: 'high' })).toBe(1);
    expect(exporter.logs().some((l) => l.msg === 'reading a relation failed; keeping its last data' && l.relation === 'securityAlerts')).toBe(true);

    cloud.alertsDefault = { body: { value: [] } };
    await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 1, 10_000, 'relation up');
    await until(async () => !(await exporter.samples()).some((s) => s.name === 'partner_security_alerts_open'), 10_000, 'open alerts gone');
    expect(sampleSum(await exporter.samples(), 'partner_security_alerts_resolved_30d', tenant)).toBe(0);
  });

  it('--no-collector.security-alerts never calls the alerts endpoint', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m', '--no-collector.security-alerts'] });
    await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 10_000, 'a successful poll');
    const samples = await exporter.samples();
    expect(cloud.graphRequests.filter((r) => r.path === SECURITY_ALERTS_PATH)).toEqual([]);
    expect(samples.some((s) => s.name.startsWith('partner_security_alerts_'))).toBe(false);
    expect(sampleValue(samples, 'partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })).toBeUndefined();
  });
});
