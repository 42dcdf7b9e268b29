/**
 * The distributor's case of issue 21, end to end: 50 partner tenants of 1,000 customers and 10,000
 * alerts each (the default caps), customer insights and per-customer alerts on, polled from the
 * fake Graph by the built exporter under the V8 flags npm start ships with. It must not abort: it
 * serves every tenant's data (plain and gzip), polls them all again and is still serving after.
 * How much memory that takes is measured by npm run bench (its scale section), not asserted here.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { getRaw, shippedStart } from '../../scripts/bench/lib.js';
import { scaleTenantId, startScaleCloud } from '../../scripts/bench/scale-graph.js';
import { killExporters, startExporter, until } from '../helpers/exporter.js';
import { closeFakeClouds } from '../helpers/fake-cloud.js';

const TENANTS = 50;
const CUSTOMERS = 1000;
const ALERTS = 10_000;
/** The V8 flags of npm start (and the image), as NODE_OPTIONS takes them, and the environment it sets. */
const SHIPPED = shippedStart(fileURLToPath(new URL('../../package.json', import.meta.url)));
const NODE_FLAGS = SHIPPED.flags.filter((word) => word.startsWith('--max-'));

const work = mkdtempSync(join(tmpdir(), 'pss-scale-'));
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
  rmSync(work, { recursive: true, force: true });
});

/** The values of one family in an exposition, without parsing every line of 70 MB into objects. */
function values(text: string, name: string): number[] {
  const found: number[] = [];
  for (let at = text.indexOf(`\n${name}{`); at !== -1; at = text.indexOf(`\n${name}{`, at + 1)) {
    const end = text.indexOf('\n', at + 1);
    found.push(Number(text.slice(text.lastIndexOf(' ', end) + 1, end)));
  }
  return found;
}

describe(`${TENANTS} tenants of ${CUSTOMERS} customers and ${ALERTS} alerts`, () => {
  it(`are served, plain and gzip, polled again, and the exporter (${NODE_FLAGS.join(' ')}) is still serving`, { timeout: 400_000 }, async () => {
    expect(NODE_FLAGS).toContain('--max-old-space-size=192');
    const cloud = await startScaleCloud({ customers: CUSTOMERS, alerts: ALERTS });
    const file = join(work, 'tenants.yml');
    const entries = Array.from(
      { length: TENANTS },
      (_, i) => `  - { tenant_id: ${scaleTenantId(i + 1)}, client_id: 5ca1ea00-0000-4000-8000-000000000001, client_secret_env: SCALE_SECRET }`,
    );
    writeFileSync(file, `tenants:\n${entries.join('\n')}\n`);
    const exporter = await startExporter({
      cloud,
      args: [
        `--config.file=${file}`,
        '--collector.customer-insights',
        '--collector.security-alerts',
        '--collector.security-alerts.customers',
        '--poll.interval=20s',
      ],
      env: { ...SHIPPED.env, SCALE_SECRET: 'scale-secret', NODE_OPTIONS: NODE_FLAGS.join(' ') },
    });
    const metrics = async (gzip: boolean) => {
      const answer = await getRaw(`${exporter.url}/metrics`, gzip ? { 'Accept-Encoding': 'gzip' } : {}, 120_000);
      expect(answer.status).toBe(200);
      return gzip ? gunzipSync(answer.body).toString('utf8') : answer.body.toString('utf8');
    };
    // An exporter that aborts (a heap out of memory, as before issue 21) ends the wait at once.
    await until(async () => exporter.child.exitCode !== null || (await exporter.get('/readyz')).status === 200, 300_000, 'every tenant polled once');
    expect(exporter.child.exitCode, exporter.stderrLines.slice(-5).join('\n')).toBeNull();
    const plain = await metrics(false);
    expect(values(plain, 'partner_security_up')).toEqual(Array(TENANTS).fill(1));
    // Every customer of every tenant, and the alerts added up per customer.
    expect(values(plain, 'partner_security_customer_users')).toHaveLength(TENANTS * CUSTOMERS);
    expect(values(plain, 'partner_security_alerts_open').reduce((a, b) => a + b, 0)).toBe((TENANTS * ALERTS) / 10);
    expect(values(plain, 'partner_security_customer_alerts_open').length).toBeGreaterThan(TENANTS * 100);
    // Within the default budget: nothing cut.
    expect(values(plain, 'partner_security_memory_budget_cut')).toEqual([0, 0, 0]);
    // Every tenant polled again, and still serving, plain and gzip alike.
    await until(
      async () => {
        const polls = values(await metrics(true), 'partner_security_polls_total');
        return polls.length === TENANTS && polls.every((n) => n >= 2);
      },
      300_000,
      'every tenant polled twice',
    );
    const gzip = await metrics(true);
    expect(values(gzip, 'partner_security_customer_users')).toHaveLength(TENANTS * CUSTOMERS);
    expect(exporter.logs().filter((l) => l.level === 'error' || l.msg?.startsWith('memory budget'))).toEqual([]);
    expect(exporter.child.exitCode).toBeNull();
    const stopped = await exporter.stop('SIGTERM', 20_000);
    expect([stopped.code, stopped.running]).toEqual([0, false]);
  });
});
