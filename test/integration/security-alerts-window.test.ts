/**
 * The 30-day window, the type and alert caps, and the agreement of the exporter's own average
 * response time with Graph's averageResponseTimeInHours on an example where both are known.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ALERT_WINDOW_SECONDS, aggregateAlerts, OTHER_ALERT_TYPE, summarizeAlerts } from '../../src/collect/security-alerts.js';
import type { SecurityAlert } from '../../src/snapshot.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, sampleSum, sampleValue, startExporter, TENANT_ID, until, WITH_SECURITY_ALERTS } from '../helpers/exporter.js';
import { closeFakeClouds, SECURITY_ALERTS_PATH, startFakeCloud, wrappedScoreBody } from '../helpers/fake-cloud.js';

const NOW = 1_800_000_000;
const HOUR = 3600;
const tenant = { tenant_id: TENANT_ID };

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

function alert(fields: Partial<SecurityAlert>): SecurityAlert {
  return { alertType: 't', status: 'active', severity: 'high', isTest: false, open: true, ...fields };
}

function resolved(detected: number, resolvedAt: number, fields: Partial<SecurityAlert> = {}): SecurityAlert {
  return alert({ status: 'resolved', open: false, detectedTimestamp: detected, resolvedTimestamp: resolvedAt, ...fields });
}

const summary = (alerts: SecurityAlert[], bounds: { maxAlertTypes?: number; maxCustomers?: number } = {}) =>
  summarizeAlerts(aggregateAlerts(alerts, alerts.length, { maxAlertTypes: bounds.maxAlertTypes ?? 50, maxCustomers: bounds.maxCustomers ?? 0 }), NOW);

describe('the 30-day window', () => {
  it('counts alerts resolved within the 30 days before now, not at or before its start, and never test alerts', () => {
    const s = summary([
      resolved(NOW - ALERT_WINDOW_SECONDS - 5 * HOUR, NOW - ALERT_WINDOW_SECONDS), // exactly at the start: out
      resolved(NOW - ALERT_WINDOW_SECONDS - 5 * HOUR, NOW - ALERT_WINDOW_SECONDS + 1), // just inside: in, 5 h + 1 s
      resolved(NOW - 10 * HOUR, NOW - 7 * HOUR), // 3 h
      resolved(NOW - 50 * HOUR, NOW - HOUR, { isTest: true }), // test: out
      resolved(NOW - HOUR, NOW + HOUR), // resolved "in the future" (clock skew): out
    ]);
    expect(s.resolvedInWindow).toBe(2);
    expect(s.averageResponseSeconds).toBe((5 * HOUR + 1 + 3 * HOUR) / 2);
  });

  it('has no average when no alert resolved in the window says when it was detected', () => {
    const s = summary([alert({ status: 'resolved', open: false, resolvedTimestamp: NOW - HOUR })]);
    expect(s.resolvedInWindow).toBe(1);
    expect(s.averageResponseSeconds).toBeUndefined();
  });
});

describe('open alerts', () => {
  it('add up when their labels are the same (two alerts of one unknown type never overwrite each other)', () => {
    const s = summary([
      alert({ id: 'a', alertType: 'unknownFutureValue', detectedTimestamp: NOW - 2 * HOUR }),
      alert({ id: 'b', alertType: 'unknownFutureValue', detectedTimestamp: NOW - 9 * HOUR }),
    ]);
    expect(s.open).toEqual([{ status: 'active', severity: 'high', alertType: 'unknownFutureValue', count: 2 }]);
    expect(s.oldestOpenBySeverity.get('high')).toBe(NOW - 9 * HOUR);
  });

  it('label at most max-alert-types types, those with the most open alerts; the rest fold into "other"', () => {
    const alerts = [
      ...['a', 'a', 'a', 'b', 'b', 'c', 'd'].map((alertType, i) => alert({ id: String(i), alertType })),
      alert({ id: 'r', alertType: 'e', status: 'resolved', open: false }),
    ];
    const atCap = summary(alerts, { maxAlertTypes: 4 });
    expect(atCap.foldedTypes).toBe(0);
    expect(atCap.open.map((o) => o.alertType).sort()).toEqual(['a', 'b', 'c', 'd']);
    const beyond = summary(alerts, { maxAlertTypes: 2 });
    expect(beyond.foldedTypes).toBe(2);
    expect(beyond.open.map((o) => [o.alertType, o.count]).sort()).toEqual([
      ['a', 3],
      ['b', 2],
      [OTHER_ALERT_TYPE, 2],
    ]);
  });
});

/** Whole seconds, as Graph sends them, so differences are exact. */
function isoSecondsAgo(seconds: number): string {
  return new Date((Math.floor(Date.now() / 1000) - seconds) * 1000).toISOString();
}

