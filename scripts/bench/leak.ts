/**
 * The leak check of `npm run bench`, run as its own process (node --expose-gc): the real poll path
 * (Graph client -> tenant poll -> poller -> snapshot -> metrics render) against the demo's fake
 * Graph on loopback (--graph: one in a process of its own; else one in this process), polled
 * back to back. The exporter's flags do not allow an interval under 1 s,
 * so 10,000 polls are driven in-process here instead of through dist/main.js.
 * Prints one JSON object (LeakResult) on standard output.
 */
import { parseArgs } from 'node:util';
import { createTenantPoll } from '../../src/collect/poll-tenant.js';
import { createPoller } from '../../src/collect/poller.js';
import { DEMO_SCOPE, demoCredential, startDemo } from '../../src/demo.js';
import { createMetrics } from '../../src/expose/metrics.js';
import { createGraphClient } from '../../src/graph/client.js';
import { createTokenSource } from '../../src/graph/token.js';
import { createLogger, createRedactor } from '../../src/lib/log.js';

/** Memory of the process at one point of the run. */
export interface MemorySample {
  readonly polls: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
}

/** What the leak check prints. */
export interface LeakResult {
  readonly polls: number;
  /** False when the time bound (--max-seconds) ended the run before every poll was made. */
  readonly complete: boolean;
  readonly warmupPolls: number;
  readonly seconds: number;
  /** Renders of the metrics (one after every --render-every polls), as scrapes between polls would cause. */
  readonly scrapes: number;
  readonly renderEvery: number;
  readonly exposedBytes: number;
  readonly samples: readonly MemorySample[];
}

const gc = (globalThis as { gc?: () => void }).gc;

function sample(polls: number): MemorySample {
  // Twice: the first collection can leave garbage that finalizers released for the second.
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { polls, rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external };
}

async function run(
  polls: number,
  samples: number,
  warmupPolls: number,
  maxSeconds: number,
  renderEvery: number,
  endpoint: string | undefined,
): Promise<LeakResult> {
  if (!gc) throw new Error('run with node --expose-gc: memory is compared after a full collection');
  // The demo's fake Graph in this process, or the one another process serves (same token, same scope).
  const graph = endpoint === undefined ? await startDemo() : { endpoint, credential: demoCredential(), scope: DEMO_SCOPE, close: async () => {} };
  const redact = createRedactor();
  const tokens = createTokenSource({ credential: graph.credential, scope: graph.scope, redact });
  const logger = createLogger({ level: 'error', format: 'json', redact, write: () => {} });
  const pollTenant = createTenantPoll({
    graph: createGraphClient({ endpoint: graph.endpoint, timeoutMs: 10_000, tokens, userAgent: 'bench' }),
    collectors: { requirements: true, history: true, customerInsights: true, maxPages: 50, maxCustomers: 1000 },
    tenantOfToken: () => tokens.lastTenantId(),
    logger,
  });

  const memory: MemorySample[] = [sample(0)];
  const started = performance.now();
  const every = Math.max(1, Math.floor((polls - warmupPolls) / samples));
  let done = 0;
  let scrapes = 0;
  let exposedBytes = 0;
  let complete = true;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const poller = createPoller({
    tenantId: 'demo',
    intervalMs: 0,
    logger,
    // A scrape after every renderEvery-th poll renders that poll's snapshot, as a scrape would; rendering
    // is most of a poll's CPU here, and a thousand renders are enough to show a leak in them.
    poll: async (signal) => {
      if (done > 0 && done % renderEvery === 0) {
        exposedBytes = Buffer.byteLength(await metrics.render());
        // And the gzip answer Prometheus asks for: its deflated data part is kept per render too.
        await metrics.renderGzipChunks();
        scrapes++;
      }
      if (done === warmupPolls || (done > warmupPolls && (done - warmupPolls) % every === 0)) memory.push(sample(done));
      // A loaded machine may not make every poll in time: the run stops and says how far it got.
      const late = done > warmupPolls && performance.now() - started > maxSeconds * 1000;
      // The poll after the last one is only started so that stop() has one to abort.
      if (done === polls || late) {
        if (memory[memory.length - 1]?.polls !== done) memory.push(sample(done));
        complete = done === polls;
        finish();
      } else done++;
      return pollTenant(signal);
    },
  });
  const metrics = createMetrics({ snapshots: () => [poller.snapshot()], build: { version: 'bench', nodeVersion: process.version }, maxStalenessMs: 0 });

  poller.start();
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await poller.stop();
  await graph.close();
  if (poller.snapshot().consecutiveFailures > 0) throw new Error(`the last poll failed: ${poller.snapshot().lastPoll?.message}`);
  return { polls: done, complete, warmupPolls, seconds, scrapes, renderEvery, exposedBytes, samples: memory };
}

const { values } = parseArgs({
  options: {
    polls: { type: 'string', default: '10000' },
    samples: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '200' },
    'max-seconds': { type: 'string', default: '600' },
    'render-every': { type: 'string', default: '1' },
    graph: { type: 'string' },
  },
});
const result = await run(
  Number(values.polls),
  Number(values.samples),
  Number(values.warmup),
  Number(values['max-seconds']),
  Number(values['render-every']),
  values.graph,
);
process.stdout.write(`${JSON.stringify(result)}\n`);
