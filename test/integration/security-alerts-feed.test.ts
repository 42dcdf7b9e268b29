/**
 * The alert feed as Microsoft really sends it, through the built exporter and the TLS fake of
 * Entra ID and Graph: $select and its refusal, the upper-case 403 that says MFA is missing, texts
 * that name the relation, isTest as a string, enum values in any case, resolution dates and dates
 * ahead, and the alert cap keeping the newest resolved alerts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SECURITY_ALERT_PROPERTIES } from '../../src/graph/parse.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, sampleSum, sampleValue, startExporter, TENANT_ID, until, WITH_SECURITY_ALERTS } from '../helpers/exporter.js';
import { ALERTS_PAGE_2, closeFakeClouds, graphErrorBody, missingMfaBody, SECURITY_ALERTS_PATH, startFakeCloud } from '../helpers/fake-cloud.js';

const tenant = { tenant_id: TENANT_ID };
const alertsRelation = { ...tenant, relation: 'securityAlerts' };
const HOUR = 3600;
const DAY = 24 * HOUR;
const SELECT = `$select=${SECURITY_ALERT_PROPERTIES.join(',')}`;
/** What the fixtures hold that must never leave the exporter. */
const PERSONAL = ['admin@partner.example', 'analyst.one@partner.example', 'previous.owner@partner.example', 'second.admin@partner.example'];

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

/** Whole seconds from now, as Graph sends them (negative: in the past). */
function isoIn(seconds: number): string {
  return new Date((Math.floor(Date.now() / 1000) + seconds) * 1000).toISOString();
}

