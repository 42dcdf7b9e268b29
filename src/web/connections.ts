/**
 * The web server's open connections, and which one is closed when there are too many. A flood
 * of connections that never authenticate must not push out the scraper's: connections that have
 * not authenticated go first, one address holds at most a bounded share of the slots, and a
 * connection that has not authenticated is closed once it has been idle for a few seconds.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../lib/log.js';

/**
 * Default of --web.max-connections: well under the usual soft limit of 1024 file descriptors, so
 * the exporter's own connections to Entra ID and Graph, its files and its worker always find one.
 */
export const DEFAULT_MAX_CONNECTIONS = 512;
/**
 * Default of --web.max-connections-per-address: a Prometheus holds one or two connections, a
 * browser six; a reverse proxy in front of the exporter a few dozen at most.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 64;
/**
 * A connection that has not authenticated is closed after this long without a request in progress
 * (since it connected, or since its last answer): a 401 must not hold a slot for the keep-alive
 * timeout. Authenticated connections stay for the keep-alive timeout (65 s).
 */
export const UNAUTHENTICATED_IDLE_TIMEOUT_MS = 5000;

/** Why the server closed a connection, for partner_security_web_connections_dropped_total. */
export const DROP_REASONS = ['max_connections', 'max_connections_per_address', 'unauthenticated_idle', 'client_certificate_rejected'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** One open connection as tests and logs see it. */
export interface ConnectionView {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The last request on it passed every check the web config asks for (see README, Security). */
  readonly authenticated: boolean;
  /** Requests in progress on it. */
  readonly active: number;
}

/** One open connection. */
export interface Connection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly socket: Socket;
  /** The TLS socket on top of `socket`, once its handshake is done. */
  tls?: TLSSocket;
  active: number;
  authenticated: boolean;
  /** The client certificate's verdict, for the settings object it was reached under. */
  certificate?: { readonly settings: object; readonly accepted: boolean };
  idleTimer?: NodeJS.Timeout | undefined;
  /** Called when a response on it closes: one function per connection, not one per request. */
  readonly responseClosed: () => void;
}

export interface ConnectionTableOptions {
  maxConnections: number;
  /** Capped at half of maxConnections (at least 1), so that one address never holds every slot. */
  maxPerAddress: number;
  unauthenticatedIdleMs: number;
  /** True when authenticating means something (basic auth, or verified client certificates): then an authenticated connection is never closed to let another in. */
  protectAuthenticated: () => boolean;
  logger: Logger;
  /** Monotonic milliseconds: how often a cut is logged is real time, whatever the wall clock does. */
  now: () => number;
}

export interface ConnectionTable {
  /** A new TCP connection (the server's 'connection' event): false when refused (and destroyed); when admitted, something else may have been closed to make room. */
  accept(socket: Socket): boolean;
  /** The TLS socket of a connection, once its handshake is done. */
  attachTls(socket: TLSSocket): void;
  /** The connection a request came on. */
  find(socket: Socket): Connection | undefined;
  /** A request started on the connection; it ends when the response closes. */
  requestStarted(connection: Connection, response: { on(event: 'close', listener: () => void): unknown }): void;
  /** Whether the request in progress passed every check. */
  setAuthenticated(connection: Connection, authenticated: boolean): void;
  /** Closes a connection and counts why. */
  drop(connection: Connection, reason: DropReason): void;
  all(): Iterable<Connection>;
  view(): ConnectionView[];
  dropped(): Readonly<Record<DropReason, number>>;
  /** Every connection closed or refused so far, whatever the reason. */
  droppedTotal(): number;
}

// Each kind of cut is logged at most once a minute, with the count since its last line.
const DROP_LOG_INTERVAL_MS = 60_000;
const DROP_LOGS: Partial<Record<DropReason, string>> = {
  max_connections: 'connection limit reached; closing idle connections that have not authenticated first',
  max_connections_per_address: 'connection limit per address reached; closing the oldest idle connection of that address that has not authenticated',
};

