/**
 * The listening socket and what guards it: plain HTTP, or TLS / client certificates / basic auth
 * from --web.config.file, re-read when a file changes. A bad reload keeps the last good settings:
 * the exporter never falls back to serving unprotected.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import type { ListenAddress } from './config.js';
import type { Logger } from './log.js';
import { filesStamp, loadWebConfig, reloadRefusal, secureContextOptions, WebConfigError, type WebSettings } from './web-config.js';

/** How the web config's last (re)load went, for metrics. */
export interface WebConfigStatus {
  readonly ok: boolean;
  readonly lastSuccessMs: number;
}

export interface WebServerOptions {
  app: RequestListener;
  address: ListenAddress;
  webConfigFile?: string;
  /** Let /healthz through without basic auth (client certificates are still required by TLS). */
  healthzWithoutAuth: boolean;
  logger: Logger;
  reloadIntervalMs?: number;
  /** Slow-client limits; the defaults suit Prometheus scrapes. */
  timeouts?: { headersTimeout: number; requestTimeout: number };
  now?: () => number;
}

export interface WebServer {
  readonly server: Server;
  /** Undefined without --web.config.file. */
  webConfigStatus(): WebConfigStatus | undefined;
  /** Re-reads the web config now, changed or not (for SIGHUP); the timer keeps checking too. */
  reload(): void;
  stop(): void;
}

// A client gets 10 s to send its headers and 30 s for the whole request: slow-loris clients are cut off.
// Node checks these every connectionsCheckingInterval (30 s by default): check every second.
const SERVER_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 30_000 };
const CHECK_INTERVAL_MS = 1000;
const REALM = 'Basic realm="partner-security-score-exporter", charset="UTF-8"';
// A well-formed hash of a random password: unknown users cost a bcrypt round like known ones.
const DUMMY_HASH = '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.Dt4R5xKQYDrYGl9tYQnVoAPAhJSi';
const MAX_CACHED = 1000;

