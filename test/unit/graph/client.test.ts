import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphClient } from '../../../src/graph/client.js';
import { GraphError } from '../../../src/graph/errors.js';
import type { TokenSource } from '../../../src/graph/token.js';

type Reply = { status: number; headers?: Record<string, string>; body?: string | Buffer };
let reply: Reply = { status: 200 };
let seen: { url: string; headers: Record<string, string | string[] | undefined> }[] = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer({ cert: readFileSync('test/fixtures/tls/server.pem'), key: readFileSync('test/fixtures/tls/server-key.pem') }, (req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
});

function client(options: { maxBodyBytes?: number } = {}) {
  let invalidated = 0;
  const tokens: TokenSource = { get: async () => ({ token: 'token-abc' }), invalidate: () => void invalidated++, lastTenantId: () => undefined };
  return { graph: createGraphClient({ endpoint, timeoutMs: 5000, tokens, userAgent: 'ua/1', ...options }), invalidated: () => invalidated };
}

async function failure(promise: Promise<unknown>): Promise<GraphError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GraphError) return error;
    throw error;
  }
  throw new Error('expected a GraphError');
}

const signal = () => new AbortController().signal;

describe('Graph client', () => {
  it('sends the token, a fresh client-request-id and the user agent; returns the JSON body', async () => {
    seen = [];
    reply = { status: 200, headers: { 'request-id': 'req-1' }, body: '{"currentScore":1}' };
    const { graph } = client();
    const a = await graph.get('/beta/x?y=1', signal());
    const b = await graph.get('/beta/x', signal());
    expect(a).toMatchObject({ status: 200, body: { currentScore: 1 }, requestId: 'req-1' });
    expect(seen[0]?.url).toBe('/beta/x?y=1');
    expect(seen[0]?.headers).toMatchObject({ authorization: 'Bearer token-abc', 'user-agent': 'ua/1', accept: 'application/json' });
    expect(seen[0]?.headers['client-request-id']).toBe(a.clientRequestId);
    expect(a.clientRequestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(b.clientRequestId).not.toBe(a.clientRequestId);
  });

  it.each([
    [
      { status: 403, body: '{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges.","innerError":{"request-id":"r-403"}}}' },
      'forbidden',
      'Authorization_RequestDenied',
      /PartnerSecurity\.Read\.All application permission with admin consent/,
    ],
    [{ status: 404, body: '{"error":{"code":"ResourceNotFound","message":"nope"}}' }, 'not_found', 'ResourceNotFound', /global cloud/],
    [
      { status: 401, body: '{"error":{"code":"InvalidAuthenticationToken","message":"expired","innererror":{"request-id":"r-401"}}}' },
      'unauthorized',
      'InvalidAuthenticationToken',
      /token was rejected/,
    ],
    [
      { status: 429, headers: { 'retry-after': '7' }, body: readFileSync('test/fixtures/graph/error-429.json', 'utf8') },
      'throttled',
      'TooManyRequests',
      /Throttled/,
    ],
    [{ status: 503, body: '' }, 'unavailable', undefined, /unavailable/],
    [{ status: 500, headers: { 'content-type': 'text/html' }, body: '<html>oops</html>' }, 'http_error', undefined, /^Graph answered 500$/],
    [{ status: 302, headers: { location: 'https://evil.example/steal' } }, 'http_error', undefined, /redirect to https:\/\/evil\.example; not followed/],
  ])('maps %j to %s', async (r, reason, code, message) => {
    seen = [];
    reply = r as Reply;
    const error = await failure(client().graph.get('/beta/x', signal()));
    expect(error.reason).toBe(reason);
    expect(error.code).toBe(code);
    expect(error.status).toBe(r.status);
    expect(error.message).toMatch(message);
    expect(error.clientRequestId).toBe(seen[0]?.headers['client-request-id']);
    expect(seen).toHaveLength(1);
  });

  it('reads request-id from the error body and Retry-After from the header', async () => {
    reply = { status: 429, headers: { 'retry-after': '7' }, body: readFileSync('test/fixtures/graph/error-429.json', 'utf8') };
    const error = await failure(client().graph.get('/beta/x', signal()));
    expect(error).toMatchObject({ requestId: '1a0ffbc0-086f-4e8e-a9a8-4c4a1b2a3b4c', retryAfterMs: 7000, transient: true });
  });

  it('forgets the token after a 401', async () => {
    reply = { status: 401, body: '{}' };
    const c = client();
    await failure(c.graph.get('/beta/x', signal()));
    expect(c.invalidated()).toBe(1);
  });

  it.each([
    [{ status: 200, headers: { 'content-type': 'text/html' }, body: '<html></html>' }, /content type "text\/html", not JSON/],
    [{ status: 200, body: '{"currentScore":' }, /invalid JSON/],
    [{ status: 200, body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }, /not valid UTF-8/],
    [{ status: 200, body: `{"pad":"${'x'.repeat(2000)}"}` }, /larger than 1000 bytes/],
  ])('refuses an unreadable 200: %#', async (r, message) => {
    reply = r as Reply;
    const error = await failure(client({ maxBodyBytes: 1000 }).graph.get('/beta/x', signal()));
    expect(error.reason).toBe('invalid_response');
    expect(error.message).toMatch(message);
  });

  it('accepts JSON content types with parameters and OData suffixes', async () => {
    reply = { status: 200, headers: { 'content-type': 'application/json;odata.metadata=minimal;charset=utf-8' }, body: '{}' };
    await expect(client().graph.get('/beta/x', signal())).resolves.toMatchObject({ body: {} });
  });

  it('never sends the token to another origin', async () => {
    seen = [];
    const error = await failure(client().graph.get('https://127.0.0.2:1/beta/x', signal()));
    expect(error.reason).toBe('invalid_response');
    expect(error.message).toContain('refusing to send the token to https://127.0.0.2:1');
    expect(seen).toHaveLength(0);
  });

  it('reports a failed token as reason token without calling Graph', async () => {
    seen = [];
    const tokens: TokenSource = {
      get: async () => {
        throw new Error('AADSTS7000215: Invalid client secret provided.');
      },
      invalidate: () => {},
      lastTenantId: () => undefined,
    };
    const error = await failure(createGraphClient({ endpoint, timeoutMs: 5000, tokens, userAgent: 'ua' }).get('/beta/x', signal()));
    expect(error.reason).toBe('token');
    expect(error.message).toBe('could not get a token: AADSTS7000215: Invalid client secret provided.');
    expect(seen).toHaveLength(0);
  });

  it('reports a refused connection as reason network', async () => {
    const tokens: TokenSource = { get: async () => ({ token: 't' }), invalidate: () => {}, lastTenantId: () => undefined };
    const error = await failure(createGraphClient({ endpoint: 'https://127.0.0.1:1', timeoutMs: 5000, tokens, userAgent: 'ua' }).get('/beta/x', signal()));
    expect(error.reason).toBe('network');
    expect(error.message).toMatch(/could not reach Graph at https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});
