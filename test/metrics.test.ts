import { execFileSync } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../src/metrics.js';
import { initialSnapshot, type TenantSnapshot } from '../src/snapshot.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const build = { version: '1.2.3', nodeVersion: 'v24.0.0' };

const DAY = 86_400;
const nowS = NOW / 1000;
/** Open alerts (two of one type and severity add up, a test alert apart) and two resolved in the 30-day window, one before it. */
const GOLDEN_ALERTS = {
  seen: 6,
  maxAlertTypes: 50,
  maxCustomers: 1,
  alerts: [
    {
      id: 'a',
      alertType: 'unusualAzureConsumption',
      status: 'active',
      severity: 'high',
      customerTenantId: 'c1',
      detectedTimestamp: nowS - 20 * 3600,
      isTest: false,
      open: true,
    },
    {
      id: 'b',
      alertType: 'unusualAzureConsumption',
      status: 'active',
      severity: 'high',
      customerTenantId: 'c2',
      detectedTimestamp: nowS - 3600,
      isTest: false,
      open: true,
    },
    {
      id: 'c',
      alertType: 'cryptoMiningActivityDetected',
      status: 'investigating',
      severity: 'medium',
      detectedTimestamp: nowS - 600,
      isTest: false,
      open: true,
    },
    { id: 't', alertType: 'test', status: 'active', severity: 'low', detectedTimestamp: nowS - 40 * 3600, isTest: true, open: true },
    {
      id: 'r1',
      alertType: 'x',
      status: 'resolved',
      severity: 'low',
      detectedTimestamp: nowS - 2 * DAY,
      resolvedTimestamp: nowS - 2 * DAY + 2 * 3600,
      isTest: false,
      open: false,
    },
    {
      id: 'r2',
      alertType: 'x',
      status: 'resolved',
      severity: 'low',
      detectedTimestamp: nowS - 3 * DAY,
      resolvedTimestamp: nowS - 3 * DAY + 10 * 3600,
      isTest: false,
      open: false,
    },
    {
      id: 'r3',
      alertType: 'x',
      status: 'resolved',
      severity: 'low',
      detectedTimestamp: nowS - 40 * DAY,
      resolvedTimestamp: nowS - 31 * DAY,
      isTest: false,
      open: false,
    },
  ],
} as const;

function healthy(tenantId: string, currentScore: number): TenantSnapshot {
  const base = initialSnapshot(tenantId);
  return {
    ...base,
    score: { id: 'x', currentScore, maxScore: 100, lastRefreshTimestamp: 1_709_078_400, updatedTimestamp: 1_705_449_600 },
    lastSuccessMs: NOW - 60_000,
    lastPoll: { startedMs: NOW - 60_500, durationMs: 500, ok: true },
    nextPollMs: NOW + 540_000,
    polls: 3,
    requests: { '200': 3 },
    relations: { securityAlerts: GOLDEN_ALERTS },
    relationStatus: { securityAlerts: 'ok' },
  };
}

function failing(previous: TenantSnapshot, lastSuccessMs: number): TenantSnapshot {
  return {
    ...previous,
    lastSuccessMs,
    lastPoll: { startedMs: NOW - 1000, durationMs: 250, ok: false, reason: 'throttled', message: 'slow down' },
    polls: previous.polls + 2,
    consecutiveFailures: 2,
    failures: { ...previous.failures, throttled: 2 },
    requests: { ...previous.requests, '429': 2 },
  };
}

async function render(snapshots: TenantSnapshot[], maxStalenessMs = 3 * 3600_000): Promise<string> {
  return createMetrics({ snapshots: () => snapshots, build, maxStalenessMs, now: () => NOW, processMetrics: false }).render();
}

