/**
 * The token transport (src/graph/token-http.ts) under the real @azure/identity credential, against
 * the TLS fake Entra ID: what MSAL would wait out or hide, it ends and says.
 */
import { describe, expect, it } from 'vitest';
import { createCredential } from '../../../src/config/credentials.js';
import { createDispatcher } from '../../../src/graph/http.js';
import { describeProxy } from '../../../src/graph/proxy.js';
import { createTokenSource, MAX_ACCESS_TOKEN_CHARS } from '../../../src/graph/token.js';
import { createTokenTransport } from '../../../src/graph/token-http.js';
import { createRedactor } from '../../../src/lib/log.js';
import { CLIENT_ID, CLIENT_SECRET, TENANT_ID } from '../../helpers/exporter.js';
import { type FakeCloud, startFakeCloud } from '../../helpers/fake-cloud.js';

async function tokenSource(cloud: FakeCloud, timeoutMs: number, onTestFinished: (fn: () => Promise<void>) => void) {
  const dispatcher = createDispatcher();
  onTestFinished(() => dispatcher.close());
  const transport = createTokenTransport({ dispatcher, timeoutMs, endpointName: 'the authority', env: {} });
  const credential = createCredential(
    { kind: 'clientSecret', tenantId: TENANT_ID, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, authorityHost: cloud.url },
    transport,
  );
  return createTokenSource({
    credential,
    scope: `${cloud.url}/.default`,
    redact: createRedactor([CLIENT_SECRET]),
    takeTransportFailure: transport.takeFailure,
  });
}

describe('token requests through the token transport', () => {
  it('a throttled token answer fails the request at once instead of waiting out its Retry-After of a day', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.tokenAnswer = {
      status: 429,
      contentType: 'application/json',
      body: JSON.stringify({
        error: 'temporarily_unavailable',
        error_description: 'AADSTS50196: The server terminated an operation because it encountered a loop.',
      }),
      headers: { 'retry-after': '86400', 'retry-after-ms': '86400000', 'x-ms-retry-after-ms': '86400000' },
    };
    const tokens = await tokenSource(cloud, 30_000, onTestFinished);
    // No deadline here: the azure pipeline would wait the day before it retried, and this would time out.
    await expect(tokens.get(new AbortController().signal)).rejects.toThrow(/AADSTS50196/);
    expect(cloud.tokenRequests.map((r) => r.status)).toEqual([429]);
  });

  it('a token endpoint that never answers ends at the deadline, saying where it went and how', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.hangTokens = true;
    const tokens = await tokenSource(cloud, 500, onTestFinished);
    await expect(tokens.get(new AbortController().signal)).rejects.toThrow(
      `no answer within 500 ms (the authority at ${cloud.url}, directly (no HTTPS_PROXY or HTTP_PROXY set))`,
    );
    expect(cloud.tokenRequests).toHaveLength(1);
  });

  it('a refusal after a request that went through keeps Entra ID’s own words', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished, expectedClientSecret: 'another-secret' });
    const tokens = await tokenSource(cloud, 30_000, onTestFinished);
    await expect(tokens.get(new AbortController().signal)).rejects.toThrow(/AADSTS7000215/);
  });
});

describe('the access token', () => {
  it(`is used up to ${MAX_ACCESS_TOKEN_CHARS} characters and refused beyond`, async () => {
    const source = (token: string) =>
      createTokenSource({
        credential: { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) },
        scope: 'https://graph.microsoft.com/.default',
        redact: createRedactor(),
      });
    const signal = new AbortController().signal;
    await expect(source('a'.repeat(MAX_ACCESS_TOKEN_CHARS)).get(signal)).resolves.toMatchObject({ token: 'a'.repeat(MAX_ACCESS_TOKEN_CHARS) });
    await expect(source('a'.repeat(MAX_ACCESS_TOKEN_CHARS + 1)).get(signal)).rejects.toThrow(
      `the access token is longer than ${MAX_ACCESS_TOKEN_CHARS} characters`,
    );
  });
});

describe('describeProxy', () => {
  const url = (text: string) => new URL(text);
  it.each([
    ['https://login.example/', {}, 'directly (no HTTPS_PROXY or HTTP_PROXY set)'],
    ['http://169.254.169.254/', {}, 'directly (no HTTP_PROXY set)'],
    ['https://login.example/', { HTTPS_PROXY: 'http://user:secret@proxy.corp:3128/path' }, 'through the proxy http://proxy.corp:3128 from HTTPS_PROXY'],
    ['https://login.example/', { https_proxy: 'http://lower:8080', HTTPS_PROXY: 'http://upper:8080' }, 'through the proxy http://lower:8080 from https_proxy'],
    ['https://login.example/', { HTTP_PROXY: 'http://plain:3128' }, 'through the proxy http://plain:3128 from HTTP_PROXY'],
    ['https://login.example/', { https_proxy: '', HTTP_PROXY: 'http://plain:3128' }, 'through the proxy http://plain:3128 from HTTP_PROXY'],
    ['http://169.254.169.254/', { HTTPS_PROXY: 'http://only-https:3128' }, 'directly (no HTTP_PROXY set)'],
    ['https://login.example/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'example' }, 'directly (NO_PROXY names login.example)'],
    ['https://login.example/', { HTTPS_PROXY: 'http://p:1', no_proxy: '.example' }, 'directly (no_proxy names login.example)'],
    ['https://login.example/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*.example' }, 'directly (NO_PROXY names login.example)'],
    ['https://example/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '*.example' }, 'through the proxy http://p:1 from HTTPS_PROXY'],
    ['https://login.example/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'login.example:8443' }, 'through the proxy http://p:1 from HTTPS_PROXY'],
    ['https://login.example:8443/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'login.example:8443' }, 'directly (NO_PROXY names login.example)'],
    ['https://[::1]:8443/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '[::1]:8443' }, 'directly (NO_PROXY names [::1])'],
    ['https://login.example/', { HTTPS_PROXY: 'http://p:1', NO_PROXY: ' other , * ' }, 'directly (NO_PROXY names login.example)'],
    ['https://login.example/', { HTTPS_PROXY: 'not a url' }, 'through the proxy (not a URL) from HTTPS_PROXY'],
  ])('%s with %j: %s', (target, env, expected) => {
    expect(describeProxy(url(target), env)).toBe(expected);
  });
});
