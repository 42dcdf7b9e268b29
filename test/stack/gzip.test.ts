import { execFile, execFileSync, spawn } from 'node:child_process';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { getRaw } from '../../scripts/bench/lib.js';
import { createMetrics } from '../../src/expose/metrics.js';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { initialSnapshot, POLICIES, type TenantSnapshot } from '../../src/snapshot.js';
import { createApp } from '../../src/web/app.js';
import { boundAddress, close, startWebServer } from '../../src/web/server.js';
import { track } from '../helpers/children.js';
import { INTEGRATION_TIMEOUT_MS, until } from '../helpers/exporter.js';

let server: Server | undefined;
afterEach(async () => {
  if (server) await close(server, 100);
  server = undefined;
});

const customers = Array.from({ length: 200 }, (_, i) => ({
  tenantId: `c${String(i).padStart(4, '0')}-0000-4000-8000-000000000000`,
  compliantAdmins: i % 7,
  compliantNonAdmins: i % 11,
  totalUsers: 20 + i,
  policies: {},
}));

const polled = (at = Date.now()): TenantSnapshot => ({
  ...initialSnapshot('t1'),
  score: { currentScore: 70, maxScore: 100 },
  relations: {
    customerInsights: {
      customers,
      seen: customers.length,
      policyEnabled: Object.fromEntries(POLICIES.map((p) => [p, 0])) as Record<(typeof POLICIES)[number], number>,
      pages: 1,
      truncated: false,
    },
  },
  lastSuccessMs: at - 5000,
  lastPoll: { startedMs: at - 5000, durationMs: 10, ok: true },
  nextPollMs: at + 60_000,
  polls: 1,
});

async function start(processMetrics: boolean, segmented = false): Promise<string> {
  const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
  const at = Date.now();
  const snapshot = polled(at);
  // Segmented: a new poll (with the same data) before every scrape, and a data part bigger than the plain bound (src/expose/data-part.ts).
  const snapshots = segmented ? () => [polled(at), { ...polled(at), tenantId: 't2' }] : () => [snapshot];
  const metrics = createMetrics({
    snapshots,
    build: { version: '9.9.9', nodeVersion: 'v24' },
    maxStalenessMs: 0,
    processMetrics,
    ...(segmented ? { maxPlainBytes: 1000 } : {}),
  });
  const app = createApp({ telemetryPath: '/metrics', metrics, snapshots, version: '9.9.9', logger });
  server = (await startWebServer({ app, address: { host: '127.0.0.1', port: 0 }, healthzWithoutAuth: false, logger })).server;
  return `http://${boundAddress(server)}`;
}

/** Everything before the process metrics: the part that changes only when a poll lands. */
const dataPart = (text: string) => text.slice(0, text.search(/^# HELP (process|nodejs)_/m) >>> 0);

describe('gzip on /metrics', () => {
  it.each([
    ['gzip', 'gzip'],
    ['gzip, deflate, br, zstd', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['*', 'gzip'],
    ['br;q=1.0, gzip;q=0.8, *;q=0.1', 'gzip'],
    ['gzip;q=0.5, identity;q=0.5', 'gzip'],
    [undefined, 'identity'],
    ['', 'identity'],
    ['identity', 'identity'],
    ['deflate, br', 'identity'],
    ['gzip;q=0', 'identity'],
    ['gzip;q=0.000', 'identity'],
    ['*;q=0', 'identity'],
    ['gzip;q=0, *', 'identity'],
    ['gzip;q=0.5, identity', 'identity'],
    ['gzip;q=abc', 'identity'],
    ['gzip;q=2', 'identity'],
  ])('Accept-Encoding %j gets %s, with Vary: Accept-Encoding', async (accept, expected) => {
    const base = await start(false);
    const answer = await getRaw(`${base}/metrics`, accept === undefined ? {} : { 'Accept-Encoding': accept });
    expect(answer.status).toBe(200);
    expect(answer.headers.vary).toBe('Accept-Encoding');
    expect([answer.headers['x-content-type-options'], answer.headers['cache-control']]).toEqual(['nosniff', 'no-store']);
    expect(answer.headers['content-length']).toBe(String(answer.body.length));
    const plain = await getRaw(`${base}/metrics`, {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    if (expected === 'gzip') {
      expect(answer.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(answer.body).toString('utf8')).toBe(plain.body.toString('utf8'));
      expect(answer.body.length).toBeLessThan(plain.body.length / 8);
    } else {
      expect(answer.headers['content-encoding']).toBeUndefined();
      expect(answer.body.toString('utf8')).toBe(plain.body.toString('utf8'));
    }
  });

  it.each([
    ['whole', false],
    ['in segments per tenant', true],
  ])('is one standard gzip stream (%s): gzip(1), Python and curl --compressed decode it to the plain answer', async (_, segmented) => {
    const base = await start(true, segmented);
    const plain = (await getRaw(`${base}/metrics`, {})).body.toString('utf8');
    const gzipped = (await getRaw(`${base}/metrics`, { 'Accept-Encoding': 'gzip' })).body;
    expect(plain).toContain('process_resident_memory_bytes');
    const decoded: Record<string, string> = {
      gzip: execFileSync('gzip', ['-dc'], { input: gzipped, encoding: 'utf8' }),
      python: execFileSync('python3', ['-c', 'import gzip, sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))'], {
        input: gzipped,
        encoding: 'utf8',
      }),
      // curl asks for gzip itself, checks the stream and its trailer, and decodes. Not execFileSync:
      // the server answering it runs in this process.
      curl: (await promisify(execFile)('curl', ['-sS', '--fail', '--compressed', '--noproxy', '*', `${base}/metrics`], { encoding: 'utf8' })).stdout,
    };
    for (const [name, text] of Object.entries(decoded)) {
      expect(dataPart(text), name).toBe(dataPart(plain));
      expect(text, name).toMatch(/^process_resident_memory_bytes \d+$/m);
      expect(text.endsWith('\n'), name).toBe(true);
    }
  });

  it('gzip -t rejects the answer with its trailer damaged (the check can fail)', async () => {
    const base = await start(true);
    const gzipped = Buffer.from((await getRaw(`${base}/metrics`, { 'Accept-Encoding': 'gzip' })).body);
    gzipped.writeUInt32LE((gzipped.readUInt32LE(gzipped.length - 8) ^ 1) >>> 0, gzipped.length - 8);
    expect(() => execFileSync('gzip', ['-t'], { input: gzipped, stdio: ['pipe', 'pipe', 'pipe'] })).toThrow(/crc error/);
  });
});

describe('gzip of the demo exporter', () => {
  const children: ReturnType<typeof spawn>[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  it('serves the demo tenant in at most 1/8 of the bytes, decoding to the same text', { timeout: INTEGRATION_TIMEOUT_MS }, async () => {
    const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
    const child = track(
      spawn(process.execPath, [main, '--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json'], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    children.push(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const address = await until(() => /"msg":"exporter started".*?"address":"([^"]+)"/.exec(stderr)?.[1], 30_000, 'the demo exporter to start');
    const url = `http://${address}/metrics`;
    const plain = await until(
      async () => {
        const body = (await getRaw(url, {})).body.toString('utf8');
        return body.includes('partner_security_customer_users{') ? body : undefined;
      },
      30_000,
      'the demo data',
    );
    const gzipped = await getRaw(url, { 'Accept-Encoding': 'gzip' });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(dataPart(gunzipSync(gzipped.body).toString('utf8'))).toBe(dataPart(plain));
    expect(gzipped.body.length).toBeLessThanOrEqual(Buffer.byteLength(plain) / 8);
  });
});