/** Starts listening; throws WebConfigError when the web config file is unusable at start-up. */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const now = options.now ?? Date.now;
  let settings: WebSettings | undefined = options.webConfigFile === undefined ? undefined : loadWebConfig(options.webConfigFile);
  let status: WebConfigStatus | undefined = settings ? { ok: true, lastSuccessMs: now() } : undefined;
  // Verified passwords are cached by a hash of user, password and bcrypt hash: bcrypt is slow on purpose.
  const verified = new Map<string, boolean>();

  const authorized = async (req: IncomingMessage, users: Readonly<Record<string, string>>): Promise<boolean> => {
    const header = req.headers.authorization ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    const decoded = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? '' : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    const hash = users[user];
    const key = createHash('sha256')
      .update(`${user}\0${password}\0${hash ?? ''}`)
      .digest('base64');
    const cached = verified.get(key);
    if (cached !== undefined) return cached;
    const ok = (await bcrypt.compare(password, hash ?? DUMMY_HASH)) && hash !== undefined && colon >= 0;
    if (verified.size >= MAX_CACHED) verified.clear();
    verified.set(key, ok);
    return ok;
  };

  const handler: RequestListener = (req, res) => {
    const current = settings;
    if (current === undefined) return options.app(req, res);
    for (const [name, value] of Object.entries(current.headers)) res.setHeader(name, value);
    if (current.tls && !clientCertificateAccepted(req, current)) return refuse(res, 403, 'client certificate not accepted\n');
    const path = (req.url ?? '/').split('?')[0];
    if (Object.keys(current.users).length === 0 || (options.healthzWithoutAuth && path === '/healthz')) return options.app(req, res);
    authorized(req, current.users).then(
      (ok) => {
        if (ok) options.app(req, res);
        else {
          res.setHeader('WWW-Authenticate', REALM);
          refuse(res, 401, 'unauthorized\n');
        }
      },
      () => refuse(res, 500, 'authentication failed\n'),
    );
  };

  let server: Server;
  const tls = settings?.tls;
  const timeouts = {
    ...(options.timeouts ?? SERVER_TIMEOUTS),
    connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, (options.timeouts ?? SERVER_TIMEOUTS).headersTimeout),
  };
  if (tls) {
    const requestCert = tls.clientAuth !== 'NoClientCert';
    const rejectUnauthorized = tls.clientAuth === 'RequireAndVerifyClientCert';
    server = createHttpsServer({ ...timeouts, ...secureContextOptions(tls), requestCert, rejectUnauthorized }, handler) as unknown as Server;
  } else server = createHttpServer(timeouts, handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.address.port, ...(options.address.host === undefined ? {} : { host: options.address.host }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let lastStamp = settings ? filesStamp(settings.files) : '';
  const reload = (force: boolean) => {
    if (options.webConfigFile === undefined || settings === undefined) return;
    const stamp = filesStamp(settings.files);
    if (stamp === lastStamp && !force) return;
    lastStamp = stamp;
    try {
      const next = loadWebConfig(options.webConfigFile);
      const refusal = reloadRefusal(settings, next);
      if (refusal.length > 0) {
        status = { ok: false, lastSuccessMs: status?.lastSuccessMs ?? 0 };
        options.logger.error('web config reload refused; keeping the last good settings (only a restart may lower protection)', {
          file: options.webConfigFile,
          reason: refusal.join('; '),
        });
        return;
      }
      if (next.tls) (server as unknown as { setSecureContext(o: object): void }).setSecureContext(secureContextOptions(next.tls));
      settings = next;
      lastStamp = filesStamp(next.files);
      verified.clear();
      status = { ok: true, lastSuccessMs: now() };
      options.logger.info('web config reloaded', { file: options.webConfigFile });
    } catch (error) {
      status = { ok: false, lastSuccessMs: status?.lastSuccessMs ?? 0 };
      const problems = error instanceof WebConfigError ? error.problems.join('; ') : String(error);
      options.logger.error('web config reload failed; keeping the last good settings', { file: options.webConfigFile, err: problems });
    }
  };
  const timer = options.webConfigFile === undefined ? undefined : setInterval(() => reload(false), options.reloadIntervalMs ?? 1000);
  timer?.unref();

  return {
    server,
    webConfigStatus: () => status,
    reload: () => reload(true),
    stop: () => clearInterval(timer),
  };
}

/** Applies client_auth_type beyond what the TLS handshake enforced, and client_allowed_sans. */
function clientCertificateAccepted(req: IncomingMessage, settings: WebSettings): boolean {
  const tls = settings.tls;
  if (!tls || tls.clientAuth === 'NoClientCert' || tls.clientAuth === 'RequestClientCert') return true;
  const socket = req.socket as TLSSocket;
  const cert = socket.getPeerCertificate?.();
  const presented = cert !== undefined && Object.keys(cert).length > 0;
  if (tls.clientAuth === 'RequireAnyClientCert' && !presented) return false;
  if (tls.clientAuth === 'VerifyClientCertIfGiven' && presented && !socket.authorized) return false;
  if (tls.clientAuth === 'RequireAndVerifyClientCert' && !socket.authorized) return false;
  if (tls.clientAllowedSans && tls.clientAllowedSans.length > 0) {
    const sans = (cert?.subjectaltname ?? '').split(/,\s*/).map((s) => s.replace(/^[^:]+:/, ''));
    return tls.clientAllowedSans.some((allowed) => sans.some((san) => equal(san, allowed)));
  }
  return true;
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function refuse(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(text);
}

/** Closes the server: idle connections at once, busy ones after the grace period. */
export async function close(server: Server, graceMs: number): Promise<void> {
  const forced = setTimeout(() => server.closeAllConnections(), graceMs);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  clearTimeout(forced);
}

/** "host:port" of a listening server, for the log. */
export function boundAddress(server: Server): string {
  const address = server.address() as AddressInfo;
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}
