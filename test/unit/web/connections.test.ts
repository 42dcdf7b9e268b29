/**
 * Which connection the web server closes when too many are open, through the real server on
 * loopback: connections that never authenticated go first, one address holds at most
 * --web.max-connections-per-address (and never more than half of --web.max-connections), an idle
 * connection that has not authenticated is closed soon, and an authenticated scraper's connection
 * is never the one closed. Each assertion names the sockets closed, never a time.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { type AddressInfo, createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, createRedactor } from '../../../src/lib/log.js';
import { boundAddress, close, startWebServer, type WebServer, type WebServerOptions } from '../../../src/web/server.js';
import { basicAuth, type RawClient, rawClient } from '../../helpers/raw-client.js';

const HASH = bcrypt.hashSync('s3cret-pass', 4);
const AUTH = basicAuth('prometheus', 's3cret-pass');
const lines: string[] = [];
const logger = createLogger({ level: 'info', format: 'json', redact: createRedactor(), write: (l) => lines.push(l) });
const app: RequestListener = (req, res) => res.end(`port ${req.socket.remotePort}\n`);
let running: WebServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const c of clients) c.destroy();
  clients.length = 0;
  lines.length = 0;
  if (running) {
    running.stop();
    await Promise.all(running.servers.map((server) => close(server, 100)));
  }
  running = undefined;
});

/** A web config requiring basic auth. */
function authConfig(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pss-connections-')), 'web.yml');
  writeFileSync(file, `basic_auth_users:\n  prometheus: ${HASH}\n`);
  return file;
}

async function serve(options: Partial<WebServerOptions> = {}): Promise<{ web: WebServer; target: { host: string; port: number } }> {
  running = await startWebServer({ app, address: { host: '127.0.0.1', port: 0 }, healthzWithoutAuth: false, logger, ...options });
  const port = Number(boundAddress(running.server).split(':')[1]);
  return { web: running, target: { host: '127.0.0.1', port } };
}

/** Resolves once check() holds; polls every 10 ms for at most 10 s (a bounded wait for an event, not a timing). */
async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Connects from `from` and waits until the server has taken the connection in (or closed it). */
async function open(web: WebServer, target: { host: string; port: number }, from: string): Promise<RawClient> {
  const client = await rawClient(target, from);
  clients.push(client);
  await until(() => client.isClosed() || web.connections().some((c) => c.remotePort === client.port), `the server to take ${from}:${client.port}`);
  return client;
}

const held = (web: WebServer) => web.connections().map((c) => c.remotePort);

describe('--web.max-connections', () => {
  it('holds exactly the limit: at the limit every connection stays, one beyond closes exactly one, the oldest idle', async () => {
    const { web, target } = await serve({ maxConnections: 4, maxConnectionsPerAddress: 4 });
    // Opened one after the other: the order decides which is the oldest.
    const ordered: RawClient[] = [];
    for (const n of [2, 3, 4, 5]) ordered.push(await open(web, target, `127.0.0.${n}`));
    expect(held(web).sort()).toEqual(ordered.map((c) => c.port).sort());
    expect(web.counters().connectionsDropped.max_connections).toBe(0);
    // /metrics asks at every scrape: the same object while no count changed.
    const before = web.counters();
    expect(web.counters()).toBe(before);

    const fifth = await open(web, target, '127.0.0.6');
    await ordered[0]?.closed;
    expect(held(web).sort()).toEqual([...ordered.slice(1), fifth].map((c) => c.port).sort());
    expect(web.counters().connectionsDropped.max_connections).toBe(1);
    expect(before.connectionsDropped.max_connections).toBe(0);
    expect(web.counters()).toBe(web.counters());
    expect(ordered.slice(1).map((c) => c.isClosed())).toEqual([false, false, false]);
    expect(lines.filter((l) => l.includes('connection limit reached'))).toHaveLength(1);
  });
});

describe('the line logged when the limit closes connections', () => {
  it('comes again a minute of real time later, even when the wall clock was stepped back an hour in between', async () => {
    // Only the clocks are faked: sockets and timers are real.
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const { web, target } = await serve({ maxConnections: 2, maxConnectionsPerAddress: 2 });
    const limitLines = () => lines.filter((l) => l.includes('connection limit reached')).length;
    await open(web, target, '127.0.0.2');
    await open(web, target, '127.0.0.3');
    await open(web, target, '127.0.0.4');
    expect(web.counters().connectionsDropped.max_connections).toBe(1);
    expect(limitLines()).toBe(1);

    // Within the minute: counted, not logged.
    await open(web, target, '127.0.0.5');
    expect(web.counters().connectionsDropped.max_connections).toBe(2);
    expect(limitLines()).toBe(1);

    vi.setSystemTime(Date.now() - 3600_000);
    vi.advanceTimersByTime(60_000);
    await open(web, target, '127.0.0.6');
    expect(web.counters().connectionsDropped.max_connections).toBe(3);
    expect(limitLines()).toBe(2);
    expect(JSON.parse(lines.filter((l) => l.includes('connection limit reached'))[1] ?? '{}')).toMatchObject({ dropped: 2 });
  });
});

