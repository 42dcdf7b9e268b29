import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { boundAddress, close, startWebServer, type WebServer } from '../../src/web/server.js';
import { loadWebConfig, WebConfigError } from '../../src/web/web-config.js';

const TLS = resolve('test/fixtures/tls');
const HASH = bcrypt.hashSync('s3cret-pass', 4);
let dir: string;
let clientCert: Buffer;
let clientKey: Buffer;
let running: WebServer | undefined;
const lines: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pss-web-'));
  for (const f of ['server.pem', 'server-key.pem', 'ca.pem', 'untrusted.pem', 'untrusted-key.pem']) copyFileSync(join(TLS, f), join(dir, f));
  // A client certificate signed by the test CA, for mutual TLS.
  execFileSync(
    'openssl',
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'client-key.pem'), '-out', join(dir, 'client.csr'), '-subj', '/CN=prometheus'],
    { stdio: 'pipe' },
  );
  const ext = join(dir, 'client.ext');
  writeFileSync(ext, 'subjectAltName=DNS:prometheus.monitoring.svc\nextendedKeyUsage=clientAuth\n');
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      join(dir, 'client.csr'),
      '-CA',
      join(TLS, 'ca.pem'),
      '-CAkey',
      join(TLS, 'ca-key.pem'),
      '-CAcreateserial',
      '-CAserial',
      join(dir, 'ca.srl'),
      '-out',
      join(dir, 'client.pem'),
      '-days',
      '2',
      '-extfile',
      ext,
    ],
    { stdio: 'pipe' },
  );
  clientCert = readFileSync(join(dir, 'client.pem'));
  clientKey = readFileSync(join(dir, 'client-key.pem'));
});

afterEach(async () => {
  if (running) {
    running.stop();
    await close(running.server, 100);
  }
  running = undefined;
  lines.length = 0;
});

