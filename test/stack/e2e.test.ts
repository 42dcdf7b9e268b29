/**
 * The monitoring stack end to end with the real components: two built exporters (the demo tenant,
 * and one whose Graph and Entra ID are a closed loopback port, so every poll fails), Debian's
 * Prometheus scraping them with the shipped configuration and rule expressions, and Debian's
 * Alertmanager with the shipped route, delivering to a webhook served by this test.
 *
 * Prometheus scrapes through a recording HTTP proxy (the job's proxy_url) that passes requests and
 * answers through untouched, so the test sees how each scrape was asked for and answered.
 *
 * Only the timings are shortened: 1s scrapes, evaluations and polls, every rule's `for` 2s (two
 * poll intervals, as in production), 1s grouping in Alertmanager.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { track } from '../helpers/children.js';
import { freePort, type RunningPrometheus, startPrometheus } from '../helpers/prometheus.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'dist/main.js');
const DASHBOARDS_DIR = join(ROOT, 'grafana/dashboards');
const FAILING_TENANT = 'failing-tenant';
/** What every wait in this file is bounded by. */
const WAIT_MS = 25_000;

interface Rule {
  alert: string;
  expr: string;
  for?: string;
}
/** One scrape as the recording proxy saw it. */
interface Scrape {
  readonly target: string;
  readonly acceptEncoding: string;
  readonly contentEncoding: string;
  readonly status: number;
  readonly bytes: number;
}
interface Alert {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const shippedRules = (parse(readFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups;
const dashboards = ['partner-security-overview.json', 'partner-security-exporter-health.json'].map(
  (file) =>
    JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as {
      title: string;
      templating: { list: { name: string; type: string; definition?: string }[] };
      panels: { title?: string; targets?: { expr?: string }[]; panels?: unknown[] }[];
    },
);

/** Polls fn until it returns a truthy value; fails after WAIT_MS with the last state. */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const children: ChildProcess[] = [];

/** Starts a child process and remembers it, so afterAll kills it whatever happens. */
function start(command: string, args: string[], env?: Record<string, string>): { child: ChildProcess; output: string[] } {
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) }));
  children.push(child);
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) if (stream) createInterface({ input: stream }).on('line', (line) => output.push(line));
  return { child, output };
}

/** Runs the built exporter; resolves with its address from the "exporter started" log line. */
async function startExporter(args: string[], env: Record<string, string>): Promise<string> {
  const { child, output } = start(process.execPath, [MAIN, '--web.listen-address=127.0.0.1:0', '--log.format=json', '--poll.interval=1s', ...args], {
    PATH: process.env.PATH ?? '',
    ...env,
  });
  return until(`the exporter to start (${output.join('\n')})`, async () => {
    if (child.exitCode !== null) throw new Error(`exporter exited ${child.exitCode}: ${output.join('\n')}`);
    for (const line of output) {
      const record = line.startsWith('{') ? (JSON.parse(line) as { msg?: string; address?: string }) : {};
      if (record.msg === 'exporter started') return record.address;
    }
    return undefined;
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Every PromQL expression of every panel of a dashboard, with the panel's title. */
function panelQueries(dashboard: (typeof dashboards)[number]): { panel: string; expr: string }[] {
  const panels = (list: typeof dashboard.panels): typeof dashboard.panels => list.flatMap((p) => [p, ...panels((p.panels ?? []) as typeof list)]);
  return panels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? '', expr: t.expr ?? '' })));
}

/** Regex-escapes a label value the way Grafana formats a multi-value variable for Prometheus. */
const escapeRegex = (value: string) => value.replace(/[\\^$*+?.()|[\]{}]/g, '\\$&');

