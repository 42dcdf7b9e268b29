/**
 * Narrower client-certificate trust reaches open connections: after a reload that replaces the
 * client CA, narrows client_allowed_sans or raises client_auth_type, a keep-alive connection whose
 * certificate the new settings refuse is closed and no request on it is served any more; the
 * connections still accepted stay. Real TLS on loopback, certificates made with openssl.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { boundAddress, close, startWebServer, type WebServer } from '../../src/web/server.js';
import { type RawClient, rawClient } from '../helpers/raw-client.js';

const TLS = resolve('test/fixtures/tls');
const TLS_CONFIG = 'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n';
let dir: string;
const lines: string[] = [];
let reloaded = false;
/** Every request the app served: from which client port, and whether the reload had been applied. */
const served: { port: number; afterReload: boolean }[] = [];
let running: WebServer | undefined;
const clients: RawClient[] = [];

interface Pair {
  cert: Buffer;
  key: Buffer;
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A client certificate with the given SAN, signed by the CA `ca` (ca.pem is the test CA of test/fixtures/tls). */
function makeClient(name: string, ca: string, san: string): Pair {
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  );
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${san}\nextendedKeyUsage=clientAuth\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}-key.pem`,
    '-CAcreateserial',
    '-CAserial',
    `${name}.srl`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  );
  return { cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}-key.pem`)) };
}

let prometheus: Pair;
let grafana: Pair;
let ofCa2: Pair;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pss-revocation-'));
  for (const f of ['server.pem', 'server-key.pem', 'ca.pem', 'ca-key.pem']) copyFileSync(join(TLS, f), join(dir, f));
  // A second CA: a reload replaces the first with it.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca2-key.pem',
      '-out',
      'ca2.pem',
      '-days',
      '2',
      '-subj',
      '/CN=second test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  prometheus = makeClient('prometheus', 'ca', 'prometheus.monitoring.svc');
  grafana = makeClient('grafana', 'ca', 'grafana.monitoring.svc');
  ofCa2 = makeClient('prometheus-ca2', 'ca2', 'prometheus.monitoring.svc');
});

afterEach(async () => {
  for (const c of clients) c.destroy();
  clients.length = 0;
  lines.length = 0;
  served.length = 0;
  reloaded = false;
  if (running) {
    running.stop();
    await close(running.server, 100);
  }
  running = undefined;
});

async function start(name: string, yaml: string): Promise<{ web: WebServer; file: string; target: { host: string; port: number } }> {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  const logger = createLogger({
    level: 'debug',
    format: 'logfmt',
    redact: createRedactor(),
    write: (line) => {
      // Written right after the new settings were put in force, before any other request is handled.
      if (line.includes('web config reloaded')) reloaded = true;
      lines.push(line);
    },
  });
  const app: RequestListener = (req, res) => {
    served.push({ port: req.socket.remotePort ?? 0, afterReload: reloaded });
    res.end('ok');
  };
  running = await startWebServer({
    app,
    address: { host: '127.0.0.1', port: 0 },
    webConfigFile: file,
    healthzWithoutAuth: false,
    logger,
    reloadIntervalMs: 50,
  });
  return { web: running, file, target: { host: '127.0.0.1', port: Number(boundAddress(running.server).split(':')[1]) } };
}

/** A keep-alive TLS connection presenting `pair` (or no certificate). */
async function connect(target: { host: string; port: number }, pair?: Pair): Promise<RawClient> {
  const client = await rawClient(target, '127.0.0.1', { ca: readFileSync(join(dir, 'ca.pem')), servername: 'localhost', ...(pair ?? {}) });
  clients.push(client);
  return client;
}

/** Resolves when `promise` does; fails after 10 s (a bounded wait for an event). */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function reloadedTo(file: string, yaml: string): Promise<void> {
  writeFileSync(file, yaml);
  const end = Date.now() + 10_000;
  while (!reloaded) {
    if (Date.now() > end) throw new Error(`the reload did not happen: ${lines.join('')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a reload that narrows client-certificate trust', () => {
  it('replacing the client CA: a client of the old CA sending on its open connection is cut off, and no request of it is served after the reload', async () => {
    const base = `${TLS_CONFIG}  client_auth_type: RequireAndVerifyClientCert\n`;
    const { web, file, target } = await start('ca.yml', `${base}  client_ca_file: ca.pem\n`);
    const old = await connect(target, prometheus);
    expect((await old.request('/m')).status).toBe(200);
    // It keeps sending, one request after the other, as a scraper under load would.
    let answered = 0;
    const sending = (async () => {
      for (;;) {
        try {
          await old.request('/m');
          answered++;
        } catch {
          return;
        }
      }
    })();
    await reloadedTo(file, `${base}  client_ca_file: ca2.pem\n`);
    await within(old.closed, 'the old CA client to be cut off');
    await sending;
    expect(answered).toBeGreaterThan(0);
    expect(served.filter((s) => s.port === old.port && s.afterReload)).toEqual([]);
    expect(web.counters().connectionsDropped.client_certificate_rejected).toBe(1);
    // New connections: the old CA's client is refused, the new CA's is served.
    await expect(connect(target, prometheus).then((c) => c.request('/m'))).rejects.toThrow();
    const fresh = await connect(target, ofCa2);
    expect((await fresh.request('/m')).status).toBe(200);
  });

  it('narrowing client_allowed_sans: an idle connection whose name is no longer allowed is closed, the others stay', async () => {
    const base = `${TLS_CONFIG}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n`;
    const { web, file, target } = await start('sans.yml', `${base}  client_allowed_sans: [prometheus.monitoring.svc, grafana.monitoring.svc]\n`);
    const p = await connect(target, prometheus);
    const g = await connect(target, grafana);
    expect([(await p.request('/m')).status, (await g.request('/m')).status]).toEqual([200, 200]);
    await reloadedTo(file, `${base}  client_allowed_sans: [grafana.monitoring.svc]\n`);
    await within(p.closed, 'the connection whose name was removed to be closed');
    expect(g.isClosed()).toBe(false);
    expect((await g.request('/m')).status).toBe(200);
    expect(web.counters().connectionsDropped.client_certificate_rejected).toBe(1);
    expect(lines.filter((l) => l.includes('closed connections whose client certificate the reloaded web config no longer accepts'))).toHaveLength(1);
  });

  it('raising client_auth_type: a connection without a certificate is closed, one with a verified certificate stays', async () => {
    const base = `${TLS_CONFIG}  client_ca_file: ca.pem\n`;
    const { web, file, target } = await start('raise.yml', `${base}  client_auth_type: VerifyClientCertIfGiven\n`);
    const anonymous = await connect(target);
    const verified = await connect(target, prometheus);
    expect([(await anonymous.request('/m')).status, (await verified.request('/m')).status]).toEqual([200, 200]);
    await reloadedTo(file, `${base}  client_auth_type: RequireAndVerifyClientCert\n`);
    expect(web.webConfigStatus()?.ok).toBe(true);
    await within(anonymous.closed, 'the connection without a certificate to be closed');
    expect((await verified.request('/m')).status).toBe(200);
    expect(verified.isClosed()).toBe(false);
    // The handshake was made lenient at start-up; the request is refused.
    expect((await (await connect(target)).request('/m')).status).toBe(403);
  });
});
