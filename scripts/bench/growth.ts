/**
 * Cost growth of `npm run bench`, run as its own process: the demo tenant's data, parsed by the
 * exporter's own Graph parsers, grown to N customers (customer insights) or copied to N tenants;
 * then the first (uncached) render of the data metrics is timed and measured, and the next one
 * (served from the cache until a poll lands) for comparison.
 * Prints one JSON object (GrowthResult) on standard output.
 */
import { parseArgs } from 'node:util';
import { demoTenantAt } from '../../src/demo.js';
import { createMetrics } from '../../src/expose/metrics.js';
import { parseCustomerInsight, parseHistory, parseRequirement, parseSecurityScore } from '../../src/graph/parse.js';
import { type CustomerInsight, initialSnapshot, POLICIES, type Policy, type TenantSnapshot } from '../../src/snapshot.js';
import { median } from './lib.js';

/** The cost of the data metrics for one shape of data. */
export interface GrowthPoint {
  readonly tenants: number;
  readonly customers: number;
  readonly series: number;
  readonly bytes: number;
  /** Median time of the first render after a poll landed. */
  readonly renderMs: number;
  /** Median time of a render that the cache answers (no poll landed since the last one). */
  readonly cachedRenderMs: number;
}

/** What the growth check prints. */
export interface GrowthResult {
  readonly repeats: number;
  readonly customers: readonly GrowthPoint[];
  readonly tenants: readonly GrowthPoint[];
}

const NOW = Date.UTC(2026, 0, 15, 12);
const demo = demoTenantAt(NOW, NOW - 5 * 60_000);
const score = parseSecurityScore(demo.score);
const requirements = Object.freeze(demo.requirements.map(parseRequirement));
const history = Object.freeze(parseHistory(demo.history));
const demoCustomers = demo.customers.map(parseCustomerInsight).filter((c): c is CustomerInsight => c !== undefined);

/** N customers shaped like the demo's, each with its own tenant ID. */
function customers(n: number): readonly CustomerInsight[] {
  return Object.freeze(
    Array.from({ length: n }, (_, i) => {
      const base = demoCustomers[i % demoCustomers.length] as CustomerInsight;
      return Object.freeze({ ...base, tenantId: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}` });
    }),
  );
}

/** A tenant after one successful poll of every relation, as the poller would leave it. */
function tenant(tenantId: string, insights: readonly CustomerInsight[]): TenantSnapshot {
  const policyEnabled = Object.fromEntries(POLICIES.map((p) => [p, insights.filter((c) => c.policies[p] === true).length])) as Record<Policy, number>;
  return Object.freeze({
    ...initialSnapshot(tenantId),
    score,
    relations: Object.freeze({
      requirements,
      history,
      customerInsights: Object.freeze({ customers: insights, seen: insights.length, policyEnabled, pages: Math.ceil(insights.length / 100), truncated: false }),
    }),
    relationStatus: Object.freeze({ requirements: 'ok', history: 'ok', customerInsights: 'ok' }),
    lastSuccessMs: NOW,
    lastPoll: Object.freeze({ startedMs: NOW - 800, durationMs: 800, ok: true }),
    nextPollMs: NOW + 900_000,
    polls: 1,
    requests: Object.freeze({ '200': 1 + Math.max(1, Math.ceil(insights.length / 100)) }),
  } satisfies TenantSnapshot);
}

const gc = (globalThis as { gc?: () => void }).gc;

async function measure(snapshots: readonly TenantSnapshot[], repeats: number): Promise<GrowthPoint> {
  const first: number[] = [];
  const cached: number[] = [];
  let text = '';
  // One extra round first: it warms the JIT and is not counted.
  for (let i = 0; i <= repeats; i++) {
    const metrics = createMetrics({
      snapshots: () => snapshots,
      build: { version: 'bench', nodeVersion: process.version },
      maxStalenessMs: 0,
      now: () => NOW,
      processMetrics: false,
    });
    gc?.();
    let started = performance.now();
    text = await metrics.render();
    const firstMs = performance.now() - started;
    started = performance.now();
    await metrics.render();
    const cachedMs = performance.now() - started;
    if (i > 0) {
      first.push(firstMs);
      cached.push(cachedMs);
    }
  }
  return {
    tenants: snapshots.length,
    customers: snapshots.reduce((n, t) => n + (t.relations.customerInsights?.customers.length ?? 0), 0),
    series: text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length,
    bytes: Buffer.byteLength(text),
    renderMs: median(first),
    cachedRenderMs: median(cached),
  };
}

const list = (text: string) => text.split(',').map(Number);
const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '10,100,1000,10000' },
    tenants: { type: 'string', default: '1,10,50' },
    repeats: { type: 'string', default: '5' },
  },
});
const repeats = Number(values.repeats);
const result: GrowthResult = { repeats, customers: [], tenants: [] };
for (const n of list(values.customers)) (result.customers as GrowthPoint[]).push(await measure([tenant('demo', customers(n))], repeats));
// Every tenant is the demo tenant with its 240 customers: what a partner with insights turned on looks like.
const demoTenantCustomers = customers(demoCustomers.length);
for (const n of list(values.tenants)) {
  const snapshots = Array.from({ length: n }, (_, i) => tenant(`tenant-${String(i).padStart(2, '0')}`, demoTenantCustomers));
  (result.tenants as GrowthPoint[]).push(await measure(snapshots, repeats));
}
process.stdout.write(`${JSON.stringify(result)}\n`);