describe('stack: exporter + Prometheus + Alertmanager, end to end', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pss-stack-'));
  const received: Alert[] = [];
  const scrapes: Scrape[] = [];
  let webhook: Server | undefined;
  let recorder: Server | undefined;
  let prometheus: RunningPrometheus | undefined;
  let demoAddress = '';

  beforeAll(async () => {
    // The webhook Alertmanager delivers to.
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push(...(JSON.parse(body) as { alerts: Alert[] }).alerts);
        res.end();
      });
    });
    await new Promise<void>((resolve) => webhook?.listen(0, '127.0.0.1', resolve));
    const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/alerts`;

    // The proxy Prometheus scrapes through: plain HTTP forwarding, bytes and headers as they are.
    recorder = createServer((req, res) => {
      const target = new URL(req.url ?? '');
      const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
        let bytes = 0;
        answer.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        answer.on('end', () => {
          const header = (value: string | string[] | undefined) => [value ?? ''].flat().join(', ');
          scrapes.push({
            target: target.host,
            acceptEncoding: header(req.headers['accept-encoding']),
            contentEncoding: header(answer.headers['content-encoding']),
            status: answer.statusCode ?? 0,
            bytes,
          });
        });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => recorder?.listen(0, '127.0.0.1', resolve));
    const recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;

    // Nothing listens there: the token request is refused, so every poll fails.
    const closed = `https://127.0.0.1:${await freePort()}`;
    const [demo, failing] = await Promise.all([
      startExporter(['--demo'], {}),
      startExporter([`--graph.endpoint=${closed}`, '--graph.timeout=2s'], {
        AZURE_TENANT_ID: FAILING_TENANT,
        AZURE_CLIENT_ID: '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40',
        AZURE_CLIENT_SECRET: 's',
        AZURE_AUTHORITY_HOST: closed,
      }),
    ]);
    demoAddress = demo;

    // Alertmanager: the shipped route and receiver name, the receiver delivering to the webhook.
    const am = parse(readFileSync(join(ROOT, 'deploy/alertmanager/alertmanager.yml'), 'utf8')) as {
      route: Record<string, unknown> & { receiver: string };
      receivers: { name: string }[];
    };
    Object.assign(am.route, { group_wait: '1s', group_interval: '1s', repeat_interval: '1m' });
    am.receivers = am.receivers.map((r) => ({ name: r.name, webhook_configs: [{ url: webhookUrl, send_resolved: true }] }));
    writeFileSync(join(tmp, 'alertmanager.yml'), stringify(am));
    const amPort = await freePort();
    mkdirSync(join(tmp, 'alertmanager'));
    const alertmanager = start('prometheus-alertmanager', [
      `--config.file=${join(tmp, 'alertmanager.yml')}`,
      `--storage.path=${join(tmp, 'alertmanager')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=',
    ]);
    await until(`Alertmanager to be ready (${alertmanager.output.join('\n')})`, async () => (await fetch(`http://127.0.0.1:${amPort}/-/ready`)).ok);

    // The rules: the shipped expressions, each `for` shortened to two 1s poll intervals.
    const rules = { groups: shippedRules.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, ...(r.for ? { for: '2s' } : {}) })) })) };
    writeFileSync(join(tmp, 'alerts.yml'), stringify(rules));

    // Prometheus: the shipped configuration, pointed at the test's processes.
    const config = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      scrape_configs: { job_name: string; scrape_interval?: string; proxy_url?: string; static_configs: { targets: string[] }[] }[];
    };
    config.global = { scrape_interval: '1s', evaluation_interval: '1s' };
    config.rule_files = [join(tmp, 'alerts.yml')];
    config.alerting.alertmanagers = [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }];
    const job = config.scrape_configs.find((j) => j.job_name === 'partner-security-score');
    if (!job) throw new Error('the shipped prometheus.yml has no partner-security-score job');
    config.scrape_configs = [{ ...job, scrape_interval: '1s', proxy_url: recorderUrl, static_configs: [{ targets: [demo, failing] }] }];
    prometheus = await startPrometheus({ dataDir: join(tmp, 'prometheus'), config: stringify(config) });

    // A few scrapes of both exporters, so range functions (increase, rate) have two samples.
    await until('three scrapes of both exporters', async () => {
      const counts = await prometheus?.query('count_over_time(partner_security_up[1m]) >= 3');
      return counts?.length === 2;
    });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all(children.map(stopChild));
    await new Promise((resolve) => webhook?.close(resolve));
    recorder?.closeAllConnections();
    await new Promise((resolve) => recorder?.close(resolve));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('serves every metric the dashboards and the alert rules name', async () => {
    const text = await (await fetch(`http://${demoAddress}/metrics`)).text();
    const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const exprs = [...dashboards.flatMap((d) => panelQueries(d).map((q) => q.expr)), ...shippedRules.flatMap((g) => g.rules.map((r) => r.expr))];
    const named = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(?:partner_security|process|nodejs)_[a-z0-9_]+\b/g)].map((m) => m[0])));
    expect(named.size).toBeGreaterThan(30);
    expect([...named].filter((name) => !served.has(name))).toEqual([]);
  });

  it.each(dashboards.map((d) => [d.title, d] as const))('answers every panel query of "%s" with at least one series', async (_title, dashboard) => {
    const p = prometheus as RunningPrometheus;
    // Resolve the query variables the way Grafana does: label_values(series selector, label), all selected.
    const values: Record<string, string> = { __rate_interval: '15s' };
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const [, selector = '', label] = /^label_values\((\w+(?:\{[^}]*\})?), (\w+)\)$/.exec(variable.definition ?? '') ?? [];
      const response = (await (await fetch(`${p.url}/api/v1/label/${label}/values?match[]=${encodeURIComponent(selector)}`)).json()) as { data: string[] };
      expect(response.data.length, `values of $${variable.name}`).toBeGreaterThan(0);
      values[variable.name] = `(${response.data.map(escapeRegex).join('|')})`;
    }
    const queries = panelQueries(dashboard).map(({ panel, expr }) => ({
      panel,
      expr: expr.replace(/\$(\w+)/g, (all, name: string) => values[name] ?? all),
    }));
    expect(queries.length).toBeGreaterThan(10);
    const empty: string[] = [];
    await Promise.all(
      queries.map(async ({ panel, expr }) => {
        expect(expr, panel).not.toContain('$');
        if ((await p.query(expr)).length === 0) empty.push(`${panel}: ${expr}`);
      }),
    );
    expect(empty).toEqual([]);
  });

  it('is scraped with gzip: Prometheus asks for it, the exporter answers it, and the samples arrive', async () => {
    const p = prometheus as RunningPrometheus;
    const demoScrapes = scrapes.filter((s) => s.target === demoAddress);
    expect(demoScrapes.length).toBeGreaterThanOrEqual(3);
    for (const scrape of demoScrapes) {
      expect(scrape.status).toBe(200);
      expect(scrape.acceptEncoding).toMatch(/\bgzip\b/);
      expect(scrape.contentEncoding).toBe('gzip');
    }
    // Every customer series of the plain answer is in Prometheus, from those gzip answers.
    const plain = await new Promise<string>((resolve, reject) => {
      request(`http://${demoAddress}/metrics`, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => (res.headers['content-encoding'] === undefined ? resolve(body) : reject(new Error('asked for no encoding, got one'))));
      })
        .on('error', reject)
        .end();
    });
    const customers = plain.match(/^partner_security_customer_users\{/gm)?.length ?? 0;
    expect(customers).toBeGreaterThan(100);
    const stored = await p.query(`count(partner_security_customer_users{instance="${demoAddress}"})`);
    expect(Number(stored[0]?.value[1])).toBe(customers);
    expect(Math.max(...demoScrapes.map((s) => s.bytes))).toBeLessThan(Buffer.byteLength(plain) / 8);
  });

  it('reports the injected Graph failure as data: partner_security_up 0 and a counted failure', async () => {
    const p = prometheus as RunningPrometheus;
    const up = await p.query(`partner_security_up{tenant_id="${FAILING_TENANT}"}`);
    expect(up.map((s) => s.value[1])).toEqual(['0']);
    const failures = await p.query(`sum(partner_security_poll_failures_total{tenant_id="${FAILING_TENANT}"})`);
    expect(Number(failures[0]?.value[1])).toBeGreaterThan(0);
    expect((await p.query('partner_security_up{tenant_id="demo"}')).map((s) => s.value[1])).toEqual(['1']);
  });

  it('delivers PartnerSecurityExporterPollFailing for the failing exporter to the webhook', async () => {
    const alert = await until('the failing-poll alert at the webhook', async () =>
      received.find((a) => a.labels.alertname === 'PartnerSecurityExporterPollFailing' && a.status === 'firing'),
    );
    expect(alert.labels).toMatchObject({ tenant_id: FAILING_TENANT, job: 'partner-security-score', severity: 'warning' });
    expect(alert.annotations.summary).toContain(FAILING_TENANT);
    expect(alert.annotations.runbook).toContain('poll failed');
  });

  it("delivers the demo tenant's non-compliant mandatory requirement, with its Partner Center link", async () => {
    const alert = await until('the mandatory requirement alert at the webhook', async () =>
      received.find((a) => a.labels.alertname === 'PartnerSecurityMandatoryRequirementNonCompliant' && a.status === 'firing'),
    );
    expect(alert.labels).toMatchObject({ tenant_id: 'demo', severity: 'critical' });
    expect(['mfaEnforcedForAdmins', 'securityAlertsPromptlyResolved', 'mfaEnforcedForAdminsOfCustomers']).toContain(alert.labels.requirement_type);
    expect(alert.labels.action_url).toMatch(/^https:\/\/partner\.microsoft\.com\//);
    expect(alert.annotations.runbook).toContain(alert.labels.action_url);
  });

  it('delivers PartnerSecurityAuthorizationAtRisk for the demo tenant, naming each failing mandatory requirement, its Partner Center page and the time to the next validation', async () => {
    const alert = await until('the authorization alert at the webhook', async () =>
      received.find((a) => a.labels.alertname === 'PartnerSecurityAuthorizationAtRisk' && a.status === 'firing'),
    );
    expect(alert.labels).toMatchObject({ tenant_id: 'demo', severity: 'critical' });
    // Prometheus ran the description's queries: the demo starts without admin MFA and with slow alert responses.
    expect(alert.annotations.description).toMatch(
      /Not met now: mfaEnforcedForAdmins \(https:\/\/partner\.microsoft\.com\/\S+#mfaEnforcedForAdmins\); securityAlertsPromptlyResolved \(https:\/\/partner\.microsoft\.com\/\S+#securityAlertsPromptlyResolved\); the next validation is in \d+d /,
    );
  });

  it("fires PartnerSecurityScoreLow on the demo tenant's starting score of 20", async () => {
    const p = prometheus as RunningPrometheus;
    const firing = await until('PartnerSecurityScoreLow to fire', async () => {
      const alerts = await p.query('ALERTS{alertname="PartnerSecurityScoreLow", alertstate="firing"}');
      return alerts.length > 0 && alerts;
    });
    expect(firing.map((a) => a.metric.tenant_id)).toEqual(['demo']);
  });

  it('keeps quiet where nothing is wrong: no failing-poll alert for the demo tenant, no exporter down or absent', async () => {
    const p = prometheus as RunningPrometheus;
    // By now the failing exporter's alert has fired: the demo tenant has had as long to do the same.
    expect(await p.query('ALERTS{alertname="PartnerSecurityExporterPollFailing", tenant_id="demo"}')).toEqual([]);
    expect(await p.query('ALERTS{alertname=~"PartnerSecurityExporter(Down|Absent)"}')).toEqual([]);
    expect(await p.query('ALERTS{alertname=~"PartnerSecurityScore(Dropped|DataStale)"}')).toEqual([]);
    expect(received.filter((a) => a.labels.tenant_id === 'demo' && a.labels.alertname === 'PartnerSecurityExporterPollFailing')).toEqual([]);
  });
});
