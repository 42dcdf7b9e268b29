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

/** The 403 SDK users report on securityAlerts with an app-only token (msgraph-beta-sdk-dotnet issue 1083). */
const MISSING_MFA = readFileSync('test/fixtures/graph/error-403-missing-mfa.json', 'utf8');

describe('Graph error bodies', () => {
  it.each([
    ['lower case', '{"error":{"code":"Forbidden","message":"said","innerError":{"request-id":"r-1"}}}', 'r-1'],
    ['upper case', '{"Error":{"Code":"Forbidden","Message":"said","InnerError":{"Request-Id":"r-2"}}}', 'r-2'],
    ['mixed case', '{"ERROR":{"cODE":"Forbidden","MESSAGE":"said","innererror":{"requestId":"r-3"}}}', 'r-3'],
    ['inner_error', '{"error":{"Code":"Forbidden","message":"said","inner_error":{"request-id":"r-4"}}}', 'r-4'],
  ])('reads code, message and request-id in %s', async (_case, body, requestId) => {
    reply = { status: 403, body };
    const error = await failure(client().graph.get('/beta/x', signal()));
    expect(error.code).toBe('Forbidden');
    expect(error.requestId).toBe(requestId);
    expect(error.message).toMatch(/^Graph answered 403 Forbidden: said\. /);
  });

  it('reads the request-id of a nested inner error, and the inner code when the outer one is missing', async () => {
    reply = { status: 500, body: '{"error":{"message":"m","innerError":{"innerError":{"code":"Deep","request-id":"r-deep"}}}}' };
    const error = await failure(client().graph.get('/beta/x', signal()));
    expect(error).toMatchObject({ code: 'Deep', requestId: 'r-deep' });
  });

  it('gives a 403 whose code says MFA is missing its own reason and says what is known, not to add the permission', async () => {
    reply = { status: 403, body: MISSING_MFA };
    const error = await failure(client().graph.get('/beta/security/partner/securityAlerts', signal(), 'securityAlerts'));
    expect(error.reason).toBe('mfa_required');
    expect(error.code).toBe('Unauthorized_MissingMFA');
    expect(error.message).toMatch(/^Graph answered 403 Unauthorized_MissingMFA: MFA is required for this request\. The provided authentication token/);
    expect(error.message).toContain('Graph asks for an MFA claim to read the securityAlerts relation, and app-only tokens');
    expect(error.message).toContain('never carry one');
    expect(error.message).toContain('the score and the other relations keep working');
    expect(error.message).toContain('--no-collector.security-alerts');
    expect(error.message).toContain('Microsoft support case');
    expect(error.message).not.toContain('needs the PartnerSecurity.Read.All');
    expect(error.transient).toBe(false);
  });

  it('finds the MFA code in an inner error too; on the score it does not promise that anything keeps working', async () => {
    reply = { status: 403, body: '{"error":{"code":"Forbidden","message":"m","innerError":{"code":"Unauthorized_MissingMFA"}}}' };
    const error = await failure(client().graph.get('/beta/security/partner/securityScore', signal()));
    expect(error.reason).toBe('mfa_required');
    expect(error.code).toBe('Forbidden');
    expect(error.message).toContain('nothing can be read until Graph stops asking');
    expect(error.message).not.toContain('--no-collector');
  });

  it('names the relation a 403 or a 404 is about, and keeps the score texts for the score', async () => {
    reply = { status: 404, body: '{"error":{"code":"ResourceNotFound","message":"nope"}}' };
    const relation404 = await failure(client().graph.get('/beta/x', signal(), 'customerInsights'));
    expect(relation404.reason).toBe('not_found');
    expect(relation404.message).toContain('Graph does not serve the customerInsights relation for this tenant');
    expect(relation404.message).not.toContain('partner security score is served only by the global cloud');
    const score404 = await failure(client().graph.get('/beta/x', signal()));
    expect(score404.message).toContain('The partner security score is served only by the global cloud');

    reply = { status: 403, body: '{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges."}}' };
    const relation403 = await failure(client().graph.get('/beta/x', signal(), 'history'));
    expect(relation403.reason).toBe('forbidden');
    expect(relation403.message).toMatch(/PartnerSecurity\.Read\.All application permission .* to read the history relation$/);
    const hinted: string[] = [];
    const tokens: TokenSource = { get: async () => ({ token: 't' }), invalidate: () => {}, lastTenantId: () => undefined };
    const withHint = createGraphClient({
      endpoint,
      timeoutMs: 5000,
      tokens,
      userAgent: 'ua',
      credentialHint: (status, subject) => {
        hinted.push(`${status} ${subject}`);
        return `configured hint about ${subject}`;
      },
    });
    const configured = await failure(withHint.get('/beta/x', signal(), 'securityAlerts'));
    expect(configured.message).toMatch(/\. configured hint about the securityAlerts relation$/);
    await failure(withHint.get('/beta/x', signal()));
    expect(hinted).toEqual(['403 the securityAlerts relation', '403 the partner security score']);
  });
});
