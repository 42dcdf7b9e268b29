/**
 * `npm run bench`: what the exporter costs its host, measured side by side on one machine, on
 * loopback, in one bounded run (under 5 minutes; `--smoke` takes seconds). Prints Markdown tables
 * and writes the figures as JSON (bench/results.json unless --out says otherwise).
 *
 * - Throughput: wrk on /metrics of the demo exporter, of the Prometheus Pushgateway holding the
 *   same data (pushed once), and of a bare node:http server writing the exporter's answer from
 *   memory; requests/s, p50/p99 latency, CPU seconds per 1,000 scrapes and peak RSS of each server
 *   process, medians of several interleaved runs.
 * - Start-up of the demo exporter to its first good /metrics, next to `node -e 0`.
 * - Memory across 10,000 polls of the demo's fake Graph (in-process, scripts/bench/leak.ts).
 * - Render time and size of the data metrics by customers and by tenants (scripts/bench/growth.ts).
 *
 * Run it with `npm run bench` (builds dist/ first); BENCHMARKS.md says what the figures mean.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { GrowthPoint, GrowthResult } from './bench/growth.js';
import type { LeakResult, MemorySample } from './bench/leak.js';
import {
  cpuSeconds,
  freePort,
  get,
  killChildren,
  type Load,
  median,
  parseWrk,
  round,
  runToEnd,
  runWrk,
  stopChild,
  track,
  until,
  type WrkResult,
  watchPeakRss,
} from './bench/lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'dist/main.js');
/** Lets the helpers run src/*.ts as they are (the same hook `npm run dashboards` uses). */
const HOOK = join(ROOT, 'dashboards/ts-imports.ts');
const SCRIPTS = join(ROOT, 'scripts/bench');
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** The whole full run stays under 5 minutes. */
const BUDGET_SECONDS = 285;
/** Only loopback is used: no proxy from the environment may catch the demo's fake Graph. */
const CHILD_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** How much of everything one run does. */
interface Settings {
  readonly mode: 'full' | 'smoke';
  readonly load: Load;
  readonly runs: number;
  readonly warmupSeconds: number;
  readonly startupRuns: number;
  readonly leak: { readonly polls: number; readonly warmup: number; readonly samples: number; readonly maxSeconds: number; readonly renderEvery: number };
  readonly growth: { readonly customers: string; readonly tenants: string; readonly repeats: number };
  readonly out: string;
  /** The exporter's entry point: dist/main.js, or another build to compare with (--exporter). */
  readonly exporter: string;
  /** Only print the report of an earlier run's JSON file (--report FILE), goals judged anew. */
  readonly report?: string;
}

/** The figures of one wrk run against one server. */
interface RunFigures extends WrkResult {
  readonly cpuSeconds: number;
  readonly cpuSecondsPer1000: number;
  readonly peakRssBytes: number;
}

/** The figures of every server under load, and of the ratios between them. */
export type Figure = 'requestsPerSecond' | 'p50Ms' | 'p99Ms' | 'cpuSecondsPer1000' | 'peakRssBytes';
export const FIGURES: readonly Figure[] = ['requestsPerSecond', 'p50Ms', 'p99Ms', 'cpuSecondsPer1000', 'peakRssBytes'];

/** The servers under load: the exporter and its two references. */
export const SERVERS = ['exporter', 'pushgateway', 'bareNode'] as const;
type ServerName = (typeof SERVERS)[number];

/** One server under load. */
interface ServerResult {
  readonly label: string;
  /** Size of one answer to GET /metrics, in bytes. */
  readonly bodyBytes: number;
  readonly runs: readonly RunFigures[];
  readonly median: Readonly<Record<Figure, number>>;
}

interface ThroughputResult {
  readonly load: Load;
  readonly runs: number;
  readonly warmupSeconds: number;
  /** Bytes of the data part of the exporter's answer (all but process_* and nodejs_*): what the Pushgateway was given. */
  readonly exporterDataBytes: number;
  readonly servers: Readonly<Record<ServerName, ServerResult>>;
  /** The exporter's medians divided by each reference's. */
  readonly ratios: { readonly vsBareNode: Readonly<Record<Figure, number>>; readonly vsPushgateway: Readonly<Record<Figure, number>> };
}

