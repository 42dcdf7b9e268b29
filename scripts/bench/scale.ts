/**
 * The scale section of `npm run bench`: the built exporter, with the V8 flags of `npm start`, polling
 * N partner tenants of C customers and A security alerts each (customer insights and per-customer
 * alerts on) from the scale cloud (scripts/bench/scale-graph.ts, a process of its own), over HTTPS
 * on loopback, through the real @azure/identity. Every poll is back to back (--poll.interval=1s):
 * the harshest steady polling. Peak RSS (VmHWM) is read per phase: start-up and the first poll of
 * every tenant, the first scrapes (plain and gzip), then steady polling with a scrape every
 * second, plain and gzip by turns, as Prometheus would scrape (gzip) and a person with curl (plain).
 * Runnable on its own: node --import ./dashboards/ts-imports.ts scripts/bench/scale.ts --tenants=50
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { BUDGET_CUTS, COSTS } from '../../src/collect/budget.js';
import { getRaw, rssBytes, shippedStart, stopChild, track, until } from './lib.js';
import { scaleTenantId } from './scale-graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOOK = join(ROOT, 'dashboards/ts-imports.ts');
const TEST_CA = join(ROOT, 'test/fixtures/tls/ca.pem');
const GZIP = { 'Accept-Encoding': 'gzip' } as const;

/** What one scale run is asked to do. */
export interface ScaleCase {
  readonly tenants: number;
  readonly customers: number;
  readonly alerts: number;
  /** Per-customer series (customer insights' and the alerts'); off: only the per-tenant ones. */
  readonly perCustomer: boolean;
  /** Seconds of steady polling after the first scrapes. */
  readonly steadySeconds: number;
  /** The exporter's main.js and the node flags to run it with. */
  readonly exporter: string;
  readonly nodeFlags: readonly string[];
  /** --poll.interval (default 1s: every tenant polled again as soon as its poll ends). */
  readonly pollInterval?: string;
  /** Extra exporter flags (a memory budget, say). */
  readonly extraArgs?: readonly string[];
}

/** What one scale run measured. */
export interface ScalePoint {
  readonly tenants: number;
  readonly customers: number;
  readonly alerts: number;
  readonly perCustomer: boolean;
  /** False when the exporter exited (a heap abort, say); the figures then stop where it did. */
  readonly alive: boolean;
  readonly exit?: string;
  /** Tenants whose first poll succeeded (partner_security_up 1). */
  readonly tenantsUp: number;
  readonly series: number;
  readonly bodyBytes: number;
  readonly gzipBytes: number;
  /** Seconds from start to every tenant's first poll done (/readyz). */
  readonly firstPollsSeconds: number;
  /** Polls completed during the steady phase, over every tenant. */
  readonly steadyPolls: number;
  readonly steadyScrapes: number;
  readonly peakRssBytes: { readonly startup: number; readonly firstScrapes: number; readonly steady: number; readonly overall: number };
  /** RSS at the end of the run. */
  readonly endRssBytes: number;
  /** The exporter's own heap figures at the end (nodejs_heap_size_used_bytes, ..._total_bytes, nodejs_external_memory_bytes). */
  readonly heapBytes: { readonly used: number; readonly total: number; readonly external: number };
  /** The exporter's own partner_security_memory_* series at the end, when it has them. */
  readonly budget?: Readonly<Record<string, number>>;
  /** Log lines at warn or error, at most 5 (a cut by the memory budget, a failed poll). */
  readonly warnings: readonly string[];
}

/** What the memory budget cut in a run, from its partner_security_memory_* series at the end. */
export interface BudgetCutSeen {
  /** The series cut, least important first (none: nothing cut, or no budget series). */
  readonly series: readonly string[];
  /** Customers per tenant that kept their per-customer series, while customers are cut. */
  readonly customersPerTenant?: number;
  readonly budgetBytes: number;
  readonly estimatedBytes: number;
}

export function budgetCut(p: ScalePoint): BudgetCutSeen {
  const b = p.budget ?? {};
  const customersPerTenant = b.partner_security_memory_budget_customers_per_tenant;
  return {
    series: BUDGET_CUTS.filter((series) => b[`partner_security_memory_budget_cut{series="${series}"}`] === 1),
    ...(customersPerTenant === undefined ? {} : { customersPerTenant }),
    budgetBytes: b.partner_security_memory_budget_bytes ?? Number.NaN,
    estimatedBytes: b.partner_security_memory_estimated_bytes ?? Number.NaN,
  };
}

/**
 * A --memory.budget that holds `tenants` of the scale cloud's shape with all but their per-customer
 * alert series and about half their customers (at least as many as the scale cloud's 90 history
 * entries, 48 open alert groups and every alert dated leave room for): past it, the customers are cut.
 */