function promtool(text: string): string {
  return execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

describe('metrics', () => {
  it('renders a healthy tenant (golden)', async () => {
    await expect(await render([healthy('t1', 14.29)])).toMatchFileSnapshot('./fixtures/golden/healthy.prom');
  });

  it('renders a failing tenant that still has its last good score, and one never polled (golden)', async () => {
    await expect(await render([failing(healthy('t1', 55), NOW - 600_000), initialSnapshot('t2')])).toMatchFileSnapshot('./fixtures/golden/failing.prom');
  });

  it('drops score series once the last success is older than --poll.max-staleness, keeps health series', async () => {
    const stale = failing(healthy('t1', 55), NOW - 3 * 3600_000 - 1);
    const text = await render([stale]);
    expect(text).not.toMatch(/^partner_security_score_/m);
    expect(text).toMatch(/^partner_security_up\{tenant_id="t1"\} 0$/m);
    expect(await render([stale], 0)).toMatch(/^partner_security_score_current\{tenant_id="t1"\} 55$/m);
  });

  it('renders each scrape from the snapshots of that moment, so vanished tenants vanish', async () => {
    let snapshots = [healthy('t1', 1), healthy('t2', 2)];
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 0, now: () => NOW, processMetrics: false });
    expect(await metrics.render()).toContain('partner_security_score_current{tenant_id="t2"} 2');
    snapshots = [healthy('t1', 3)];
    const text = await metrics.render();
    expect(text).toContain('partner_security_score_current{tenant_id="t1"} 3');
    expect(text).not.toContain('tenant_id="t2"');
  });

  it('renders the data only when a poll lands or freshness changes, and serves the same text in between', async () => {
    let snapshots = [healthy('t1', 10)];
    let now = NOW;
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 3_600_000, now: () => now, processMetrics: false });
    const renders = vi.spyOn(metrics.registry, 'metrics');
    const first = await metrics.render();
    expect(await metrics.render()).toBe(first);
    expect(renders).toHaveBeenCalledTimes(1);
    snapshots = [healthy('t1', 11)];
    expect(await metrics.render()).toContain('partner_security_score_current{tenant_id="t1"} 11');
    expect(renders).toHaveBeenCalledTimes(2);
    now = NOW + 2 * 3_600_000;
    expect(await metrics.render()).not.toMatch(/^partner_security_score_current/m);
    expect(renders).toHaveBeenCalledTimes(3);
  });

  it('serves the same exposition as bytes for HTTP, encoded once per render and shared until the next poll', async () => {
    let snapshots = [healthy('t1', 10)];
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 0, now: () => NOW });
    const [data, processPart] = await metrics.renderChunks();
    expect(processPart?.toString('utf8')).toContain('process_resident_memory_bytes');
    const text = await metrics.render();
    expect(text.startsWith(data?.toString('utf8') ?? 'no data chunk')).toBe(true);
    expect((await metrics.renderChunks())[0]).toBe(data);
    snapshots = [healthy('t1', 11)];
    const [next] = await metrics.renderChunks();
    expect(next).not.toBe(data);
    expect(next?.toString('utf8')).toContain('partner_security_score_current{tenant_id="t1"} 11');
  });

  it('never mixes two polls in one scrape, even when scrapes overlap a change', async () => {
    let snapshots = [healthy('t1', 1), healthy('t2', 1)];
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 0, now: () => NOW, processMetrics: false });
    const texts = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        if (i % 3 === 0) snapshots = [healthy('t1', i), healthy('t2', i)];
        return metrics.render();
      }),
    );
    for (const text of texts) {
      const values = [...text.matchAll(/^partner_security_score_current\{tenant_id="t\d"\} (\d+)$/gm)].map((m) => m[1]);
      expect(values).toHaveLength(2);
      expect(values[0]).toBe(values[1]);
    }
  });

  it('passes promtool check metrics with process metrics on', async () => {
    const text = await createMetrics({ snapshots: () => [failing(healthy('t1', 5), NOW)], build, maxStalenessMs: 0 }).render();
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).not.toContain('nodejs_active_handles_total');
    expect(promtool(text)).toBe('');
  });

  it('promtool would catch a bad metric (the check can fail)', () => {
    expect(() => promtool('# HELP bad_total x\n# TYPE bad_total gauge\nbad_total 1\n')).toThrow(/non-counter metrics should not have "_total" suffix/);
  });
});
