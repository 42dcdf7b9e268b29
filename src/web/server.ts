/**
 * The listening sockets and what guards them: plain HTTP, or TLS / client certificates / basic
 * auth from --web.config.file, re-read when a file changes (config-watch.ts). A bad reload keeps
 * the last good settings: the exporter never falls back to serving unprotected. Every address of
 * --web.listen-address gets the same settings and shares one table of connections (connections.ts).
 */
import { createServer as createHttpServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ListenAddress } from '../config/parse.js';
import { type Clock, systemClock } from '../lib/clock.js';
import { errorText } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { createBasicAuth, RETRY_AFTER_SECONDS } from './basic-auth.js';
import { clientCertificateAccepted } from './client-cert.js';
import { type WebConfigStatus, type WebConfigWatch, watchWebConfig } from './config-watch.js';
import {
  type Connection,
  type ConnectionTable,
  type ConnectionView,
  createConnectionTable,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  type DropReason,
  UNAUTHENTICATED_IDLE_TIMEOUT_MS,
} from './connections.js';
import { loadWebConfig, secureContextOptions, type WebSettings } from './web-config.js';

export type { WebConfigStatus } from './config-watch.js';
export { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DROP_REASONS, type DropReason } from './connections.js';

/** Why basic auth refused a request: wrong or missing credentials, or the bcrypt queue was full. */
export const AUTH_REJECT_REASONS = ['unauthorized', 'queue_full'] as const;
export type AuthRejectReason = (typeof AUTH_REJECT_REASONS)[number];

/** Counters of what the web server refused, for metrics. */
export interface WebCounters {
  readonly authRejected: Readonly<Record<AuthRejectReason, number>>;
  /** Connections the server closed, by reason (connections.ts). */
  readonly connectionsDropped: Readonly<Record<DropReason, number>>;
}

export interface WebServerOptions {
  app: RequestListener;
  /** Where to listen: one address, or several (--web.listen-address repeated), each with the same settings. */
  address: ListenAddress | readonly ListenAddress[];
  webConfigFile?: string;
  /** Let /healthz through without basic auth (client certificates are still required by TLS). */
  healthzWithoutAuth: boolean;
  logger: Logger;
  reloadIntervalMs?: number;
  /** Connections held at once over every address (DEFAULT_MAX_CONNECTIONS). */
  maxConnections?: number;
  /** Connections one client address may hold (DEFAULT_MAX_CONNECTIONS_PER_ADDRESS; at most half of maxConnections). */
  maxConnectionsPerAddress?: number;
  /** Slow-client limits; the defaults suit Prometheus scrapes. */
  timeouts?: { headersTimeout: number; requestTimeout: number; handshakeTimeout?: number; unauthenticatedIdleTimeout?: number };
  /** The web config's last good load is a wall-clock time; how often a cut is logged, real time. */
  clock?: Clock;
}

export interface WebServer {
  /** The first listener (the only one unless several addresses were given). */
  readonly server: Server;
  /** Every listener, in the order of the addresses. */
  readonly servers: readonly Server[];
  /** Undefined without --web.config.file. */
  webConfigStatus(): WebConfigStatus | undefined;
  /** The same object while no count changed. */
  counters(): WebCounters;
  /** The open connections, oldest first. */
  connections(): readonly ConnectionView[];
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
/**
 * Connections the kernel queues before they are accepted (Node's default is 511; Linux caps it at
 * net.core.somaxconn, 4096 on current kernels). A flood that reconnects each connection the server
 * closes keeps about as many connects pending as it holds connections: with a queue shorter than
 * that, a new connection from elsewhere finds it full and waits for SYN retransmits (1 s, 3 s, 7 s...).
 */
const LISTEN_BACKLOG = 4096;
const REALM = 'Basic realm="partner-security-score-exporter", charset="UTF-8"';

/** Starts listening on every address; throws WebConfigError when the web config file is unusable at start-up, or an Error naming the address that cannot be bound. */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const clock = options.clock ?? systemClock;
  let settings: WebSettings | undefined = options.webConfigFile === undefined ? undefined : loadWebConfig(options.webConfigFile);
  const basicAuth = createBasicAuth({ onWarning: (msg) => options.logger.warn(msg, { file: options.webConfigFile }) });
  if (settings) basicAuth.setUsers(settings.users);
  const authRejected: Record<AuthRejectReason, number> = { unauthorized: 0, queue_full: 0 };
  let counted: { sum: number; counters: WebCounters } | undefined;
  const limits = { ...SERVER_TIMEOUTS, ...options.timeouts };
  const table = createConnectionTable({
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxPerAddress: options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    unauthenticatedIdleMs: limits.unauthenticatedIdleTimeout ?? UNAUTHENTICATED_IDLE_TIMEOUT_MS,
    protectAuthenticated: () => settings !== undefined && guarded(settings),
    logger: options.logger,
    now: () => clock.monoMs(),
  });