export function halfCustomersBudget(tenants: number, customers: number, alerts: number): number {
  const perTenant = COSTS.tenant + 90 * COSTS.historyEntry + 48 * COSTS.alertGroup + alerts * COSTS.datedAlert;
  return COSTS.answer + tenants * (perTenant + Math.floor(customers / 2) * COSTS.customer);
}

function hwmBytes(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? Number.NaN) * 1024;
}

/** Resets the peak RSS Linux keeps for the process (VmHWM); false where that is refused. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Where the RSS of a process lies: its mappings by kind, the biggest first (a debugging aid). */
function smapsSummary(pid: number): string {
  const byKind = new Map<string, number>();
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (head && range) {
      const size = (Number.parseInt(range[2] ?? '0', 16) - Number.parseInt(range[1] ?? '0', 16)) / 1024;
      kind = head[1] === '' ? `[anon ${size >= 65536 ? '>=64M' : size >= 1024 ? '1-64M' : size >= 256 ? '256K-1M' : '<256K'}]` : (head[1] ?? '');
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) byKind.set(kind, (byKind.get(kind) ?? 0) + Number(rss[1]));
  }
  return `${[...byKind]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => `${k}: ${Math.round(v / 1024)} MiB`)
    .join('\n')}\n`;
}

/** The samples of a family (or families starting with a prefix) in an exposition. */
function values(text: string, name: string): number[] {
  const found: number[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === '{' || line[name.length] === ' ')) found.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return found;
}

async function startCloud(c: ScaleCase): Promise<{ url: string; stop: () => Promise<void> }> {
  const args = ['--import', HOOK, join(ROOT, 'scripts/bench/scale-graph.ts'), `--customers=${c.customers}`, `--alerts=${c.alerts}`];
  const child = track(spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'inherit'] }));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').once('data', (chunk: string) => resolve((JSON.parse(chunk) as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`the scale cloud exited (${code})`)));
  });
  return { url, stop: () => stopChild(child) };
}

