/**
 * The listening socket and what guards it: plain HTTP, or TLS / client certificates / basic auth
 * from --web.config.file, re-read when a file changes. A bad reload keeps the last good settings:
 * the exporter never falls back to serving unprotected.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ListenAddress } from '../config/parse.js';
import type { Logger } from '../lib/log.js';
import { createBasicAuth, RETRY_AFTER_SECONDS } from './basic-auth.js';
import { filesStamp, loadWebConfig, reloadRefusal, secureContextOptions, WebConfigError, type WebSettings } from './web-config.js';

/** Why basic auth refused a request: wrong or missing credentials, or the bcrypt queue was full. */
export const AUTH_REJECT_REASONS = ['unauthorized', 'queue_full'] as const;
export type AuthRejectReason = (typeof AUTH_REJECT_REASONS)[number];

/** Counters of what the web server refused, for metrics. */
export interface WebCounters {
  readonly authRejected: Readonly<Record<AuthRejectReason, number>>;
  /** Connections closed because --web.max-connections was reached. */
  readonly connectionsDropped: number;
}

/**
 * Default of --web.max-connections: well under the usual soft limit of 1024 file descriptors, so
 * the exporter's own connections to Entra ID and Graph, its files and its worker always find one.
 */
export const DEFAULT_MAX_CONNECTIONS = 512;

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
  /** Connections held at once (DEFAULT_MAX_CONNECTIONS); at the limit the oldest idle one is closed. */
  maxConnections?: number;
  /** Slow-client limits; the defaults suit Prometheus scrapes. */
  timeouts?: { headersTimeout: number; requestTimeout: number; handshakeTimeout?: number };
  now?: () => number;
}

export interface WebServer {
  readonly server: Server;
  /** Undefined without --web.config.file. */
  webConfigStatus(): WebConfigStatus | undefined;
  counters(): WebCounters;
  /** Re-reads the web config now, changed or not (for SIGHUP); the timer keeps checking too. */
  reload(): void;
  stop(): void;
}

// A client gets 10 s to finish the TLS handshake (Node's default is 2 minutes), 10 s to send its
// headers (a connection that sends nothing is closed then too) and 30 s for the whole request:
// slow-loris clients and idle sockets are cut off.
// Node checks these every connectionsCheckingInterval (30 s by default): check every second.
const SERVER_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 30_000, handshakeTimeout: 10_000 };
const CHECK_INTERVAL_MS = 1000;
const REALM = 'Basic realm="partner-security-score-exporter", charset="UTF-8"';
// Dropped connections are logged at most once a minute (with the count since the last line).
const DROP_LOG_INTERVAL_MS = 60_000;

/** Starts listening; throws WebConfigError when the web config file is unusable at start-up. */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const now = options.now ?? Date.now;
  let settings: WebSettings | undefined = options.webConfigFile === undefined ? undefined : loadWebConfig(options.webConfigFile);
  let status: WebConfigStatus | undefined = settings ? { ok: true, lastSuccessMs: now() } : undefined;
  const basicAuth = createBasicAuth({ onWarning: (msg) => options.logger.warn(msg, { file: options.webConfigFile }) });
  if (settings) basicAuth.setUsers(settings.users);
  const authRejected: Record<AuthRejectReason, number> = { unauthorized: 0, queue_full: 0 };

  // Every open connection by its remote address, oldest first, with its requests in progress.
  // Keyed by address and port: the same for the TCP socket and the TLS socket on top of it.
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const connections = new Map<string, { socket: Socket; active: number }>();
  let dropped = 0;
  let droppedLogged = 0;
  let dropLoggedMs = Number.NEGATIVE_INFINITY;
  const noteDrop = () => {
    dropped++;
    if (now() - dropLoggedMs < DROP_LOG_INTERVAL_MS) return;
    dropLoggedMs = now();
    options.logger.warn('connection limit reached; closing the oldest idle connections', {
      max_connections: maxConnections,
      dropped: dropped - droppedLogged,
    });
    droppedLogged = dropped;
  };
  const accept = (socket: Socket) => {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    if (connections.size >= maxConnections) {
      // Idle and not-yet-handshaken connections go first, oldest first, so a flood of idle
      // sockets cannot keep a scrape out; only when every connection is busy is the new one refused.
      let victim: [string, { socket: Socket; active: number }] | undefined;
      for (const entry of connections) {
        if (entry[1].active === 0) {
          victim = entry;
          break;
        }
      }
      noteDrop();
      if (victim === undefined) {
        socket.destroy();
        return;
      }
      connections.delete(victim[0]);
      victim[1].socket.destroy();
    }
    const entry = { socket, active: 0 };
    connections.set(key, entry);
    socket.once('close', () => {
      if (connections.get(key) === entry) connections.delete(key);
    });
  };
  const busy = (req: IncomingMessage, res: ServerResponse) => {
    const entry = connections.get(`${req.socket.remoteAddress}:${req.socket.remotePort}`);
    if (entry === undefined) return;
    entry.active++;
    res.once('close', () => entry.active--);
  };

  const handler: RequestListener = (req, res) => {
    busy(req, res);
    const current = settings;
    if (current === undefined) return options.app(req, res);
    for (const [name, value] of Object.entries(current.headers)) res.setHeader(name, value);
    if (current.tls && !clientCertificateAccepted(req, current)) return refuse(res, 403, 'client certificate not accepted\n');
    const path = (req.url ?? '/').split('?')[0];
    if (Object.keys(current.users).length === 0 || (options.healthzWithoutAuth && path === '/healthz')) return options.app(req, res);
    basicAuth.check(req.headers.authorization).then(
      (result) => {
        if (result === 'ok') return options.app(req, res);
        if (result === 'busy') {
          authRejected.queue_full++;
          res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
          return refuse(res, 429, 'too many authentication attempts; try again later\n');
        }
        authRejected.unauthorized++;
        res.setHeader('WWW-Authenticate', REALM);
        refuse(res, 401, 'unauthorized\n');
      },
      () => refuse(res, 500, 'authentication failed\n'),
    );
  };

  let server: Server;
  const tls = settings?.tls;
  const limits = { ...SERVER_TIMEOUTS, ...options.timeouts };
  const timeouts = {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, limits.headersTimeout),
  };
  if (tls) {
    const requestCert = tls.clientAuth !== 'NoClientCert';
    const rejectUnauthorized = tls.clientAuth === 'RequireAndVerifyClientCert';
    server = createHttpsServer(
      { ...timeouts, handshakeTimeout: limits.handshakeTimeout, ...secureContextOptions(tls), requestCert, rejectUnauthorized },
      handler,
    ) as unknown as Server;
  } else server = createHttpServer(timeouts, handler);
  server.on('connection', accept);
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
      basicAuth.setUsers(next.users);
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
    counters: () => ({ authRejected: { ...authRejected }, connectionsDropped: dropped }),
    reload: () => reload(true),
    stop: () => {
      clearInterval(timer);
      void basicAuth.close();
    },
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