function config(name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

async function start(webConfigFile: string | undefined, healthzWithoutAuth = false): Promise<{ url: string; web: WebServer }> {
  const logger = createLogger({ level: 'debug', format: 'logfmt', redact: createRedactor(), write: (l) => lines.push(l) });
  const app = (req: { url?: string }, res: { end(s: string): void }) => res.end(`hello ${req.url}`);
  running = await startWebServer({
    app: app as never,
    address: { host: '127.0.0.1', port: 0 },
    ...(webConfigFile ? { webConfigFile } : {}),
    healthzWithoutAuth,
    logger,
    reloadIntervalMs: 100,
  });
  const tls = 'setSecureContext' in running.server;
  return { url: `${tls ? 'https' : 'http'}://${boundAddress(running.server as Server)}`, web: running };
}

async function get(url: string, options: { auth?: string; agent?: Agent } = {}) {
  const res = await request(url, {
    headers: options.auth ? { authorization: `Basic ${Buffer.from(options.auth).toString('base64')}` } : {},
    ...(options.agent ? { dispatcher: options.agent } : {}),
  });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

async function until(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('web config', () => {
  it('serves plain HTTP without a web config', async () => {
    const { url, web } = await start(undefined);
    expect(url.startsWith('http://')).toBe(true);
    expect((await get(`${url}/metrics`)).body).toBe('hello /metrics');
    expect(web.webConfigStatus()).toBeUndefined();
  });

  it('serves TLS with the configured certificate and headers', async () => {
    const file = config(
      'tls.yml',
      'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\nhttp_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n',
    );
    const { url } = await start(file);
    expect(url.startsWith('https://')).toBe(true);
    const res = await get(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
    await expect(request(url.replace('https:', 'http:'))).rejects.toThrow();
  });

  it('requires basic auth with bcrypt hashes, on every path unless told otherwise for /healthz', async () => {
    const file = config('auth.yml', `basic_auth_users:\n  prometheus: ${HASH}\n`);
    const { url } = await start(file);
    const none = await get(`${url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="partner-security-score-exporter", charset="UTF-8"');
    expect((await get(`${url}/metrics`, { auth: 'prometheus:wrong' })).status).toBe(401);
    expect((await get(`${url}/metrics`, { auth: 'nobody:s3cret-pass' })).status).toBe(401);
    expect((await get(`${url}/metrics`, { auth: 'prometheus:s3cret-pass' })).status).toBe(200);
    expect((await get(`${url}/healthz`)).status).toBe(401);
    expect((await get(`${url}/`)).status).toBe(401);
  });

  it('lets /healthz through without credentials only with --web.healthz-without-auth', async () => {
    const file = config('auth2.yml', `basic_auth_users:\n  prometheus: ${HASH}\n`);
    const { url } = await start(file, true);
    expect((await get(`${url}/healthz`)).status).toBe(200);
    expect((await get(`${url}/healthz?x=1`)).status).toBe(200);
    expect((await get(`${url}/metrics`)).status).toBe(401);
    expect((await get(`${url}/healthz/../metrics`)).status).toBe(401);
  });

  it('requires a client certificate signed by the client CA (mutual TLS), with allowed SANs', async () => {
    const file = config(
      'mtls.yml',
      'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [prometheus.monitoring.svc]\n',
    );
    const { url } = await start(file);
    const withCert = new Agent({ connect: { cert: clientCert, key: clientKey } });
    expect((await get(`${url}/metrics`, { agent: withCert })).status).toBe(200);
    await expect(get(`${url}/metrics`)).rejects.toThrow();
    const untrusted = new Agent({ connect: { cert: readFileSync(join(dir, 'untrusted.pem')), key: readFileSync(join(dir, 'untrusted-key.pem')) } });
    await expect(get(`${url}/metrics`, { agent: untrusted })).rejects.toThrow();
    await withCert.close();
    await untrusted.close();
  });

  it('refuses a trusted client certificate whose SAN is not allowed', async () => {
    const file = config(
      'sans.yml',
      'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_ca_file: ca.pem\n  client_allowed_sans: [someone-else]\n',
    );
    const { url } = await start(file);
    const agent = new Agent({ connect: { cert: clientCert, key: clientKey } });
    expect((await get(`${url}/metrics`, { agent })).status).toBe(403);
    await agent.close();
  });

  it('re-reads the file when it changes, and keeps the last good settings when it breaks', async () => {
    const file = config('reload.yml', `basic_auth_users:\n  alice: ${HASH}\n`);
    const { url, web } = await start(file);
    expect((await get(`${url}/m`, { auth: 'alice:s3cret-pass' })).status).toBe(200);
    writeFileSync(file, `basic_auth_users:\n  bob: ${HASH}\n`);
    await until(async () => (await get(`${url}/m`, { auth: 'bob:s3cret-pass' })).status === 200);
    expect((await get(`${url}/m`, { auth: 'alice:s3cret-pass' })).status).toBe(401);
    const okSince = web.webConfigStatus()?.lastSuccessMs;

    writeFileSync(file, 'basic_auth_users:\n  bob: not-a-bcrypt-hash-but-a-plain-password\n');
    await until(() => web.webConfigStatus()?.ok === false);
    expect(web.webConfigStatus()?.lastSuccessMs).toBe(okSince);
    // Still protected, still with the last good users.
    expect((await get(`${url}/m`)).status).toBe(401);
    expect((await get(`${url}/m`, { auth: 'bob:s3cret-pass' })).status).toBe(200);
    const failure = lines.find((l) => l.includes('web config reload failed'));
    expect(failure).toContain('basic_auth_users.bob: is not a bcrypt hash');
    expect(failure).not.toContain('plain-password');

    // A good file again: applied.
    writeFileSync(file, `basic_auth_users:\n  carol: ${HASH}\n`);
    await until(() => web.webConfigStatus()?.ok === true);
    expect((await get(`${url}/m`, { auth: 'carol:s3cret-pass' })).status).toBe(200);
    expect((await get(`${url}/m`)).status).toBe(401);
  });

  it('rotates the certificate without a restart', async () => {
    copyFileSync(join(TLS, 'server.pem'), join(dir, 'rot.pem'));
    copyFileSync(join(TLS, 'server-key.pem'), join(dir, 'rot-key.pem'));
    const file = config('rotate.yml', 'tls_server_config:\n  cert_file: rot.pem\n  key_file: rot-key.pem\n');
    const { url } = await start(file);
    const fresh = () => new Agent({ pipelining: 0 });
    expect((await get(url, { agent: fresh() })).status).toBe(200);
    // The new certificate is not signed by the trusted CA: new connections see it and fail to verify.
    copyFileSync(join(dir, 'untrusted.pem'), join(dir, 'rot.pem'));
    copyFileSync(join(dir, 'untrusted-key.pem'), join(dir, 'rot-key.pem'));
    await until(async () => {
      try {
        await get(url, { agent: fresh() });
        return false;
      } catch (error) {
        return /self[- ]signed|unable to verify/i.test(String((error as Error).cause ?? error));
      }
    });
  });

  it('refuses to switch TLS off at run time (never falls back to plain HTTP)', async () => {
    const file = config('switch.yml', 'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n');
    const { url, web } = await start(file);
    writeFileSync(file, '{}\n');
    await until(() => web.webConfigStatus()?.ok === false);
    expect((await get(url)).status).toBe(200);
    expect(lines.join('')).toContain('it would turn TLS off');
  });

  it('reports every problem of an invalid file at start-up', () => {
    const file = config(
      'bad.yml',
      'tls_server_config:\n  cert_file: missing.pem\n  client_auth_type: Sometimes\n  min_version: TLS99\nbasic_auth_users:\n  eve: hunter2\nhttp_server_config:\n  headers:\n    X-Evil: 1\nrate_limits: {}\n',
    );
    let error: unknown;
    try {
      loadWebConfig(file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WebConfigError);
    const problems = (error as WebConfigError).problems.map((p) => p.replace(`${file}: `, ''));
    expect(problems).toEqual([
      'top level: unknown key "rate_limits"',
      'tls_server_config.cert_file: cannot read "missing.pem": no such file',
      'tls_server_config: key_file (or key) is required',
      'tls_server_config.client_auth_type: "Sometimes" is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert',
      'tls_server_config.min_version: "TLS99" is not one of TLS10, TLS11, TLS12, TLS13',
      'http_server_config.headers.X-Evil: not one of Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, X-XSS-Protection, Strict-Transport-Security',
      'basic_auth_users.eve: is not a bcrypt hash (create one with: htpasswd -nBC 10 "" | tr -d \':\\n\')',
    ]);
    expect((error as Error).message).not.toContain('hunter2');
  });
});
