/**
 * Connection exhaustion: thousands of idle sockets (plain, or TCP that never starts the TLS
 * handshake) must not keep a valid scrape out or make the exporter's own polls fail with EMFILE.
 * The web server holds at most --web.max-connections (512, well under the usual 1024 file
 * descriptors) and one address at most --web.max-connections-per-address (64); at a limit it
 * closes an idle connection that has not authenticated, so a new one from elsewhere gets in.
 * Idle sockets are cut off after the TLS handshake timeout or the headers timeout.
 * (test/unit/web/connections.test.ts shows which connection is closed, exactly.)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { boundAddress, close, startWebServer } from '../../src/web/server.js';
import { type Exporter, INTEGRATION_TIMEOUT_MS, killExporters, parseSamples, sampleValue, startExporter, until } from '../helpers/exporter.js';
import { closeFakeClouds, startFakeCloud } from '../helpers/fake-cloud.js';
import { basicAuth, type RawClient, rawClient } from '../helpers/raw-client.js';

const TLS = resolve('test/fixtures/tls');
const tenant = { tenant_id: '8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b' };

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

/**
 * Opens `count` TCP connections that never send a byte, 100 at a time, from the loopback addresses
 * `from` in turn (127.0.0.2 and up are loopback on Linux); resolves once each is connected or was closed.
 */
async function idleSockets(address: string, count: number, from: readonly string[] = ['127.0.0.1']): Promise<Socket[]> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const sockets: Socket[] = [];
  for (let opened = 0; opened < count; opened += 100) {
    const batch = Array.from({ length: Math.min(100, count - opened) }, (_, i) => {
      const socket = connect({ port, host, localAddress: from[(opened + i) % from.length] });
      sockets.push(socket);
      return new Promise<void>((done) => {
        socket.once('connect', () => done());
        socket.once('close', () => done());
        socket.on('error', () => {});
        // Read (and drop) what the server says, such as a 408, so its close is seen.
        socket.resume();
      });
    });
    await Promise.all(batch);
  }
  return sockets;
}

/** Lowers the exporter's file descriptor limit to what a default Linux shell gives. */
function limitDescriptors(exporter: Exporter, n: number): void {
  execFileSync('prlimit', ['--pid', String(exporter.child.pid), `--nofile=${n}:${n}`]);
}

