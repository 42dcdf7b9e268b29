/** Small pieces `npm run bench` is built from: /proc readings, wrk runs and their parsing, child processes, medians. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';

/**
 * How `npm start` (and the image) runs the exporter: its node flags and the environment it sets
 * (MALLOC_ARENA_MAX). The bench measures what ships, so it reads both from package.json.
 */
export function shippedStart(packageJson: string): { readonly flags: readonly string[]; readonly env: Readonly<Record<string, string>> } {
  const words = (JSON.parse(readFileSync(packageJson, 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/);
  const env: Record<string, string> = {};
  for (const word of words) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (assignment?.[1] !== undefined) env[assignment[1]] = assignment[2] ?? '';
  }
  return { flags: words.filter((word) => word.startsWith('--')), env };
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Rounds for the table and the JSON: figures are noisy far above the third significant digit. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const scale = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * scale) / scale;
}

let clockTicks: number | undefined;
/** USER_HZ, the unit of utime and stime in /proc/<pid>/stat (100 on every Linux in practice). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU seconds (user + system) a process has used so far, threads included. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: the fields after it start past the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}

/** Resident set size now, in bytes. */
export function rssBytes(pid: number): number {
  return statusKb(pid, 'VmRSS') * 1024;
}

/**
 * Watches the peak RSS of a process over a window. Linux resets the high-water mark (VmHWM) when
 * "5" is written to /proc/<pid>/clear_refs; where that is refused, VmRSS is sampled every 50 ms.
 */
export function watchPeakRss(pid: number): () => number {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return () => statusKb(pid, 'VmHWM') * 1024;
  } catch {
    let peak = rssBytes(pid);
    const timer = setInterval(() => {
      try {
        peak = Math.max(peak, rssBytes(pid));
      } catch {}
    }, 50);
    return () => {
      clearInterval(timer);
      return Math.max(peak, rssBytes(pid));
    };
  }
}

/** What one wrk run measured. */
export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Non-2xx/3xx answers plus socket errors: any of them makes the run suspect. */
  readonly errors: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

/** Reads `wrk --latency` output. */
export function parseWrk(output: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(output);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m)$/m.exec(output);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)$/m.exec(output);
  if (!total || !rps || !p50 || !p99) throw new Error(`cannot read wrk's output:\n${output}`);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requests: Number(total[1]),
    seconds: toMs(total[2] ?? '0', total[3] ?? 's') / 1000,
    requestsPerSecond: Number(rps[1]),
    p50Ms: toMs(p50[1] ?? '', p50[2] ?? ''),
    p99Ms: toMs(p99[1] ?? '', p99[2] ?? ''),
    errors: non2xx + socketErrors,
  };
}

/** The load every server gets. */
export interface Load {
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
}

/** Runs wrk against a URL (with extra request headers) and returns its raw output. */
export function runWrk(url: string, load: Load, headers: Readonly<Record<string, string>> = {}): Promise<string> {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const args = [`-t${load.threads}`, `-c${load.connections}`, `-d${load.seconds}s`, '--latency', '--timeout', '10s', ...headerArgs, url];
  return new Promise((resolve, reject) => {
    const child = track(spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}:\n${out}`))));
  });
}

const children = new Set<ChildProcess>();

/** Remembers a child so that killChildren() ends it whatever happens to the bench. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Ends one child (SIGTERM, then SIGKILL after a grace period) and resolves when it is gone. */
export function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** SIGKILLs every child still running, by its own pid only. */
export function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** A TCP port free on 127.0.0.1 a moment ago (for servers that cannot report the one they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls fn every intervalMs until it returns a value other than undefined; fails after timeoutMs. */
export async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** GET a URL on loopback: status and body text, failing fast. */
export async function get(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.text() };
}

/** GET with exactly these headers; the body as sent (fetch would decode a gzip answer). */
export function getRaw(
  url: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs = 5000,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** Runs a child to completion and returns its standard output; rejects with its stderr when it fails. */
export function runToEnd(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} ended with ${code ?? signal}:\n${err}`));
    });
  });
}
