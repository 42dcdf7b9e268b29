/**
 * `npm run bench`: what the exporter costs its host, measured side by side on one machine, on
 * loopback, in one bounded run (under 5 minutes; `--smoke` takes seconds). Prints Markdown tables
 * and writes the figures as JSON (bench/results.json unless --out says otherwise).
 *
 * - Throughput: wrk on /metrics of the demo exporter, of the Prometheus Pushgateway holding the
 *   same data (pushed once), and of a bare node:http server writing the exporter's answer from
 *   memory, each asked for plain text and for gzip (the bare server then writes the exporter's
 *   gzip answer); requests/s, p50/p99 latency, CPU seconds per 1,000 scrapes and peak RSS of each
 *   server process, medians of several interleaved runs; RSS idle and after the load.
 * - Start-up of the demo exporter to its first good /metrics, next to `node -e 0`.
 * - Memory across 10,000 polls of the demo's fake Graph (in-process, scripts/bench/leak.ts).
 * - Render time and size of the data metrics by customers and by tenants (scripts/bench/growth.ts).
 * - Hostile text: the old patterns next to what runs now, on what made them slow (scripts/bench/patterns.ts).
 * - A connection flood (scripts/bench/flood.ts): 1,000 password-less keep-alive connections from
 *   one address; an authenticated scraper's scrapes and new connections from another address.
 * - Hostile answers and memory (scripts/bench/hostile-memory.ts): the built exporter's peak RSS on a
 *   150 MiB token answer and on four tenants of 10,000 alerts whose labels all differ.
 *
 * Run it with `npm run bench` (builds dist/ first); BENCHMARKS.md says what the figures mean.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FloodResult } from './bench/flood.js';
import type { GrowthPoint, GrowthResult } from './bench/growth.js';
import type { HostileMemoryResult } from './bench/hostile-memory.js';
import type { LeakResult, MemorySample } from './bench/leak.js';
import {
  cpuSeconds,
  freePort,
  get,
  getRaw,
  killChildren,
  type Load,
  median,
  parseWrk,
  round,
  rssBytes,
  runToEnd,
  runWrk,
  shippedStart,
  stopChild,
  track,
  until,
  type WrkResult,
  watchPeakRss,
} from './bench/lib.js';
import type { PatternResult } from './bench/patterns.js';
import { budgetCut, halfCustomersBudget, type ScalePoint, scaleRun } from './bench/scale.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'dist/main.js');
/** Lets the helpers run src/*.ts as they are (the same hook `npm run dashboards` uses). */
const HOOK = join(ROOT, 'dashboards/ts-imports.ts');
const SCRIPTS = join(ROOT, 'scripts/bench');
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** What Prometheus sends on every scrape. */
const GZIP = { 'Accept-Encoding': 'gzip' } as const;
/** The part of the full run before the scale runs stays under 6 minutes; the leak check gets what is left. */
const BUDGET_SECONDS = 360;
/** The node flags `npm start` (and the image) run the exporter with: the bench measures what ships. */
const SHIPPED = shippedStart(join(ROOT, 'package.json'));
const NODE_FLAGS = SHIPPED.flags;
/** Only loopback is used: no proxy from the environment may catch the demo's fake Graph. */
const CHILD_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
/** The exporter's: with the environment npm start sets (the bare server and the Pushgateway get none of it). */
const EXPORTER_ENV = { ...CHILD_ENV, ...SHIPPED.env };

