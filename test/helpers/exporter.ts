/**
 * Runs the built exporter (node dist/main.js) as a child process against the fake cloud, the way
 * users run it: flags, an explicit environment, JSON logs on stderr, signals to stop it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killChild, track } from './children.js';
import type { FakeCloud } from './fake-cloud.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
/** The CA the fake cloud's certificate is signed by. */
export const TEST_CA = fileURLToPath(new URL('../fixtures/tls/ca.pem', import.meta.url));

/**
 * Per-test timeout of the integration suites: generous, because every test spawns a Node process
 * and a loaded 2-core machine can take seconds to start one; the waits inside fail much sooner.
 */
export const INTEGRATION_TIMEOUT_MS = 60_000;

/** Tenant and client IDs the tests configure (GUID-shaped, like real ones). */
export const TENANT_ID = '8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b';
export const CLIENT_ID = '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40';
/** A distinctive client secret; it must never show up in a log line, a metric or the landing page. */
export const CLIENT_SECRET = 'Zq8~s3cr3t.V4lue_nEVER-l0gged-7Kp2';

/** Environment every exporter run gets: nothing inherited but PATH, the test CA and the fake authority. */
export function baseEnv(cloud: FakeCloud): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_EXTRA_CA_CERTS: TEST_CA, AZURE_AUTHORITY_HOST: cloud.url };
}

/** A client secret credential for the fake Entra ID. */
export function clientSecretEnv(secret: string = CLIENT_SECRET): Record<string, string> {
  return { AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID, AZURE_CLIENT_SECRET: secret };
}

/** One sample of the exposition text. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text format (comments skipped; label values unescaped). */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    }
    const raw = match[3] ?? '';
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    samples.push({ name: match[1] ?? '', labels, value });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include the given ones; undefined if none. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** The sum of the samples with this name whose labels include the given ones (over the labels not given, e.g. reason); undefined if none. */
export function sampleSum(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
}

/** The distinct tenant_id labels of the exporter's own series (partner_security_*). */
export function tenantIds(samples: readonly Sample[]): string[] {
  return [...new Set(samples.flatMap((s) => (s.name.startsWith('partner_security_') && s.labels.tenant_id !== undefined ? [s.labels.tenant_id] : [])))];
}

/** Polls fn until it returns something other than undefined, false or null; fails after timeoutMs. */
export async function until<T>(fn: () => T | Promise<T>, timeoutMs: number, what = 'condition'): Promise<Exclude<T, undefined | false | null>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false && value !== null) return value as Exclude<T, undefined | false | null>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError instanceof Error ? lastError.message : String(lastError)}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One parsed JSON log line. */
export type LogRecord = Record<string, unknown> & { msg?: string; level?: string };

export interface ExitResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** A running exporter. */
export interface Exporter {
  readonly child: ChildProcess;
  /** host:port from the "exporter started" log line. */
  readonly address: string;
  readonly url: string;
  /** Every stderr line so far. */
  readonly stderrLines: string[];
  readonly stdout: () => string;
  /** stderr lines that are JSON log records. */
  logs(): LogRecord[];
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitResult & { at: number }>;
  get(path: string): Promise<HttpAnswer>;
  /** GET /metrics as samples. */
  samples(): Promise<Sample[]>;
  /** One metric value from a fresh scrape. */
  value(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** Sends a signal and resolves with how the process ended and how long that took (or that it still runs after waitMs). */
  stop(signal?: NodeJS.Signals, waitMs?: number): Promise<ExitResult & { ms: number; running: boolean }>;
}

const running = new Set<ChildProcess>();

function kill(child: ChildProcess): Promise<void> {
  running.delete(child);
  return killChild(child);
}

/**
 * Kills every exporter the tests left running (afterEach / afterAll). Every file's exporters are
 * killed when it ends anyway (test/helpers/children.ts); this ends them sooner.
 */
export async function killExporters(): Promise<void> {
  await Promise.all([...running].map(kill));
  running.clear();
}

export interface StartOptions {
  cloud: FakeCloud;
  /** Extra flags; one named like a default replaces it. */
  args?: readonly string[];
  /** The credential environment (default: client secret); a value of undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** How long to wait for "exporter started". */
  startTimeoutMs?: number;
  /** The test context's onTestFinished: the process is killed when the (possibly concurrent) test ends. */
  onTestFinished?: (fn: () => Promise<void>) => void;
}

/**
 * The default flags with those the test gives: a flag the test gives replaces its default (the
 * exporter refuses a flag given twice).
 */
export function withDefaults(defaults: readonly string[], args: readonly string[]): string[] {
  const name = (arg: string) => /^--(?:no-)?([^=]+)/.exec(arg)?.[1];
  const given = new Set<string | undefined>(args.map(name).filter((n) => n !== undefined));
  return [...defaults.filter((arg) => !given.has(name(arg))), ...args];
}

/**
 * The flags every test run gets. The security alerts collector (on by default, one more request
 * per poll) is off here, so that tests of polling count one request per poll; the security-alerts
 * tests turn it on (a flag the test gives replaces its default).
 */
export function defaultArgs(cloud: FakeCloud): string[] {
  return [`--graph.endpoint=${cloud.url}`, '--web.listen-address=127.0.0.1:0', '--log.format=json', '--no-collector.security-alerts'];
}

/** Turns the security alerts collector back on over defaultArgs. */
export const WITH_SECURITY_ALERTS = '--collector.security-alerts';

function buildEnv(cloud: FakeCloud, env: Record<string, string | undefined> | undefined): Record<string, string> {
  const merged: Record<string, string | undefined> = { ...baseEnv(cloud), ...(env ?? clientSecretEnv()) };
  return Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined));
}

