import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { aggregateAlerts } from '../../../src/collect/security-alerts.js';
import { createMetrics, type MetricsOptions, metricFamilies, TENANT_METRICS } from '../../../src/expose/metrics.js';
import { createProcessMetrics, PROCESS_READING_MAX_AGE_MS } from '../../../src/expose/process-metrics.js';
import { initialSnapshot, type Requirement, type TenantSnapshot } from '../../../src/snapshot.js';
import { parseSamples } from '../../helpers/exporter.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const build = { version: '1.2.3', nodeVersion: 'v24.0.0' };

/**
 * A tenant whose every relation was read. Every number is distinct, so a metric that reports
 * the wrong field (total admins as admins_mfa_enabled, say) changes the golden text.
 */
const DAY = 86_400;
const nowS = NOW / 1000;
/**
 * Seven open alerts of statuses and severities Graph does not document: six other statuses (one
 * folded into "other") and seven other severities (two folded), beyond MAX_OTHER_ALERT_VALUES.
 */
const UNDOCUMENTED = Array.from({ length: 7 }, (_, i) => ({
  id: `u${i + 1}`,
  alertType: 'newType',
  status: `s${Math.min(i + 1, 6)}`,
  severity: `v${i + 1}`,
  detectedTimestamp: nowS - (100 + i) * 60,
  isTest: false,
  open: true,
}));
/** Open alerts (two of one type and severity add up, a test alert apart) and two resolved in the 30-day window, one before it. */
const GOLDEN_ALERTS = aggregateAlerts(
  [
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
      resolvedReason: 'fraud',
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
      // Enum values in any case count as Graph's.
      resolvedReason: 'Legitimate',
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
    ...UNDOCUMENTED,
  ],
  10_000,
  { maxAlertTypes: 50, maxCustomers: 1 },
);

function healthy(tenantId: string, currentScore: number): TenantSnapshot {
  // Validated every March: the next validation is 2027-03-01 (NOW is in November 2026).
  const base = initialSnapshot(tenantId, {}, { type: 'direct', validationMonth: 3 });
  return {
    ...base,
    score: { id: 'x', currentScore, maxScore: 100, lastRefreshTimestamp: 1_709_078_400, updatedTimestamp: 1_705_449_600 },
    relations: {
      requirements: [
        {
          type: 'mfaEnforcedForAdmins',
          compliant: false,
          state: 'active',
          actionUrl: 'https://partner.microsoft.com/mfa',
          helpUrl: 'https://learn.microsoft.com/mfa',
          score: 7,
          maxScore: 15,
          updatedTimestamp: 1_705_000_001,
          details: {
            kind: 'adminsMfa',
            totalAdmins: 41,
            mfaEnabledAdmins: 37,
            adminsRequiredNotUsingMfa: 3,
            totalUsers: 230,
            mfaEnabledUsers: 211,
            usersRequiredNotUsingMfa: 17,
            policies: { securityDefaults: false, mfaConditionalAccessPolicy: true },
          },
        },
        {
          type: 'mfaEnforcedForAdminsOfCustomers',
          compliant: true,
          state: 'active',
          score: 9,
          maxScore: 10,
          updatedTimestamp: 1_705_000_002,
          details: { kind: 'customersMfa', compliantTenants: 52, totalTenants: 64 },
        },
        {
          type: 'spendingBudgetSetForCustomerAzureSubscriptions',
          compliant: true,
          state: 'preview',
          score: 4,
          maxScore: 5,
          details: { kind: 'spendingBudget', customersWithBudget: 23, totalCustomers: 29 },
        },
        { type: 'securityAlertsPromptlyResolved', compliant: true, state: 'active', details: { kind: 'responseTime', averageResponseTimeSeconds: 5400 } },
        // Graph did not say whether it is compliant: no _compliant sample, the other series stay.
        { type: 'securityContactProvided', state: 'active', score: 2, maxScore: 20 },
      ],
      history: [
        { createdTimestamp: 1_795_824_000, score: 12, compliantRequirements: 5, totalRequirements: 8 },
        { createdTimestamp: 1_795_910_400, score: 14.29, compliantRequirements: 6, totalRequirements: 11 },
      ],
      customerInsights: {
        customers: [
          { tenantId: 'c-one', compliantAdmins: 13, compliantNonAdmins: 88, totalUsers: 120, policies: { securityDefaults: true, legacyPerUserMfa: false } },
          { tenantId: 'c-two', compliantAdmins: 21, compliantNonAdmins: 301, totalUsers: 333, policies: { mfaConditionalAccessPolicy: true } },
        ],
        seen: 31,
        policyEnabled: { securityDefaults: 18, mfaConditionalAccessPolicy: 26, legacyPerUserMfa: 19 },
        pages: 4,
        truncated: true,
      },
      securityAlerts: GOLDEN_ALERTS,
    },
    relationStatus: { requirements: 'ok', history: 'ok', customerInsights: 'ok', securityAlerts: 'ok' },
    truncated: { customerInsights: { cap: 'items', seen: 31, kept: 2 } },
    lastSuccessMs: NOW - 60_000,
    lastPoll: { startedMs: NOW - 60_500, durationMs: 500, ok: true },
    nextPollMs: NOW + 540_000,
    polls: 3,
    requests: { '200': 3 },
  };
}