/** How much of everything one run does. */
interface Settings {
  readonly mode: 'full' | 'smoke';
  readonly load: Load;
  readonly runs: number;
  readonly warmupSeconds: number;
  readonly startupRuns: number;
  readonly leak: { readonly polls: number; readonly warmup: number; readonly samples: number; readonly maxSeconds: number; readonly renderEvery: number };
  readonly growth: { readonly customers: string; readonly tenants: string; readonly repeats: number };
  /** Hostile text: the old patterns' input size (they are quadratic) and the repeats. */
  readonly patterns: { readonly small: number; readonly repeats: number };
  readonly flood: { readonly seconds: number; readonly connections: number };
  /**
   * Scale: tenants of the given shape, one exporter each run, as sizing rows; at costTenants
   * tenants again without customers and without alerts, for what a customer and an alert take.
   */
  readonly scale: {
    readonly tenants: readonly number[];
    readonly customers: number;
    readonly alerts: number;
    readonly costTenants: number;
    readonly pollInterval: string;
    readonly steadySeconds: number;
    /** Tenants past what the memory budget holds (the default budget unless budgetBytes): they must be cut, stay alive and up, under 256 MiB. */
    readonly overBudget: { readonly tenants: number; readonly customers: number; readonly alerts: number; readonly budgetBytes?: number };
  };
  /** Hostile answers (scripts/bench/hostile-memory.ts): the token answer's size and the failed polls; tenants, alerts each, polls of each, scrapes. */
  readonly hostileMemory: {
    readonly tokenMiB: number;
    readonly tokenAttempts: number;
    readonly tenants: number;
    readonly alerts: number;
    readonly rounds: number;
    readonly scrapes: number;
  };
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

/** The servers under load: the exporter and its two references, asked for plain text, then for gzip. */
export const SERVERS = ['exporter', 'pushgateway', 'bareNode', 'exporterGzip', 'pushgatewayGzip', 'bareNodeGzip'] as const;
type ServerName = (typeof SERVERS)[number];

/** One server under load. */
interface ServerResult {
  readonly label: string;
  /** Size of one answer to GET /metrics, in bytes. */
  readonly bodyBytes: number;
  readonly runs: readonly RunFigures[];
  readonly median: Readonly<Record<Figure, number>>;
}

/** RSS of a server process: idle before any load, and a second after the last run. */
interface MemoryFigures {
  readonly idleRssBytes: number;
  readonly afterLoadRssBytes: number;
}

interface ThroughputResult {
  readonly load: Load;
  readonly runs: number;
  readonly warmupSeconds: number;
  /** Bytes of the data part of the exporter's answer (all but process_* and nodejs_*): what the Pushgateway was given. */
  readonly exporterDataBytes: number;
  readonly servers: Readonly<Record<ServerName, ServerResult>>;
  /** The exporter's medians divided by each reference's; the gzip ones compare the gzip runs. */
  readonly ratios: {
    readonly vsBareNode: Readonly<Record<Figure, number>>;
    readonly vsPushgateway: Readonly<Record<Figure, number>>;
    readonly gzipVsBareNode: Readonly<Record<Figure, number>>;
    readonly gzipVsPushgateway: Readonly<Record<Figure, number>>;
  };
  /** The exporter's gzip answer's size divided by its plain answer's. */
  readonly gzipBytesRatio: number;
  readonly memory: { readonly exporter: MemoryFigures; readonly bareNode: MemoryFigures; readonly afterLoadVsBareNode: number };
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
  /** The floor: what must hold. */
  readonly target: string;
  /** Where the issue wants it. */
  readonly stretch: string;
  readonly actual: string;
  readonly met: boolean;
  readonly stretchMet: boolean;
}

/** Everything one run measured: the file BENCHMARKS.md is written from. */
export interface BenchResults {
  /** 2 since the gzip rows and the RSS after load; --report reads only its own schema. */
  readonly schema: 2;
  readonly mode: 'full' | 'smoke';
  readonly startedAt: string;
  readonly seconds: number;
  readonly machine: Readonly<Record<string, unknown>>;
  readonly throughput: ThroughputResult;
  readonly startup: StartupResult;
  readonly leak: LeakResult;
  readonly growth: GrowthResult;
  /** Absent from runs before the hostile-text section. */
  readonly patterns?: PatternResult;
  /** Absent in files written before the flood was measured. */
  readonly flood?: FloodResult;
  /** Absent in files written before the scale section. */
  readonly scale?: ScaleResult;
  /** Absent in files written before the hostile answers were measured. */
  readonly hostileMemory?: HostileMemoryResult;
  readonly goals: readonly Goal[];
}

/** The scale section: sizing rows and what a tenant, a customer and an alert add to the peak RSS. */
export interface ScaleResult {
  readonly nodeFlags: readonly string[];
  readonly pollInterval: string;
  readonly steadySeconds: number;
  /** Tenants of the full shape (customers and alerts each), one row per count. */
  readonly sizing: readonly ScalePoint[];
  /** costTenants tenants of the shape without customers, and without alerts. */
  readonly withoutCustomers: ScalePoint;
  readonly withoutAlerts: ScalePoint;
  /** Peak RSS a tenant of the full shape adds (between the fewest and the most tenants), and a customer and an alert. */
  readonly perTenantBytes: number;
  readonly perCustomerBytes: number;
  readonly perAlertBytes: number;
  /** Tenants past what the memory budget holds (absent in files written before it was measured). */
  readonly overBudget?: ScalePoint;
}

/** The peak RSS the tenants past the budget must stay under: the memory limit of the shipped Kubernetes manifests (256Mi). */
const OVER_BUDGET_PEAK_LIMIT_BYTES = 256 * 2 ** 20;

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
  // Six servers, five runs each (the medians of three swung by a tenth on a shared machine): 6 s a
  // run keeps the whole run inside its time budget.
  const load = smoke ? { threads: 1, connections: 2, seconds: 1 } : { threads: 2, connections: 16, seconds: 6 };
  return {
    mode: smoke ? 'smoke' : 'full',
    load: { ...load, seconds: number(values.seconds, load.seconds), connections: number(values.connections, load.connections) },
    runs: number(values.runs, smoke ? 1 : 5),
    warmupSeconds: smoke ? 0 : 2,
    startupRuns: smoke ? 1 : 5,
    leak: smoke
      ? { polls: 40, warmup: 10, samples: 3, maxSeconds: 20, renderEvery: 1 }
      : { polls: number(values.polls, 10_000), warmup: 200, samples: 10, maxSeconds: 140, renderEvery: 10 },
    growth: smoke ? { customers: '10,100', tenants: '1,2', repeats: 1 } : { customers: '10,100,1000,10000', tenants: '1,10,50', repeats: 5 },
    patterns: smoke ? { small: 1000, repeats: 1 } : { small: 6000, repeats: 3 },
    flood: smoke ? { seconds: 3, connections: 100 } : { seconds: 30, connections: 1000 },
    // Every tenant polled again within the steady phase (the first polls spread over 10 s at most).
    // Past the budget: 150 tenants of the full shape under the default budget; in smoke, two tenants
    // and a budget that holds half their customers.
    scale: smoke
      ? {
          tenants: [1, 2],
          customers: 20,
          alerts: 200,
          costTenants: 2,
          pollInterval: '2s',
          steadySeconds: 3,
          overBudget: { tenants: 2, customers: 1000, alerts: 200, budgetBytes: halfCustomersBudget(2, 1000, 200) },
        }
      : {
          tenants: [1, 10, 25, 50],
          customers: 1000,
          alerts: 10_000,
          costTenants: 25,
          pollInterval: '30s',
          steadySeconds: 35,
          overBudget: { tenants: 150, customers: 1000, alerts: 10_000 },
        },
    hostileMemory: smoke
      ? { tokenMiB: 12, tokenAttempts: 1, tenants: 2, alerts: 300, rounds: 1, scrapes: 1 }
      : { tokenMiB: 150, tokenAttempts: 3, tenants: 4, alerts: 10_000, rounds: 2, scrapes: 5 },
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
    exporterNodeFlags: NODE_FLAGS,
    exporterEnv: SHIPPED.env,
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedChanges: git(['status', '--porcelain', '--', 'src']) !== '',
    loadAverageAtStart: loadavg().map((n) => round(n)),
  };
}