interface StartupResult {
  readonly runs: number;
  readonly nodeNoopMs: number;
  readonly exporterVersionMs: number;
  readonly listeningMs: number;
  readonly readyMs: number;
  readonly firstMetricsMs: number;
  readonly firstMetricsRunsMs: readonly number[];
}

interface Goal {
  readonly goal: string;
  readonly target: string;
  readonly actual: string;
  readonly met: boolean;
}

/** Everything one run measured: the file BENCHMARKS.md is written from. */
export interface BenchResults {
  readonly schema: 1;
  readonly mode: 'full' | 'smoke';
  readonly startedAt: string;
  readonly seconds: number;
  readonly machine: Readonly<Record<string, unknown>>;
  readonly throughput: ThroughputResult;
  readonly startup: StartupResult;
  readonly leak: LeakResult;
  readonly growth: GrowthResult;
  readonly goals: readonly Goal[];
}

function settingsFrom(argv: readonly string[], env: NodeJS.ProcessEnv): Settings {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      smoke: { type: 'boolean', default: env.BENCH_SMOKE === '1' },
      out: { type: 'string' },
      runs: { type: 'string' },
      seconds: { type: 'string' },
      connections: { type: 'string' },
      polls: { type: 'string' },
      exporter: { type: 'string' },
      report: { type: 'string' },
    },
  });
  const smoke = values.smoke === true;
  const number = (text: string | undefined, fallback: number) => (text === undefined ? fallback : Number(text));
  const load = smoke ? { threads: 1, connections: 2, seconds: 1 } : { threads: 2, connections: 16, seconds: 10 };
  return {
    mode: smoke ? 'smoke' : 'full',
    load: { ...load, seconds: number(values.seconds, load.seconds), connections: number(values.connections, load.connections) },
    runs: number(values.runs, smoke ? 1 : 3),
    warmupSeconds: smoke ? 0 : 2,
    startupRuns: smoke ? 1 : 5,
    leak: smoke
      ? { polls: 40, warmup: 10, samples: 3, maxSeconds: 20, renderEvery: 1 }
      : { polls: number(values.polls, 10_000), warmup: 200, samples: 10, maxSeconds: 140, renderEvery: 10 },
    growth: smoke ? { customers: '10,100', tenants: '1,2', repeats: 1 } : { customers: '10,100,1000,10000', tenants: '1,10,50', repeats: 5 },
    exporter: values.exporter ?? MAIN,
    ...(values.report === undefined ? {} : { report: values.report }),
    out: values.out ?? (smoke ? join(tmpdir(), 'partner-security-bench-smoke.json') : join(ROOT, 'bench/results.json')),
  };
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

/** Installs wrk and the Pushgateway from Debian when they are missing (as root, or with sudo -n). */
function ensureTools(): void {
  const tools = [
    ['wrk', 'wrk'],
    ['prometheus-pushgateway', 'prometheus-pushgateway'],
  ] as const;
  const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
  const missing = tools.filter(([command]) => !has(command)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  log(`installing ${missing.join(', ')} from the Debian archive`);
  const root = process.getuid?.() === 0;
  const asRoot = (args: string[]) =>
    root ? spawnSync(args[0] ?? '', args.slice(1), { stdio: 'inherit' }) : spawnSync('sudo', ['-n', ...args], { stdio: 'inherit' });
  asRoot(['apt-get', 'update', '-qq']);
  asRoot(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing]);
  const still = tools.filter(([command]) => !has(command)).map(([, pkg]) => pkg);
  if (still.length > 0) throw new Error(`cannot install ${still.join(', ')}: run "apt-get install ${still.join(' ')}" as root`);
}

function firstLine(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
}

function machine(settings: Settings): Record<string, unknown> {
  const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    wrk: firstLine('wrk', ['-v']).replace(/\s*Copyright.*$/, ''),
    pushgateway: firstLine('prometheus-pushgateway', ['--version']),
    exporter: relative(ROOT, settings.exporter),
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedChanges: git(['status', '--porcelain', '--', 'src']) !== '',
    loadAverageAtStart: loadavg().map((n) => round(n)),
  };
}

