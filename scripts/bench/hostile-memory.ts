/**
 * Hostile answers and memory, part of `npm run bench` (issue 19, items 2 and 3), run as its own
 * process: the built exporter (dist/main.js, with the V8 flags of `npm start`, given as
 * --node-flags) against the TLS fake Entra ID and Graph of test/helpers/fake-cloud.ts.
 *
 * - token: the token endpoint answers 200 with a body of --token-mib MiB, sent as fast as the
 *   exporter reads it; the exporter polls every second until --token-attempts polls have failed.
 *   Peak RSS of the exporter (VmHWM, and VmRSS sampled every 50 ms) and, per failed poll, the time
 *   from the token request reaching the fake to the exporter's "poll failed" line.
 * - alerts: --tenants tenants (a tenants file, one fake cloud), each with --alerts open alerts whose
 *   status and severity are distinct 200-character values, with distinct alert types and customer
 *   ids, in pages of 1,000; once as the exporter ships, once with the per-customer alert series on
 *   (each a fresh exporter). After --rounds polls of every tenant: peak RSS, the size of /metrics,
 *   scrape times plain and gzip, and the series of every alert family per tenant.
 *
 * Prints one JSON object (HostileMemoryResult).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type FakeCloud, type GraphRequest, SECURITY_ALERTS_PATH, startFakeCloud } from '../../test/helpers/fake-cloud.js';
import { getRaw, median, shippedStart } from './lib.js';

/** What one run of the exporter weighed. */
export interface MemoryFigures {
  /** VmHWM of the exporter at the end: the peak RSS of its whole life. */
  readonly peakRssBytes: number;
  /** The highest VmRSS sampled every 50 ms (a check on VmHWM). */
  readonly sampledPeakRssBytes: number;
  /** VmRSS before the hostile part began (started, nothing read yet). */
  readonly startRssBytes: number;
  /** VmRSS at the end. */
  readonly endRssBytes: number;
}

/** A token endpoint answering 200 with a huge body. */
export interface TokenFigures extends MemoryFigures {
  readonly bodyBytes: number;
  readonly graphTimeoutMs: number;
  /** Polls that failed with reason "token". */
  readonly failures: number;
  /** Token requests the fake saw. */
  readonly tokenRequests: number;
  /** Bytes of the answers the fake handed to the network, all attempts together. */
  readonly streamedBytes: number;
  /** Per failed poll: from its token request reaching the fake to the exporter's "poll failed" line. */
  readonly failureMs: readonly number[];
  /** The first failure's words, cut to 300 characters. */
  readonly error: string;
}

/** Tenants full of alerts whose labels all differ. */
export interface AlertFigures extends MemoryFigures {
  readonly tenants: number;
  readonly alertsPerTenant: number;
  /** Polls of every tenant before the figures were read. */
  readonly rounds: number;
  readonly metricsBytes: number;
  readonly metricsGzipBytes: number;
  readonly scrapes: number;
  readonly scrapeMs: { readonly median: number; readonly max: number };
  readonly scrapeGzipMs: { readonly median: number; readonly max: number };
  /** Whether the per-customer alert series were on (--collector.security-alerts.customers). */
  readonly customers: boolean;
  /** The exporter's own heap readings in its last /metrics answer (nodejs_heap_size_used_bytes and friends). */
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
  /** Series of partner_security_alerts_open, per tenant. */
  readonly openSeriesPerTenant: readonly number[];
  /** The largest family of alert series for one tenant, and how many series it has there. */
  readonly largestAlertFamily: { readonly name: string; readonly series: number };
  /** Status and severity values folded into "other", per tenant (partner_security_alerts_folded_*). */
  readonly foldedStatuses: readonly number[];
  readonly foldedSeverities: readonly number[];
  readonly foldedAlertTypes: readonly number[];
}

export interface HostileMemoryResult {
  readonly token: TokenFigures;
  /** One run per --customers word: as shipped, then with the per-customer alert series. */
  readonly alerts: readonly AlertFigures[];
}

const MiB = 1024 * 1024;
const LABEL_CHARS = 200;
const PAGE_SIZE = 1000;
const TEST_CA = fileURLToPath(new URL('../../test/fixtures/tls/ca.pem', import.meta.url));