  const handler: RequestListener = (req, res) => {
    const connection = table.find(req.socket);
    if (connection) table.requestStarted(connection, res);
    const current = settings;
    if (current === undefined) {
      // Nothing to check: the plain scrape's path, with no allocation of its own.
      if (connection) table.setAuthenticated(connection, true);
      return options.app(req, res);
    }
    const passed = (authenticated: boolean) => {
      if (connection) table.setAuthenticated(connection, authenticated);
    };
    if (connection && current.tls) connection.tls ??= req.socket as TLSSocket;
    for (const [name, value] of Object.entries(current.headers)) res.setHeader(name, value);
    if (current.tls && !certificateAccepted(connection, req.socket as TLSSocket, current)) {
      passed(false);
      // This certificate will not do on this connection again: close it after the answer.
      res.setHeader('Connection', 'close');
      return refuse(res, 403, 'client certificate not accepted\n');
    }
    const path = (req.url ?? '/').split('?')[0];
    if (Object.keys(current.users).length === 0) {
      passed(true);
      return options.app(req, res);
    }
    // Answered, but not authenticated: the connection does not gain the standing of one that is.
    if (options.healthzWithoutAuth && path === '/healthz') return options.app(req, res);
    basicAuth.check(req.headers.authorization).then(
      (result) => {
        passed(result === 'ok');
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

  const servers = await listenAll(Array.isArray(options.address) ? options.address : [options.address as ListenAddress], () =>
    createListener(handler, settings, limits, table),
  );

  const watch: WebConfigWatch | undefined =
    options.webConfigFile === undefined || settings === undefined
      ? undefined
      : watchWebConfig({
          file: options.webConfigFile,
          initial: settings,
          intervalMs: options.reloadIntervalMs ?? 1000,
          logger: options.logger,
          now: () => clock.wallMs(),
          apply: (next) => {
            if (next.tls)
              for (const server of servers) (server as unknown as { setSecureContext(o: object): void }).setSecureContext(secureContextOptions(next.tls));
            settings = next;
            basicAuth.setUsers(next.users);
            revokeConnections(table, next, options.logger);
          },
        });

  return {
    server: servers[0] as Server,
    servers,
    webConfigStatus: () => watch?.status(),
    counters: () => {
      // The same object while no count changed: /metrics asks at every scrape. The counts only grow.
      const sum = authRejected.unauthorized + authRejected.queue_full + table.droppedTotal();
      if (counted?.sum !== sum) counted = { sum, counters: { authRejected: { ...authRejected }, connectionsDropped: table.dropped() } };
      return counted.counters;
    },
    connections: () => table.view(),
    reload: () => watch?.check(true),
    stop: () => {
      watch?.stop();
      void basicAuth.close();
    },
  };
}

/** Authenticating means something: basic auth, or client certificates verified against a CA. */
function guarded(settings: WebSettings): boolean {
  return Object.keys(settings.users).length > 0 || settings.tls?.clientAuth === 'RequireAndVerifyClientCert';
}

/** The connection's certificate against the settings in force, decided once per connection and settings. */
function certificateAccepted(connection: Connection | undefined, socket: TLSSocket, settings: WebSettings): boolean {
  if (connection === undefined) return clientCertificateAccepted(socket, settings.tls);
  if (connection.certificate?.settings !== settings) connection.certificate = { settings, accepted: clientCertificateAccepted(socket, settings.tls) };
  return connection.certificate.accepted;
}

/** After a reload: closes the open TLS connections whose client certificate the new settings refuse. */
function revokeConnections(table: ConnectionTable, settings: WebSettings, logger: Logger): void {
  if (!settings.tls) return;
  let closed = 0;
  for (const connection of table.all()) {
    if (connection.tls === undefined || certificateAccepted(connection, connection.tls, settings)) continue;
    table.drop(connection, 'client_certificate_rejected');
    closed++;
  }
  if (closed > 0) logger.warn('closed connections whose client certificate the reloaded web config no longer accepts', { connections: closed });
}

/** One listener: https when the web config turns TLS on, plain http otherwise. */
function createListener(
  handler: RequestListener,
  settings: WebSettings | undefined,
  limits: { headersTimeout: number; requestTimeout: number; handshakeTimeout: number },
  table: ConnectionTable,
): Server {
  const timeouts = {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, limits.headersTimeout),
  };
  const tls = settings?.tls;
  let server: Server;
  if (tls) {
    const requestCert = tls.clientAuth !== 'NoClientCert';
    const rejectUnauthorized = tls.clientAuth === 'RequireAndVerifyClientCert';
    server = createHttpsServer(
      { ...timeouts, handshakeTimeout: limits.handshakeTimeout, ...secureContextOptions(tls), requestCert, rejectUnauthorized },
      handler,
    ) as unknown as Server;
    server.on('secureConnection', (socket: TLSSocket) => table.attachTls(socket));
  } else server = createHttpServer(timeouts, handler);
  // The table decides first; only an admitted connection reaches the server's own 'connection'
  // handling (the TLS socket, the HTTP parser): a connection refused at once costs half as much,
  // which is what a flood that reconnects every refused connection makes the server do all day.
  const own = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (table.accept(socket)) for (const listener of own) listener.call(server, socket);
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

/** Binds every address in turn; when one fails, closes those already bound and throws an error naming it. */
async function listenAll(addresses: readonly ListenAddress[], create: () => Server): Promise<Server[]> {
  const servers: Server[] = [];
  for (const address of addresses) {
    const server = create();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: address.port, backlog: LISTEN_BACKLOG, ...(address.host === undefined ? {} : { host: address.host }) }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await Promise.all(servers.map((s) => close(s, 0)));
      throw new Error(`cannot listen on ${listenAddressText(address)}: ${errorText(error)}`);
    }
    servers.push(server);
  }
  return servers;
}

/** An address as --web.listen-address takes it: host:port, :port, [ipv6]:port. */
export function listenAddressText(address: ListenAddress): string {
  const host = address.host ?? '';
  return `${host.includes(':') ? `[${host}]` : host}:${address.port}`;
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