function failing(previous: TenantSnapshot, lastSuccessMs: number): TenantSnapshot {
  return {
    ...previous,
    lastSuccessMs,
    lastPoll: { startedMs: NOW - 1000, durationMs: 250, ok: false, reason: 'throttled', message: 'slow down' },
    // The last successful poll could not read the history and failed on customer insights (whose data is kept).
    relationStatus: { requirements: 'ok', history: 'unavailable', customerInsights: 'failed' },
    polls: previous.polls + 2,
    consecutiveFailures: 2,
    failures: { ...previous.failures, throttled: 2 },
    requests: { ...previous.requests, '429': 2 },
  };
}

/** The web server's side of the exposition, as the golden files show it. */
const web = {
  healthy: {
    webConfigStatus: () => ({ ok: true, lastSuccessMs: NOW - 7_200_000 }),
    // A budget that cuts per-customer series beyond 400 customers per tenant (src/collect/budget.ts).
    memoryBudget: () => ({ budgetBytes: 104_857_600, estimatedBytes: 98_304_512, cut: { depth: 2, customersPerTenant: 400 } }),
    webCounters: () => ({
      authRejected: { unauthorized: 6, queue_full: 2 },
      connectionsDropped: { max_connections: 9, max_connections_per_address: 4, unauthenticated_idle: 12, client_certificate_rejected: 1 },
    }),
  },
  failing: {
    webConfigStatus: () => ({ ok: false, lastSuccessMs: NOW - 86_400_000 }),
    webCounters: () => ({
      authRejected: { unauthorized: 0, queue_full: 0 },
      connectionsDropped: { max_connections: 0, max_connections_per_address: 0, unauthenticated_idle: 0, client_certificate_rejected: 0 },
    }),
  },
} satisfies Record<string, Partial<MetricsOptions>>;

const GOLDEN = ['healthy.prom', 'failing.prom'].map((name) => new URL(`../../fixtures/golden/${name}`, import.meta.url));

/** The chunks of an answer as text, each read before the next is asked for. */
async function texts(chunks: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of chunks) out.push(chunk.toString('utf8'));
  return out;
}

/** The families, with a count of the renders that read them (a render reads the score once per tenant). */
function countedFamilies(options: { failOnce?: boolean } = {}) {
  const counts = { renders: 0 };
  let fail = options.failOnce === true;
  const families = TENANT_METRICS.map((spec, i) =>
    i === 0
      ? {
          ...spec,
          samples: (...args: Parameters<typeof spec.samples>) => {
            counts.renders++;
            if (fail) {
              fail = false;
              throw new Error('render broke');
            }
            return spec.samples(...args);
          },
        }
      : spec,
  );
  return { families, counts };
}