describe.concurrent('through the exporter', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('computes the average response time Graph reports as averageResponseTimeInHours, for the same alerts', async ({ onTestFinished }) => {
    // Three alerts resolved in the window in 2 h, 4 h and 12 h: Graph's average for them is 6 hours.
    const cloud = await startFakeCloud({ onTestFinished });
    const wrapped = JSON.parse(wrappedScoreBody()) as { value: Record<string, unknown> };
    wrapped.value.requirements = [
      {
        '@odata.type': '#microsoft.graph.partner.security.responseTimeSecurityRequirement',
        id: 'r',
        requirementType: 'securityAlertsPromptlyResolved',
        averageResponseTimeInHours: 6,
      },
    ];
    wrapped.value.history = [];
    cloud.graphDefault = { body: wrapped };
    const resolvedAlert = (id: string, detectedAgo: number, took: number) => ({
      id,
      alertType: 'unusualAzureConsumption',
      status: 'resolved',
      severity: 'medium',
      detectedDateTime: isoSecondsAgo(detectedAgo),
      resolvedOnDateTime: isoSecondsAgo(detectedAgo - took),
      isTest: false,
    });
    cloud.alertsDefault = {
      body: {
        value: [
          resolvedAlert('1', 3 * 86_400, 2 * HOUR),
          resolvedAlert('2', 10 * 86_400, 4 * HOUR),
          resolvedAlert('3', 20 * 86_400, 12 * HOUR),
          // Outside the window, and a test alert: neither counts.
          resolvedAlert('4', 40 * 86_400, 100 * HOUR),
          { ...resolvedAlert('5', 86_400, 50 * HOUR), isTest: true },
        ],
      },
    };
    const exporter = await startExporter({ cloud, onTestFinished, args: [WITH_SECURITY_ALERTS, '--poll.interval=1m'] });
    await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 1, 10_000, 'alerts read');
    const samples = await exporter.samples();
    expect(sampleValue(samples, 'partner_security_alert_response_time_average_seconds', tenant)).toBe(6 * HOUR);
    expect(sampleValue(samples, 'partner_security_alerts_response_time_30d_average_seconds', tenant)).toBe(6 * HOUR);
    expect(sampleSum(samples, 'partner_security_alerts_resolved_30d', tenant)).toBe(3);
  });

  it('keeps at most --collector.security-alerts.max-alerts alerts, open ones first, and says so once', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const open = (id: string) => ({ id, alertType: 'x', status: 'active', severity: 'high', detectedDateTime: isoSecondsAgo(HOUR), isTest: false });
    const done = (id: string) => ({
      id,
      alertType: 'x',
      status: 'resolved',
      severity: 'high',
      detectedDateTime: isoSecondsAgo(2 * HOUR),
      resolvedOnDateTime: isoSecondsAgo(HOUR),
    });
    // Resolved ones come first from Graph; the cap still keeps every open one.
    cloud.alertsDefault = { body: { value: [done('r1'), done('r2'), open('o1'), open('o2'), open('o3')] } };
    const atCap = await startExporter({
      cloud,
      onTestFinished,
      args: [WITH_SECURITY_ALERTS, '--poll.interval=1m', '--collector.security-alerts.max-alerts=5'],
    });
    const beyond = await startExporter({
      cloud,
      onTestFinished,
      args: [WITH_SECURITY_ALERTS, '--poll.interval=1m', '--collector.security-alerts.max-alerts=4'],
    });
    for (const exporter of [atCap, beyond])
      await until(async () => (await exporter.value('partner_security_relation_up', { ...tenant, relation: 'securityAlerts' })) === 1, 10_000, 'alerts read');
    const relation = { ...tenant, relation: 'securityAlerts' };
    expect(await atCap.value('partner_security_relation_truncated', relation)).toBe(0);
    expect(sampleSum(await atCap.samples(), 'partner_security_alerts_resolved_30d', tenant)).toBe(2);
    expect(await beyond.value('partner_security_relation_truncated', relation)).toBe(1);
    expect(await beyond.value('partner_security_alerts_open', { ...tenant, severity: 'high' })).toBe(3);
    expect(sampleSum(await beyond.samples(), 'partner_security_alerts_resolved_30d', tenant)).toBe(1);
    const cut = beyond.logs().filter((l) => l.msg === 'a cap cut a relation short; the rest of it is not exported');
    expect(cut).toEqual([
      expect.objectContaining({ relation: 'securityAlerts', flag: '--collector.security-alerts.max-alerts', items_seen: 5, items_kept: 4 }),
    ]);
    expect(cloud.graphRequests.filter((r) => r.path === SECURITY_ALERTS_PATH).length).toBeGreaterThanOrEqual(2);
  });
});