describe.concurrent('the alert feed as Graph sends it', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('asks for exactly the properties it reads with $select, on every page, and reads the alerts as before', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1m'] });
    await until(async () => (await exporter.value('partner_security_relation_up', alertsRelation)) === 1, 10_000, 'alerts read');
    expect(cloud.graphRequests.filter((r) => r.path === SECURITY_ALERTS_PATH).map((r) => r.query)).toEqual([
      `?${SELECT}`,
      `?${SELECT}&$skiptoken=${ALERTS_PAGE_2}`,
    ]);
    expect(
      await exporter.value('partner_security_alerts_open', { ...tenant, status: 'active', severity: 'high', alert_type: 'cryptoMiningActivityDetected' }),
    ).toBe(1);
    expect(await exporter.value('partner_security_alerts_test_open', { ...tenant, severity: 'high' })).toBe(1);
    expect(exporter.logs().filter((l) => String(l.msg).includes('$select'))).toEqual([]);
  });

  it('reads the alerts whole, for good, when Graph refuses $select, and says so once', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.refuseSelect = true;
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1s', '--log.level=debug'] });
    await until(async () => ((await exporter.value('partner_security_polls_total', tenant)) ?? 0) >= 3, 15_000, 'three polls');
    const samples = await exporter.samples();
    expect(sampleValue(samples, 'partner_security_relation_up', alertsRelation)).toBe(1);
    expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(1);
    expect(
      sampleValue(samples, 'partner_security_alerts_open', { ...tenant, status: 'active', severity: 'high', alert_type: 'cryptoMiningActivityDetected' }),
    ).toBe(1);
    const queries = cloud.graphRequests.filter((r) => r.path === SECURITY_ALERTS_PATH).map((r) => r.query);
    // One refused request, then the plain one and its next page, poll after poll.
    expect(queries.slice(0, 5)).toEqual([`?${SELECT}`, '', `?$skiptoken=${ALERTS_PAGE_2}`, '', `?$skiptoken=${ALERTS_PAGE_2}`]);
    expect(queries.filter((q) => q.includes('$select'))).toHaveLength(1);
    const said = exporter.logs().filter((l) => l.msg === 'Graph refused $select; reading the relation whole from now on');
    expect(said).toEqual([expect.objectContaining({ level: 'warn', tenant_id: TENANT_ID, relation: 'securityAlerts', status: 400, code: 'BadRequest' })]);
    // Whole alerts carry user names: they still reach nothing.
    const everything = [(await exporter.get('/metrics')).body, (await exporter.get('/api/status')).body, exporter.stderrLines.join('\n')];
    for (const text of everything) for (const personal of PERSONAL) expect(text).not.toContain(personal);
  });

  it('says what is known when Graph answers the upper-case 403 MFA body on the alerts, and keeps the score', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.alertsDefault = { status: 403, body: missingMfaBody() };
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1m'] });
    await until(async () => (await exporter.value('partner_security_relation_up', alertsRelation)) === 0, 10_000, 'alerts refused');
    const samples = await exporter.samples();
    expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(1);
    expect(sampleValue(samples, 'partner_security_score_current', tenant)).toBeGreaterThan(0);
    expect(sampleValue(samples, 'partner_security_relation_up', { ...tenant, relation: 'requirements' })).toBe(1);
    // The reason exists from the start, at 0: the poll itself did not fail.
    expect(sampleValue(samples, 'partner_security_poll_failures_total', { ...tenant, reason: 'mfa_required' })).toBe(0);
    const alertsRequest = cloud.graphRequests.find((r) => r.path === SECURITY_ALERTS_PATH);
    const line = exporter.logs().find((l) => l.msg === 'reading a relation failed; keeping its last data');
    expect(line).toMatchObject({
      relation: 'securityAlerts',
      reason: 'mfa_required',
      status: 403,
      code: 'Unauthorized_MissingMFA',
      request_id: alertsRequest?.requestId,
    });
    expect(line?.err).toMatch(/^Graph answered 403 Unauthorized_MissingMFA: MFA is required for this request\./);
    expect(line?.err).toContain('Graph asks for an MFA claim to read the securityAlerts relation');
    expect(line?.err).toContain('the score and the other relations keep working');
    expect(line?.err).not.toContain('needs the PartnerSecurity.Read.All');
  });

  it('fails the poll with reason mfa_required when the score itself says MFA is missing', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = { status: 403, body: missingMfaBody() };
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
    await until(
      async () => ((await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'mfa_required' })) ?? 0) >= 1,
      10_000,
      'failure',
    );
    expect(await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'forbidden' })).toBe(0);
    const line = exporter.logs().find((l) => l.msg === 'poll failed');
    expect(line).toMatchObject({ reason: 'mfa_required', code: 'Unauthorized_MissingMFA' });
    expect(line?.err).toContain('to read the partner security score');
  });

  it('names the relation a 404 or a 403 is about', async ({ onTestFinished }) => {
    const notFound = await startFakeCloud({ onTestFinished });
    notFound.alertsDefault = { status: 404, body: graphErrorBody('ResourceNotFound', "Resource not found for the segment 'partner'.", 'r-404', '') };
    const forbidden = await startFakeCloud({ onTestFinished });
    forbidden.alertsDefault = { status: 403, body: graphErrorBody('Authorization_RequestDenied', 'Insufficient privileges.', 'r-403', '') };
    const exporters = await Promise.all(
      [notFound, forbidden].map((cloud) => startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1m'] })),
    );
    for (const exporter of exporters)
      await until(async () => (await exporter.value('partner_security_relation_up', alertsRelation)) === 0, 10_000, 'alerts refused');
    const [missing, refused] = exporters.map((e) => e.logs().find((l) => l.relation === 'securityAlerts' && l.level === 'warn'));
    expect(missing).toMatchObject({ msg: 'relation not available for this tenant; exporting the score without it', reason: 'not_found' });
    expect(missing?.err).toContain('Graph does not serve the securityAlerts relation for this tenant');
    expect(missing?.err).not.toContain('global cloud');
    expect(refused).toMatchObject({ reason: 'forbidden', code: 'Authorization_RequestDenied' });
    expect(refused?.err).toMatch(/The app registration \(AZURE_CLIENT_ID\) needs the PartnerSecurity\.Read\.All .* to read the securityAlerts relation$/);
  });

  it('reads isTest strings, enum values in any case, resolution dates with any status and dates ahead as Graph may send them', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const alert = (id: string, fields: Record<string, unknown>) => ({
      id,
      alertType: 'x',
      status: 'active',
      severity: 'medium',
      detectedDateTime: isoIn(-HOUR),
      ...fields,
    });
    cloud.alertsDefault = {
      body: {
        value: [
          alert('test-string', { severity: 'high', isTest: 'true' }),
          alert('test-upper', { severity: 'low', isTest: 'TRUE' }),
          alert('real-string', { isTest: 'false' }),
          alert('unreadable', { isTest: 'yes' }),
          alert('unreadable-2', { isTest: 1 }),
          alert('resolved-cased', { status: 'Resolved' }),
          alert('no-status-resolved', { status: undefined, resolvedOnDateTime: isoIn(-HOUR / 2) }),
          alert('active-but-resolved', { resolvedOnDateTime: isoIn(-HOUR / 2) }),
          alert('upper-case', { status: 'ACTIVE', severity: 'HIGH' }),
          alert('ahead', { severity: 'informational', detectedDateTime: isoIn(2 * DAY) }),
        ],
      },
    };
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1s'] });
    await until(async () => ((await exporter.value('partner_security_polls_total', tenant)) ?? 0) >= 2, 15_000, 'two polls');
    const samples = await exporter.samples();
    const open = samples.filter((s) => s.name === 'partner_security_alerts_open').map((s) => [s.labels.status, s.labels.severity, s.value]);
    expect(open.sort()).toEqual(
      [
        ['active', 'high', 1],
        ['active', 'informational', 1],
        ['active', 'medium', 3],
      ].sort(),
    );
    expect(sampleValue(samples, 'partner_security_alerts_test_open', { ...tenant, severity: 'high' })).toBe(1);
    expect(sampleValue(samples, 'partner_security_alerts_test_open', { ...tenant, severity: 'low' })).toBe(1);
    // Resolved by their dates, whatever (or whether) the status says.
    expect(sampleSum(samples, 'partner_security_alerts_resolved_30d', tenant)).toBe(2);
    // An alert detected two days from now has no detection time: no negative age.
    expect(sampleValue(samples, 'partner_security_alerts_oldest_open_detected_timestamp_seconds', { ...tenant, severity: 'informational' })).toBeUndefined();
    const nowS = Date.now() / 1000;
    for (const s of samples.filter((x) => x.name === 'partner_security_alerts_oldest_open_detected_timestamp_seconds')) expect(s.value).toBeLessThan(nowS);
    // Two unreadable values over two polls: one line.
    const said = exporter.logs().filter((l) => l.msg === "an alert's isTest is unreadable; counting it as a real alert");
    expect(said).toEqual([expect.objectContaining({ level: 'warn', relation: 'securityAlerts', property: 'isTest', value: 'the string "yes"' })]);
  });

  it('keeps the most recently resolved alerts under the cap, not the oldest, however Graph orders them', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const resolved = (id: string, daysAgo: number) => ({
      id,
      alertType: 'x',
      status: 'resolved',
      severity: 'low',
      detectedDateTime: isoIn(-daysAgo * DAY - 2 * HOUR),
      resolvedOnDateTime: isoIn(-daysAgo * DAY),
    });
    // Five resolved before the 30-day window come between two inside it: the cap of 3 keeps the open
    // one and the two newest; keeping the oldest would leave none in the window.
    cloud.alertsDefault = {
      body: {
        value: [
          resolved('r-2d', 2),
          resolved('r-60d', 60),
          resolved('r-50d', 50),
          resolved('r-45d', 45),
          resolved('r-40d', 40),
          resolved('r-35d', 35),
          resolved('r-1d', 1),
          { id: 'o', alertType: 'x', status: 'active', severity: 'high', detectedDateTime: isoIn(-HOUR) },
        ],
      },
    };
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: [WITH_SECURITY_ALERTS, '--poll.interval=1m', '--collector.security-alerts.max-alerts=3'],
    });
    await until(async () => (await exporter.value('partner_security_relation_up', alertsRelation)) === 1, 10_000, 'alerts read');
    const samples = await exporter.samples();
    expect(sampleValue(samples, 'partner_security_alerts_open', { ...tenant, severity: 'high' })).toBe(1);
    expect(sampleSum(samples, 'partner_security_alerts_resolved_30d', tenant)).toBe(2);
    expect(sampleValue(samples, 'partner_security_alerts_response_time_30d_average_seconds', tenant)).toBe(2 * HOUR);
    expect(sampleValue(samples, 'partner_security_relation_truncated', alertsRelation)).toBe(1);
  });
});
