/**
 * Everything taken from Graph is bounded: requirements and history entries kept, pages and bytes
 * read per relation per poll. At each bound the data is whole; one past it, it is cut, and the
 * snapshot, a metric and one log line say so. A hostile tenant cannot swamp another's scrape.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTenantPoll, type PollData, type PollResult } from '../../src/collect/poll-tenant.js';
import { type CollectorsConfig, parseConfig } from '../../src/config/parse.js';
import { createGraphClient } from '../../src/graph/client.js';
import type { TokenSource } from '../../src/graph/token.js';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, parseSamples, startExporter, until } from '../helpers/exporter.js';
import { closeFakeClouds, type FakeCloud, type GraphReply, heldReply, jwtPart, SECURITY_SCORE_PATH, startFakeCloud } from '../helpers/fake-cloud.js';

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

const SCORE = { currentScore: 50, maxScore: 100 };
const requirement = (i: number) => ({ requirementType: `type${i}`, complianceStatus: 'compliant', score: 1, maxScore: 1, state: 'active' });
const entry = (day: number) => ({ createdDateTime: new Date(Date.UTC(2026, 0, 1 + day)).toISOString(), score: String(day) });
const tokens: TokenSource = { get: async () => ({ token: 'token-xyz' }), invalidate: () => {}, lastTenantId: () => undefined };

/** The body of one page as the fake sends it, and what it weighs. */
function page(value: readonly object[], next?: string): { body: string; bytes: number } {
  const body = JSON.stringify({ value, ...(next === undefined ? {} : { '@odata.nextLink': next }) });
  return { body, bytes: Buffer.byteLength(body) };
}

/** Serves a relation as a chain of pages: /<relation>?page=0, 1, ... */
function pagedRelation(cloud: FakeCloud, relation: string, pages: readonly (readonly object[])[]): number[] {
  const sizes = pages.map((items, i) => page(items, i + 1 < pages.length ? `${cloud.url}${SECURITY_SCORE_PATH}/${relation}?page=${i + 1}` : undefined));
  cloud.relationDefault = (request) => {
    if (request.path !== `${SECURITY_SCORE_PATH}/${relation}`) return {};
    return { body: sizes[Number(new URLSearchParams(request.query).get('page') ?? '0')]?.body ?? '{"value":[]}' };
  };
  return sizes.map((s) => s.bytes);
}

async function poll(cloud: FakeCloud, collectors: Partial<CollectorsConfig>): Promise<PollData> {
  const graph = createGraphClient({ endpoint: cloud.url, timeoutMs: 10_000, tokens, userAgent: 'test' });
  const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
  const all: CollectorsConfig = { requirements: true, history: true, customerInsights: false, maxPages: 50, maxCustomers: 1000 };
  const result: PollResult = await createTenantPoll({ graph, collectors: { ...all, ...collectors }, tenantOfToken: () => undefined, logger })(
    new AbortController().signal,
  );
  if (!result.ok) throw new Error(`poll failed: ${result.error.message}`);
  return result.data;
}

const relationRequests = (cloud: FakeCloud, relation: string) => cloud.graphRequests.filter((r) => r.path === `${SECURITY_SCORE_PATH}/${relation}`).length;

