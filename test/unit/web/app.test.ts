import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/expose/metrics.js';
import { statusPageCsp } from '../../../src/expose/status/page.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';
import { initialSnapshot, type TenantSnapshot } from '../../../src/snapshot.js';
import { createApp } from '../../../src/web/app.js';
import { boundAddress, close, startWebServer } from '../../../src/web/server.js';

let server: Server | undefined;
afterEach(async () => {
  if (server) await close(server, 100);
  server = undefined;
});

async function start(snapshots: () => readonly TenantSnapshot[], telemetryPath = '/metrics', maxPlainBytes?: number): Promise<string> {
  const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
  const metrics = createMetrics({
    snapshots,
    build: { version: '9.9.9', nodeVersion: 'v24' },
    maxStalenessMs: 0,
    processMetrics: false,
    ...(maxPlainBytes === undefined ? {} : { maxPlainBytes }),
  });
  const app = createApp({ telemetryPath, metrics, snapshots, version: '9.9.9', logger });
  server = (await startWebServer({ app, address: { host: '127.0.0.1', port: 0 }, healthzWithoutAuth: false, logger })).server;
  return `http://${boundAddress(server)}`;
}

const polled = (over: Partial<TenantSnapshot> = {}): TenantSnapshot => ({
  ...initialSnapshot('t1'),
  score: { currentScore: 70, maxScore: 100 },
  lastSuccessMs: Date.now() - 5000,
  lastPoll: { startedMs: Date.now() - 5000, durationMs: 10, ok: true },
  nextPollMs: Date.now() + 60_000,
  polls: 1,
  ...over,
});

