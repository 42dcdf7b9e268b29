/**
 * --tenants.shard through real processes: N exporters, each given K/N, against one fake Graph that
 * answers every tenant with its own score, export together exactly what one unsharded exporter
 * exports: the same tenants and the same series, none of them twice.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../src/config/shard.js';
import {
  type Exporter,
  INTEGRATION_TIMEOUT_MS,
  killExporters,
  type Sample,
  startExporter,
  tenantIds,
  until,
  WITH_SECURITY_ALERTS,
} from '../helpers/exporter.js';
import { closeFakeClouds, defaultGraphAnswer, startFakeCloud } from '../helpers/fake-cloud.js';

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

const SHARDS = 3;
/** Seven tenants; with three shards they fall 1, 4 and 2 to shards 0, 1 and 2 (none is empty). */
const TENANTS = [...'abcdef1'].map((c) => `${c.repeat(8)}-0000-4000-8000-${c.repeat(12)}`);
const CLIENT = '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40';
/** Each tenant's own score, so a series under the wrong tenant would show. */
const scoreOf = (tenant: string) => 10 + TENANTS.indexOf(tenant);

/** Series that differ between any two processes whatever they poll: when a poll ran and how long it took. */
const TIMING = new Set([
  'partner_security_last_success_timestamp_seconds',
  'partner_security_poll_duration_seconds',
  'partner_security_next_poll_timestamp_seconds',
]);

/** A series as Prometheus stores it: its name and labels, an empty label being no label. */
function seriesKey(sample: Sample): string {
  const labels = Object.entries(sample.labels)
    .filter(([, v]) => v !== '')
    .sort(([a], [b]) => a.localeCompare(b));
  return `${sample.name}{${labels.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
}

/** The samples of the partner tenants' series (every one carries tenant_id), once every tenant was polled. */
async function tenantSeries(exporter: Exporter): Promise<Sample[]> {
  await until(async () => (await exporter.get('/readyz')).status === 200, 30_000, 'every tenant polled once');
  return (await exporter.samples()).filter((s) => s.labels.tenant_id !== undefined);
}

describe('--tenants.shard', { timeout: 2 * INTEGRATION_TIMEOUT_MS }, () => {
  it('three shards together export exactly the tenants and series of one unsharded exporter, none twice', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    // The tenant a token was issued for, by the token: the fake Graph answers each tenant with its own score.
    const tenantOfToken = (authorization: string | undefined) =>
      cloud.tokenRequests.find((r) => r.accessToken !== undefined && `Bearer ${r.accessToken}` === authorization)?.tenant;
    cloud.graphDefault = (request) => {
      const answer = JSON.parse(defaultGraphAnswer(new URL(`${cloud.url}${request.path}${request.query}`)).body) as { value: { currentScore: number } };
      answer.value.currentScore = scoreOf(tenantOfToken(request.authorization) ?? '');
      return { body: answer };
    };
    const file = join(mkdtempSync(join(tmpdir(), 'pss-shards-')), 'tenants.yml');
    writeFileSync(
      file,
      [
        'tenants:',
        ...TENANTS.map(
          (t, i) =>
            `  - { tenant_id: ${t}, client_id: ${CLIENT}, client_secret_env: SECRET, authority_host: "${cloud.url}"${i % 2 === 0 ? `, labels: { partner: p${i} }` : ''} }`,
        ),
        '',
      ].join('\n'),
    );
    const start = (args: string[] = [], env: Record<string, string> = {}) =>
      startExporter({
        cloud,
        onTestFinished,
        args: [`--config.file=${file}`, '--poll.interval=1h', '--collector.customer-insights', WITH_SECURITY_ALERTS, ...args],
        env: { SECRET: 'secret-0123456789', ...env },
      });
    // Shard 0 takes K from its variable, as the Kubernetes component gives it; the others from the flag.
    const [whole, ...shards] = await Promise.all([
      start(),
      start([], { PSS_TENANTS_SHARD: `0/${SHARDS}` }),
      ...Array.from({ length: SHARDS - 1 }, (_, k) => start([`--tenants.shard=${k + 1}/${SHARDS}`])),
    ]);
    if (whole === undefined) throw new Error('no unsharded exporter');
    const unsharded = await tenantSeries(whole);
    const sharded = await Promise.all(shards.map(tenantSeries));

    // The tenants: each shard exactly its own (Prometheus's hashmod of the id), together every one once.
    expect(tenantIds(unsharded).sort()).toEqual([...TENANTS].sort());
    const perShard = sharded.map((samples) => tenantIds(samples).sort());
    perShard.forEach((ids, k) => {
      expect(ids).toEqual(TENANTS.filter((t) => shardOf(t, SHARDS) === k).sort());
      expect(ids.length).toBeGreaterThan(0);
    });
    expect(perShard.flat().sort()).toEqual([...TENANTS].sort());

    // The series: the same set, none twice, each with the value the unsharded exporter has.
    const all = sharded.flat();
    const keys = all.map(seriesKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(unsharded.map(seriesKey).sort());
    expect(unsharded.length).toBeGreaterThan(TENANTS.length * 20);
    const value = new Map(unsharded.map((s) => [seriesKey(s), s.value]));
    const differing = all.filter((s) => !TIMING.has(s.name) && value.get(seriesKey(s)) !== s.value).map(seriesKey);
    expect(differing).toEqual([]);
    for (const tenant of TENANTS) {
      const score = all.find((s) => s.name === 'partner_security_score_current' && s.labels.tenant_id === tenant);
      expect(score?.value).toBe(scoreOf(tenant));
    }
    // Each shard said which it is, and how many tenants it took of how many.
    shards.forEach((exporter, k) => {
      expect(exporter.logs().find((l) => l.msg === 'exporter started')).toMatchObject({
        shard: `${k}/${SHARDS}`,
        tenants: perShard[k]?.length,
        tenants_configured: TENANTS.length,
      });
    });
  });
});