/** One exporter run against the scale cloud. */
export async function scaleRun(c: ScaleCase): Promise<ScalePoint> {
  const work = mkdtempSync(join(tmpdir(), 'pss-scale-'));
  const cloud = await startCloud(c);
  try {
    const file = join(work, 'tenants.yml');
    const lines = ['tenants:'];
    for (let i = 1; i <= c.tenants; i++)
      lines.push(`  - { tenant_id: ${scaleTenantId(i)}, client_id: 5ca1ea00-0000-4000-8000-000000000001, client_secret_env: SCALE_SECRET }`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const args = [
      ...c.nodeFlags,
      ...(process.env.SCALE_SNAPSHOT ? ['--heapsnapshot-signal=SIGUSR2'] : []),
      c.exporter,
      `--config.file=${file}`,
      `--graph.endpoint=${cloud.url}`,
      '--web.listen-address=127.0.0.1:0',
      '--log.format=json',
      `--poll.interval=${c.pollInterval ?? '1s'}`,
      '--collector.customer-insights',
      `--collector.customer-insights.max-customers=${c.perCustomer ? 1000 : 0}`,
      ...(c.perCustomer ? ['--collector.security-alerts.customers'] : []),
      ...(c.extraArgs ?? []),
    ];
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_EXTRA_CA_CERTS: TEST_CA,
      AZURE_AUTHORITY_HOST: cloud.url,
      SCALE_SECRET: 'scale-secret',
      // As npm start and the image run it (MALLOC_ARENA_MAX).
      ...shippedStart(join(ROOT, 'package.json')).env,
    };
    const started = performance.now();
    const child = track(spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] }));
    const pid = child.pid ?? 0;
    let stderr = '';
    const warnings: string[] = [];
    let exit: string | undefined;
    child.once('exit', (code, signal) => {
      exit = `${code ?? signal}`;
    });
    let address: string | undefined;
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const lines = stderr.split('\n');
      stderr = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const record = JSON.parse(line) as { msg?: string; level?: string; address?: string };
          if (record.msg === 'exporter started') address = record.address;
          if ((record.level === 'warn' || record.level === 'error') && warnings.length < 5) warnings.push(line.slice(0, 400));
        } catch {
          if (line.trim() !== '' && warnings.length < 5) warnings.push(line.slice(0, 400));
        }
      }
    });
    resetPeak(pid);
    const alive = () => exit === undefined;
    const peak = { startup: 0, firstScrapes: 0, steady: 0, overall: 0 };
    let overall = 0;
    const phase = (name: keyof typeof peak) => {
      if (!alive()) return;
      const p = hwmBytes(pid);
      peak[name] = p;
      overall = Math.max(overall, p);
      resetPeak(pid);
    };
    let firstPollsSeconds = Number.NaN;
    let text = '';
    let gzipBytes = 0;
    let steadyScrapes = 0;
    let steadyPolls = 0;
    let endRssBytes = Number.NaN;
    let budget: Record<string, number> | undefined;
    let heapBytes = { used: Number.NaN, total: Number.NaN, external: Number.NaN };
    try {
      await until(async () => (address !== undefined || !alive() ? true : undefined), 60_000, 'the exporter to start');
      if (address === undefined) throw new Error('exited');
      const url = `http://${address}`;
      await until(
        async () => {
          if (!alive()) return true;
          return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) })).status === 200 ? true : undefined;
        },
        600_000,
        'every tenant polled once',
        200,
      );
      firstPollsSeconds = (performance.now() - started) / 1000;
      phase('startup');
      // The first scrapes: plain, then gzip, then one of each again (the second ones from the cache).
      const scrapePlain = async () => (await getRaw(`${url}/metrics`, {}, 120_000)).body.toString('utf8');
      const scrapeGzip = async () => (await getRaw(`${url}/metrics`, GZIP, 120_000)).body;
      text = await scrapePlain();
      const gz = await scrapeGzip();
      gzipBytes = gz.length;
      if (gunzipSync(gz).length === 0) throw new Error('empty gzip answer');
      await scrapePlain();
      await scrapeGzip();
      phase('firstScrapes');
      const pollsOf = (exposition: string) => values(exposition, 'partner_security_polls_total').reduce((a, b) => a + b, 0);
      const pollsBefore = pollsOf(text);
      const steadyEnd = performance.now() + c.steadySeconds * 1000;
      let last = text;
      while (performance.now() < steadyEnd && alive()) {
        // Prometheus asks for gzip; now and then someone asks for the plain text.
        if (steadyScrapes % 5 !== 4) last = gunzipSync(await scrapeGzip()).toString('utf8');
        else last = await scrapePlain();
        steadyScrapes++;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      steadyPolls = pollsOf(last) - pollsBefore;
      phase('steady');
      endRssBytes = alive() ? rssBytes(pid) : Number.NaN;
      if (process.env.SCALE_SMAPS) process.stderr.write(smapsSummary(pid));
      if (process.env.SCALE_SNAPSHOT) {
        child.kill('SIGUSR2');
        await new Promise((resolve) => setTimeout(resolve, Number(process.env.SCALE_SNAPSHOT) * 1000));
      }
      const one = (name: string) => values(last, name)[0] ?? Number.NaN;
      heapBytes = { used: one('nodejs_heap_size_used_bytes'), total: one('nodejs_heap_size_total_bytes'), external: one('nodejs_external_memory_bytes') };
      const own = last
        .split('\n')
        .filter((l) => l.startsWith('partner_security_memory_'))
        .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))] as const);
      if (own.length > 0) budget = Object.fromEntries(own);
    } catch (error) {
      // A scrape cut off by the process dying (a heap abort, say) is the run's figure, not the bench's failure.
      await until(async () => (alive() ? undefined : true), 5000, 'the exporter to exit').catch(() => {});
      if (alive()) throw error;
    }
    if (alive()) await stopChild(child, 10_000);
    const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    return {
      tenants: c.tenants,
      customers: c.customers,
      alerts: c.alerts,
      perCustomer: c.perCustomer,
      alive: exit === undefined || exit === '0',
      ...(exit === undefined || exit === '0' ? {} : { exit }),
      tenantsUp: values(text, 'partner_security_up').filter((v) => v === 1).length,
      series: samples.length,
      bodyBytes: Buffer.byteLength(text),
      gzipBytes,
      firstPollsSeconds,
      steadyPolls,
      steadyScrapes,
      peakRssBytes: { ...peak, overall },
      endRssBytes,
      heapBytes,
      ...(budget === undefined ? {} : { budget }),
      warnings,
    };
  } finally {
    await cloud.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: v } = parseArgs({
    options: {
      tenants: { type: 'string', default: '10' },
      customers: { type: 'string', default: '1000' },
      alerts: { type: 'string', default: '10000' },
      'no-per-customer': { type: 'boolean', default: false },
      steady: { type: 'string', default: '20' },
      exporter: { type: 'string', default: join(ROOT, 'dist/main.js') },
      flags: { type: 'string', default: '--max-semi-space-size=2 --max-old-space-size=192' },
      arg: { type: 'string', multiple: true, default: [] },
      interval: { type: 'string', default: '1s' },
    },
  });
  const point = await scaleRun({
    tenants: Number(v.tenants),
    customers: Number(v.customers),
    alerts: Number(v.alerts),
    perCustomer: v['no-per-customer'] !== true,
    steadySeconds: Number(v.steady),
    exporter: v.exporter ?? '',
    nodeFlags: (v.flags ?? '').split(' ').filter((f) => f !== ''),
    extraArgs: v.arg ?? [],
    pollInterval: v.interval ?? '1s',
  });
  process.stdout.write(`${JSON.stringify(point)}\n`);
  process.exit(0);
}