const { values } = parseArgs({
  options: {
    exporter: { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    'token-mib': { type: 'string', default: '150' },
    'token-attempts': { type: 'string', default: '3' },
    'graph-timeout': { type: 'string', default: '30s' },
    tenants: { type: 'string', default: '4' },
    alerts: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '2' },
    scrapes: { type: 'string', default: '5' },
    /** One alerts run per word: "off" as the exporter ships (no per-customer alert series), "on" with --collector.security-alerts.customers. */
    customers: { type: 'string', default: 'off,on' },
  },
});
const exporterMain = values.exporter ?? fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const nodeFlags = (values['node-flags'] ?? '').split(/\s+/).filter((flag) => flag !== '');
const graphTimeout = values['graph-timeout'] ?? '30s';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** A running exporter: its JSON log lines as they arrive (with their arrival time) and its memory. */
interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  readonly logs: { readonly at: number; readonly line: Record<string, unknown> }[];
  /** Stops the RSS sampling and reads the figures; the process must still run. */
  memory(): MemoryFigures;
}

async function startExporter(args: readonly string[], env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [...nodeFlags, exporterMain, '--web.listen-address=127.0.0.1:0', '--log.format=json', ...args], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_EXTRA_CA_CERTS: TEST_CA,
      ...shippedStart(fileURLToPath(new URL('../../package.json', import.meta.url))).env,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const logs: Running['logs'] = [];
  let partial = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    const at = Date.now();
    if (stderr.length < 64 * 1024) stderr += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const text of lines) {
      try {
        logs.push({ at, line: JSON.parse(text) as Record<string, unknown> });
      } catch {}
    }
  });
  const deadline = Date.now() + 30_000;
  let address: string | undefined;
  while (address === undefined) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the exporter did not start:\n${stderr}`);
    const started = logs.find((l) => l.line.msg === 'exporter started')?.line.address;
    if (typeof started === 'string') address = started;
    else await sleep(20);
  }
  const pid = child.pid ?? 0;
  const startRssBytes = statusKb(pid, 'VmRSS');
  let sampled = startRssBytes;
  const timer = setInterval(() => {
    try {
      sampled = Math.max(sampled, statusKb(pid, 'VmRSS'));
    } catch {}
  }, 50);
  return {
    child,
    url: `http://${address}`,
    logs,
    memory() {
      clearInterval(timer);
      const endRssBytes = statusKb(pid, 'VmRSS');
      return { peakRssBytes: statusKb(pid, 'VmHWM'), sampledPeakRssBytes: Math.max(sampled, endRssBytes), startRssBytes, endRssBytes };
    },
  };
}

const running = new Set<ChildProcess>();
const clouds: FakeCloud[] = [];

/** The token endpoint answers 200 with a huge body; the exporter polls until it has failed `attempts` times. */
async function hugeToken(bodyMiB: number, attempts: number): Promise<TokenFigures> {
  const cloud = await startFakeCloud();
  clouds.push(cloud);
  cloud.tokenStream = {
    status: 200,
    contentType: 'application/json',
    head: '{"token_type":"Bearer","expires_in":3599,"access_token":"',
    filler: 'A',
    length: bodyMiB * MiB,
  };
  const exporter = await startExporter([`--graph.endpoint=${cloud.url}`, '--poll.interval=1s', `--graph.timeout=${graphTimeout}`, '--log.level=debug'], {
    AZURE_AUTHORITY_HOST: cloud.url,
    AZURE_TENANT_ID: '8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b',
    AZURE_CLIENT_ID: '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40',
    AZURE_CLIENT_SECRET: 'bench-client-secret',
  });
  const failures = () => exporter.logs.filter((l) => l.line.msg === 'poll failed' && l.line.reason === 'token');
  const graphTimeoutMs = parseSeconds(graphTimeout) * 1000;
  const deadline = Date.now() + attempts * (graphTimeoutMs + 5000) + 10_000;
  while (failures().length < attempts) {
    if (Date.now() > deadline) throw new Error(`${failures().length} of ${attempts} token failures before the deadline`);
    const other = exporter.logs.find((l) => l.line.msg === 'poll failed' && l.line.reason !== 'token');
    if (other !== undefined) throw new Error(`a poll failed for another reason: ${JSON.stringify(other.line).slice(0, 500)}`);
    await sleep(20);
  }
  const memory = exporter.memory();
  const seen = failures().slice(0, attempts);
  // Each failure against the first token request after the one before it.
  const failureMs: number[] = [];
  let since = 0;
  for (const failure of seen) {
    const request = cloud.tokenRequests.find((r) => r.at >= since);
    failureMs.push(request === undefined ? Number.NaN : failure.at - request.at);
    since = failure.at;
  }
  return {
    ...memory,
    bodyBytes: bodyMiB * MiB,
    graphTimeoutMs,
    failures: seen.length,
    tokenRequests: cloud.tokenRequests.length,
    streamedBytes: cloud.streamedTokenBytes,
    failureMs,
    error: String(seen[0]?.line.err ?? '').slice(0, 300),
  };
}

