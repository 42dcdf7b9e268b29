/**
 * The connection flood of `npm run bench` (issue 19, item 8), run as its own process: the demo
 * exporter with basic auth, 1,000 keep-alive connections from 127.0.0.2 sending requests without
 * a password as fast as they are answered (and reconnecting each one the server closes), an
 * authenticated keep-alive scraper on 127.0.0.1 every 5 s (10 s timeout), and a new connection
 * from 127.0.0.3 every 250 ms (10 s timeout). Prints one JSON object (FloodResult).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';

/** What the flood run prints. */
export interface FloodResult {
  readonly seconds: number;
  readonly connections: number;
  /** The authenticated scraper's keep-alive scrapes: how many, how many answered 200 within 10 s, and whether its connection was closed. */
  readonly scrapes: { readonly total: number; readonly ok: number; readonly closed: boolean };
  /** New connections from another address: how many, how many answered within 10 s, and the time to the answer. */
  readonly fresh: { readonly total: number; readonly answered: number; readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number };
  /** What the flood did: requests answered (401) and connections opened. */
  readonly flood: { readonly requests: number; readonly connects: number };
}

const TIMEOUT_MS = 10_000;
const { values } = parseArgs({
  options: {
    exporter: { type: 'string' },
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '1000' },
    port: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const port = Number(values.port);
const dir = mkdtempSync(join(tmpdir(), 'partner-security-flood-'));
const webConfig = join(dir, 'web.yml');
writeFileSync(webConfig, `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('bench-password', 10)}\n`);
const exporter = spawn(
  process.execPath,
  [values.exporter ?? '', '--demo', `--web.listen-address=127.0.0.1:${port}`, `--web.config.file=${webConfig}`, '--log.format=json'],
  { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe'] },
);
let stderr = '';
exporter.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
  stderr += chunk;
});

const sockets = new Set<Socket>();
let stopping = false;
let requests = 0;
let connects = 0;

/** One flood connection: a request without a password after every answer; a new connection when it is closed. */
function floodConnection(): void {
  if (stopping) return;
  connects++;
  const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  sockets.add(socket);
  const send = () => {
    if (!socket.destroyed) socket.write('GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n');
  };
  socket.on('connect', send);
  socket.on('data', () => {
    requests++;
    setImmediate(send);
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    sockets.delete(socket);
    setImmediate(floodConnection);
  });
}

/** One request; resolves with the time to the first byte of the answer and its status, or a timeout. */
function ask(request: string, socket: Socket | undefined, from: string): Promise<{ ms: number; status: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const s = socket ?? connect({ port, host: '127.0.0.1', localAddress: from });
    const done = (status: number) => {
      clearTimeout(timer);
      s.off('data', onData);
      if (socket === undefined) s.destroy();
      resolve({ ms: performance.now() - started, status });
    };
    const onData = (chunk: Buffer) => done(Number(chunk.toString('latin1').split(' ')[1]));
    const timer = setTimeout(() => done(0), TIMEOUT_MS);
    s.on('data', onData);
    s.on('error', () => {});
    if (socket === undefined) s.once('connect', () => s.write(request));
    else s.write(request);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  const deadline = Date.now() + 30_000;
  while (!stderr.includes('"exporter started"')) {
    if (Date.now() > deadline || exporter.exitCode !== null) throw new Error(`the exporter did not start: ${stderr}`);
    await sleep(50);
  }
  for (let i = 0; i < connections; i++) floodConnection();
  const scraper = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
  let scraperClosed = false;
  scraper.on('close', () => {
    scraperClosed = true;
  });
  scraper.on('error', () => {});
  await new Promise((r) => scraper.once('connect', r));
  const authorization = `Basic ${Buffer.from('prometheus:bench-password').toString('base64')}`;
  const end = Date.now() + seconds * 1000;
  const scrapes: number[] = [];
  const fresh: { ms: number; status: number }[] = [];
  await Promise.all([
    (async () => {
      while (Date.now() < end) {
        scrapes.push((await ask(`GET /metrics HTTP/1.1\r\nHost: bench\r\nAuthorization: ${authorization}\r\n\r\n`, scraper, '127.0.0.1')).status);
        await sleep(5000);
      }
    })(),
    (async () => {
      while (Date.now() < end) {
        fresh.push(await ask('GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n', undefined, '127.0.0.3'));
        await sleep(250);
      }
    })(),
  ]);
  const answered = fresh.filter((f) => f.status > 0);
  const times = fresh.map((f) => f.ms).sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(times.length * q))] ?? 0;
  const result: FloodResult = {
    seconds,
    connections,
    scrapes: { total: scrapes.length, ok: scrapes.filter((s) => s === 200).length, closed: scraperClosed },
    fresh: { total: fresh.length, answered: answered.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: times.at(-1) ?? 0 },
    flood: { requests, connects },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  stopping = true;
  for (const socket of sockets) socket.destroy();
  exporter.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
