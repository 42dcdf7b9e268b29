import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createTenantPoll } from '../../../src/collect/poll-tenant.js';
import { createGraphClient } from '../../../src/graph/client.js';
import { GraphError } from '../../../src/graph/errors.js';
import type { TokenSource } from '../../../src/graph/token.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';

type Behaviour = (socket: TLSSocket, request: string) => void;
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** A TLS server that answers at the socket level, so it can misbehave the ways networks do. */
async function misbehaving(behaviour: Behaviour, certificate: 'trusted' | 'untrusted' = 'trusted'): Promise<string> {
  const [cert, key] = certificate === 'trusted' ? ['server.pem', 'server-key.pem'] : ['untrusted.pem', 'untrusted-key.pem'];
  const server = createServer({ cert: readFileSync(`test/fixtures/tls/${cert}`), key: readFileSync(`test/fixtures/tls/${key}`) });
  server.removeAllListeners('request');
  server.on('secureConnection', (socket: TLSSocket) => {
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) behaviour(socket, head);
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const head = (status: string, headers: Record<string, string | number>) =>
  `HTTP/1.1 ${status}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
const TOKEN = 'eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.c2ln';
const tokens: TokenSource = { get: async () => ({ token: TOKEN }), invalidate: () => {}, lastTenantId: () => undefined };

/**
 * One request through the client as main builds it (with the redactor). No wall-clock bound here:
 * a deadline that did not hold shows as a reason other than "timeout", or as this test timing out.
 */
async function failure(endpoint: string, timeoutMs = 2000): Promise<GraphError> {
  const graph = createGraphClient({ endpoint, timeoutMs, tokens, userAgent: 'test', redact: createRedactor() });
  try {
    await graph.get('/beta/security/partner/securityScore', new AbortController().signal);
  } catch (error) {
    if (!(error instanceof GraphError)) throw error;
    return error;
  }
  throw new Error('expected a failure');
}

describe('hostile or broken answers from Graph, over TLS', () => {
  it('caps oversized bodies', async () => {
    const url = await misbehaving((socket) => {
      socket.write(head('200 OK', { 'content-type': 'application/json', 'content-length': 11 * 1024 * 1024 }));
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (socket.writable && socket.write(chunk)) {}
      };
      socket.on('drain', pump);
      pump();
    });
    const error = await failure(url, 10_000);
    expect([error.reason, error.message]).toEqual(['invalid_response', 'the answer from Graph is larger than 10485760 bytes']);
  });

  it('reports a body cut mid-way', async () => {
    const url = await misbehaving((socket) => {
      socket.end(`${head('200 OK', { 'content-type': 'application/json', 'content-length': 1000 })}{"currentScore":`);
    });
    const error = await failure(url);
    expect(error.reason).toBe('network');
    expect(error.message).toMatch(/^the answer from Graph broke off/);
  });

  it('gives up on a body that trickles in past the deadline', async () => {
    const url = await misbehaving((socket) => {
      socket.write(head('200 OK', { 'content-type': 'application/json', 'content-length': 100 }));
      const timer = setInterval(() => (socket.writable ? socket.write(' ') : clearInterval(timer)), 200);
      socket.on('close', () => clearInterval(timer));
    });
    const error = await failure(url, 1000);
    expect([error.reason, error.message]).toEqual(['timeout', 'no complete answer from Graph within 1000 ms']);
  });

  it('reports a connection closed without an answer', async () => {
    const url = await misbehaving((socket) => socket.destroy());
    const error = await failure(url);
    expect(error.reason).toBe('network');
    expect(error.message).toMatch(/could not reach Graph .*(ECONNRESET|socket|other side closed)/i);
  });

  it('refuses a server certificate nobody trusts', async () => {
    const url = await misbehaving((socket) => socket.end(head('200 OK', { 'content-length': 0 })), 'untrusted');
    const error = await failure(url);
    expect(error.reason).toBe('network');
    expect(error.message).toMatch(/self[- ]signed|unable to verify|SELF_SIGNED/i);
  });

  it('survives deeply nested JSON', async () => {
    const body = `${'{"value":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
    const url = await misbehaving((socket) =>
      socket.end(`${head('200 OK', { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })}${body}`),
    );
    const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
    const poll = createTenantPoll({
      graph: createGraphClient({ endpoint: url, timeoutMs: 5000, tokens, userAgent: 'test' }),
      collectors: { requirements: false, history: false, customerInsights: false, maxPages: 1, maxCustomers: 1 },
      tenantOfToken: () => undefined,
      logger,
    });
    const result = await poll(new AbortController().signal);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.reason).toBe('invalid_response');
  });

  it.each([
    [
      '403',
      'Authorization_RequestDenied',
      'forbidden',
      /PartnerSecurity\.Read\.All application permission with admin consent, in a Partner Center partner tenant/,
    ],
    ['401', 'InvalidAuthenticationToken', 'unauthorized', /token was rejected/],
    ['404', 'ResourceNotFound', 'not_found', /served only by the global cloud .* for partner tenants/],
  ])('explains a %s %s with what to fix', async (status, code, reason, hint) => {
    const body = JSON.stringify({
      // Graph quoting the token it was sent: the explanation must not carry it on.
      error: { code, message: `Access token ${TOKEN} has expired or is not yet valid.`, innerError: { 'request-id': 'r-1', date: '2026-11-29T00:00:00' } },
    });
    const url = await misbehaving((socket) =>
      socket.end(`${head(`${status} X`, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })}${body}`),
    );
    const error = await failure(url);
    expect([error.reason, error.code, error.requestId]).toEqual([reason, code, 'r-1']);
    expect(error.message).toMatch(hint);
    expect(error.message).not.toContain('eyJhbGciOiJub25lIn0');
  });
});
