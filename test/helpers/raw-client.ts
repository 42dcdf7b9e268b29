/**
 * A keep-alive HTTP/1.1 client on one raw socket, from a chosen loopback address (127.0.0.2 and
 * up are loopback on Linux): tests see exactly which connection a request used and whether the
 * server closed it.
 */
import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

export interface RawClient {
  readonly socket: Socket;
  /** The client's port: the server sees it as remotePort. */
  readonly port: number;
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  /** One request on this connection; resolves with the status and body, rejects when the connection closes first. */
  request(path: string, headers?: Record<string, string>): Promise<{ status: number; body: string }>;
  destroy(): void;
}

/** Opens a connection from `from` (a loopback address) to host:port; resolves once connected (TLS: once the handshake is done). */
export function rawClient(target: { host: string; port: number }, from = '127.0.0.1', tls?: ConnectionOptions): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const tcp = connect({ host: target.host, port: target.port, localAddress: from });
    const socket: Socket = tls ? tlsConnect({ ...tls, socket: tcp }) : tcp;
    if (tls) tcp.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let closed = false;
    let waiting: { resolve: (a: { status: number; body: string }) => void; reject: (e: Error) => void } | undefined;
    const closedPromise = new Promise<void>((done) => {
      socket.once('close', () => {
        closed = true;
        waiting?.reject(new Error('the connection was closed before the answer'));
        waiting = undefined;
        done();
      });
    });
    socket.on('error', (error) => {
      if (!connected) reject(error);
    });
    let connected = false;
    let port = 0;
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      port = socket.localPort ?? 0;
      resolve(client);
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0 || waiting === undefined) return;
      const head = buffer.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? '0');
      if (buffer.length < end + 4 + length) return;
      const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
      buffer = buffer.subarray(end + 4 + length);
      const answer = waiting;
      waiting = undefined;
      answer.resolve({ status: Number(head.split(' ')[1]), body });
    });
    const client: RawClient = {
      socket,
      get port() {
        return port;
      },
      closed: closedPromise,
      isClosed: () => closed,
      request(path, headers = {}) {
        if (closed) return Promise.reject(new Error('the connection is closed'));
        const lines = [`GET ${path} HTTP/1.1`, 'Host: localhost', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''];
        return new Promise((done, fail) => {
          waiting = { resolve: done, reject: fail };
          socket.write(lines.join('\r\n'));
        });
      },
      destroy: () => socket.destroy(),
    };
  });
}

/** The Authorization header of basic auth. */
export function basicAuth(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