function parseSeconds(duration: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(duration);
  if (!match) throw new Error(`--graph-timeout: ${duration} is not like 30s, 500ms or 1m`);
  return Number(match[1]) / (match[2] === 'ms' ? 1000 : match[2] === 'm' ? 1 / 60 : 1);
}

/** A label value of exactly LABEL_CHARS characters, distinct by its prefix. */
const long = (prefix: string) => prefix.padEnd(LABEL_CHARS, '~');

/** The alert pages of one tenant: every label value distinct, every alert open and detected in the last 7 days. */
function alertPages(tenant: number, count: number, nowMs: number): string[][] {
  const pages: Record<string, unknown>[][] = [];
  for (let i = 0; i < count; i++) {
    const alert = {
      id: `t${tenant}-alert-${i}`,
      alertType: long(`alert-type-${tenant}-${i}-`),
      status: long(`status-${tenant}-${i}-`),
      severity: long(`severity-${tenant}-${i}-`),
      customerTenantId: `c0000000-0000-4000-8000-${(tenant * 1_000_000 + i).toString(16).padStart(12, '0')}`,
      detectedDateTime: new Date(nowMs - (i + 1) * 30_000).toISOString(),
      isTest: false,
    };
    const page = Math.floor(i / PAGE_SIZE);
    if (pages[page] === undefined) pages[page] = [];
    pages[page]?.push(alert);
  }
  // Serialized once: the fake's answer is then one write per request.
  return pages.map((page) => page.map((alert) => JSON.stringify(alert)));
}

/** The next link of a page: the first request's query options, and the page number as $skiptoken. */
function pageBody(url: string, request: GraphRequest, page: readonly string[], index: number, last: boolean): string {
  const query = new URLSearchParams(request.query);
  query.set('$skiptoken', String(index + 1));
  const next = last ? '' : `,"@odata.nextLink":${JSON.stringify(`${url}${SECURITY_ALERTS_PATH}?${query.toString()}`)}`;
  return `{"value":[${page.join(',')}]${next}}`;
}

/** The lines of an exposition that are samples, as [name, tenant_id]. */
function seriesOf(exposition: string): { name: string; tenant: string; line: string }[] {
  const out: { name: string; tenant: string; line: string }[] = [];
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const end = brace >= 0 && brace < space ? brace : space;
    const name = line.slice(0, end);
    const tenantAt = line.indexOf('tenant_id="');
    const tenant = tenantAt < 0 ? '' : line.slice(tenantAt + 'tenant_id="'.length, line.indexOf('"', tenantAt + 'tenant_id="'.length));
    out.push({ name, tenant, line });
  }
  return out;
}

/** The value of a sample line; NaN for none. */
const sampleNumber = (sample: { readonly line: string } | undefined) => Number(sample?.line.split(' ').at(-1) ?? Number.NaN);

const ALERT_FAMILY = /^partner_security_(customer_)?alerts_/;