describe.concurrent('caps on what one poll takes from Graph, through the fake Graph over TLS', () => {
  it.for([
    [5, false],
    [4, true],
  ] as const)('requirements in one expanded answer: 5 with a cap of %i (cut: %s)', async ([cap, cut], { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = { body: { value: { ...SCORE, requirements: [0, 1, 2, 3, 4].map(requirement), history: [] } } };
    const data = await poll(cloud, { maxRequirements: cap });
    expect(data.relations.requirements?.map((r) => r.type)).toEqual(['type0', 'type1', 'type2', 'type3', 'type4'].slice(0, cap));
    expect(data.truncated?.requirements).toEqual(cut ? { cap: 'items', seen: 5, kept: 4 } : undefined);
  });

  it.for([
    [12, false],
    [11, true],
  ] as const)('requirements counted across pages: 3 pages of 4 with a cap of %i (cut: %s)', async ([cap, cut], { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = { body: { value: { ...SCORE, history: [] } } };
    pagedRelation(
      cloud,
      'requirements',
      [0, 1, 2].map((p) => [0, 1, 2, 3].map((i) => requirement(p * 4 + i))),
    );
    const data = await poll(cloud, { maxRequirements: cap });
    expect(data.relations.requirements).toHaveLength(cap);
    expect(data.truncated?.requirements).toEqual(cut ? { cap: 'items', seen: 12, kept: 11 } : undefined);
  });

  it.for([
    [5, false],
    [3, true],
  ] as const)('history entries: 5 over 2 pages with a cap of %i keeps the newest (cut: %s)', async ([cap, cut], { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = { body: { value: { ...SCORE, requirements: [] } } };
    // Newest first on the first page, as a feed might send them.
    pagedRelation(cloud, 'history', [
      [entry(4), entry(3), entry(2)],
      [entry(1), entry(0)],
    ]);
    const data = await poll(cloud, { maxHistoryEntries: cap });
    expect(data.relations.history?.map((e) => e.score)).toEqual([0, 1, 2, 3, 4].slice(5 - cap));
    expect(data.truncated?.history).toEqual(cut ? { cap: 'items', seen: 5, kept: 3 } : undefined);
  });

  it.for([
    [4, false],
    [3, true],
  ] as const)('pages: 4 pages with --collector.max-pages=%i (cut: %s)', async ([maxPages, cut], { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = { body: { value: { ...SCORE, history: [] } } };
    pagedRelation(cloud, 'requirements', [[requirement(0)], [requirement(1)], [requirement(2)], [requirement(3)]]);
    const data = await poll(cloud, { maxPages });
    expect(relationRequests(cloud, 'requirements')).toBe(maxPages);
    expect(data.relations.requirements).toHaveLength(maxPages);
    expect(data.truncated?.requirements).toEqual(cut ? { cap: 'pages', seen: 3, kept: 3 } : undefined);
  });

  it.for([
    [2, false],
    [1, true],
  ] as const)('pages: the expanded answer counts as the first page, with --collector.max-pages=%i (cut: %s)', async ([maxPages, cut], { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const next = `${cloud.url}${SECURITY_SCORE_PATH}/requirements?page=1`;
    cloud.graphDefault = { body: { value: { ...SCORE, requirements: [requirement(0)], 'requirements@odata.nextLink': next, history: [] } } };
    pagedRelation(cloud, 'requirements', [[], [requirement(1)]]);
    const data = await poll(cloud, { maxPages });
    expect(relationRequests(cloud, 'requirements')).toBe(maxPages - 1);
    expect(data.truncated?.requirements).toEqual(cut ? { cap: 'pages', seen: 1, kept: 1 } : undefined);
  });

  it.for([
    [1, false],
    [0, true],
  ] as const)('bytes: a budget of the first two pages plus %i byte(s) (cut: %s)', async ([extra, cut], { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = { body: { value: { ...SCORE, requirements: [] } } };
    const filler = 'x'.repeat(2000);
    const sizes = pagedRelation(
      cloud,
      'history',
      [0, 1, 2].map((p) => [{ ...entry(p), filler }]),
    );
    const maxBytes = (sizes[0] ?? 0) + (sizes[1] ?? 0) + extra;
    const data = await poll(cloud, { maxBytes });
    // Two pages add up to the budget: the third is never asked for. One byte more, and it is.
    expect(relationRequests(cloud, 'history')).toBe(cut ? 2 : 3);
    expect(data.truncated?.history).toEqual(cut ? { cap: 'bytes', seen: 2, kept: 2 } : undefined);
  });
});

describe('page cap flags', () => {
  const env = {
    AZURE_TENANT_ID: '8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b',
    AZURE_CLIENT_ID: '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40',
    AZURE_CLIENT_SECRET: 's3cr3t-value',
  };
  it('keeps --collector.customer-insights.max-pages working as the old name of --collector.max-pages', () => {
    const collectors = (argv: string[]) => {
      const result = parseConfig(argv, env);
      return result.action === 'run' ? result.config.collectors : result;
    };
    expect(collectors([])).toMatchObject({ maxPages: 50, maxBytes: 32 * 1024 * 1024, maxRequirements: 1000, maxHistoryEntries: 1000 });
    expect(collectors(['--collector.max-pages=7'])).toMatchObject({ maxPages: 7 });
    expect(collectors(['--collector.customer-insights.max-pages=8'])).toMatchObject({ maxPages: 8 });
    expect(collectors(['--collector.customer-insights.max-pages=8', '--collector.max-pages=9'])).toEqual({
      action: 'fail',
      errors: ['--collector.customer-insights.max-pages, --collector.max-pages: set only one of them (the first is the old name of the second)'],
    });
    expect(parseConfig(['--collector.max-bytes=12', '--collector.requirements.max-requirements=0', '--collector.history.max-entries=x'], env)).toEqual({
      action: 'fail',
      errors: [
        '--collector.max-bytes: "12" is not a whole number from 1024 to 1073741824',
        '--collector.requirements.max-requirements: "0" is not a whole number from 1 to 1000000',
        '--collector.history.max-entries: "x" is not a whole number from 1 to 1000000',
      ],
    });
  });
});

const HOSTILE = 'dddddddd-0000-4000-8000-00000000000d';
const NORMAL = 'eeeeeeee-0000-4000-8000-00000000000e';
const HOSTILE_TYPES_PER_PAGE = 2500;
const HOSTILE_PAGES = 4;

describe('a hostile tenant next to a normal one', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('bounds the hostile series and never keeps the normal tenant or /healthz waiting', async ({ onTestFinished }) => {
    const hostile = await startFakeCloud({ onTestFinished, tenantClaim: HOSTILE });
    const normal = await startFakeCloud({ onTestFinished, tenantClaim: NORMAL });
    const tidOf = (authorization?: string) => jwtPart((authorization ?? '').replace(/^Bearer /, ''), 1).tid;
    const types = (p: number) =>
      Array.from({ length: HOSTILE_TYPES_PER_PAGE }, (_, i) => requirement(p * HOSTILE_TYPES_PER_PAGE + i)).map((r) => ({
        ...r,
        requirementType: `${r.requirementType}-${'h'.repeat(40)}`,
      }));
    const nextOf = (p: number) => `${hostile.url}${SECURITY_SCORE_PATH}/requirements?page=${p}`;
    // Thousands of requirement types in the expanded answer and over further pages; the last page
    // is held back, so the hostile tenant's poll is in flight while the other tenant is scraped.
    const last = heldReply({ body: page(types(HOSTILE_PAGES - 1)).body });
    hostile.graphDefault = (request): GraphReply =>
      tidOf(request.authorization) === HOSTILE
        ? { body: { value: { ...SCORE, requirements: types(0), 'requirements@odata.nextLink': nextOf(1), history: [] } } }
        : {};
    hostile.relationDefault = (request) => {
      const p = Number(new URLSearchParams(request.query).get('page') ?? '0');
      if (request.path !== `${SECURITY_SCORE_PATH}/requirements` || p === 0) return {};
      return p === HOSTILE_PAGES - 1 ? last.handler(request) : { body: page(types(p), nextOf(p + 1)).body };
    };
    const dir = mkdtempSync(join(tmpdir(), 'pss-hostile-'));
    const file = join(dir, 'tenants.yml');
    writeFileSync(
      file,
      [
        'tenants:',
        `  - { tenant_id: ${HOSTILE}, client_id: abc02b02-172c-4b83-8211-9abc75bbd290, client_secret_env: SECRET_H, authority_host: "${hostile.url}" }`,
        `  - { tenant_id: ${NORMAL}, client_id: 95445bcf-1aca-40e8-86e4-f4780ee690cb, client_secret_env: SECRET_N, authority_host: "${normal.url}" }`,
        '',
      ].join('\n'),
    );
    // Both tenants read Graph through the hostile fake; it tells them apart by their tokens.
    const exporter = await startExporter({
      cloud: hostile,
      onTestFinished,
      args: [`--config.file=${file}`, '--poll.interval=10m'],
      env: { SECRET_H: 'secret-h-0123456789', SECRET_N: 'secret-n-0123456789' },
    });

    await until(() => hostile.graphRequests.some((r) => r.query.includes(`page=${HOSTILE_PAGES - 1}`)), 20_000, "the hostile tenant's last page");
    // The hostile poll is in flight: the other tenant is served, /healthz answers.
    const during = await until(
      async () => ((await exporter.value('partner_security_score_current', { tenant_id: NORMAL })) === undefined ? undefined : exporter.samples()),
      10_000,
      "the normal tenant's score",
    );
    expect(during.filter((s) => s.labels.tenant_id === HOSTILE && s.name === 'partner_security_requirement_info')).toHaveLength(0);
    expect((await exporter.get('/healthz')).status).toBe(200);
    last.release();

    await until(async () => (await exporter.value('partner_security_up', { tenant_id: HOSTILE })) === 1, 20_000, 'the hostile poll');
    const answer = await exporter.get('/metrics');
    const samples = parseSamples(answer.body);
    const hostileTypes = new Set(
      samples.filter((s) => s.labels.tenant_id === HOSTILE && s.labels.requirement_type !== undefined).map((s) => s.labels.requirement_type),
    );
    // 10,000 requirement types arrived; the default cap of 1,000 was exported.
    expect(hostileTypes.size).toBe(1000);
    expect(samples.filter((s) => s.labels.tenant_id === HOSTILE).length).toBeLessThan(1000 * 5 + 100);
    expect(answer.body.length).toBeLessThan(2 * 1024 * 1024);
    expect(
      samples.find((s) => s.name === 'partner_security_relation_truncated' && s.labels.tenant_id === HOSTILE && s.labels.relation === 'requirements')?.value,
    ).toBe(1);
    expect(
      samples.find((s) => s.name === 'partner_security_relation_truncated' && s.labels.tenant_id === NORMAL && s.labels.relation === 'requirements')?.value,
    ).toBe(0);
    expect(samples.find((s) => s.name === 'partner_security_score_current' && s.labels.tenant_id === NORMAL)?.value).toBe(14.29);
    expect((await exporter.get('/healthz')).status).toBe(200);
    const cuts = exporter.logs().filter((l) => l.msg === 'a cap cut a relation short; the rest of it is not exported');
    expect(cuts).toMatchObject([
      { tenant_id: HOSTILE, relation: 'requirements', cap: 'items', flag: '--collector.requirements.max-requirements', items_kept: 1000, items_seen: 10_000 },
    ]);
  });
});