/** Starts the demo exporter from dist/ on an ephemeral port; resolves with its URL once it listens. */
async function startExporter(main: string, extraArgs: readonly string[]): Promise<{ child: ChildProcess; url: string }> {
  const args = [...NODE_FLAGS, main, '--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json', ...extraArgs];
  const child = track(spawn(process.execPath, args, { env: EXPORTER_ENV, stdio: ['ignore', 'ignore', 'pipe'] }));
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
    const gzipBody = async (url: string) => {
      const answer = await getRaw(url, GZIP);
      if (answer.headers['content-encoding'] !== 'gzip') throw new Error(`${url} did not answer with gzip`);
      return answer.body;
    };
    const exporterGzip = await gzipBody(`${exporter.url}/metrics`);
    const pushGzipBytes = (await gzipBody(`${pushUrl}/metrics`)).length;

    // Two bare servers: one writes the exporter's plain answer, the other its gzip answer.
    const startBare = async (body: Buffer, encoding?: string) => {
      const bodyFile = join(work, encoding === undefined ? 'exposition.prom' : `exposition.prom.${encoding}`);
      writeFileSync(bodyFile, body);
      const args = [join(SCRIPTS, 'bare-server.mjs'), bodyFile, CONTENT_TYPE, ...(encoding === undefined ? [] : [encoding])];
      const bare = track(spawn(process.execPath, args, { env: CHILD_ENV, stdio: ['ignore', 'pipe', 'inherit'] }));
      started.push(bare);
      const port = await new Promise<number>((resolve, reject) => {
        bare.stdout?.setEncoding('utf8').once('data', (chunk: string) => resolve((JSON.parse(chunk) as { port: number }).port));
        bare.once('exit', (code) => reject(new Error(`the bare server exited (${code})`)));
      });
      return { pid: bare.pid ?? 0, url: `http://127.0.0.1:${port}/metrics` };
    };
    const bare = await startBare(Buffer.from(exposition));
    const bareGzip = await startBare(exporterGzip, 'gzip');

    const exporterPid = exporter.child.pid ?? 0;
    const plainBytes = Buffer.byteLength(exposition);
    type Target = { label: string; pid: number; url: string; bodyBytes: number; headers: Readonly<Record<string, string>> };
    const targets: Record<ServerName, Target> = {
      exporter: { label: 'exporter (demo mode)', pid: exporterPid, url: `${exporter.url}/metrics`, bodyBytes: plainBytes, headers: {} },
      pushgateway: { label: 'Pushgateway', pid: pushgateway.pid ?? 0, url: `${pushUrl}/metrics`, bodyBytes: Buffer.byteLength(pushBody), headers: {} },
      bareNode: { label: 'bare node:http', pid: bare.pid, url: bare.url, bodyBytes: plainBytes, headers: {} },
      exporterGzip: { label: 'exporter, gzip', pid: exporterPid, url: `${exporter.url}/metrics`, bodyBytes: exporterGzip.length, headers: GZIP },
      pushgatewayGzip: { label: 'Pushgateway, gzip', pid: pushgateway.pid ?? 0, url: `${pushUrl}/metrics`, bodyBytes: pushGzipBytes, headers: GZIP },
      bareNodeGzip: { label: 'bare node:http, the same gzip bytes', pid: bareGzip.pid, url: bareGzip.url, bodyBytes: exporterGzip.length, headers: GZIP },
    };
    // Idle: after the first poll and the scrapes above, before any load.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idle = { exporter: rssBytes(exporterPid), bareNode: rssBytes(bare.pid) };
    if (settings.warmupSeconds > 0) {
      for (const name of SERVERS) {
        log(`warming up ${name} (${settings.warmupSeconds} s)`);
        await runWrk(targets[name].url, { ...settings.load, seconds: settings.warmupSeconds }, targets[name].headers);
      }
    }
    // Interleaved, so that a burst of load from elsewhere on the machine spreads over every server.
    const runs = Object.fromEntries(SERVERS.map((name) => [name, [] as RunFigures[]])) as Record<ServerName, RunFigures[]>;
    for (let run = 1; run <= settings.runs; run++) {
      for (const name of SERVERS) {
        const { pid, url, headers } = targets[name];
        const peak = watchPeakRss(pid);
        const cpuBefore = cpuSeconds(pid);
        const wrk = parseWrk(await runWrk(url, settings.load, headers));
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
    // After the load: a second to settle, as a scraper's next visit would find it.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const afterLoad = { exporter: rssBytes(exporterPid), bareNode: rssBytes(bare.pid) };
    const servers = Object.fromEntries(SERVERS.map((name) => [name, summary(name)])) as Record<ServerName, ServerResult>;
    const ratio = (server: ServerName, reference: ServerName) =>
      Object.fromEntries(FIGURES.map((f) => [f, servers[server].median[f] / servers[reference].median[f]])) as Record<Figure, number>;
    return {
      load: settings.load,
      runs: settings.runs,
      warmupSeconds: settings.warmupSeconds,
      exporterDataBytes: Buffer.byteLength(data),
      servers,
      ratios: {
        vsBareNode: ratio('exporter', 'bareNode'),
        vsPushgateway: ratio('exporter', 'pushgateway'),
        gzipVsBareNode: ratio('exporterGzip', 'bareNodeGzip'),
        gzipVsPushgateway: ratio('exporterGzip', 'pushgatewayGzip'),
      },
      gzipBytesRatio: exporterGzip.length / plainBytes,
      memory: {
        exporter: { idleRssBytes: idle.exporter, afterLoadRssBytes: afterLoad.exporter },
        bareNode: { idleRssBytes: idle.bareNode, afterLoadRssBytes: afterLoad.bareNode },
        afterLoadVsBareNode: afterLoad.exporter / afterLoad.bareNode,
      },
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
    const args = [...NODE_FLAGS, settings.exporter, '--demo', `--web.listen-address=127.0.0.1:${port}`];
    const child = track(spawn(process.execPath, args, { env: EXPORTER_ENV, stdio: 'ignore' }));
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
    // The shipped V8 flags: memory across polls as the exporter holds it in production.
    const args = [
      ...NODE_FLAGS,
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

async function patterns(settings: Settings): Promise<PatternResult> {
  const { small, repeats } = settings.patterns;
  const args = ['--import', HOOK, join(SCRIPTS, 'patterns.ts'), `--small=${small}`, `--repeats=${repeats}`];
  return JSON.parse(await runToEnd(process.execPath, args, 120_000)) as PatternResult;
}

async function flood(settings: Settings): Promise<FloodResult> {
  const { seconds, connections } = settings.flood;
  const args = [
    '--import',
    HOOK,
    join(SCRIPTS, 'flood.ts'),
    `--exporter=${settings.exporter}`,
    `--seconds=${seconds}`,
    `--connections=${connections}`,
    `--port=${await freePort()}`,
  ];
  return JSON.parse(await runToEnd(process.execPath, args, (seconds + 60) * 1000)) as FloodResult;
}

async function scale(settings: Settings): Promise<ScaleResult> {
  const { tenants, customers, alerts, costTenants, pollInterval, steadySeconds, overBudget: over } = settings.scale;
  const run = (n: number, shape: { customers: number; alerts: number }, extraArgs: readonly string[] = []) => {
    log(`scale: ${n} tenant(s) of ${shape.customers} customers and ${shape.alerts} alerts${extraArgs.length > 0 ? ` (${extraArgs.join(' ')})` : ''}`);
    return scaleRun({ tenants: n, ...shape, perCustomer: true, steadySeconds, pollInterval, exporter: settings.exporter, nodeFlags: NODE_FLAGS, extraArgs });
  };
  const sizing: ScalePoint[] = [];
  for (const n of tenants) sizing.push(await run(n, { customers, alerts }));
  const withoutCustomers = await run(costTenants, { customers: 0, alerts });
  const withoutAlerts = await run(costTenants, { customers, alerts: 0 });
  const overBudget = await run(over.tenants, over, over.budgetBytes === undefined ? [] : [`--memory.budget=${over.budgetBytes}`]);
  const peak = (p: ScalePoint | undefined) => p?.peakRssBytes.overall ?? Number.NaN;
  const fewest = sizing[0];
  const most = sizing[sizing.length - 1];
  const atCost = sizing.find((p) => p.tenants === costTenants);
  return {
    nodeFlags: NODE_FLAGS,
    pollInterval,
    steadySeconds,
    sizing,
    withoutCustomers,
    withoutAlerts,
    perTenantBytes: (peak(most) - peak(fewest)) / ((most?.tenants ?? 0) - (fewest?.tenants ?? 0)),
    perCustomerBytes: (peak(atCost) - peak(withoutCustomers)) / (costTenants * customers),
    perAlertBytes: (peak(atCost) - peak(withoutAlerts)) / (costTenants * alerts),
    overBudget,
  };
}

/** The scale goals of issue 21: peak RSS with 50 and 25 tenants of the full shape; tenants past the memory budget cut, alive and up, under 256 MiB. */
function scaleGoals(r: ScaleResult): Goal[] {
  const mibText = (bytes: number) => (Number.isFinite(bytes) ? `${round(bytes / 2 ** 20)} MiB` : 'aborted');
  const over = r.overBudget;
  const overGoal = (p: ScalePoint): Goal => {
    const cut = budgetCut(p);
    const peak = p.alive ? p.peakRssBytes.overall : Number.NaN;
    const met = p.alive && p.tenantsUp === p.tenants && cut.series.length > 0 && peak < OVER_BUDGET_PEAK_LIMIT_BYTES;
    return {
      goal: `${p.tenants} tenants past the memory budget (${p.customers} customers and ${p.alerts} alerts each): alive, every tenant up, series cut, peak RSS`,
      target: `< ${OVER_BUDGET_PEAK_LIMIT_BYTES / 2 ** 20} MiB`,
      stretch: `< ${OVER_BUDGET_PEAK_LIMIT_BYTES / 2 ** 20} MiB`,
      actual: `${mibText(peak)}; ${p.tenantsUp}/${p.tenants} up; cut ${cut.series.length > 0 ? cut.series.join(', ') : 'nothing'}${cut.customersPerTenant === undefined ? '' : ` (${cut.customersPerTenant} customers per tenant kept)`}`,
      met,
      stretchMet: met,
    };
  };
  const sized = [
    [50, 256],
    [25, 200],
  ].flatMap(([n = 0, limit = 0]): Goal[] => {
    const point = r.sizing.find((p) => p.tenants === n);
    if (point === undefined) return [];
    const peak = point.alive && point.tenantsUp === n ? point.peakRssBytes.overall : Number.NaN;
    const met = peak < limit * 2 ** 20;
    return [
      {
        goal: `peak RSS, ${n} tenants of ${point.customers} customers and ${point.alerts} alerts (per-customer series on): start-up, first polls and scrapes, steady polling`,
        target: `< ${limit} MiB`,
        stretch: `< ${limit} MiB`,
        actual: mibText(peak),
        met,
        stretchMet: met,
      },
    ];
  });
  return [...sized, ...(over === undefined ? [] : [overGoal(over)])];
}

async function hostileMemory(settings: Settings): Promise<HostileMemoryResult> {
  const h = settings.hostileMemory;
  const args = [
    '--import',
    HOOK,
    join(SCRIPTS, 'hostile-memory.ts'),
    `--exporter=${settings.exporter}`,
    `--node-flags=${NODE_FLAGS.join(' ')}`,
    `--token-mib=${h.tokenMiB}`,
    `--token-attempts=${h.tokenAttempts}`,
    `--tenants=${h.tenants}`,
    `--alerts=${h.alerts}`,
    `--rounds=${h.rounds}`,
    `--scrapes=${h.scrapes}`,
  ];
  return JSON.parse(await runToEnd(process.execPath, args, 180_000)) as HostileMemoryResult;
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

/** The goals of issue 13: a floor that must hold and where the figure should get to. */
function goals(t: ThroughputResult, s: StartupResult, l: LeakResult, f?: FloodResult, h?: HostileMemoryResult, sc?: ScaleResult): Goal[] {
  const growthOf = (key: 'rssBytes' | 'heapUsedBytes') => secondHalfGrowth(l, key);
  const x = (n: number) => `${round(n, 2)}x`;
  const atLeast = (goal: string, actual: number, floor: number, stretch: number): Goal => ({
    goal,
    target: `>= ${floor}x`,
    stretch: `>= ${stretch}x`,
    actual: x(actual),
    met: actual >= floor,
    stretchMet: actual >= stretch,
  });
  const atMost = (goal: string, actual: number, floor: number, stretch: number, show = x, unit = 'x'): Goal => ({
    goal,
    target: `<= ${floor}${unit}`,
    stretch: `<= ${stretch}${unit}`,
    actual: show(actual),
    met: actual <= floor,
    stretchMet: actual <= stretch,
  });
  const memoryFlat = growthOf('heapUsedBytes') <= 0.05 && growthOf('rssBytes') <= 0.1;
  return [
    atLeast('/metrics plain: throughput vs bare node:http writing the same bytes', t.ratios.vsBareNode.requestsPerSecond, 0.8, 0.9),
    atLeast('/metrics gzip: throughput vs bare node:http writing the same gzip bytes', t.ratios.gzipVsBareNode.requestsPerSecond, 0.8, 0.9),
    {
      goal: 'gzip bytes / plain bytes',
      target: '<= 1/8',
      stretch: '<= 1/20',
      actual: `1/${round(1 / t.gzipBytesRatio, 3)}`,
      met: t.gzipBytesRatio <= 1 / 8,
      stretchMet: t.gzipBytesRatio <= 1 / 20,
    },
    atLeast('throughput vs the Pushgateway, both asked for gzip', t.ratios.gzipVsPushgateway.requestsPerSecond, 5, 10),
    atMost('p99 latency vs bare node:http (plain)', t.ratios.vsBareNode.p99Ms, 2, 1.5),
    atMost('RSS after the load vs bare node:http', t.memory.afterLoadVsBareNode, 1.3, 1.2),
    {
      goal: `memory flat across ${l.polls} polls: peak of the second half vs the first (after ${l.warmupPolls} warm-up polls)`,
      target: 'heap used +5% at most, RSS +10% at most',
      stretch: 'the same',
      actual: `heap ${signedPercent(growthOf('heapUsedBytes'))}, RSS ${signedPercent(growthOf('rssBytes'))}`,
      met: memoryFlat,
      stretchMet: memoryFlat,
    },
    atMost('first good /metrics after start, demo mode', s.firstMetricsMs, 1000, 300, (ms) => `${Math.round(ms)} ms`, ' ms'),
    ...(f === undefined ? [] : floodGoals(f)),
    ...(sc === undefined ? [] : scaleGoals(sc)),
    ...(h === undefined ? [] : hostileMemoryGoals(h)),
  ];
}

/** Issue 19, items 3 and 2: a huge token answer fails in time under 250 MiB; four tenants of hostile alerts stay under 200 MiB and 1,000 series a family. */
function hostileMemoryGoals(h: HostileMemoryResult): Goal[] {
  const k = h.token;
  const slowest = Math.max(...k.failureMs);
  const inTime = k.failures > 0 && Number.isFinite(slowest) && slowest < k.graphTimeoutMs;
  const a = h.alerts;
  const first = a[0];
  const peaks = a.map((run) => `${mib(run.peakRssBytes)} MiB ${run.customers ? 'with per-customer series' : 'as shipped'}`).join(', ');
  const rssMet = a.length > 0 && a.every((run) => run.peakRssBytes < 200 * 2 ** 20);
  const largest = a.map((run) => run.largestAlertFamily).reduce((x, y) => (y.series > x.series ? y : x), { name: 'none', series: 0 });
  const seriesMet = a.length > 0 && largest.series <= 1000;
  const what = first === undefined ? 'hostile alerts' : `${first.tenants} tenants of ${first.alertsPerTenant} open alerts whose labels all differ`;
  return [
    {
      goal: `token endpoint answering 200 with ${round(k.bodyBytes / 2 ** 20)} MiB: the exporter's peak RSS over ${k.failures} failed polls`,
      target: '< 250 MiB',
      stretch: '< 250 MiB',
      actual: `${mib(k.peakRssBytes)} MiB`,
      met: k.peakRssBytes < 250 * 2 ** 20,
      stretchMet: k.peakRssBytes < 250 * 2 ** 20,
    },
    {
      goal: `token endpoint answering 200 with ${round(k.bodyBytes / 2 ** 20)} MiB: each poll's token failure reported within --graph.timeout`,
      target: `< ${k.graphTimeoutMs / 1000} s`,
      stretch: `< ${k.graphTimeoutMs / 1000} s`,
      actual: `${k.failures} failures, the slowest in ${Math.round(slowest)} ms`,
      met: inTime,
      stretchMet: inTime,
    },
    { goal: `${what}: the exporter's peak RSS`, target: '< 200 MiB', stretch: '< 200 MiB', actual: peaks, met: rssMet, stretchMet: rssMet },
    {
      goal: `${what}: series of one alert family for one tenant`,
      target: '<= 1000',
      stretch: '<= 1000',
      actual: `${largest.series} (${largest.name})`,
      met: seriesMet,
      stretchMet: seriesMet,
    },
  ];
}

/** Issue 19, item 8: during the flood the authenticated scraper always gets 200, and 99% of new connections from elsewhere an answer within 10 s. */
function floodGoals(f: FloodResult): Goal[] {
  const share = f.fresh.total === 0 ? 0 : f.fresh.answered / f.fresh.total;
  return [
    {
      goal: `flood of ${f.connections} connections from one address: the authenticated scraper's scrapes answered 200`,
      target: 'all',
      stretch: 'all',
      actual: `${f.scrapes.ok} of ${f.scrapes.total}`,
      met: f.scrapes.total > 0 && f.scrapes.ok === f.scrapes.total,
      stretchMet: f.scrapes.total > 0 && f.scrapes.ok === f.scrapes.total,
    },
    {
      goal: `flood of ${f.connections} connections from one address: new connections from another answered within 10 s`,
      target: '>= 99%',
      stretch: '>= 99%, p99 <= 1 s',
      actual: `${round(share * 100, 1)}% (p50 ${Math.round(f.fresh.p50Ms)} ms, p99 ${Math.round(f.fresh.p99Ms)} ms)`,
      met: share >= 0.99,
      stretchMet: share >= 0.99 && f.fresh.p99Ms <= 1000,
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
    `Load average (1, 5, 15 min) at start ${(m.loadAverageAtStart as number[]).join(', ')}, at end ${(m.loadAverageAtEnd as number[]).join(', ')}; exporter ${m.exporter} from commit ${m.commit}${m.uncommittedChanges ? ' with uncommitted changes in src/' : ''}, run as \`${[...Object.entries((m.exporterEnv ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`), 'node', ...((m.exporterNodeFlags ?? []) as string[])].join(' ')}\` (npm start's environment and flags).`,
    '',
    `### /metrics under load: wrk -t${t.load.threads} -c${t.load.connections} -d${t.load.seconds}s, median of ${t.runs} interleaved runs${t.warmupSeconds ? ` after ${t.warmupSeconds} s of warm-up` : ''}`,
    '',
    table(
      ['server', 'body bytes', 'req/s', 'p50 ms', 'p99 ms', 'CPU s / 1,000 scrapes', 'peak RSS MiB'],
      [
        ...SERVERS.map((name) => serverRow(t.servers[name])),
        ratioRow('exporter ÷ bare node:http', t.ratios.vsBareNode),
        ratioRow('exporter ÷ Pushgateway', t.ratios.vsPushgateway),
        ratioRow('exporter gzip ÷ bare node:http gzip', t.ratios.gzipVsBareNode),
        ratioRow('exporter gzip ÷ Pushgateway gzip', t.ratios.gzipVsPushgateway),
      ],
    ),
    '',
    `gzip answer ${t.servers.exporterGzip.bodyBytes} bytes for ${t.servers.exporter.bodyBytes} plain: 1/${round(1 / t.gzipBytesRatio, 3)}.`,
    '',
    table(
      ['RSS MiB', 'idle (first poll done, before any load)', 'a second after the load'],
      [
        ['exporter', mib(t.memory.exporter.idleRssBytes), mib(t.memory.exporter.afterLoadRssBytes)],
        ['bare node:http', mib(t.memory.bareNode.idleRssBytes), mib(t.memory.bareNode.afterLoadRssBytes)],
        ['exporter ÷ bare node:http', round(t.memory.exporter.idleRssBytes / t.memory.bareNode.idleRssBytes, 2), round(t.memory.afterLoadVsBareNode, 2)],
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
    ...(r.patterns === undefined
      ? []
      : [
          '### Hostile text',
          '',
          `Median of ${r.patterns.repeats} runs; the old patterns are quadratic, so 10 MiB is given to the new code only.`,
          '',
          table(
            ['input', 'characters', 'old ms', 'now ms'],
            r.patterns.rows.map((row) => [row.input, row.characters, row.oldMs ?? 'not run', row.newMs]),
          ),
          '',
        ]),
    ...(r.flood === undefined
      ? []
      : [
          `### A flood of ${r.flood.connections} password-less keep-alive connections from one address, ${r.flood.seconds} s (basic auth on)`,
          '',
          table(
            ['what', 'figure'],
            [
              ['authenticated keep-alive scraper (every 5 s, 10 s timeout): 200', `${r.flood.scrapes.ok} of ${r.flood.scrapes.total}`],
              ['its connection closed by the server', r.flood.scrapes.closed ? 'yes' : 'no'],
              ['new connections from another address (every 250 ms) answered within 10 s', `${r.flood.fresh.answered} of ${r.flood.fresh.total}`],
              [
                'time to their answer: p50 / p99 / max ms',
                `${Math.round(r.flood.fresh.p50Ms)} / ${Math.round(r.flood.fresh.p99Ms)} / ${Math.round(r.flood.fresh.maxMs)}`,
              ],
              ['flood requests answered (401) / connections opened', `${r.flood.flood.requests} / ${r.flood.flood.connects}`],
            ],
          ),
          '',
        ]),
    ...(r.scale === undefined ? [] : scaleReport(r.scale)),
    ...(r.hostileMemory === undefined ? [] : hostileMemoryReport(r.hostileMemory)),
    '### Goals',
    '',
    table(
      ['goal', 'floor', 'goal', 'now', 'floor met', 'goal met'],
      r.goals.map((g) => [g.goal, g.target, g.stretch, g.actual, g.met ? 'yes' : 'no', g.stretchMet ? 'yes' : 'no']),
    ),
    '',
  ].join('\n');
}

/** The scale tables: a row per run, then what a tenant, a customer and an alert add. */
function scaleReport(sc: ScaleResult): string[] {
  const row = (p: ScalePoint) => [
    p.tenants,
    p.customers,
    p.alerts,
    p.series,
    round(p.bodyBytes / 1e6),
    round(p.gzipBytes / 1e3),
    round(p.firstPollsSeconds),
    mib(p.peakRssBytes.startup),
    mib(p.peakRssBytes.firstScrapes),
    mib(p.peakRssBytes.steady),
    mib(p.peakRssBytes.overall),
    p.alive ? (p.tenantsUp === p.tenants ? 'yes' : `${p.tenantsUp} up`) : `no (${p.exit ?? '?'})`,
  ];
  return [
    `### Scale: tenants of many customers and alerts, \`${sc.nodeFlags.join(' ')}\`, --poll.interval=${sc.pollInterval}, ${sc.steadySeconds} s of steady polling`,
    '',
    'Customer insights and per-customer alerts on. Peak RSS (VmHWM) per phase: start-up to every first poll; the first scrapes (plain, gzip, again); steady polling with a scrape a second (gzip, every fifth plain).',
    '',
    table(
      [
        'tenants',
        'customers each',
        'alerts each',
        'series',
        '/metrics MB',
        'gzip KB',
        'first polls s',
        'start-up MiB',
        'first scrapes MiB',
        'steady MiB',
        'peak RSS MiB',
        'alive',
      ],
      [...sc.sizing, sc.withoutCustomers, sc.withoutAlerts].map(row),
    ),
    '',
    table(
      ['peak RSS added by', 'bytes', 'measured between'],
      [
        [
          `a tenant (${sc.sizing[0]?.customers} customers, ${sc.sizing[0]?.alerts} alerts)`,
          Math.round(sc.perTenantBytes),
          `${sc.sizing[0]?.tenants} and ${sc.sizing[sc.sizing.length - 1]?.tenants} tenants`,
        ],
        ['a customer (with its per-customer series)', Math.round(sc.perCustomerBytes), `${sc.withoutCustomers.tenants} tenants with and without customers`],
        [
          'an alert (10% open)',
          // Alerts are added up as they arrive: what one adds is below what separates two runs of the same case.
          Math.abs(sc.perAlertBytes) < 100 ? `about 0 (${Math.round(sc.perAlertBytes)}: within the noise)` : Math.round(sc.perAlertBytes),
          `${sc.withoutAlerts.tenants} tenants with and without alerts`,
        ],
      ],
    ),
    '',
    ...(sc.overBudget === undefined ? [] : overBudgetReport(sc.overBudget)),
  ];
}

/** The run past the memory budget: what it cut, and what it took. */
function overBudgetReport(p: ScalePoint): string[] {
  const cut = budgetCut(p);
  const budgetLines = p.warnings.filter((w) => w.includes('memory budget')).length;
  return [
    '#### Past the memory budget',
    '',
    'More tenants than the budget holds (`--memory.budget`, by default 35% of the V8 heap limit): the least important series are cut for every tenant alike, said in a log line and in `partner_security_memory_*`.',
    '',
    table(
      ['figure', 'value'],
      [
        ['tenants (customers, alerts each)', `${p.tenants} (${p.customers}, ${p.alerts})`],
        ['alive, tenants up', `${p.alive ? 'yes' : `no (${p.exit ?? '?'})`}, ${p.tenantsUp} of ${p.tenants}`],
        ['budget / estimate kept, MiB', `${mib(cut.budgetBytes)} / ${mib(cut.estimatedBytes)}`],
        ['series cut', cut.series.length > 0 ? cut.series.join(', ') : 'nothing'],
        ['customers per tenant keeping their series', cut.customersPerTenant ?? (cut.series.includes('customers') ? 'none' : 'all')],
        ['budget log lines at warn (at most 5 kept)', budgetLines],
        ['series, /metrics MB', `${p.series}, ${round(p.bodyBytes / 1e6)}`],
        [
          'peak RSS MiB: start-up / first scrapes / steady / overall',
          `${mib(p.peakRssBytes.startup)} / ${mib(p.peakRssBytes.firstScrapes)} / ${mib(p.peakRssBytes.steady)} / ${mib(p.peakRssBytes.overall)}`,
        ],
      ],
    ),
    '',
  ];
}

/** The tables of the hostile answers: the huge token answer, then each run of hostile alerts side by side. */
function hostileMemoryReport(h: HostileMemoryResult): string[] {
  const k = h.token;
  const a = h.alerts;
  const first = a[0];
  const row = (what: string, figure: (run: HostileMemoryResult['alerts'][number]) => string | number) => [what, ...a.map(figure)];
  return [
    '### Hostile answers and memory (the built exporter, flags of `npm start`, against the TLS fake Entra ID and Graph)',
    '',
    table(
      ['token endpoint answering 200 with a huge body', 'figure'],
      [
        ['answer size', `${round(k.bodyBytes / 2 ** 20)} MiB`],
        ['failed polls (reason token) / token requests', `${k.failures} / ${k.tokenRequests}`],
        ['bytes the fake handed to the network, all polls', `${mib(k.streamedBytes)} MiB`],
        [
          'from each token request to its "poll failed" line',
          `${k.failureMs.map((ms) => Math.round(ms)).join(', ')} ms (--graph.timeout ${k.graphTimeoutMs / 1000} s)`,
        ],
        ['peak RSS (VmHWM) / highest VmRSS sampled every 50 ms', `${mib(k.peakRssBytes)} / ${mib(k.sampledPeakRssBytes)} MiB`],
        ['RSS at start / at the end', `${mib(k.startRssBytes)} / ${mib(k.endRssBytes)} MiB`],
        ['the failure', k.error.replace(/https:\/\/127\.0\.0\.1:\d+/, 'https://127.0.0.1:PORT').replaceAll('|', '\\|')],
      ],
    ),
    '',
    ...(first === undefined
      ? []
      : [
          table(
            [
              `${first.tenants} tenants × ${first.alertsPerTenant} open alerts, distinct 200-character status, severity and type, after ${first.rounds} polls of each`,
              ...a.map((run) => (run.customers ? 'with --collector.security-alerts.customers' : 'as shipped')),
            ],
            [
              row('peak RSS (VmHWM), MiB', (run) => mib(run.peakRssBytes)),
              row(
                'highest VmRSS sampled / RSS at start / at the end, MiB',
                (run) => `${mib(run.sampledPeakRssBytes)} / ${mib(run.startRssBytes)} / ${mib(run.endRssBytes)}`,
              ),
              row('heap used / total in the last /metrics, MiB', (run) => `${mib(run.heapUsedBytes)} / ${mib(run.heapTotalBytes)}`),
              row('/metrics bytes, plain / gzip', (run) => `${run.metricsBytes} / ${run.metricsGzipBytes}`),
              row(`scrape ms, plain: median / max of ${first.scrapes}`, (run) => `${round(run.scrapeMs.median)} / ${round(run.scrapeMs.max)}`),
              row(`scrape ms, gzip: median / max of ${first.scrapes}`, (run) => `${round(run.scrapeGzipMs.median)} / ${round(run.scrapeGzipMs.max)}`),
              row('partner_security_alerts_open series, per tenant', (run) => run.openSeriesPerTenant.join(', ')),
              row('largest alert family for one tenant: series', (run) => `${run.largestAlertFamily.series} (${run.largestAlertFamily.name})`),
              row(
                'folded statuses / severities / alert types, first tenant',
                (run) => `${run.foldedStatuses[0]} / ${run.foldedSeverities[0]} / ${run.foldedAlertTypes[0]}`,
              ),
            ],
          ),
          '',
        ]),
  ];
}

async function main(): Promise<void> {
  const settings = settingsFrom(process.argv.slice(2), process.env);
  if (settings.report !== undefined) {
    const earlier = JSON.parse(readFileSync(settings.report, 'utf8')) as BenchResults;
    if (earlier.schema !== 2)
      throw new Error(
        `${settings.report} was written by an older npm run bench (schema ${earlier.schema}): its figures are in the BENCHMARKS.md of its commit`,
      );
    process.stdout.write(
      report({ ...earlier, goals: goals(earlier.throughput, earlier.startup, earlier.leak, earlier.flood, earlier.hostileMemory, earlier.scale) }),
    );
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
    log('hostile text: old patterns and what runs now');
    const p = await patterns(settings);
    log(`a flood of ${settings.flood.connections} connections from one address (${settings.flood.seconds} s)`);
    const f = await flood(settings);
    log('hostile answers: a huge token answer, then tenants of alerts whose labels all differ');
    const h = await hostileMemory(settings);
    // The leak check goes last and gets what is left of the time budget, so a loaded machine
    // shortens it (the report says so) rather than the whole run overstaying.
    const left = BUDGET_SECONDS - (performance.now() - clock) / 1000 - 15;
    const maxSeconds = Math.max(10, Math.min(settings.leak.maxSeconds, Math.floor(left)));
    log(`memory across ${settings.leak.polls} polls (in-process, at most ${maxSeconds} s)`);
    const l = await leak({ ...settings, leak: { ...settings.leak, maxSeconds } });
    // Scale comes after the time-bounded part: each run is bounded by its own phases.
    log('scale: many tenants, each with many customers and alerts, through the real exporter');
    const sc = await scale(settings);
    const results: BenchResults = {
      schema: 2,
      mode: settings.mode,
      startedAt: startedAt.toISOString(),
      seconds: (performance.now() - clock) / 1000,
      machine: { ...info, loadAverageAtEnd: loadavg().map((n) => round(n)) },
      throughput: t,
      startup: s,
      leak: l,
      growth: g,
      patterns: p,
      flood: f,
      hostileMemory: h,
      scale: sc,
      goals: goals(t, s, l, f, h, sc),
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