/** Creates the table; the server calls accept, attachTls, requestStarted and setAuthenticated. */
export function createConnectionTable(options: ConnectionTableOptions): ConnectionTable {
  const perAddress = Math.max(1, Math.min(options.maxPerAddress, Math.ceil(options.maxConnections / 2)));
  // Oldest first (a Map keeps insertion order), keyed by remote address and port: the same for
  // the TCP socket and the TLS socket on top of it.
  const connections = new Map<string, Connection>();
  // The same connections by socket (the TCP one, and the TLS one on top): a request finds its own without building a key.
  const bySocket = new WeakMap<Socket, Connection>();
  let droppedTotal = 0;
  const perAddressCount = new Map<string, number>();
  const dropped: Record<DropReason, number> = { max_connections: 0, max_connections_per_address: 0, unauthenticated_idle: 0, client_certificate_rejected: 0 };
  const logged: Record<DropReason, { count: number; atMs: number }> = {
    max_connections: { count: 0, atMs: Number.NEGATIVE_INFINITY },
    max_connections_per_address: { count: 0, atMs: Number.NEGATIVE_INFINITY },
    unauthenticated_idle: { count: 0, atMs: Number.NEGATIVE_INFINITY },
    client_certificate_rejected: { count: 0, atMs: Number.NEGATIVE_INFINITY },
  };

  const keyOf = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
  const count = (reason: DropReason, fields: Record<string, string | number> = {}) => {
    dropped[reason]++;
    droppedTotal++;
    const message = DROP_LOGS[reason];
    const log = logged[reason];
    if (message === undefined || options.now() - log.atMs < DROP_LOG_INTERVAL_MS) return;
    log.atMs = options.now();
    options.logger.warn(message, {
      max_connections: options.maxConnections,
      max_connections_per_address: perAddress,
      ...fields,
      dropped: dropped[reason] - log.count,
    });
    log.count = dropped[reason];
  };
  const forget = (connection: Connection) => {
    const key = `${connection.remoteAddress}|${connection.remotePort}`;
    if (connections.get(key) !== connection) return;
    connections.delete(key);
    clearTimeout(connection.idleTimer);
    const n = (perAddressCount.get(connection.remoteAddress) ?? 1) - 1;
    if (n > 0) perAddressCount.set(connection.remoteAddress, n);
    else perAddressCount.delete(connection.remoteAddress);
  };
  const close = (connection: Connection, reason: DropReason, fields?: Record<string, string | number>) => {
    forget(connection);
    count(reason, fields);
    connection.tls?.destroy();
    connection.socket.destroy();
  };
  // Idle and not authenticated: closed after unauthenticatedIdleMs.
  const arm = (connection: Connection) => {
    if (connection.idleTimer !== undefined) {
      clearTimeout(connection.idleTimer);
      connection.idleTimer = undefined;
    }
    if (connection.authenticated || connection.active > 0) return;
    connection.idleTimer = setTimeout(() => close(connection, 'unauthenticated_idle'), options.unauthenticatedIdleMs);
    connection.idleTimer.unref();
  };

  /**
   * What to close to let a new connection in: an idle connection, one that has not authenticated
   * before one that has, of the address holding the most connections, the oldest. An
   * authenticated connection is closed only when authenticating means nothing.
   */
  const victim = (sameAddress?: string): Connection | undefined => {
    let best: Connection | undefined;
    let bestShare = 0;
    for (const c of connections.values()) {
      if (c.active > 0 || (sameAddress !== undefined && c.remoteAddress !== sameAddress)) continue;
      const share = perAddressCount.get(c.remoteAddress) ?? 0;
      // Strictly better only: among equals the first seen, the oldest, stays the choice.
      const better = best === undefined || (best.authenticated && !c.authenticated) || (best.authenticated === c.authenticated && share > bestShare);
      if (better) {
        best = c;
        bestShare = share;
      }
    }
    if (best?.authenticated && (sameAddress !== undefined || options.protectAuthenticated())) return undefined;
    return best;
  };
  const refuse = (socket: Socket, reason: DropReason, fields?: Record<string, string | number>): false => {
    count(reason, fields);
    socket.destroy();
    return false;
  };

  return {
    accept(socket) {
      const [remoteAddress, remotePort] = [socket.remoteAddress, socket.remotePort];
      // Already gone (reset before it was accepted): nothing to hold.
      if (remoteAddress === undefined || remotePort === undefined) {
        socket.destroy();
        return false;
      }
      if ((perAddressCount.get(remoteAddress) ?? 0) >= perAddress) {
        const own = victim(remoteAddress);
        if (own === undefined) return refuse(socket, 'max_connections_per_address', { address: remoteAddress });
        close(own, 'max_connections_per_address', { address: remoteAddress });
      }
      if (connections.size >= options.maxConnections) {
        const other = victim();
        if (other === undefined) return refuse(socket, 'max_connections');
        close(other, 'max_connections');
      }
      const connection: Connection = {
        remoteAddress,
        remotePort,
        socket,
        active: 0,
        authenticated: false,
        responseClosed: () => {
          connection.active--;
          arm(connection);
        },
      };
      connections.set(keyOf(socket), connection);
      bySocket.set(socket, connection);
      perAddressCount.set(remoteAddress, (perAddressCount.get(remoteAddress) ?? 0) + 1);
      socket.once('close', () => forget(connection));
      arm(connection);
      return true;
    },
    attachTls(socket) {
      const connection = connections.get(keyOf(socket));
      if (connection === undefined) return;
      connection.tls = socket;
      bySocket.set(socket, connection);
    },
    find: (socket) => bySocket.get(socket) ?? connections.get(keyOf(socket)),
    requestStarted(connection, response) {
      connection.active++;
      arm(connection);
      // A response closes once: on() spares once()'s wrapper on every request.
      response.on('close', connection.responseClosed);
    },
    setAuthenticated(connection, authenticated) {
      connection.authenticated = authenticated;
      arm(connection);
    },
    drop: (connection, reason) => close(connection, reason),
    all: () => [...connections.values()],
    view: () =>
      [...connections.values()].map((c) => ({ remoteAddress: c.remoteAddress, remotePort: c.remotePort, authenticated: c.authenticated, active: c.active })),
    dropped: () => ({ ...dropped }),
    droppedTotal: () => droppedTotal,
  };
}
