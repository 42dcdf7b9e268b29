/**
 * Flags whose effect only shows through the composition root (src/main.ts): the built exporter
 * against the TLS fake cloud, each flag set away from its default and its effect checked.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { COSTS } from '../../src/collect/budget.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, runExporter, startExporter, until } from '../helpers/exporter.js';
import { closeFakeClouds, type GraphHandler, SECURITY_SCORE_PATH, startFakeCloud } from '../helpers/fake-cloud.js';

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

function customer(i: number) {
  return {
    tenantId: `c0000000-0000-4000-8000-00000000000${i}`,
    mfa: { compliantAdminsCount: i, compliantNonAdminsCount: 10 + i, totalUsersCount: 20 + i, securityDefaultsStatus: 'enabled' },
  };
}

describe.concurrent('flag effects through the exporter', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('--collector.customer-insights.max-customers=2 exports two of three customers and counts all three', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.relationDefault = (request) => (request.path === `${SECURITY_SCORE_PATH}/customerInsights` ? { body: { value: [1, 2, 3].map(customer) } } : {});
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: ['--collector.customer-insights', '--collector.customer-insights.max-customers=2'],
    });
    const samples = await until(
      async () => {
        const s = await exporter.samples();
        return s.some((x) => x.name === 'partner_security_customer_insights_customers') && s;
      },
      20_000,
      'customer insights',
    );
    expect(samples.filter((s) => s.name === 'partner_security_customer_users').map((s) => s.value)).toEqual([21, 22]);
    expect(samples.find((s) => s.name === 'partner_security_customer_insights_customers')?.value).toBe(3);
    expect(samples.find((s) => s.name === 'partner_security_customer_insights_truncated')?.value).toBe(1);
  });

  it('--memory.budget: before the data would take more, per-customer series beyond what fits are cut, said once, shown in /metrics; the score stays', async ({
    onTestFinished,
  }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.relationDefault = (request) => (request.path === `${SECURITY_SCORE_PATH}/customerInsights` ? { body: { value: [1, 2, 3].map(customer) } } : {});
    // Estimates, not readings: room for the answer, the tenant and exactly one customer (no history, no alerts).
    const budget = COSTS.answer + COSTS.tenant + COSTS.customer;
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: ['--collector.customer-insights', '--no-collector.history', `--memory.budget=${budget}`],
    });
    const samples = await until(
      async () => {
        const s = await exporter.samples();
        return s.some((x) => x.name === 'partner_security_customer_insights_customers') && s;
      },
      20_000,
      'customer insights',
    );
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(samples.filter((s) => s.name === 'partner_security_customer_users').map((s) => s.value)).toEqual([21]);
    expect(value('partner_security_customer_insights_customers')).toBe(3);
    expect(value('partner_security_score_current')).toBeGreaterThan(0);
    expect(value('partner_security_memory_budget_bytes')).toBe(budget);
    expect(value('partner_security_memory_estimated_bytes')).toBe(budget);
    expect(value('partner_security_memory_budget_cut', { series: 'customers' })).toBe(1);
    expect(value('partner_security_memory_budget_cut', { series: 'tenant_details' })).toBe(0);
    expect(value('partner_security_memory_budget_customers_per_tenant')).toBe(1);
    expect(exporter.logs().filter((l) => l.msg?.startsWith('memory budget reached'))).toEqual([
      expect.objectContaining({ level: 'warn', budget_bytes: budget, cut: 'customer_alerts,customers', customers_per_tenant: 1 }),
    ]);
    // It keeps serving, and polling.
    expect((await exporter.get('/healthz')).status).toBe(200);
    expect(exporter.child.exitCode).toBeNull();
  });

  it('--poll.concurrency=2 keeps at most two of five tenants polling at once, and uses both slots', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    // Every score request is held until the test lets it go, so "in flight" is exact.
    const held: (() => void)[] = [];
    let inFlight = 0;
    let most = 0;
    const hold: GraphHandler = () =>
      new Promise((resolve) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        held.push(() => {
          inFlight -= 1;
          resolve({});
        });
      });
    cloud.graphDefault = hold;
    const tenants = [1, 2, 3, 4, 5].map((i) => `${i}${i}${i}${i}${i}${i}${i}${i}-0000-4000-8000-00000000000${i}`);
    const file = join(mkdtempSync(join(tmpdir(), 'pss-concurrency-')), 'tenants.yml');
    writeFileSync(
      file,
      [
        'tenants:',
        ...tenants.map(
          (t) => `  - { tenant_id: ${t}, client_id: d2a57dc1-d883-4d21-8b99-51699df71cc7, client_secret_env: SECRET, authority_host: "${cloud.url}" }`,
        ),
        '',
      ].join('\n'),
    );
    await startExporter({
      cloud,
      onTestFinished,
      args: [`--config.file=${file}`, '--poll.concurrency=2', '--poll.interval=1h', '--no-collector.requirements', '--no-collector.history'],
      env: { SECRET: 'secret-0123456789' },
    });
    await until(() => held.length >= 2, 20_000, 'two polls in flight');
    // A bounded negative window: the five first polls are due a second apart (src/collect/schedule.ts),
    // so without the limit a third would arrive within it; no event marks "a poll is waiting for a
    // slot" from outside.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(inFlight).toBe(2);
    // Each release frees a slot for the next tenant, until all five were polled.
    for (let released = 0; released < tenants.length; released += 1) {
      await until(() => held.length > released, 20_000, `poll ${released + 1}`);
      held[released]?.();
    }
    expect(cloud.graphRequests).toHaveLength(5);
    expect(most).toBe(2);
  });
  it('--web.telemetry-path=/probe/metrics serves the metrics there and not under /metrics', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--web.telemetry-path=/probe/metrics'] });
    const moved = await until(
      async () => {
        const answer = await exporter.get('/probe/metrics');
        return answer.body.includes('partner_security_score_current{') && answer;
      },
      20_000,
      'the score under /probe/metrics',
    );
    expect(moved.status).toBe(200);
    expect((await exporter.get('/metrics')).status).toBe(404);
  });

  it('--web.listen-address given twice serves both addresses with the same web config, and logs both', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const file = join(mkdtempSync(join(tmpdir(), 'pss-listen-')), 'web.yml');
    writeFileSync(file, `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('s3cret-pass', 4)}\n`);
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: ['--web.listen-address=127.0.0.1:0', '--web.listen-address=127.0.0.2:0', `--web.config.file=${file}`],
    });
    const addresses = exporter.address.split(', ');
    expect(addresses.map((a) => a.replace(/:\d+$/, ''))).toEqual(['127.0.0.1', '127.0.0.2']);
    const authorization = `Basic ${Buffer.from('prometheus:s3cret-pass').toString('base64')}`;
    for (const address of addresses) {
      expect((await fetch(`http://${address}/metrics`)).status).toBe(401);
      expect((await fetch(`http://${address}/metrics`, { headers: { authorization } })).status).toBe(200);
    }
  });

  it('--web.listen-address: one address that cannot be bound stops start-up, naming it', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.2', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const run = await runExporter(['--demo', '--log.format=json', '--web.listen-address=127.0.0.1:0', `--web.listen-address=127.0.0.2:${port}`], {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
      });
      expect(run.code).toBe(1);
      const failed = run.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; err?: string })
        .find((l) => l.msg === 'exporter failed');
      expect(failed?.err).toMatch(new RegExp(`^cannot listen on 127\\.0\\.0\\.2:${port}: EADDRINUSE`));
      expect(run.stderr).not.toContain('exporter started');
    } finally {
      taken.close();
    }
  });

  it('--log.level=debug logs every poll; at the default level a successful poll logs nothing', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const [quiet, chatty] = await Promise.all([
      startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] }),
      startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s', '--log.level=debug'] }),
    ]);
    await until(async () => ((await quiet.value('partner_security_polls_total')) ?? 0) >= 2, 20_000, 'two polls at the default level');
    await until(() => chatty.logs().filter((l) => l.msg === 'poll succeeded').length >= 2, 20_000, 'two debug lines');
    expect(chatty.logs().find((l) => l.msg === 'poll succeeded')).toMatchObject({ level: 'debug' });
    expect(quiet.logs().filter((l) => l.level === 'debug')).toEqual([]);
  });
  it('--help prints every flag and exits 0 without asking for credentials', async () => {
    const result = await runExporter(['--help'], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--poll.concurrency');
    expect(result.stdout).toContain('--collector.customer-insights.max-customers');
  });
});