async function hostileAlerts(tenantCount: number, alertsPerTenant: number, rounds: number, scrapes: number, customers: boolean): Promise<AlertFigures> {
  const cloud = await startFakeCloud();
  clouds.push(cloud);
  const nowMs = Date.now();
  const tenants = Array.from({ length: tenantCount }, (_, i) => ({ id: randomUUID(), clientId: randomUUID(), pages: alertPages(i, alertsPerTenant, nowMs) }));
  cloud.alertsDefault = (request) => {
    // Which tenant asks: the one its token was issued to.
    const token = request.authorization?.replace(/^Bearer /, '');
    const issued = cloud.tokenRequests.find((r) => r.accessToken === token);
    const tenant = tenants.find((t) => t.id === issued?.tenant);
    if (tenant === undefined) return { status: 401, body: { error: { code: 'InvalidAuthenticationToken', message: 'unknown token' } } };
    const index = Number(new URLSearchParams(request.query).get('$skiptoken') ?? 0);
    const page = tenant.pages[index] ?? [];
    return { body: pageBody(cloud.url, request, page, index, index >= tenant.pages.length - 1) };
  };
  const dir = mkdtempSync(join(tmpdir(), 'partner-security-hostile-'));
  try {
    const file = join(dir, 'tenants.yml');
    const lines = tenants.map((t, i) => `  - { tenant_id: ${t.id}, client_id: ${t.clientId}, client_secret_env: SECRET_${i}, authority_host: "${cloud.url}" }`);
    writeFileSync(file, ['tenants:', ...lines, ''].join('\n'));
    const secrets = Object.fromEntries(tenants.map((_, i) => [`SECRET_${i}`, `bench-secret-${i}`]));
    const exporter = await startExporter(
      [
        `--graph.endpoint=${cloud.url}`,
        `--config.file=${file}`,
        '--poll.interval=5s',
        `--graph.timeout=${graphTimeout}`,
        '--collector.security-alerts',
        ...(customers ? ['--collector.security-alerts.customers'] : []),
      ],
      secrets,
    );
    const scrape = async (gzip: boolean) => {
      const started = performance.now();
      const answer = await getRaw(`${exporter.url}/metrics`, gzip ? { 'Accept-Encoding': 'gzip' } : {}, 60_000);
      const ms = performance.now() - started;
      if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}`);
      if (gzip && answer.headers['content-encoding'] !== 'gzip') throw new Error('/metrics did not answer with gzip');
      return { ms, body: answer.body };
    };
    // Until every tenant has polled `rounds` times with its alerts read.
    const deadline = Date.now() + 60_000 + rounds * 15_000;
    for (;;) {
      const samples = seriesOf((await scrape(false)).body.toString('utf8'));
      const done = tenants.every((t) => {
        const polls = samples.find((s) => s.name === 'partner_security_polls_total' && s.tenant === t.id);
        const alerts = samples.find((s) => s.name === 'partner_security_relation_up' && s.tenant === t.id && s.line.includes('relation="securityAlerts"'));
        return sampleNumber(polls) >= rounds && sampleNumber(alerts) === 1;
      });
      if (done) break;
      if (Date.now() > deadline) {
        const warnings = exporter.logs.filter((l) => l.line.level === 'warn' || l.line.level === 'error').slice(-3);
        throw new Error(`the tenants did not poll ${rounds} times; last warnings: ${JSON.stringify(warnings.map((l) => l.line)).slice(0, 1000)}`);
      }
      await sleep(500);
    }
    const plainMs: number[] = [];
    const gzipMs: number[] = [];
    let plain: Buffer = Buffer.alloc(0);
    let gzip: Buffer = Buffer.alloc(0);
    for (let i = 0; i < scrapes; i++) {
      const p = await scrape(false);
      plainMs.push(p.ms);
      plain = p.body;
      const g = await scrape(true);
      gzipMs.push(g.ms);
      gzip = g.body;
    }
    const memory = exporter.memory();
    const samples = seriesOf(plain.toString('utf8'));
    const perTenant = (name: string) => tenants.map((t) => samples.filter((s) => s.name === name && s.tenant === t.id).length);
    const valuePerTenant = (name: string) => tenants.map((t) => sampleNumber(samples.find((s) => s.name === name && s.tenant === t.id)));
    const families = [...new Set(samples.filter((s) => ALERT_FAMILY.test(s.name)).map((s) => s.name))];
    const largest = families
      .map((name) => ({ name, series: Math.max(...perTenant(name)) }))
      .reduce((a, b) => (b.series > a.series ? b : a), { name: 'none', series: 0 });
    const own = (name: string) => sampleNumber(samples.find((s) => s.name === name));
    return {
      ...memory,
      customers,
      heapUsedBytes: own('nodejs_heap_size_used_bytes'),
      heapTotalBytes: own('nodejs_heap_size_total_bytes'),
      externalBytes: own('nodejs_external_memory_bytes'),
      tenants: tenantCount,
      alertsPerTenant,
      rounds,
      metricsBytes: plain.length,
      metricsGzipBytes: gzip.length,
      scrapes,
      scrapeMs: { median: median(plainMs), max: Math.max(...plainMs) },
      scrapeGzipMs: { median: median(gzipMs), max: Math.max(...gzipMs) },
      openSeriesPerTenant: perTenant('partner_security_alerts_open'),
      largestAlertFamily: largest,
      foldedStatuses: valuePerTenant('partner_security_alerts_folded_statuses'),
      foldedSeverities: valuePerTenant('partner_security_alerts_folded_severities'),
      foldedAlertTypes: valuePerTenant('partner_security_alerts_folded_alert_types'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Kills the exporters (by their own pids) and closes the fakes started so far. */
async function stopAll(): Promise<void> {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  await Promise.all(clouds.splice(0).map((cloud) => cloud.close()));
}

try {
  const token = await hugeToken(Number(values['token-mib']), Number(values['token-attempts']));
  await stopAll();
  const alerts: AlertFigures[] = [];
  for (const customers of (values.customers ?? '').split(',')) {
    if (customers !== 'on' && customers !== 'off') throw new Error(`--customers: ${customers} is neither on nor off`);
    alerts.push(await hostileAlerts(Number(values.tenants), Number(values.alerts), Number(values.rounds), Number(values.scrapes), customers === 'on'));
    await stopAll();
  }
  const result: HostileMemoryResult = { token, alerts };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await stopAll();
}
process.exit(0);
