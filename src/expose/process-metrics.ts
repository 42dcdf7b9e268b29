/**
 * Process and Node.js runtime metrics, read at most once a second and written as exposition text
 * directly. prom-client's default collectors read everything fresh on every scrape, which cost
 * most of a scrape's CPU (BENCHMARKS.md); a scraper needs no reading fresher than a second.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

/** The longest a reading is served before the next scrape takes a new one. */
export const PROCESS_READING_MAX_AGE_MS = 1000;

const CACHED = 'Read at most once a second.';

/** Buckets of nodejs_gc_duration_seconds, in seconds (prom-client's, so dashboards keep working). */
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5] as const;
const GC_KINDS: Readonly<Record<number, string>> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
/** Resolution of the event loop delay histogram, in milliseconds (prom-client's default). */
const EVENT_LOOP_RESOLUTION_MS = 10;

/** One reading: its exposition text and that text's UTF-8 bytes. */
export interface ProcessReading {
  readonly text: string;
  readonly bytes: Buffer;
}

export interface ProcessMetrics {
  /** The current reading; a new one once the last is PROCESS_READING_MAX_AGE_MS old. */
  read(): ProcessReading;
}

export interface ProcessMetricsOptions {
  /** Monotonic clock in milliseconds (performance.now by default). */
  clock?: () => number;
}

/** One family: name, type, help and its sample lines (none: the family is left out). */
type Family = readonly [name: string, type: 'gauge' | 'counter' | 'histogram', help: string, lines: readonly string[]];