function spawnMain(args: readonly string[], env: Record<string, string>, fileSizeLimitKiB?: number): ChildProcess {
  // A file size limit (bash's ulimit -f, in KiB) makes writes fail the way a full disk does.
  const child =
    fileSizeLimitKiB === undefined
      ? spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `ulimit -f ${fileSizeLimitKiB} && exec "$0" "$@"`, process.execPath, MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Starts the exporter and resolves once it logged "exporter started". */
export async function startExporter(options: StartOptions): Promise<Exporter> {
  const child = spawnMain(withDefaults(defaultArgs(options.cloud), options.args ?? []), buildEnv(options.cloud, options.env));
  options.onTestFinished?.(() => kill(child));
  const stderrLines: string[] = [];
  let stdout = '';
  let partial = '';
  const listeners = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    stderrLines.push(...lines);
    for (const listener of listeners) listener();
  });
  let exitAt: number | undefined;
  child.once('exit', () => {
    exitAt = Date.now();
  });
  // 'close' comes after the pipes are drained, so the last log lines are in stderrLines by then.
  const exited = new Promise<ExitResult & { at: number }>((resolve) => {
    child.once('close', (code, signal) => {
      if (partial !== '') stderrLines.push(partial);
      partial = '';
      resolve({ code, signal, at: exitAt ?? Date.now() });
    });
  });
  const logs = () =>
    stderrLines.flatMap((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return parsed && typeof parsed === 'object' ? [parsed as LogRecord] : [];
      } catch {
        return [];
      }
    });

  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`the exporter did not start within ${options.startTimeoutMs ?? 30_000} ms; stderr:\n${stderrLines.join('\n')}`));
    }, options.startTimeoutMs ?? 30_000);
    const check = () => {
      const started = logs().find((l) => l.msg === 'exporter started');
      if (started && typeof started.address === 'string') {
        clearTimeout(timer);
        listeners.delete(check);
        resolve(started.address);
      }
    };
    listeners.add(check);
    exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`the exporter exited (${exit.code ?? exit.signal}) before it started; stderr:\n${stderrLines.join('\n')}`));
    });
  });
  const url = `http://${address}`;

  const get = async (path: string): Promise<HttpAnswer> => {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.text() };
  };
  const samples = async () => {
    const answer = await get('/metrics');
    if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}: ${answer.body}`);
    return parseSamples(answer.body);
  };
  return {
    child,
    address,
    url,
    stderrLines,
    stdout: () => stdout,
    logs,
    exited,
    get,
    samples,
    value: async (name, labels) => sampleValue(await samples(), name, labels),
    async stop(signal = 'SIGTERM', waitMs = 6000) {
      const sent = Date.now();
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), waitMs);
      });
      const exit = await Promise.race([exited, gaveUp]);
      clearTimeout(timer);
      // Still running: report it as such; the process is killed when the test finishes.
      if (exit === undefined) return { code: null, signal: null, ms: Date.now() - sent, running: true };
      return { code: exit.code, signal: exit.signal, ms: exit.at - sent, running: false };
    },
  };
}

/** Runs the exporter to completion (bad configuration, --help): exit code and output. */
export async function runExporter(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
  limits: { fileSizeKiB?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawnMain(args, env, limits.fileSizeKiB);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}