describe('--web.max-connections-per-address', () => {
  it('lets one address hold exactly that many: at the bound all stay, one beyond closes its oldest idle one, other addresses still get in', async () => {
    const { web, target } = await serve({ maxConnections: 16, maxConnectionsPerAddress: 3 });
    const same: RawClient[] = [];
    for (let i = 0; i < 3; i++) same.push(await open(web, target, '127.0.0.2'));
    expect(held(web).sort()).toEqual(same.map((c) => c.port).sort());
    expect(web.counters().connectionsDropped.max_connections_per_address).toBe(0);

    const fourth = await open(web, target, '127.0.0.2');
    await same[0]?.closed;
    expect(held(web).sort()).toEqual([same[1], same[2], fourth].map((c) => c?.port).sort());
    expect(web.counters().connectionsDropped.max_connections_per_address).toBe(1);
    expect(web.counters().connectionsDropped.max_connections).toBe(0);

    const other = await open(web, target, '127.0.0.3');
    expect(other.isClosed()).toBe(false);
    expect(held(web)).toHaveLength(4);
    expect(lines.filter((l) => l.includes('connection limit per address reached'))).toHaveLength(1);
  });

  it('never lets one address hold more than half of --web.max-connections, whatever it says', async () => {
    const { web, target } = await serve({ maxConnections: 4, maxConnectionsPerAddress: 64 });
    const a = await open(web, target, '127.0.0.2');
    const b = await open(web, target, '127.0.0.2');
    expect(held(web).sort()).toEqual([a.port, b.port].sort());
    const c = await open(web, target, '127.0.0.2');
    await a.closed;
    expect(held(web).sort()).toEqual([b.port, c.port].sort());
    expect(web.counters().connectionsDropped.max_connections_per_address).toBe(1);
  });

  it('refuses a new connection when every connection of its address is busy or authenticated', async () => {
    const { web, target } = await serve({ webConfigFile: authConfig(), maxConnections: 16, maxConnectionsPerAddress: 2 });
    const scrapers = [await open(web, target, '127.0.0.2'), await open(web, target, '127.0.0.2')];
    for (const s of scrapers) expect((await s.request('/metrics', AUTH)).status).toBe(200);
    const third = await open(web, target, '127.0.0.2');
    await third.closed;
    expect(scrapers.map((s) => s.isClosed())).toEqual([false, false]);
    expect(web.counters().connectionsDropped.max_connections_per_address).toBe(1);
  });
});

describe('an authenticated connection', () => {
  it('is never the one closed at the limit: a flood from many addresses closes the connections that did not authenticate', async () => {
    const { web, target } = await serve({
      webConfigFile: authConfig(),
      maxConnections: 8,
      timeouts: { headersTimeout: 10_000, requestTimeout: 30_000, unauthenticatedIdleTimeout: 60_000 },
    });
    const scraper = await open(web, target, '127.0.0.1');
    expect((await scraper.request('/metrics', AUTH)).status).toBe(200);
    for (let round = 0; round < 4; round++) {
      // Ten new connections from ten addresses, each refused (401) and left open, idle.
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const flood = await open(web, target, `127.0.0.${10 + round * 10 + i}`);
          await flood.request('/metrics').catch(() => undefined);
        }),
      );
      const answer = await scraper.request('/metrics', AUTH);
      expect(answer).toEqual({ status: 200, body: `port ${scraper.port}\n` });
    }
    expect(scraper.isClosed()).toBe(false);
    expect(web.connections().find((c) => c.remotePort === scraper.port)?.authenticated).toBe(true);
    expect(web.counters().connectionsDropped.max_connections).toBeGreaterThanOrEqual(40 + 1 - 8);
  });

  it('keeps its connection while 1,000 unauthenticated keep-alive connections from one address flood, and another address still gets in', async () => {
    const { web, target } = await serve({
      webConfigFile: authConfig(),
      timeouts: { headersTimeout: 10_000, requestTimeout: 30_000, unauthenticatedIdleTimeout: 60_000 },
    });
    const scraper = await open(web, target, '127.0.0.1');
    expect((await scraper.request('/metrics', AUTH)).status).toBe(200);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const flood = await open(web, target, '127.0.0.2');
          await flood.request('/anything').catch(() => undefined);
        }),
      );
      expect((await scraper.request('/metrics', AUTH)).status).toBe(200);
    }
    // One address holds at most the default 64: each of the other 936 closed one of its own.
    expect(web.connections().filter((c) => c.remoteAddress === '127.0.0.2')).toHaveLength(64);
    expect(web.counters().connectionsDropped.max_connections_per_address).toBe(1000 - 64);
    expect(web.counters().connectionsDropped.max_connections).toBe(0);
    const fresh = await open(web, target, '127.0.0.3');
    expect((await fresh.request('/metrics', AUTH)).status).toBe(200);
    expect(scraper.isClosed()).toBe(false);
  });
});