/** Starts observing GC and event loop delay; readings are taken on demand. */
export function createProcessMetrics(options: ProcessMetricsOptions = {}): ProcessMetrics {
  const clock = options.clock ?? (() => performance.now());
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  const maxFds = readMaxFds();
  const [major = '', minor = '', patch = ''] = process.versions.node.split('.');
  const versionInfo = `nodejs_version_info{version="${process.version}",major="${major}",minor="${minor}",patch="${patch}"} 1`;

  const gc = new Map<string, { counts: number[]; sum: number; count: number }>();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
      const h = gc.get(kind) ?? { counts: GC_BUCKETS.map(() => 0), sum: 0, count: 0 };
      gc.set(kind, h);
      const seconds = entry.duration / 1000;
      GC_BUCKETS.forEach((bound, i) => {
        if (seconds <= bound) h.counts[i] = (h.counts[i] ?? 0) + 1;
      });
      h.sum += seconds;
      h.count++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  delay.enable();

  const take = (): ProcessReading => {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const families: Family[] = [
      single('process_cpu_user_seconds_total', 'counter', `Total user CPU time spent in seconds. ${CACHED}`, cpu.user / 1e6),
      single('process_cpu_system_seconds_total', 'counter', `Total system CPU time spent in seconds. ${CACHED}`, cpu.system / 1e6),
      single('process_cpu_seconds_total', 'counter', `Total user and system CPU time spent in seconds. ${CACHED}`, (cpu.user + cpu.system) / 1e6),
      single('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', startTime),
      single('process_resident_memory_bytes', 'gauge', `Resident memory size in bytes. ${CACHED}`, memory.rss),
      single('process_open_fds', 'gauge', `Number of open file descriptors. ${CACHED}`, openFds()),
      single('process_max_fds', 'gauge', 'Maximum number of open file descriptors (read at start).', maxFds),
      single('nodejs_heap_size_total_bytes', 'gauge', `Process heap size from Node.js in bytes. ${CACHED}`, memory.heapTotal),
      single('nodejs_heap_size_used_bytes', 'gauge', `Process heap size used from Node.js in bytes. ${CACHED}`, memory.heapUsed),
      single('nodejs_external_memory_bytes', 'gauge', `Node.js external memory size in bytes. ${CACHED}`, memory.external),
      ...heapSpaces(),
      ...eventLoopDelay(),
      ['nodejs_gc_duration_seconds', 'histogram', `Garbage collection duration by kind, one of major, minor, incremental or weakcb. ${CACHED}`, gcSamples()],
      ['nodejs_version_info', 'gauge', 'Node.js version info.', [versionInfo]],
    ];
    const text = families
      .filter(([, , , samples]) => samples.length > 0)
      .map(([name, type, help, samples]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${samples.join('\n')}\n`)
      .join('');
    return { text, bytes: Buffer.from(text) };
  };

  const heapSpaces = (): Family[] => {
    const spaces = getHeapSpaceStatistics();
    const family = (suffix: string, help: string, read: (s: (typeof spaces)[number]) => number): Family => [
      `nodejs_heap_space_size_${suffix}_bytes`,
      'gauge',
      `${help} ${CACHED}`,
      spaces.map((s) => `nodejs_heap_space_size_${suffix}_bytes{space="${s.space_name.replace(/_space$/, '')}"} ${read(s)}`),
    ];
    return [
      family('total', 'Process heap space size total from Node.js in bytes.', (s) => s.space_size),
      family('used', 'Process heap space size used from Node.js in bytes.', (s) => s.space_used_size),
      family('available', 'Process heap space size available from Node.js in bytes.', (s) => s.space_available_size),
    ];
  };

  // The histogram is reset after each reading: every reading covers the second(s) since the last.
  const eventLoopDelay = (): Family[] => {
    if (delay.count === 0) return [];
    const help = (what: string) => `The ${what} of the event loop delay in seconds since the previous reading. ${CACHED}`;
    const families: Family[] = [
      single('nodejs_eventloop_lag_min_seconds', 'gauge', help('minimum'), delay.min / 1e9),
      single('nodejs_eventloop_lag_max_seconds', 'gauge', help('maximum'), delay.max / 1e9),
      single('nodejs_eventloop_lag_mean_seconds', 'gauge', help('mean'), delay.mean / 1e9),
      single('nodejs_eventloop_lag_stddev_seconds', 'gauge', help('standard deviation'), delay.stddev / 1e9),
      single('nodejs_eventloop_lag_p50_seconds', 'gauge', help('50th percentile'), delay.percentile(50) / 1e9),
      single('nodejs_eventloop_lag_p90_seconds', 'gauge', help('90th percentile'), delay.percentile(90) / 1e9),
      single('nodejs_eventloop_lag_p99_seconds', 'gauge', help('99th percentile'), delay.percentile(99) / 1e9),
    ];
    delay.reset();
    return families;
  };

  const gcSamples = (): string[] =>
    [...gc].flatMap(([kind, h]) => [
      ...GC_BUCKETS.map((bound, i) => `nodejs_gc_duration_seconds_bucket{le="${bound}",kind="${kind}"} ${h.counts[i]}`),
      `nodejs_gc_duration_seconds_bucket{le="+Inf",kind="${kind}"} ${h.count}`,
      `nodejs_gc_duration_seconds_sum{kind="${kind}"} ${h.sum}`,
      `nodejs_gc_duration_seconds_count{kind="${kind}"} ${h.count}`,
    ]);

  let reading: { value: ProcessReading; at: number } | undefined;
  return {
    read() {
      const at = clock();
      if (reading === undefined || at - reading.at >= PROCESS_READING_MAX_AGE_MS) reading = { value: take(), at };
      return reading.value;
    },
  };
}

/** A family of one sample without labels; left out when the value cannot be read. */
function single(name: string, type: 'gauge' | 'counter', help: string, value: number | undefined): Family {
  return [name, type, help, value === undefined ? [] : [`${name} ${value}`]];
}

/** Open file descriptors, on Linux; undefined where /proc is not there. */
function openFds(): number | undefined {
  try {
    // Minus the descriptor readdir itself holds open.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

function readMaxFds(): number | undefined {
  try {
    const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    return limit === undefined ? undefined : Number(limit);
  } catch {
    return undefined;
  }
}
