/** Own prom-client Registry; every collect() renders the latest snapshots, so vanished series vanish. */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { FAILURE_REASONS, type TenantSnapshot } from './snapshot.js';

/** What the exporter is, for partner_security_build_info. */
export interface BuildInfo {
  readonly version: string;
  readonly nodeVersion: string;
}

type Labels = Record<string, string>;
type Sample = readonly [Labels, number];

interface RenderContext {
  readonly nowMs: number;
  readonly maxStalenessMs: number;
}

/** One metric: how to read its samples from a tenant snapshot. */
interface MetricSpec {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  readonly labels: readonly string[];
  readonly samples: (tenant: TenantSnapshot, ctx: RenderContext) => Iterable<Sample>;
}

const CACHED = 'Cached: refreshed every poll, not at scrape time.';

/** The score while it is fresh enough to show (see --poll.max-staleness). */
function freshScore(t: TenantSnapshot, ctx: RenderContext) {
  if (t.score === undefined || t.lastSuccessMs === undefined) return undefined;
  if (ctx.maxStalenessMs > 0 && ctx.nowMs - t.lastSuccessMs > ctx.maxStalenessMs) return undefined;
  return t.score;
}

function one(value: number | undefined): Sample[] {
  return value === undefined ? [] : [[{}, value]];
}

/** Every per-tenant metric. A new piece of Graph data is a new row here. */
export const TENANT_METRICS: readonly MetricSpec[] = [
  {
    name: 'partner_security_score_current',
    type: 'gauge',
    labels: [],
    help: `Partner security score reported by Graph (currentScore, 0 to the maximum). ${CACHED}`,
    samples: (t, c) => one(freshScore(t, c)?.currentScore),
  },
  {
    name: 'partner_security_score_max',
    type: 'gauge',
    labels: [],
    help: `Highest partner security score attainable (maxScore). ${CACHED}`,
    samples: (t, c) => one(freshScore(t, c)?.maxScore),
  },
  {
    name: 'partner_security_score_last_refresh_timestamp',
    type: 'gauge',
    labels: [],
    help: `Unix time in seconds Microsoft last checked the partner's security data (lastRefreshDateTime). ${CACHED}`,
    samples: (t, c) => one(freshScore(t, c)?.lastRefreshTimestamp),
  },
  {
    name: 'partner_security_score_updated_timestamp',
    type: 'gauge',
    labels: [],
    help: `Unix time in seconds the score or its data last changed (updatedDateTime). ${CACHED}`,
    samples: (t, c) => one(freshScore(t, c)?.updatedTimestamp),
  },
  {
    name: 'partner_security_up',
    type: 'gauge',
    labels: [],
    help: '1 if the most recent poll of Graph succeeded, 0 if it failed.',
    samples: (t) => one(t.lastPoll === undefined ? undefined : t.lastPoll.ok ? 1 : 0),
  },
  {
    name: 'partner_security_last_success_timestamp_seconds',
    type: 'gauge',
    labels: [],
    help: 'Unix time in seconds of the last successful poll of Graph.',
    samples: (t) => one(t.lastSuccessMs === undefined ? undefined : t.lastSuccessMs / 1000),
  },
  {
    name: 'partner_security_poll_duration_seconds',
    type: 'gauge',
    labels: [],
    help: 'Duration in seconds of the most recent poll of Graph.',
    samples: (t) => one(t.lastPoll === undefined ? undefined : t.lastPoll.durationMs / 1000),
  },
  {
    name: 'partner_security_next_poll_timestamp_seconds',
    type: 'gauge',
    labels: [],
    help: 'Unix time in seconds the next poll of Graph is due.',
    samples: (t) => one(t.nextPollMs === undefined ? undefined : t.nextPollMs / 1000),
  },
  { name: 'partner_security_polls_total', type: 'counter', labels: [], help: 'Polls of Graph completed, successful or not.', samples: (t) => one(t.polls) },
  {
    name: 'partner_security_poll_failures_total',
    type: 'counter',
    labels: ['reason'],
    help: `Failed polls of Graph by reason (${FAILURE_REASONS.join(', ')}).`,
    samples: (t) => FAILURE_REASONS.map((reason) => [{ reason }, t.failures[reason]] as const),
  },
  {
    name: 'partner_security_graph_requests_total',
    type: 'counter',
    labels: ['code'],
    help: 'Requests sent to Graph by HTTP status code of the answer ("none" when no answer arrived).',
    samples: (t) => Object.entries(t.requests).map(([code, n]) => [{ code }, n] as const),
  },
];

// prom-client's defaults call these gauges "..._total", which promtool rejects (a _total suffix
// promises a counter); the same numbers are still there as process_* and nodejs_* series.
const DEFAULT_METRICS_PROMTOOL_REJECTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface MetricsOptions {
  snapshots: () => readonly TenantSnapshot[];
  build: BuildInfo;
  maxStalenessMs: number;
  now?: () => number;
  /** Node.js and process metrics (on by default; off makes golden tests deterministic). */
  processMetrics?: boolean;
}

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  render(): Promise<string>;
}

/** Creates the registry and its collectors. */
export function createMetrics(options: MetricsOptions): Metrics {
  const now = options.now ?? Date.now;
  const registry = new Registry();
  for (const spec of TENANT_METRICS) register(registry, spec, options.snapshots, () => ({ nowMs: now(), maxStalenessMs: options.maxStalenessMs }));

  new Gauge({
    name: 'partner_security_build_info',
    help: 'A metric with a constant 1 value labelled by the version of the exporter and of Node.js.',
    labelNames: ['version', 'nodejs_version'],
    registers: [registry],
  }).set({ version: options.build.version, nodejs_version: options.build.nodeVersion }, 1);

  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    for (const name of DEFAULT_METRICS_PROMTOOL_REJECTS) registry.removeSingleMetric(name);
  }
  return { registry, contentType: registry.contentType, render: () => registry.metrics() };
}

function register(registry: Registry, spec: MetricSpec, snapshots: () => readonly TenantSnapshot[], context: () => RenderContext): void {
  const labelNames = ['tenant_id', ...spec.labels];
  const fill = (write: (labels: Labels, value: number) => void) => {
    const ctx = context();
    for (const tenant of snapshots()) {
      for (const [labels, value] of spec.samples(tenant, ctx)) write({ tenant_id: tenant.tenantId, ...labels }, value);
    }
  };
  if (spec.type === 'gauge') {
    new Gauge({
      name: spec.name,
      help: spec.help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill((labels, value) => this.set(labels, value));
      },
    });
  } else {
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    });
  }
}