/** Starts the demo exporter from dist/ on an ephemeral port; resolves with its URL once it listens. */
async function startExporter(main: string, extraArgs: readonly string[]): Promise<{ child: ChildProcess; url: string }> {
  const args = [main, '--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json', ...extraArgs];
  const child = track(spawn(process.execPath, args, { env: CHILD_ENV, stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the exporter did not start in 30 s:\n${stderr}`)), 30_000);
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const line of stderr.split('\n')) {
        if (!line.includes('"exporter started"')) continue;
        clearTimeout(timer);
        resolve(String((JSON.parse(line) as { address: string }).address));
      }
    });
    child.once('exit', (code) => reject(new Error(`the exporter exited (${code}) before it started:\n${stderr}`)));
  });
  return { child, url: `http://${address}` };
}

/** The exposition text without the process_* and nodejs_* families (the Pushgateway serves its own process_*). */
function dataFamilies(exposition: string): string {
  return exposition
    .split(/(?=^# HELP )/m)
    .filter((family) => !/^# HELP (process|nodejs)_/.test(family))
    .join('');
}

async function throughput(settings: Settings, work: string): Promise<ThroughputResult> {
  const started: ChildProcess[] = [];
  try {
    // A poll interval of an hour: the data does not change while the servers are compared.
    const exporter = await startExporter(settings.exporter, ['--poll.interval=1h']);
    started.push(exporter.child);
    const exposition = await until(
      async () => {
        const answer = await get(`${exporter.url}/metrics`);
        return answer.status === 200 && answer.body.includes('partner_security_customer_users{') ? answer.body : undefined;
      },
      30_000,
      'the demo data on /metrics',
    );
    const data = dataFamilies(exposition);

    const pushPort = await freePort();
    const pushgateway = track(
      // Debian's build persists to /var/lib/prometheus/pushgateway.data unless told otherwise: memory only.
      spawn('prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${pushPort}`, '--persistence.file=', '--log.level=warn'], {
        env: CHILD_ENV,
        stdio: 'ignore',
      }),
    );
    started.push(pushgateway);
    const pushUrl = `http://127.0.0.1:${pushPort}`;
    await until(async () => ((await get(`${pushUrl}/-/ready`)).status === 200 ? true : undefined), 15_000, 'the Pushgateway');
    const pushed = await fetch(`${pushUrl}/metrics/job/partner_security_bench`, { method: 'PUT', body: data, headers: { 'Content-Type': CONTENT_TYPE } });
    if (pushed.status !== 200 && pushed.status !== 202) throw new Error(`the Pushgateway refused the push: ${pushed.status} ${await pushed.text()}`);
    const pushBody = (await get(`${pushUrl}/metrics`)).body;
    if (!pushBody.includes('partner_security_customer_users{')) throw new Error('the Pushgateway does not serve the pushed data');

    const bodyFile = join(work, 'exposition.prom');
    writeFileSync(bodyFile, exposition);
    const bare = track(
      spawn(process.execPath, [join(SCRIPTS, 'bare-server.mjs'), bodyFile, CONTENT_TYPE], { env: CHILD_ENV, stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    started.push(bare);
    const barePort = await new Promise<number>((resolve, reject) => {
      bare.stdout?.setEncoding('utf8').once('data', (chunk: string) => resolve((JSON.parse(chunk) as { port: number }).port));
      bare.once('exit', (code) => reject(new Error(`the bare server exited (${code})`)));
    });

    const targets: Record<ServerName, { label: string; pid: number; url: string; bodyBytes: number }> = {
      exporter: {
        label: 'exporter (demo mode)',
        pid: exporter.child.pid ?? 0,
        url: `${exporter.url}/metrics`,
        bodyBytes: Buffer.byteLength(exposition),
      },
      pushgateway: { label: 'Pushgateway', pid: pushgateway.pid ?? 0, url: `${pushUrl}/metrics`, bodyBytes: Buffer.byteLength(pushBody) },
      bareNode: { label: 'bare node:http', pid: bare.pid ?? 0, url: `http://127.0.0.1:${barePort}/metrics`, bodyBytes: Buffer.byteLength(exposition) },
    };
    if (settings.warmupSeconds > 0) {
      for (const name of SERVERS) {
        log(`warming up ${name} (${settings.warmupSeconds} s)`);
        await runWrk(targets[name].url, { ...settings.load, seconds: settings.warmupSeconds });
      }
    }
    // Interleaved, so that a burst of load from elsewhere on the machine spreads over every server.
    const runs: Record<ServerName, RunFigures[]> = { exporter: [], pushgateway: [], bareNode: [] };
    for (let run = 1; run <= settings.runs; run++) {
      for (const name of SERVERS) {
        const { pid, url } = targets[name];
        const peak = watchPeakRss(pid);
        const cpuBefore = cpuSeconds(pid);
        const wrk = parseWrk(await runWrk(url, settings.load));
        const cpu = cpuSeconds(pid) - cpuBefore;
        const figures = { ...wrk, cpuSeconds: cpu, cpuSecondsPer1000: (cpu / Math.max(1, wrk.requests)) * 1000, peakRssBytes: peak() };
        runs[name].push(figures);
        log(
          `run ${run}/${settings.runs} ${name}: ${round(wrk.requestsPerSecond)} req/s, p50 ${round(wrk.p50Ms)} ms, p99 ${round(wrk.p99Ms)} ms, ` +
            `${round(figures.cpuSecondsPer1000)} CPU s/1000, peak RSS ${round(figures.peakRssBytes / 2 ** 20)} MiB${wrk.errors ? `, ${wrk.errors} ERRORS` : ''}`,
        );
      }
    }
    const summary = (name: ServerName): ServerResult => ({
      label: targets[name].label,
      bodyBytes: targets[name].bodyBytes,
      runs: runs[name],
      median: Object.fromEntries(FIGURES.map((f) => [f, median(runs[name].map((r) => r[f]))])) as Record<Figure, number>,
    });
    const servers = { exporter: summary('exporter'), pushgateway: summary('pushgateway'), bareNode: summary('bareNode') };
    const ratio = (reference: ServerName) =>
      Object.fromEntries(FIGURES.map((f) => [f, servers.exporter.median[f] / servers[reference].median[f]])) as Record<Figure, number>;
    return {
      load: settings.load,
      runs: settings.runs,
      warmupSeconds: settings.warmupSeconds,
      exporterDataBytes: Buffer.byteLength(data),
      servers,
      ratios: { vsBareNode: ratio('bareNode'), vsPushgateway: ratio('pushgateway') },
    };
  } finally {
    await Promise.all(started.map((child) => stopChild(child)));
  }
}

/** Wall time of a command that runs to its end. */
async function wallMs(command: string, args: readonly string[]): Promise<number> {
  const started = performance.now();
  await runToEnd(command, args, 30_000);
  return performance.now() - started;
}

async function startup(settings: Settings): Promise<StartupResult> {
  const noop: number[] = [];
  const version: number[] = [];
  const listening: number[] = [];
  const ready: number[] = [];
  const firstMetrics: number[] = [];
  for (let run = 0; run < settings.startupRuns; run++) {
    noop.push(await wallMs(process.execPath, ['-e', '0']));
    version.push(await wallMs(process.execPath, [settings.exporter, '--version']));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const started = performance.now();
    const child = track(spawn(process.execPath, [settings.exporter, '--demo', `--web.listen-address=127.0.0.1:${port}`], { env: CHILD_ENV, stdio: 'ignore' }));
    try {
      const poll = <T>(fn: () => Promise<T | undefined>, what: string) => until(fn, 20_000, what, 5);
      await poll(async () => ((await get(`${url}/healthz`, 1000)).status === 200 ? true : undefined), 'the exporter to listen');
      listening.push(performance.now() - started);
      await poll(async () => ((await get(`${url}/readyz`, 1000)).status === 200 ? true : undefined), '/readyz');
      ready.push(performance.now() - started);
      await poll(
        async () => ((await get(`${url}/metrics`, 1000)).body.includes('partner_security_score_current{') ? true : undefined),
        'the score on /metrics',
      );
      firstMetrics.push(performance.now() - started);
    } finally {
      await stopChild(child);
    }
    log(`start-up ${run + 1}/${settings.startupRuns}: first good /metrics after ${round(firstMetrics[firstMetrics.length - 1] ?? Number.NaN)} ms`);
  }
  return {
    runs: settings.startupRuns,
    nodeNoopMs: median(noop),
    exporterVersionMs: median(version),
    listeningMs: median(listening),
    readyMs: median(ready),
    firstMetricsMs: median(firstMetrics),
    firstMetricsRunsMs: firstMetrics,
  };
}

async function leak(settings: Settings): Promise<LeakResult> {
  const { polls, warmup, samples, maxSeconds, renderEvery } = settings.leak;
  const graph = track(spawn(process.execPath, ['--import', HOOK, join(SCRIPTS, 'demo-graph.ts')], { env: CHILD_ENV, stdio: ['ignore', 'pipe', 'inherit'] }));
  try {
    const endpoint = await new Promise<string>((resolve, reject) => {
      graph.stdout?.setEncoding('utf8').once('data', (chunk: string) => resolve((JSON.parse(chunk) as { endpoint: string }).endpoint));
      graph.once('exit', (code) => reject(new Error(`the demo Graph exited (${code})`)));
    });
    const args = [
      '--expose-gc',
      '--import',
      HOOK,
      join(SCRIPTS, 'leak.ts'),
      `--graph=${endpoint}`,
      `--polls=${polls}`,
      `--warmup=${warmup}`,
      `--samples=${samples}`,
      `--max-seconds=${maxSeconds}`,
      `--render-every=${renderEvery}`,
    ];
    return JSON.parse(await runToEnd(process.execPath, args, (maxSeconds + 60) * 1000)) as LeakResult;
  } finally {
    await stopChild(graph);
  }
}

async function growth(settings: Settings): Promise<GrowthResult> {
  const { customers, tenants, repeats } = settings.growth;
  const args = ['--expose-gc', '--import', HOOK, join(SCRIPTS, 'growth.ts'), `--customers=${customers}`, `--tenants=${tenants}`, `--repeats=${repeats}`];
  return JSON.parse(await runToEnd(process.execPath, args, 180_000)) as GrowthResult;
}

/**
 * How much the highest reading of the second half of the polls exceeds the highest of the first
 * half (warm-up excluded). Peaks, not single readings: a full collection still finds whatever
 * one poll or render holds at that moment, a few hundred KiB either way; a leak lifts every later peak.
 */
function secondHalfGrowth(l: LeakResult, key: 'rssBytes' | 'heapUsedBytes'): number {
  const after = l.samples.filter((m) => m.polls > l.warmupPolls);
  const half = l.polls / 2;
  const peak = (samples: readonly MemorySample[]) => Math.max(...samples.map((m) => m[key]));
  const first = after.filter((m) => m.polls <= half);
  const second = after.filter((m) => m.polls > half);
  if (first.length === 0 || second.length === 0) return Number.NaN;
  return (peak(second) - peak(first)) / peak(first);
}

function goals(t: ThroughputResult, s: StartupResult, l: LeakResult): Goal[] {
  const growthOf = (key: 'rssBytes' | 'heapUsedBytes') => secondHalfGrowth(l, key);
  const x = (n: number) => `${round(n, 2)}x`;
  return [
    {
      goal: '/metrics throughput vs bare node:http',
      target: '>= 0.5x',
      actual: x(t.ratios.vsBareNode.requestsPerSecond),
      met: t.ratios.vsBareNode.requestsPerSecond >= 0.5,
    },
    {
      goal: '/metrics throughput vs Pushgateway',
      target: '>= 3x',
      actual: x(t.ratios.vsPushgateway.requestsPerSecond),
      met: t.ratios.vsPushgateway.requestsPerSecond >= 3,
    },
    { goal: 'p99 latency vs bare node:http', target: '<= 2x', actual: x(t.ratios.vsBareNode.p99Ms), met: t.ratios.vsBareNode.p99Ms <= 2 },
    {
      goal: 'peak RSS under load vs bare node:http',
      target: '<= 1.5x',
      actual: x(t.ratios.vsBareNode.peakRssBytes),
      met: t.ratios.vsBareNode.peakRssBytes <= 1.5,
    },
    {
      goal: `memory flat across ${l.polls} polls: peak of the second half vs the first (after ${l.warmupPolls} warm-up polls)`,
      target: 'heap used +5% at most, RSS +10% at most',
      actual: `heap ${signedPercent(growthOf('heapUsedBytes'))}, RSS ${signedPercent(growthOf('rssBytes'))}`,
      met: growthOf('heapUsedBytes') <= 0.05 && growthOf('rssBytes') <= 0.1,
    },
    {
      goal: 'ready in demo mode (start to first good /metrics)',
      target: '<= 1000 ms',
      actual: `${Math.round(s.firstMetricsMs)} ms`,
      met: s.firstMetricsMs <= 1000,
    },
  ];
}

function signedPercent(fraction: number): string {
  return `${fraction >= 0 ? '+' : ''}${round(fraction * 100, 2)}%`;
}

const mib = (bytes: number) => round(bytes / 2 ** 20);
const table = (header: readonly string[], rows: readonly (readonly (string | number)[])[]) =>
  [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

/** The Markdown report: what `npm run bench` prints and BENCHMARKS.md shows. */
function report(r: BenchResults): string {
  const t = r.throughput;
  const m = r.machine;
  const serverRow = (s: ServerResult) => [
    s.label,
    s.bodyBytes,
    round(s.median.requestsPerSecond),
    round(s.median.p50Ms),
    round(s.median.p99Ms),
    round(s.median.cpuSecondsPer1000),
    mib(s.median.peakRssBytes),
  ];
  const ratioRow = (label: string, q: Readonly<Record<Figure, number>>) => [
    label,
    '',
    round(q.requestsPerSecond, 2),
    round(q.p50Ms, 2),
    round(q.p99Ms, 2),
    round(q.cpuSecondsPer1000, 2),
    round(q.peakRssBytes, 2),
  ];
  const marginal = (points: readonly GrowthPoint[], unit: (p: GrowthPoint) => number) =>
    points.map((p, i) => {
      const previous = points[i - 1];
      const perUnit = previous === undefined ? (p.renderMs * 1000) / unit(p) : ((p.renderMs - previous.renderMs) * 1000) / (unit(p) - unit(previous));
      return [unit(p), p.series, p.bytes, round(p.renderMs), round(perUnit), Math.round(p.bytes / unit(p)), round(p.cachedRenderMs)];
    });
  const first = r.leak.samples.find((s) => s.polls === r.leak.warmupPolls);
  const leakRows = r.leak.samples.map((s) => [
    `${s.polls}${s.polls === 0 ? ' (start)' : s === first ? ' (after warm-up)' : ''}`,
    mib(s.rssBytes),
    mib(s.heapUsedBytes),
    mib(s.heapTotalBytes),
    mib(s.externalBytes),
  ]);
  return [
    `Mode ${r.mode}, ${r.startedAt}, ${round(r.seconds)} s; ${m.cpus} × ${m.cpuModel}, Linux ${m.kernel}, Node ${m.node}, ${m.wrk}, ${m.pushgateway}.`,
    `Load average (1, 5, 15 min) at start ${(m.loadAverageAtStart as number[]).join(', ')}, at end ${(m.loadAverageAtEnd as number[]).join(', ')}; exporter ${m.exporter} from commit ${m.commit}${m.uncommittedChanges ? ' with uncommitted changes in src/' : ''}.`,
    '',
    `### /metrics under load: wrk -t${t.load.threads} -c${t.load.connections} -d${t.load.seconds}s, median of ${t.runs} interleaved runs${t.warmupSeconds ? ` after ${t.warmupSeconds} s of warm-up` : ''}`,
    '',
    table(
      ['server', 'body bytes', 'req/s', 'p50 ms', 'p99 ms', 'CPU s / 1,000 scrapes', 'peak RSS MiB'],
      [
        ...SERVERS.map((name) => serverRow(t.servers[name])),
        ratioRow('exporter ÷ bare node:http', t.ratios.vsBareNode),
        ratioRow('exporter ÷ Pushgateway', t.ratios.vsPushgateway),
      ],
    ),
    '',
    `### Start-up in demo mode, median of ${r.startup.runs}`,
    '',
    table(
      ['what', 'ms'],
      [
        ['`node -e 0`', Math.round(r.startup.nodeNoopMs)],
        ['`node dist/main.js --version` (loads every module)', Math.round(r.startup.exporterVersionMs)],
        ['exporter: /healthz answers', Math.round(r.startup.listeningMs)],
        ['exporter: /readyz 200 (first poll done)', Math.round(r.startup.readyMs)],
        ['exporter: first /metrics with the score', Math.round(r.startup.firstMetricsMs)],
      ],
    ),
    '',
    `### Memory across ${r.leak.polls} polls${r.leak.complete ? '' : ' (the time bound ended the run early)'} of the demo Graph, in-process, ${round(r.leak.seconds)} s, ` +
      `a render after every ${r.leak.renderEvery === 1 ? '' : `${r.leak.renderEvery}th `}poll (${r.leak.scrapes} renders of ${r.leak.exposedBytes} bytes)`,
    '',
    table(['polls', 'RSS MiB', 'heap used MiB', 'heap total MiB', 'external MiB'], leakRows),
    '',
    `### Cost growth of the data metrics (first render after a poll; median of ${r.growth.repeats})`,
    '',
    table(
      ['customers', 'series', 'bytes', 'render ms', 'µs per added customer', 'bytes per customer', 'cached render ms'],
      marginal(r.growth.customers, (p) => p.customers),
    ),
    '',
    table(
      ['tenants (240 customers each)', 'series', 'bytes', 'render ms', 'µs per added tenant', 'bytes per tenant', 'cached render ms'],
      marginal(r.growth.tenants, (p) => p.tenants),
    ),
    '',
    '### Goals',
    '',
    table(
      ['goal', 'target', 'now', 'met'],
      r.goals.map((g) => [g.goal, g.target, g.actual, g.met ? 'yes' : 'no']),
    ),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const settings = settingsFrom(process.argv.slice(2), process.env);
  if (settings.report !== undefined) {
    const earlier = JSON.parse(readFileSync(settings.report, 'utf8')) as BenchResults;
    process.stdout.write(report({ ...earlier, goals: goals(earlier.throughput, earlier.startup, earlier.leak) }));
    return;
  }
  const startedAt = new Date();
  const clock = performance.now();
  ensureTools();
  const work = mkdtempSync(join(tmpdir(), 'partner-security-bench-'));
  try {
    const info = machine(settings);
    log(`${settings.mode} run; load average ${(info.loadAverageAtStart as number[]).join(', ')}`);
    log('throughput: exporter, Pushgateway and bare node:http under wrk');
    const t = await throughput(settings, work);
    log('start-up');
    const s = await startup(settings);
    log('cost growth by customers and tenants');
    const g = await growth(settings);
    // The leak check goes last and gets what is left of the time budget, so a loaded machine
    // shortens it (the report says so) rather than the whole run overstaying.
    const left = BUDGET_SECONDS - (performance.now() - clock) / 1000 - 15;
    const maxSeconds = Math.max(10, Math.min(settings.leak.maxSeconds, Math.floor(left)));
    log(`memory across ${settings.leak.polls} polls (in-process, at most ${maxSeconds} s)`);
    const l = await leak({ ...settings, leak: { ...settings.leak, maxSeconds } });
    const results: BenchResults = {
      schema: 1,
      mode: settings.mode,
      startedAt: startedAt.toISOString(),
      seconds: (performance.now() - clock) / 1000,
      machine: { ...info, loadAverageAtEnd: loadavg().map((n) => round(n)) },
      throughput: t,
      startup: s,
      leak: l,
      growth: g,
      goals: goals(t, s, l),
    };
    mkdirSync(dirname(settings.out), { recursive: true });
    writeFileSync(settings.out, `${JSON.stringify(results, null, 2)}\n`);
    // A results file kept in the repository is formatted as `npm run lint` wants it.
    if (!relative(ROOT, settings.out).startsWith('..')) {
      spawnSync(process.execPath, [join(ROOT, 'node_modules/@biomejs/biome/bin/biome'), 'format', '--write', settings.out], { cwd: ROOT, stdio: 'ignore' });
    }
    process.stdout.write(report(results));
    log(`figures written to ${relative(process.cwd(), settings.out) || settings.out}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killChildren();
      process.exit(130);
    });
  }
  process.once('exit', killChildren);
  try {
    await main();
  } catch (error) {
    process.stderr.write(`bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    killChildren();
  }
}
