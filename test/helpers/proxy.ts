/**
 * A tiny HTTP CONNECT proxy on 127.0.0.1 for the HTTPS_PROXY test. It records every tunnel with
 * its target and the local port of its upstream socket, so a test can tell which requests the
 * fake cloud received through the proxy (their remote port is one of those upstream ports).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

/** One CONNECT tunnel. */
export interface Tunnel {
  /** host:port the client asked for. */
  readonly target: string;
  readonly at: number;
  /** Local port of the proxy's socket to the target (the target sees it as the remote port). */
  upstreamPort?: number;
}

export interface ConnectProxy {
  /** http://127.0.0.1:<port>, for HTTPS_PROXY. */
  readonly url: string;
  readonly tunnels: Tunnel[];
  /** Non-CONNECT requests (plain HTTP forwarding is not offered). */
  readonly refused: string[];
  /** Tunnels per target. */
  countByTarget(): Record<string, number>;
  /** Upstream ports of every tunnel. */
  upstreamPorts(): Set<number>;
  close(): Promise<void>;
}

/** Starts the proxy on an ephemeral loopback port. */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const tunnels: Tunnel[] = [];
  const refused: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    refused.push(`${req.method} ${req.url}`);
    res.writeHead(405, { 'content-type': 'text/plain' }).end('this proxy only tunnels (CONNECT)\n');
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    const tunnel: Tunnel = { target, at: Date.now() };
    tunnels.push(tunnel);
    const [host, port] = splitHostPort(target);
    const upstream = connect({ host, port });
    sockets.add(client);
    sockets.add(upstream);
    client.once('close', () => sockets.delete(client));
    upstream.once('close', () => sockets.delete(upstream));
    upstream.once('connect', () => {
      if (upstream.localPort !== undefined) tunnel.upstreamPort = upstream.localPort;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    const fail = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.once('error', () => {
      if (!client.destroyed) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      fail();
    });
    client.once('error', fail);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    refused,
    countByTarget: () => {
      const counts: Record<string, number> = {};
      for (const t of tunnels) counts[t.target] = (counts[t.target] ?? 0) + 1;
      return counts;
    },
    upstreamPorts: () => new Set(tunnels.flatMap((t) => (t.upstreamPort === undefined ? [] : [t.upstreamPort]))),
    async close() {
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitHostPort(target: string): [string, number] {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  return match ? [match[1] ?? '', Number(match[2])] : [target, 443];
}
