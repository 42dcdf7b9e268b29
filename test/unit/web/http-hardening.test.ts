import type { Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/expose/metrics.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';
import { initialSnapshot } from '../../../src/snapshot.js';
import { createApp } from '../../../src/web/app.js';
import { boundAddress, close, startWebServer, type WebServer } from '../../../src/web/server.js';

let web: WebServer;
let host: string;
let port: number;

beforeAll(async () => {
  const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
  const snapshots = () => [
    { ...initialSnapshot('t1'), score: { currentScore: 1 }, lastSuccessMs: Date.now(), lastPoll: { startedMs: Date.now(), durationMs: 1, ok: true } },
  ];
  const metrics = createMetrics({ snapshots, build: { version: 'v', nodeVersion: 'n' }, maxStalenessMs: 0, processMetrics: false });
  const app = createApp({ telemetryPath: '/metrics', metrics, snapshots, version: 'v', logger });
  web = await startWebServer({
    app,
    address: { host: '127.0.0.1', port: 0 },
    healthzWithoutAuth: false,
    logger,
    timeouts: { headersTimeout: 500, requestTimeout: 1000 },
    // 200 connections at once from one address below: more than one address may hold by default.
    maxConnectionsPerAddress: 256,
  });
  [host, port] = [boundAddress(web.server as Server).split(':')[0] ?? '127.0.0.1', Number(boundAddress(web.server as Server).split(':')[1])];
});
afterAll(async () => {
  web.stop();
  await close(web.server as Server, 100);
});

/**
 * Sends raw bytes and returns what the server answered before closing, and whether the server
 * closed the connection (rather than this side, after waitMs).
 */
function raw(data: string, options: { waitMs?: number; keepOpen?: boolean } = {}): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let text = '';
    let gaveUp = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
    });
    // The server may reset the connection right after answering (431): keep what it said.
    socket.on('error', (error) => (text ? resolve({ text, closedByServer: !gaveUp }) : reject(error)));
    socket.on('close', () => resolve({ text, closedByServer: !gaveUp }));
    socket.write(data);
    if (!options.keepOpen) socket.end();
    const timer = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, options.waitMs ?? 5000);
    socket.on('close', () => clearTimeout(timer));
  });
}

const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);

describe('HTTP hardening', () => {
  it('rejects request smuggling: Content-Length together with Transfer-Encoding', async () => {
    const { text } = await raw(
      'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(status(text)).toBe(400);
    expect(text).not.toContain('partner_security_score_current');
  });

  it('rejects a malformed Transfer-Encoding and a duplicate Content-Length', async () => {
    expect(status((await raw('GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n')).text)).toBe(400);
    expect(status((await raw('GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab')).text)).toBe(400);
  });

  it('answers very long URLs and headers with 431, not a crash', async () => {
    expect(status((await raw(`GET /metrics?${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)).text)).toBe(431);
    expect(status((await raw(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: ${'b'.repeat(100_000)}\r\n\r\n`)).text)).toBe(431);
    expect((await fetch(`http://${host}:${port}/healthz`)).status).toBe(200);
  });

  it('cuts off a client that sends its headers too slowly', async () => {
    // headersTimeout is 500 ms; the client would wait 20 s: the server, not the client, ends it.
    const { text, closedByServer } = await raw('GET /metrics HTTP/1.1\r\nHost: x\r\n', { keepOpen: true, waitMs: 20_000 });
    expect(status(text)).toBe(408);
    expect(closedByServer).toBe(true);
  });

  it('answers many connections at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, () => fetch(`http://${host}:${port}/metrics`).then(async (r) => [r.status, (await r.text()).length] as const)),
    );
    expect(results.every(([s, n]) => s === 200 && n > 100)).toBe(true);
  });

  it.each(['/metrics/..', '/metrics/../healthz/x', '/%2e%2e/metrics', '/metrics%2f', '/metrics%2F..', '/METRICS', '/metrics.json', '/..%2fmetrics'])(
    'does not serve metrics at %s',
    async (path) => {
      const { text } = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(status(text)).toBe(404);
      expect(text).not.toContain('partner_security_score_current');
    },
  );
});