async function scrape(url: string, dispatcher?: Agent): Promise<{ status: number; body: string }> {
  const res = await request(`${url}/metrics`, { ...(dispatcher ? { dispatcher } : {}), headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('the exporter under a connection flood', () => {
  it(
    'keeps scraping and polling with more idle connections than file descriptors (plain HTTP, default limit)',
    async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
      limitDescriptors(exporter, 1024);
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 10_000, 'the first poll');
      // From one address: it holds at most 64 (--web.max-connections-per-address), every other is closed.
      const sockets = await idleSockets(exporter.address, 1100, ['127.0.0.2']);
      onTestFinished(() => {
        for (const s of sockets) s.destroy();
      });
      const fresh = new Agent({ pipelining: 0 });
      onTestFinished(() => fresh.close());
      const during = await scrape(exporter.url, fresh);
      expect(during.status).toBe(200);
      const samples = parseSamples(during.body);
      const dropped = (reason: string) => sampleValue(samples, 'partner_security_web_connections_dropped_total', { reason }) ?? 0;
      // Each beyond the 64th closed one: at once (per address), or those still waiting after 5 s (idle, not authenticated).
      expect(dropped('max_connections_per_address') + dropped('unauthenticated_idle')).toBeGreaterThanOrEqual(1100 - 64);
      expect(dropped('max_connections')).toBe(0);
      // The next polls still get their connections to Entra ID and Graph.
      const polls = sampleValue(samples, 'partner_security_polls_total', tenant) ?? 0;
      await until(
        async () => {
          const now = parseSamples((await scrape(exporter.url, fresh)).body);
          return (sampleValue(now, 'partner_security_polls_total', tenant) ?? 0) > polls + 1 && sampleValue(now, 'partner_security_up', tenant) === 1;
        },
        15_000,
        'two more successful polls',
      );
      expect(exporter.logs().filter((l) => String(l.msg).startsWith('connection limit per address reached'))).toHaveLength(1);
      expect(exporter.logs().filter((l) => String(l.msg).startsWith('connection limit reached'))).toEqual([]);
      expect(exporter.logs().filter((l) => /EMFILE/.test(JSON.stringify(l)))).toEqual([]);
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it(
    'lets a valid TLS scrape in while sockets that never start the handshake fill the limit',
    async ({ onTestFinished }) => {
      const dir = mkdtempSync(join(tmpdir(), 'pss-connections-'));
      for (const f of ['server.pem', 'server-key.pem']) copyFileSync(join(TLS, f), join(dir, f));
      const file = join(dir, 'web.yml');
      writeFileSync(file, 'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n');
      const cloud = await startFakeCloud({ onTestFinished });
      const exporter = await startExporter({ cloud, onTestFinished, args: [`--web.config.file=${file}`, '--web.max-connections=64'] });
      limitDescriptors(exporter, 128);
      // From ten addresses (20 each, under the 32 one address may hold with a limit of 64): together they fill it.
      const sockets = await idleSockets(
        exporter.address,
        200,
        Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 2}`),
      );
      onTestFinished(() => {
        for (const s of sockets) s.destroy();
      });
      const agent = new Agent({ pipelining: 0, connect: { ca: readFileSync(join(TLS, 'ca.pem')) } });
      onTestFinished(() => agent.close());
      const answer = await scrape(`https://${exporter.address}`, agent);
      expect(answer.status).toBe(200);
      expect(sampleValue(parseSamples(answer.body), 'partner_security_web_connections_dropped_total', { reason: 'max_connections' })).toBeGreaterThanOrEqual(
        200 - 64,
      );
    },
    INTEGRATION_TIMEOUT_MS,
  );
});

describe('an authenticated scraper under a flood of password-less connections', () => {
  it(
    'gets 200 on every scrape on its own keep-alive connection while 1,000 from one address flood, and another address still gets in',
    async ({ onTestFinished }) => {
      const dir = mkdtempSync(join(tmpdir(), 'pss-flood-'));
      const file = join(dir, 'web.yml');
      writeFileSync(file, `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('s3cret-pass', 4)}\n`);
      const cloud = await startFakeCloud({ onTestFinished });
      const exporter = await startExporter({ cloud, onTestFinished, args: [`--web.config.file=${file}`] });
      const target = { host: '127.0.0.1', port: Number(exporter.address.split(':')[1]) };
      const auth = basicAuth('prometheus', 's3cret-pass');
      const opened: RawClient[] = [];
      onTestFinished(() => {
        for (const c of opened) c.destroy();
      });
      const scraper = await rawClient(target, '127.0.0.1');
      opened.push(scraper);
      expect((await scraper.request('/metrics', auth)).status).toBe(200);
      for (let batch = 0; batch < 10; batch++) {
        // A hundred more keep-alive connections without a password, each refused (401) or closed.
        await Promise.all(
          Array.from({ length: 100 }, async () => {
            const flood = await rawClient(target, '127.0.0.2').catch(() => undefined);
            if (flood === undefined) return;
            opened.push(flood);
            await flood.request('/metrics').catch(() => undefined);
          }),
        );
        expect((await scraper.request('/metrics', auth)).status).toBe(200);
        const other = await rawClient(target, '127.0.0.3');
        opened.push(other);
        expect((await other.request('/healthz')).status).toBe(401);
        other.destroy();
      }
      expect(scraper.isClosed()).toBe(false);
      const samples = parseSamples((await scraper.request('/metrics', auth)).body);
      const dropped = (reason: string) => sampleValue(samples, 'partner_security_web_connections_dropped_total', { reason }) ?? 0;
      expect(dropped('max_connections_per_address') + dropped('unauthenticated_idle')).toBeGreaterThanOrEqual(1000 - 64);
      expect(dropped('max_connections')).toBe(0);
    },
    INTEGRATION_TIMEOUT_MS,
  );
});

describe('idle sockets', () => {
  it('are closed when they do not start the TLS handshake, or send nothing over plain HTTP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pss-idle-'));
    for (const f of ['server.pem', 'server-key.pem']) copyFileSync(join(TLS, f), join(dir, f));
    const file = join(dir, 'web.yml');
    writeFileSync(file, 'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n');
    const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
    const app = (_req: unknown, res: { end(s: string): void }) => res.end('hello');
    const timeouts = { headersTimeout: 300, requestTimeout: 1000, handshakeTimeout: 300 };
    for (const webConfigFile of [file, undefined]) {
      const web = await startWebServer({
        app: app as never,
        address: { host: '127.0.0.1', port: 0 },
        ...(webConfigFile ? { webConfigFile } : {}),
        healthzWithoutAuth: false,
        logger,
        timeouts,
      });
      try {
        const [socket] = await idleSockets(boundAddress(web.server as Server), 1);
        let closed = false;
        socket?.once('close', () => {
          closed = true;
        });
        await until(() => closed || socket?.destroyed, 5000, `the idle ${webConfigFile ? 'TLS' : 'plain'} socket to be closed`);
      } finally {
        web.stop();
        await close(web.server as Server, 100);
      }
    }
  });
});
