/**
 * A reload of --web.config.file never lowers protection: a truncated file, a comment-only file,
 * `basic_auth_users:` without users, TLS or client certificates switched off are refused, the last
 * good settings stay, the status says so and one log line says why. Only a restart lowers it.
 * A failed reload is tried again when the files the new config names appear, and a change of
 * content is noticed even when size and modification time stay the same.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { type Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { boundAddress, close, startWebServer, type WebServer } from '../../src/web/server.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, parseSamples, sampleValue, startExporter, until } from '../helpers/exporter.js';
import { closeFakeClouds, startFakeCloud } from '../helpers/fake-cloud.js';

const TLS = resolve('test/fixtures/tls');
const HASH = bcrypt.hashSync('s3cret-pass', 4);
const OTHER_HASH = bcrypt.hashSync('other-pass', 4);
let dir: string;
let running: WebServer | undefined;
const lines: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pss-web-reload-'));
  for (const f of ['server.pem', 'server-key.pem', 'ca.pem', 'untrusted.pem', 'untrusted-key.pem']) copyFileSync(join(TLS, f), join(dir, f));
});

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

afterEach(async () => {
  if (running) {
    running.stop();
    await close(running.server, 100);
  }
  running = undefined;
  lines.length = 0;
});

async function start(name: string, yaml: string): Promise<{ url: string; web: WebServer; file: string }> {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  const logger = createLogger({ level: 'debug', format: 'logfmt', redact: createRedactor(), write: (l) => lines.push(l) });
  const app = (req: { url?: string }, res: { end(s: string): void }) => res.end(`hello ${req.url}`);
  running = await startWebServer({
    app: app as never,
    address: { host: '127.0.0.1', port: 0 },
    webConfigFile: file,
    healthzWithoutAuth: false,
    logger,
    reloadIntervalMs: 50,
  });
  const tls = 'setSecureContext' in running.server;
  return { url: `${tls ? 'https' : 'http'}://${boundAddress(running.server as Server)}`, web: running, file };
}

/** Writes the file and waits until the reload timer has dealt with it (the status object is replaced on every attempt). */
async function rewrite(web: WebServer, file: string, yaml: string): Promise<void> {
  const before = web.webConfigStatus();
  const logged = lines.length;
  writeFileSync(file, yaml);
  const end = Date.now() + 5000;
  while (web.webConfigStatus() === before && lines.length === logged) {
    if (Date.now() > end) throw new Error('the reload did not happen');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function get(url: string, auth?: string, dispatcher?: Agent) {
  const res = await request(url, {
    headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {},
    ...(dispatcher ? { dispatcher } : {}),
  });
  await res.body.text();
  return res.statusCode;
}

const AUTH = `basic_auth_users:\n  prometheus: ${HASH}\n`;
const TLS_CONFIG = 'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n';

describe('a web config reload never lowers protection', () => {
  it.each([
    ['an empty file (truncated by an editor before it writes)', ''],
    ['a comment-only file', '# being edited\n'],
    ['basic_auth_users with no users', 'basic_auth_users:\n'],
    ['basic_auth_users as an empty mapping', 'basic_auth_users: {}\n'],
    ['only headers left', 'http_server_config:\n  headers:\n    X-Frame-Options: deny\n'],
  ])('refuses to drop basic auth: %s', async (_name, yaml) => {
    const { url, web, file } = await start(`auth-${lines.length}-${Math.random()}.yml`, AUTH);
    expect(await get(`${url}/metrics`)).toBe(401);
    await rewrite(web, file, yaml);
    expect(web.webConfigStatus()?.ok).toBe(false);
    expect(await get(`${url}/metrics`)).toBe(401);
    expect(await get(`${url}/metrics`, 'prometheus:s3cret-pass')).toBe(200);
    const refusals = lines.filter((l) => l.includes('web config reload refused'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain('would turn basic auth off');
    expect(lines.join('')).not.toContain('web config reloaded');
  });

  it('allows removing one user of several (rotation), and then refuses removing the last', async () => {
    const { url, web, file } = await start('rotate-users.yml', `basic_auth_users:\n  old: ${OTHER_HASH}\n  prometheus: ${HASH}\n`);
    expect(await get(`${url}/m`, 'old:other-pass')).toBe(200);
    await rewrite(web, file, AUTH);
    expect(web.webConfigStatus()?.ok).toBe(true);
    expect(await get(`${url}/m`, 'old:other-pass')).toBe(401);
    expect(await get(`${url}/m`, 'prometheus:s3cret-pass')).toBe(200);
    await rewrite(web, file, 'basic_auth_users:\n  # prometheus removed\n');
    expect(web.webConfigStatus()?.ok).toBe(false);
    expect(await get(`${url}/m`, 'prometheus:s3cret-pass')).toBe(200);
    expect(await get(`${url}/m`)).toBe(401);
  });

  it('applies a good file after a refused one', async () => {
    const { url, web, file } = await start('recover.yml', AUTH);
    await rewrite(web, file, '');
    expect(web.webConfigStatus()?.ok).toBe(false);
    await rewrite(web, file, `basic_auth_users:\n  prometheus: ${OTHER_HASH}\n`);
    expect(web.webConfigStatus()?.ok).toBe(true);
    expect(await get(`${url}/m`, 'prometheus:other-pass')).toBe(200);
    expect(await get(`${url}/m`, 'prometheus:s3cret-pass')).toBe(401);
  });

  it.each([
    ['TLS turned off', '{}\n', 'would turn TLS off'],
    ['an empty file', '', 'would turn TLS off'],
    [
      'client certificates no longer required',
      `${TLS_CONFIG}  client_auth_type: RequestClientCert\n  client_ca_file: ca.pem\n`,
      'would lower client_auth_type',
    ],
    [
      'client_allowed_sans removed',
      `${TLS_CONFIG}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n`,
      'would remove client_allowed_sans',
    ],
    [
      'min_version lowered',
      `${TLS_CONFIG}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [a]\n  min_version: TLS10\n`,
      'would lower min_version',
    ],
  ])('refuses to lower TLS protection: %s', async (_name, yaml, reason) => {
    const { url, web, file } = await start(
      `tls-${Math.random()}.yml`,
      `${TLS_CONFIG}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [a]\n  min_version: TLS12\n`,
    );
    await rewrite(web, file, yaml);
    expect(web.webConfigStatus()?.ok).toBe(false);
    const refusals = lines.filter((l) => l.includes('web config reload refused'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain(reason);
    // Still TLS, still requiring a client certificate.
    await expect(get(`${url}/m`)).rejects.toThrow();
  });

  it('allows changing client_allowed_sans to other names', async () => {
    const base = `${TLS_CONFIG}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n`;
    const { web, file } = await start('sans.yml', `${base}  client_allowed_sans: [a]\n`);
    await rewrite(web, file, `${base}  client_allowed_sans: [b, c]\n`);
    expect(web.webConfigStatus()?.ok).toBe(true);
    expect(lines.join('')).toContain('web config reloaded');
  });

  it('re-reads the file on demand with reload(), even when its stamp did not change', async () => {
    const file = join(dir, 'on-demand.yml');
    writeFileSync(file, AUTH);
    const logger = createLogger({ level: 'debug', format: 'logfmt', redact: createRedactor(), write: (l) => lines.push(l) });
    const app = (_req: unknown, res: { end(s: string): void }) => res.end('hello');
    // No timer to speak of: only reload() re-reads.
    running = await startWebServer({
      app: app as never,
      address: { host: '127.0.0.1', port: 0 },
      webConfigFile: file,
      healthzWithoutAuth: false,
      logger,
      reloadIntervalMs: 3_600_000,
    });
    const url = `http://${boundAddress(running.server as Server)}`;
    writeFileSync(file, `basic_auth_users:\n  prometheus: ${OTHER_HASH}\n`);
    running.reload();
    expect(await get(`${url}/m`, 'prometheus:other-pass')).toBe(200);
    writeFileSync(file, '');
    running.reload();
    expect(running.webConfigStatus()?.ok).toBe(false);
    expect(await get(`${url}/m`)).toBe(401);
  });
});

/** The SHA-256 fingerprint of the certificate a TLS server at url presents. */
async function servedFingerprint(url: string): Promise<string> {
  const { connect } = await import('node:tls');
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

/** Resolves once a log line containing `text` is written after line `from`; at most 10 s. */
async function logged(text: string, from: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (!lines.slice(from).some((l) => l.includes(text))) {
    if (Date.now() > end) throw new Error(`no "${text}" line within 10 s; lines: ${lines.slice(from).join('')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const fingerprint = (file: string) => new X509Certificate(readFileSync(join(dir, file))).fingerprint256;

describe('a reload that failed', () => {
  it('is applied once the certificate files the new config names appear, with no signal', async () => {
    const { url, web, file } = await start('later.yml', TLS_CONFIG);
    expect(await servedFingerprint(url)).toBe(fingerprint('server.pem'));
    // The ConfigMap is updated before its Secret: tls-2.crt and tls-2.key do not exist yet.
    await rewrite(web, file, 'tls_server_config:\n  cert_file: later-tls-2.crt\n  key_file: later-tls-2.key\n');
    expect(web.webConfigStatus()?.ok).toBe(false);
    expect(lines.join('')).toContain('web config reload failed');
    expect(await servedFingerprint(url)).toBe(fingerprint('server.pem'));
    const from = lines.length;
    copyFileSync(join(dir, 'untrusted-key.pem'), join(dir, 'later-tls-2.key'));
    copyFileSync(join(dir, 'untrusted.pem'), join(dir, 'later-tls-2.crt'));
    await logged('web config reloaded', from);
    expect(web.webConfigStatus()?.ok).toBe(true);
    expect(await servedFingerprint(url)).toBe(fingerprint('untrusted.pem'));
  });

  it('keeps the last good users when a hash has a bcrypt cost outside 4 to 14', async () => {
    const { url, web, file } = await start('cost.yml', AUTH);
    const slow = HASH.replace(/^\$2b\$04\$/, '$2b$31$');
    await rewrite(web, file, `basic_auth_users:\n  prometheus: ${slow}\n`);
    expect(web.webConfigStatus()?.ok).toBe(false);
    expect(lines.join('')).toContain('bcrypt cost 31 is outside 4 to 14');
    expect(await get(`${url}/m`, 'prometheus:s3cret-pass')).toBe(200);
    expect(await get(`${url}/m`, 'prometheus:anything')).toBe(401);
  });

  it('keeps the last good client_allowed_sans when the new list is empty', async () => {
    const base = `${TLS_CONFIG}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n`;
    const { web, file } = await start('sans-empty.yml', `${base}  client_allowed_sans: [a]\n`);
    await rewrite(web, file, `${base}  client_allowed_sans: []\n`);
    expect(web.webConfigStatus()?.ok).toBe(false);
    expect(lines.join('')).toContain('client_allowed_sans: an empty list is ambiguous');
    expect(lines.join('')).not.toContain('web config reloaded');
  });
});

describe('a change of content', () => {
  it('is noticed when the file keeps its size and modification time', async () => {
    const file = join(dir, 'same-stamp.yml');
    const before = `basic_auth_users:\n  prometheus: ${HASH}\n`;
    const after = `basic_auth_users:\n  prometheus: ${OTHER_HASH}\n`;
    expect(after.length).toBe(before.length);
    const second = 1_700_000_000;
    writeFileSync(file, before);
    utimesSync(file, second, second);
    const logger = createLogger({ level: 'debug', format: 'logfmt', redact: createRedactor(), write: (l) => lines.push(l) });
    const app = (_req: unknown, res: { end(s: string): void }) => res.end('hello');
    running = await startWebServer({
      app: app as never,
      address: { host: '127.0.0.1', port: 0 },
      webConfigFile: file,
      healthzWithoutAuth: false,
      logger,
      reloadIntervalMs: 50,
    });
    const url = `http://${boundAddress(running.server as Server)}`;
    expect(await get(`${url}/m`, 'prometheus:s3cret-pass')).toBe(200);
    const from = lines.length;
    // In one go, so that no check runs between the write and the reset of the time.
    writeFileSync(file, after);
    utimesSync(file, second, second);
    await logged('web config reloaded', from);
    expect(await get(`${url}/m`, 'prometheus:other-pass')).toBe(200);
    expect(await get(`${url}/m`, 'prometheus:s3cret-pass')).toBe(401);
  });
});

describe('the exporter, when its web config is truncated', () => {
  it(
    'keeps asking for credentials, reports the reload as failed and logs one line saying why',
    async ({ onTestFinished }) => {
      const file = join(dir, 'exporter.yml');
      writeFileSync(file, AUTH);
      const cloud = await startFakeCloud({ onTestFinished });
      const exporter = await startExporter({ cloud, onTestFinished, args: [`--web.config.file=${file}`] });
      const scrape = async (auth?: string) => {
        const res = await fetch(`${exporter.url}/metrics`, auth ? { headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } } : {});
        return { status: res.status, body: await res.text() };
      };
      expect((await scrape()).status).toBe(401);
      writeFileSync(file, '');
      const refused = await until(() => exporter.logs().find((l) => String(l.msg).startsWith('web config reload refused')), 10_000, 'the refusal');
      expect(refused.reason).toContain('it would turn basic auth off');
      expect((await scrape()).status).toBe(401);
      const ok = await scrape('prometheus:s3cret-pass');
      expect(ok.status).toBe(200);
      expect(sampleValue(parseSamples(ok.body), 'partner_security_web_config_last_reload_successful')).toBe(0);
      expect(exporter.logs().filter((l) => l.msg === 'web config reloaded')).toEqual([]);
    },
    INTEGRATION_TIMEOUT_MS,
  );
});