describe('a connection that has not authenticated', () => {
  it('is closed once idle for the unauthenticated idle timeout (after a refusal, or without a request); an authenticated one stays', async () => {
    const { web, target } = await serve({
      webConfigFile: authConfig(),
      timeouts: { headersTimeout: 10_000, requestTimeout: 30_000, unauthenticatedIdleTimeout: 200 },
    });
    const scraper = await open(web, target, '127.0.0.1');
    expect((await scraper.request('/metrics', AUTH)).status).toBe(200);
    const refused = await open(web, target, '127.0.0.2');
    expect((await refused.request('/metrics')).status).toBe(401);
    const silent = await open(web, target, '127.0.0.3');
    await Promise.all([refused.closed, silent.closed]);
    expect(scraper.isClosed()).toBe(false);
    expect(held(web)).toEqual([scraper.port]);
    expect((await scraper.request('/metrics', AUTH)).status).toBe(200);
    expect(web.counters().connectionsDropped.unauthenticated_idle).toBe(2);
  });

  it('loses its standing when a request on it fails authentication', async () => {
    const { web, target } = await serve({
      webConfigFile: authConfig(),
      timeouts: { headersTimeout: 10_000, requestTimeout: 30_000, unauthenticatedIdleTimeout: 200 },
    });
    const client = await open(web, target, '127.0.0.2');
    expect((await client.request('/metrics', AUTH)).status).toBe(200);
    expect(web.connections()[0]?.authenticated).toBe(true);
    expect((await client.request('/metrics', basicAuth('prometheus', 'wrong'))).status).toBe(401);
    await client.closed;
    expect(web.counters().connectionsDropped.unauthenticated_idle).toBe(1);
  });

  it('without basic auth or client certificates, counts as authenticated once it has made a request', async () => {
    const { web, target } = await serve({ timeouts: { headersTimeout: 10_000, requestTimeout: 30_000, unauthenticatedIdleTimeout: 200 } });
    const asked = await open(web, target, '127.0.0.2');
    expect((await asked.request('/metrics')).status).toBe(200);
    const silent = await open(web, target, '127.0.0.3');
    await silent.closed;
    expect(asked.isClosed()).toBe(false);
    expect(web.connections()).toEqual([{ remoteAddress: '127.0.0.2', remotePort: asked.port, authenticated: true, active: 0 }]);
  });

  it('under /healthz without auth is answered but does not count as authenticated', async () => {
    const { web, target } = await serve({
      webConfigFile: authConfig(),
      healthzWithoutAuth: true,
      timeouts: { headersTimeout: 10_000, requestTimeout: 30_000, unauthenticatedIdleTimeout: 200 },
    });
    const probe = await open(web, target, '127.0.0.2');
    expect((await probe.request('/healthz')).status).toBe(200);
    await probe.closed;
    expect(web.counters().connectionsDropped.unauthenticated_idle).toBe(1);
  });
});

/** Listens on host (port 0 unless given); resolves with the port. */
function listenOn(server: NetServer, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

describe('several listen addresses', () => {
  it('are each served, and share one table of connections', async () => {
    running = await startWebServer({
      app,
      address: [
        { host: '127.0.0.1', port: 0 },
        { host: '127.0.0.2', port: 0 },
      ],
      healthzWithoutAuth: false,
      logger,
      maxConnections: 2,
    });
    const web = running;
    const [first, second] = web.servers.map((server) => {
      const [host = '', port = ''] = boundAddress(server).split(':');
      return { host, port: Number(port) };
    });
    expect([first?.host, second?.host]).toEqual(['127.0.0.1', '127.0.0.2']);
    const a = await open(web, first as { host: string; port: number }, '127.0.0.3');
    const b = await open(web, second as { host: string; port: number }, '127.0.0.4');
    expect([(await a.request('/x')).body, (await b.request('/x')).body]).toEqual([`port ${a.port}\n`, `port ${b.port}\n`]);
    // A third connection, on either address, is one beyond the limit of both together.
    await open(web, first as { host: string; port: number }, '127.0.0.5');
    await a.closed;
    expect(web.counters().connectionsDropped.max_connections).toBe(1);
    expect(b.isClosed()).toBe(false);
  });

  it('when one cannot be bound: start-up fails naming it, and the addresses already bound are released', async () => {
    const probe = createServer();
    const free = await listenOn(probe, '127.0.0.1');
    await new Promise((r) => probe.close(r));
    const taken = createServer();
    const port = await listenOn(taken, '127.0.0.2');
    try {
      await expect(
        startWebServer({
          app,
          address: [
            { host: '127.0.0.1', port: free },
            { host: '127.0.0.2', port },
          ],
          healthzWithoutAuth: false,
          logger,
        }),
      ).rejects.toThrow(new RegExp(`^cannot listen on 127\\.0\\.0\\.2:${port}: EADDRINUSE`));
      // The first address was bound, then released: it can be bound again.
      const again = createServer();
      expect(await listenOn(again, '127.0.0.1', free)).toBe(free);
      await new Promise((r) => again.close(r));
    } finally {
      taken.close();
    }
  });
});