async function render(snapshots: TenantSnapshot[], maxStalenessMs = 3 * 3600_000, extra: Partial<MetricsOptions> = {}): Promise<string> {
  return createMetrics({ snapshots: () => snapshots, build, maxStalenessMs, now: () => NOW, processMetrics: false, ...extra }).render();
}

describe('metrics', () => {
  it('renders a healthy tenant (golden)', async () => {
    await expect(await render([healthy('t1', 14.29)], undefined, web.healthy)).toMatchFileSnapshot('../../fixtures/golden/healthy.prom');
  });

  it('renders a failing tenant that still has its last good score, and one never polled (golden)', async () => {
    await expect(await render([failing(healthy('t1', 55), NOW - 600_000), initialSnapshot('t2')], undefined, web.failing)).toMatchFileSnapshot(
      '../../fixtures/golden/failing.prom',
    );
  });

  it('has a sample of every metric family it registers in a golden file', () => {
    const registered = metricFamilies();
    expect(registered.length).toBeGreaterThan(40);
    const sampled = new Set(GOLDEN.flatMap((file) => parseSamples(readFileSync(file, 'utf8')).map((s) => s.name)));
    expect(registered.filter((name) => !sampled.has(name))).toEqual([]);
  });

  it('gives every sample only the labels its family declares (prom-client refused any other)', () => {
    const ctx = { nowMs: NOW, monoNowMs: 0, maxStalenessMs: 0 };
    for (const tenant of [healthy('t1', 14.29), failing(healthy('t1', 55), NOW - 600_000)]) {
      for (const spec of TENANT_METRICS) {
        for (const [labels] of spec.samples(tenant, ctx))
          expect(
            Object.keys(labels).filter((name) => !spec.labels.includes(name)),
            spec.name,
          ).toEqual([]);
      }
    }
  });

  it('drops score and relation series once the last success is older than --poll.max-staleness, keeps health series', async () => {
    const stale = failing(healthy('t1', 55), NOW - 3 * 3600_000 - 1);
    const text = await render([stale]);
    expect(text).not.toMatch(/^partner_security_score_/m);
    // Relation data goes stale with the score: requirements, MFA counts, history, customers.
    expect(text).not.toMatch(/^partner_security_(requirement|admins|users|mfa|customer|spending|alert|history)_\w*\{/m);
    expect(text).toMatch(/^partner_security_up\{tenant_id="t1"\} 0$/m);
    const kept = await render([stale], 0);
    expect(kept).toMatch(/^partner_security_score_current\{tenant_id="t1"\} 55$/m);
    expect(kept).toMatch(/^partner_security_admins_mfa_enabled\{tenant_id="t1"\} 37$/m);
    expect(kept).toMatch(/^partner_security_history_requirements\{tenant_id="t1"\} 11$/m);
    expect(kept).toMatch(/^partner_security_customer_users\{tenant_id="t1",customer_tenant_id="c-two"\} 333$/m);
  });

  it('exports whether the authorization is at risk: 1 or 0, absent while not known, never a reassuring 0 without data', async () => {
    const met = [
      { type: 'mfaEnforcedForAdmins', compliant: true, state: 'active' },
      { type: 'securityContactProvided', compliant: true, state: 'active' },
      { type: 'securityAlertsPromptlyResolved', compliant: true, state: 'active' },
    ];
    const withRequirements = (requirements: readonly Requirement[], tenantId: string, type: 'direct' | 'indirect_reseller' = 'direct'): TenantSnapshot => ({
      ...healthy(tenantId, 50),
      partner: { type },
      relations: { requirements },
    });
    const text = await render([
      withRequirements(met, 'met'),
      // Graph sent mfaEnforcedForAdmins twice: told apart by id, and the failing one still counts.
      withRequirements(
        [
          ...met,
          { type: 'mfaEnforcedForAdmins:dup', sentType: 'mfaEnforcedForAdmins', compliant: false, state: 'active' },
          { type: 'mfaEnforcedForAdminsOfCustomers', compliant: false, state: 'active' },
        ],
        'twice',
      ),
      withRequirements(met.slice(0, 2), 'missing'),
      withRequirements([...met.slice(0, 2), { type: 'securityAlertsPromptlyResolved', compliant: false, state: 'active' }], 'reseller', 'indirect_reseller'),
      { ...healthy('stale', 50), relations: { requirements: met }, lastSuccessMs: NOW - 3 * 3600_000 - 1 },
      initialSnapshot('never'),
    ]);
    const samples = parseSamples(text);
    const value = (name: string, tenant_id: string) => samples.find((x) => x.name === name && x.labels.tenant_id === tenant_id)?.value;
    const row = (tenant: string) => [
      value('partner_security_authorization_at_risk', tenant),
      value('partner_security_mandatory_requirements_noncompliant', tenant),
    ];
    expect(row('met')).toEqual([0, 0]);
    expect(row('twice')).toEqual([1, 1]);
    expect(row('missing')).toEqual([undefined, undefined]);
    expect(row('reseller')).toEqual([0, 0]);
    expect(row('stale')).toEqual([undefined, undefined]);
    expect(row('never')).toEqual([undefined, undefined]);
    const mandatory = (tenant: string) =>
      samples
        .filter((x) => x.name === 'partner_security_requirement_mandatory' && x.labels.tenant_id === tenant)
        .map((x) => [x.labels.requirement_type, x.value]);
    expect(mandatory('twice')).toEqual([
      ['mfaEnforcedForAdmins', 1],
      ['securityContactProvided', 1],
      ['securityAlertsPromptlyResolved', 1],
      ['mfaEnforcedForAdmins:dup', 1],
      ['mfaEnforcedForAdminsOfCustomers', 0],
    ]);
    expect(mandatory('reseller')).toEqual([
      ['mfaEnforcedForAdmins', 1],
      ['securityContactProvided', 1],
      ['securityAlertsPromptlyResolved', 0],
    ]);
    // The validation month is configuration, not data: it stays while the data is stale, and is absent when not configured.
    expect(value('partner_security_next_validation_timestamp_seconds', 'stale')).toBe(Date.UTC(2027, 2, 1) / 1000);
    expect(value('partner_security_next_validation_timestamp_seconds', 'never')).toBeUndefined();
  });

  it('drops the authorization signal when the requirements go stale between polls, though the score is fresh', async () => {
    // The requirements relation failed at the last polls: its data is kept, read two hours before the last success.
    const snapshot = { ...healthy('t1', 10), lastSuccessMs: NOW - 60_000, relationsReadMs: { requirements: NOW - 2 * 3600_000 } };
    let now = NOW;
    const metrics = createMetrics({ snapshots: () => [snapshot], build, maxStalenessMs: 3 * 3600_000, now: () => now, processMetrics: false });
    expect(await metrics.render()).toMatch(/^partner_security_authorization_at_risk\{tenant_id="t1"\} 1$/m);
    now = NOW + 3600_000 + 1;
    const later = await metrics.render();
    expect(later).toMatch(/^partner_security_score_current\{tenant_id="t1"\} 10$/m);
    expect(later).not.toMatch(/^partner_security_authorization_at_risk\{/m);
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
    const { families, counts } = countedFamilies();
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 3_600_000, now: () => now, processMetrics: false, families });
    const first = await metrics.render();
    expect(await metrics.render()).toBe(first);
    expect(counts.renders).toBe(1);
    snapshots = [healthy('t1', 11)];
    expect(await metrics.render()).toContain('partner_security_score_current{tenant_id="t1"} 11');
    expect(counts.renders).toBe(2);
    now = NOW + 2 * 3_600_000;
    expect(await metrics.render()).not.toMatch(/^partner_security_score_current/m);
    expect(counts.renders).toBe(3);
  });

  it('partner_security_relation_up: 1 for a relation read, 0 for one Graph answered 404 for (unavailable) or that failed, absent when turned off', async () => {
    const t: TenantSnapshot = {
      ...healthy('t1', 10),
      relationStatus: { requirements: 'ok', history: 'failed', customerInsights: 'unavailable', securityAlerts: 'disabled' },
    };
    const samples = (await render([t]))
      .split('\n')
      .filter((line) => line.startsWith('partner_security_relation_up{'))
      .sort();
    expect(samples).toEqual([
      'partner_security_relation_up{tenant_id="t1",relation="customerInsights"} 0',
      'partner_security_relation_up{tenant_id="t1",relation="history"} 0',
      'partner_security_relation_up{tenant_id="t1",relation="requirements"} 1',
    ]);
  });

  it('ages the score on the monotonic clock: a wall-clock step neither drops a fresh score nor keeps a stale one', async () => {
    const snapshots = [{ ...healthy('t1', 10), lastSuccessMs: NOW, lastSuccessMonoMs: 5000 }];
    const render = (wallMs: number, monoMs: number) =>
      createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 3_600_000, now: () => wallMs, monoNow: () => monoMs, processMetrics: false }).render();
    // The wall clock stepped four hours forward, one minute after the poll.
    expect(await render(NOW + 4 * 3_600_000, 5000 + 60_000)).toContain('partner_security_score_current{tenant_id="t1"} 10');
    // The wall clock stepped an hour back, two hours after the poll.
    expect(await render(NOW - 3_600_000, 5000 + 2 * 3_600_000)).not.toMatch(/^partner_security_score_current/m);
  });

  it('serves the same exposition as bytes for HTTP, encoded once per render and shared until the next poll', async () => {
    let snapshots = [healthy('t1', 10)];
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 0, now: () => NOW });
    const answer = await metrics.renderChunks();
    // A kept data part: the same buffers every time, with the answer's length.
    const [data, processPart] = answer.chunks as readonly Buffer[];
    expect(answer.length).toBe((data?.length ?? 0) + (processPart?.length ?? 0));
    expect(processPart?.toString('utf8')).toContain('process_resident_memory_bytes');
    const text = await metrics.render();
    expect(text.startsWith(data?.toString('utf8') ?? 'no data chunk')).toBe(true);
    expect(((await metrics.renderChunks()).chunks as readonly Buffer[])[0]).toBe(data);
    snapshots = [healthy('t1', 11)];
    const [next] = (await metrics.renderChunks()).chunks as readonly Buffer[];
    expect(next).not.toBe(data);
    expect(next?.toString('utf8')).toContain('partner_security_score_current{tenant_id="t1"} 11');
  });

  it('keeps a data part too big for --max-plain-bytes deflated only, and renders it again, identical, for a plain scrape', async () => {
    const snapshots = [healthy('t1', 10), healthy('t2', 20)];
    const kept = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 0, now: () => NOW, processMetrics: false });
    const { families, counts } = countedFamilies();
    const big = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 0, now: () => NOW, processMetrics: false, families, maxPlainBytes: 1000 });
    const expected = await kept.render();
    const answer = await big.renderChunks();
    expect(answer.length).toBeUndefined();
    // Each chunk is valid until the next is asked for.
    const chunks = await texts(answer.chunks);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.join('')).toBe(expected);
    // One render for the cache (deflated), one more for this plain answer (each reads both tenants); gzip comes from the cache.
    expect(counts.renders).toBe(4);
    expect(gunzipSync(Buffer.concat(await big.renderGzipChunks())).toString('utf8')).toBe(expected);
    expect(counts.renders).toBe(4);
  });

  it('keeps a big data part in segments per tenant: a poll that lands renders its tenant again, and every answer reads as one render would', async () => {
    let snapshots = [healthy('t1', 10), healthy('t2', 20), healthy('t3', 30)];
    const whole = (s: readonly TenantSnapshot[]) =>
      createMetrics({ snapshots: () => s, build, maxStalenessMs: 0, now: () => NOW, processMetrics: false }).render();
    const rendered: string[] = [];
    const families = TENANT_METRICS.map((spec) => ({
      ...spec,
      samples: (...args: Parameters<typeof spec.samples>) => {
        if (spec === TENANT_METRICS[0]) rendered.push(args[0].tenantId);
        return spec.samples(...args);
      },
    }));
    const metrics = createMetrics({
      snapshots: () => snapshots,
      build,
      maxStalenessMs: 0,
      now: () => NOW,
      processMetrics: false,
      families,
      maxPlainBytes: 2000,
    });
    // The first render is whole (and too big to keep plain); from then on, by tenant.
    expect(gunzipSync(Buffer.concat(await metrics.renderGzipChunks())).toString('utf8')).toBe(await whole(snapshots));
    snapshots = [snapshots[0] as TenantSnapshot, healthy('t2', 21), snapshots[2] as TenantSnapshot];
    rendered.length = 0;
    const gzip = gunzipSync(Buffer.concat(await metrics.renderGzipChunks())).toString('utf8');
    expect(rendered).toEqual(['t1', 't2', 't3']);
    expect(gzip).toBe(await whole(snapshots));
    snapshots = [snapshots[0] as TenantSnapshot, snapshots[1] as TenantSnapshot, healthy('t3', 31)];
    rendered.length = 0;
    expect(gunzipSync(Buffer.concat(await metrics.renderGzipChunks())).toString('utf8')).toBe(await whole(snapshots));
    // Only the tenant whose poll landed.
    expect(rendered).toEqual(['t3']);
    // A plain scrape inflates the segments as it writes them: no render, the same text.
    const answer = await metrics.renderChunks();
    expect(answer.length).toBeUndefined();
    expect((await texts(answer.chunks)).join('')).toBe(await whole(snapshots));
    expect(rendered).toEqual(['t3']);
    // A tenant gone is gone.
    snapshots = [snapshots[0] as TenantSnapshot, snapshots[2] as TenantSnapshot];
    expect(await metrics.render()).toBe(await whole(snapshots));
  });

  it('answers gzip without waiting once the data part is rendered, and not before (nor while a new poll renders)', async () => {
    let snapshots = [healthy('t1', 10)];
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 0, now: () => NOW, processMetrics: false });
    expect(metrics.gzipNow()).toBeUndefined();
    const answer = await metrics.renderGzipChunks();
    expect(metrics.gzipNow()).toBe(answer);
    snapshots = [healthy('t1', 11)];
    // The render of the new poll is under way: the scrape waits for it (renderGzipChunks).
    expect(metrics.gzipNow()).toBeUndefined();
    const next = await metrics.renderGzipChunks();
    expect(gunzipSync(Buffer.concat(next)).toString('utf8')).toContain('partner_security_score_current{tenant_id="t1"} 11');
    expect(metrics.gzipNow()).toBe(next);
  });

  it('compresses once per poll for gzip and serves the same answer in between', async () => {
    let snapshots = [healthy('t1', 10)];
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 0, now: () => NOW, processMetrics: false });
    const first = await metrics.renderGzipChunks();
    expect(await metrics.renderGzipChunks()).toBe(first);
    expect(gunzipSync(Buffer.concat(first)).toString('utf8')).toBe(await metrics.render());
    snapshots = [healthy('t1', 11)];
    const next = await metrics.renderGzipChunks();
    expect(next).not.toBe(first);
    expect(gunzipSync(Buffer.concat(next)).toString('utf8')).toContain('partner_security_score_current{tenant_id="t1"} 11');
  });

  /** Metrics of one tenant whose web counters are a new object at every call, as a source that does not keep its own may hand out. */
  const withRejections = (extra: Partial<MetricsOptions> = {}) => {
    const web = { rejected: 0 };
    const snapshots = [healthy('t1', 10)];
    const metrics = createMetrics({
      snapshots: () => snapshots,
      build,
      maxStalenessMs: 0,
      now: () => NOW,
      processMetrics: false,
      webCounters: () => ({ authRejected: { unauthorized: web.rejected, queue_full: 0 }, connectionsDropped: { max_connections: 0 } }),
      ...extra,
    });
    return { metrics, web };
  };

  it('writes the web server series at each scrape without rendering the data part again', async () => {
    const { families, counts } = countedFamilies();
    const { metrics, web } = withRejections({ families });
    expect(await metrics.render()).toContain('partner_security_web_auth_rejected_total{reason="unauthorized"} 0');
    web.rejected = 7;
    expect(await metrics.render()).toContain('partner_security_web_auth_rejected_total{reason="unauthorized"} 7');
    expect(gunzipSync(Buffer.concat(await metrics.renderGzipChunks())).toString('utf8')).toContain(
      'partner_security_web_auth_rejected_total{reason="unauthorized"} 7',
    );
    expect(counts.renders).toBe(1);
  });

  it('keeps the gzip answer while the live sources hand out new objects saying the same, and gzips again once a count changes', async () => {
    const { metrics, web } = withRejections();
    const first = await metrics.renderGzipChunks();
    expect(metrics.gzipNow()).toBe(first);
    web.rejected = 1;
    const next = metrics.gzipNow();
    expect(next).not.toBe(first);
    expect(gunzipSync(Buffer.concat(next ?? [])).toString('utf8')).toContain('partner_security_web_auth_rejected_total{reason="unauthorized"} 1');
    expect(metrics.gzipNow()).toBe(next);
  });

  it('renders with the clock as it read when the render began, whatever later scrapes read while it is under way', async () => {
    let now = NOW;
    // Text of several chunks: the render awaits its compressor between them.
    const snapshots = Array.from({ length: 100 }, (_, i) => healthy(`t${i + 1}`, 10));
    const metrics = createMetrics({ snapshots: () => snapshots, build, maxStalenessMs: 3_600_000, now: () => now, processMetrics: false });
    // Fresh when it begins; before it is done, a scrape finds the score stale and starts a render of its own.
    const underWay = metrics.renderGzipChunks();
    now = NOW + 2 * 3_600_000;
    const later = metrics.renderGzipChunks();
    const text = gunzipSync(Buffer.concat(await underWay)).toString('utf8');
    // All of the first render is of a fresh score: the score and the requirement rows that go with it.
    expect(text).toContain('partner_security_score_current{tenant_id="t1"} 10');
    expect(text).toMatch(/^partner_security_requirement_compliant\{tenant_id="t100",/m);
    expect(gunzipSync(Buffer.concat(await later)).toString('utf8')).not.toMatch(/^partner_security_(score_current|requirement_compliant)\{/m);
  });

  it('does not keep a failed render: the scrape gets the error, the next one renders anew', async () => {
    const { families } = countedFamilies({ failOnce: true });
    const metrics = createMetrics({ snapshots: () => [healthy('t1', 10)], build, maxStalenessMs: 0, now: () => NOW, processMetrics: false, families });
    await expect(metrics.render()).rejects.toThrow('render broke');
    expect(await metrics.render()).toContain('partner_security_score_current{tenant_id="t1"} 10');
  });

  it('appends the process metrics to the gzip answer as one stream', async () => {
    const metrics = createMetrics({ snapshots: () => [healthy('t1', 10)], build, maxStalenessMs: 0, now: () => NOW });
    const text = gunzipSync(Buffer.concat(await metrics.renderGzipChunks())).toString('utf8');
    expect(text).toMatch(/^partner_security_score_current\{tenant_id="t1"\} 10$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
  });

  it('reads the process metrics at most once a second and says so in their HELP', () => {
    let now = 0;
    const process = createProcessMetrics({ clock: () => now });
    const first = process.read();
    now = PROCESS_READING_MAX_AGE_MS - 1;
    expect(process.read()).toBe(first);
    now = PROCESS_READING_MAX_AGE_MS;
    const second = process.read();
    expect(second).not.toBe(first);
    expect(second.bytes.toString('utf8')).toBe(second.text);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_open_fds',
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_space_size_used_bytes',
      'nodejs_external_memory_bytes',
    ]) {
      expect(second.text).toMatch(new RegExp(`^# HELP ${name} .*Read at most once a second\\.$`, 'm'));
      expect(second.text).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? \\d`, 'm'));
    }
    expect(second.text).toMatch(/^process_start_time_seconds \d+$/m);
    expect(second.text).toMatch(/^process_max_fds \d+$/m);
    expect(second.text).toMatch(/^nodejs_version_info\{version="v[\d.]+",major="\d+",minor="\d+",patch="\d+"\} 1$/m);
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
});