describe('HTTP server', () => {
  it('serves metrics on the telemetry path in the exposition format', async () => {
    const base = await start(() => [polled()], '/custom');
    const res = await fetch(`${base}/custom`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toContain('partner_security_score_current{tenant_id="t1"} 70');
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
  });

  it('sends a data part too big to keep chunked, rendered as it is written, the same text as a kept one', async () => {
    const tenants = Array.from({ length: 200 }, (_, i) => polled({ tenantId: `t${i}` }));
    const kept = await (await fetch(`${await start(() => tenants)}/metrics`)).text();
    if (server) await close(server, 100);
    // fetch asks for gzip unless told otherwise: this is the plain answer.
    const res = await fetch(`${await start(() => tenants, '/metrics', 1000)}/metrics`, { headers: { 'Accept-Encoding': 'identity' } });
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(await res.text()).toBe(kept);
    expect(kept.length).toBeGreaterThan(10_000);
  });

  it('answers a gzip scrape between polls from the kept answer with the headers and bytes of the first, and reads each Accept-Encoding anew', async () => {
    let snapshots = [polled()];
    const base = await start(() => snapshots);
    const { request } = await import('node:http');
    // node:http, not fetch: fetch decodes gzip and hides the raw answer.
    const get = (encoding: string) =>
      new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        request(`${base}/metrics`, { headers: { 'Accept-Encoding': encoding } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const { date: _date, ...headers } = res.headers;
            resolve({ headers, body: Buffer.concat(chunks) });
          });
        })
          .on('error', reject)
          .end();
      });
    const first = await get('gzip');
    const kept = await get('gzip');
    expect(kept).toEqual(first);
    expect(first.headers).toMatchObject({
      'content-encoding': 'gzip',
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': String(first.body.length),
      vary: 'Accept-Encoding',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
    const { gunzipSync } = await import('node:zlib');
    expect(gunzipSync(kept.body).toString('utf8')).toContain('partner_security_score_current{tenant_id="t1"} 70');
    // Another Accept-Encoding on the next scrape is read, not taken from the last one.
    const plain = await get('identity');
    expect([plain.headers['content-encoding'], plain.body.toString('utf8')]).toEqual([undefined, gunzipSync(kept.body).toString('utf8')]);
    expect((await get('gzip;q=0')).headers['content-encoding']).toBeUndefined();
    // A new poll: the next gzip scrape has its data, not the kept answer's.
    snapshots = [polled({ score: { currentScore: 71, maxScore: 100 } })];
    expect(gunzipSync((await get('gzip')).body).toString('utf8')).toContain('partner_security_score_current{tenant_id="t1"} 71');
  });

  it('writes a kept gzip answer of several chunks (a big one, not joined) whole, with its length', async () => {
    const snapshots = () => [polled()];
    const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
    const real = createMetrics({ snapshots, build: { version: '9.9.9', nodeVersion: 'v24' }, maxStalenessMs: 0, processMetrics: false });
    const whole = Buffer.concat(await real.renderGzipChunks());
    // The same gzip stream in three chunks, as the kept answer of a big data part comes.
    const chunks = [whole.subarray(0, 10), whole.subarray(10, 20), whole.subarray(20)];
    const metrics = { ...real, gzipNow: () => chunks, renderGzipChunks: async () => chunks };
    const app = createApp({ telemetryPath: '/metrics', metrics, snapshots, version: '9.9.9', logger });
    server = (await startWebServer({ app, address: { host: '127.0.0.1', port: 0 }, healthzWithoutAuth: false, logger })).server;
    const { request } = await import('node:http');
    const answer = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      request(`http://${boundAddress(server as Server)}/metrics`, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
      })
        .on('error', reject)
        .end();
    });
    expect(answer.body).toEqual(whole);
    expect(answer.headers).toMatchObject({ 'content-encoding': 'gzip', 'content-length': String(whole.length), vary: 'Accept-Encoding' });
    const { gunzipSync } = await import('node:zlib');
    expect(gunzipSync(answer.body).toString('utf8')).toContain('partner_security_score_current{tenant_id="t1"} 70');
  });

  it('is ready only once every tenant has been polled', async () => {
    let snapshots: TenantSnapshot[] = [initialSnapshot('t1')];
    const base = await start(() => snapshots);
    const waiting = await fetch(`${base}/readyz`);
    expect([waiting.status, await waiting.text()]).toEqual([503, 'waiting for the first poll\n']);
    snapshots = [polled({ lastPoll: { startedMs: 0, durationMs: 1, ok: false, reason: 'throttled' } })];
    const ready = await fetch(`${base}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([200, 'ready\n']);
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
  });

  it('has a status page naming the exporter, linking to metrics and showing the last poll', async () => {
    const base = await start(() => [polled()]);
    const res = await fetch(`${base}/`);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(statusPageCsp());
    const html = await res.text();
    expect(html).toContain('<h1>Partner security score exporter</h1>');
    expect(html).toContain('version 9.9.9');
    expect(html).toContain('<a href="/metrics">Metrics</a>');
    expect(html).toContain('<a href="/healthz">Health</a>');
    expect(html).toContain('<a href="/readyz">Readiness</a>');
    expect(html).toMatch(/<td>t1<\/td><td>70 \/ 100<\/td><td><span class="chip ok">✓ succeeded<\/span><\/td><td>5s ago .*?<\/td><td>in (59s|1m)/);
  });

  it('escapes whatever Graph or the config put on the page', async () => {
    const hostile = '<script>alert("x")</script>';
    const base = await start(() => [
      polled({ tenantId: hostile, lastPoll: { startedMs: Date.now(), durationMs: 1, ok: false, reason: 'http_error', message: `Graph said ${hostile}` } }),
    ]);
    const html = await (await fetch(`${base}/`)).text();
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('answers %s with 405 and Allow', async (method) => {
    const base = await start(() => [polled()]);
    for (const path of ['/metrics', '/', '/api/status', '/healthz', '/readyz']) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    }
  });

  it('answers HEAD like GET without a body, and unknown paths with 404', async () => {
    const base = await start(() => [polled()]);
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    for (const path of ['/nope', '/metrics/extra', '/metrics/..%2f', '/favicon.ico']) {
      expect((await fetch(`${base}${path}`)).status).toBe(404);
    }
    const res = await fetch(`${base}/nope`);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
