/**
 * Token requests go through the exporter's own HTTP client (src/graph/token-http.ts), with the
 * Graph client's body cap, deadline, proxy and TLS: a huge token answer is cut at the cap, and a
 * token request that cannot connect says where it went and through which proxy, never with the
 * proxy's password. Then hostile text from Graph and Entra ID end to end: the built exporter keeps
 * answering while every poll fails on a 10 MiB run of "eyJ".
 */
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/graph/http.js';
import {
  CLIENT_SECRET,
  clientSecretEnv,
  INTEGRATION_TIMEOUT_MS,
  killExporters,
  startExporter,
  TENANT_ID,
  until,
  WITH_SECURITY_ALERTS,
} from '../helpers/exporter.js';
import { closeFakeClouds, graphErrorBody, MSI_PATH, startFakeCloud } from '../helpers/fake-cloud.js';
import { startConnectProxy } from '../helpers/proxy.js';

const tenant = { tenant_id: TENANT_ID };
const MiB = 1024 * 1024;

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const tokenFailures = (exporter: { logs(): Record<string, unknown>[] }) => exporter.logs().filter((l) => l.msg === 'poll failed' && l.reason === 'token');

describe.concurrent('token requests through the exporter’s HTTP client', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('a 150 MiB token answer ends as a token failure at the 10 MiB cap, long before the fake could send it all', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.tokenStream = {
      status: 200,
      contentType: 'application/json',
      head: '{"token_type":"Bearer","expires_in":3599,"access_token":"',
      filler: 'A',
      length: 150 * MiB,
    };
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m', '--graph.timeout=20s'] });
    await until(async () => (await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'token' })) === 1, 40_000, 'a token failure');
    const err = String(tokenFailures(exporter)[0]?.err);
    expect(err).toContain(`larger than ${DEFAULT_MAX_BODY_BYTES} bytes`);
    expect(err).toContain(`the authority at ${cloud.url}`);
    // What left the fake: the cap, plus what the sockets buffered on the way.
    expect(cloud.streamedTokenBytes).toBeGreaterThan(DEFAULT_MAX_BODY_BYTES);
    expect(cloud.streamedTokenBytes).toBeLessThan(40 * MiB);
    expect(cloud.graphRequests).toEqual([]);
    expect((await exporter.get('/healthz')).status).toBe(200);
    expect(exporter.child.exitCode).toBeNull();
  });

  it.for([
    ['through a proxy with a password', 'proxy'],
    ['directly, no proxy set', 'none'],
    ['directly, the host named in NO_PROXY', 'no_proxy'],
  ] as const)('a token request that cannot connect (%s) names the authority and the proxy, never the password', async ([, proxying], { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const proxy = await startConnectProxy();
    onTestFinished(() => proxy.close());
    const authority = `https://127.0.0.1:${await closedPort()}`;
    const proxyUrl = proxy.url.replace('http://', 'http://exporter:Pr0xy-pa55word@');
    const proxyEnv = proxying === 'none' ? {} : { HTTPS_PROXY: proxyUrl, ...(proxying === 'no_proxy' ? { NO_PROXY: 'localhost,127.0.0.1' } : {}) };
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: ['--poll.interval=1m'],
      env: {
        AZURE_TENANT_ID: TENANT_ID,
        AZURE_CLIENT_ID: '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40',
        AZURE_CLIENT_SECRET: CLIENT_SECRET,
        AZURE_AUTHORITY_HOST: authority,
        ...proxyEnv,
      },
    });
    await until(() => tokenFailures(exporter).length === 1, 30_000, 'a token failure');
    const err = String(tokenFailures(exporter)[0]?.err);
    expect(err).toContain(`the authority at ${authority}`);
    expect(err).toContain(
      {
        proxy: `through the proxy ${proxy.url} from HTTPS_PROXY`,
        none: 'directly (no HTTPS_PROXY or HTTP_PROXY set)',
        no_proxy: 'directly (NO_PROXY names 127.0.0.1)',
      }[proxying],
    );
    expect(err).not.toContain('network_error');
    expect(proxy.tunnels.map((t) => t.target)).toEqual(proxying === 'proxy' ? [authority.slice('https://'.length)] : []);
    const everything = exporter.stderrLines.join('\n') + (await exporter.get('/')).body + (await exporter.get('/metrics')).body;
    expect(everything).not.toContain('Pr0xy-pa55word');
    expect(everything).not.toContain('exporter:');
  });

  it('a managed identity endpoint that cannot be reached is named as such', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const endpoint = `http://127.0.0.1:${await closedPort()}${MSI_PATH}`;
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: ['--poll.interval=1m', '--graph.timeout=30s'],
      env: { IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: cloud.identityHeader, AZURE_AUTHORITY_HOST: undefined },
    });
    const failed = () => exporter.logs().find((l) => l.msg === 'poll failed');
    await until(failed, 40_000, 'a failed poll');
    expect(failed()).toMatchObject({ reason: 'token' });
    expect(String(failed()?.err)).toContain(`the managed identity endpoint at ${new URL(endpoint).origin}, directly (no HTTP_PROXY set)`);
  });
});

describe.concurrent('hostile text from Graph and Entra ID, end to end', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  const EYJ_RUN = 'eyJ'.repeat(Math.floor((DEFAULT_MAX_BODY_BYTES - 64 * 1024) / 3));

  it('a Graph error message of a 10 MiB run of eyJ: every poll fails in bounded words and /healthz answers throughout', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = (request) => ({ status: 403, body: graphErrorBody('Forbidden', EYJ_RUN, request.requestId, '') });
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
    // The old redactor spent about 86 s on 300 KB of this: three polls of 10 MiB would take days.
    for (let polls = 1; polls <= 3; polls++) {
      await until(
        async () => (await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'forbidden' })) === polls,
        20_000,
        `poll ${polls}`,
      );
      expect((await exporter.get('/healthz')).status).toBe(200);
    }
    const failure = exporter.logs().find((l) => l.msg === 'poll failed');
    expect(String(failure?.err).length).toBeLessThanOrEqual(1024);
    expect(String(failure?.err)).toMatch(/^Graph answered 403 Forbidden: (eyJ)+e?y?…/);
  });

  it('a token error_description of a 10 MiB run of eyJ: the poll fails as a token failure in bounded words', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.tokenAnswer = { status: 400, contentType: 'application/json', body: JSON.stringify({ error: 'invalid_request', error_description: EYJ_RUN }) };
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
    for (let polls = 1; polls <= 2; polls++) {
      await until(
        async () => ((await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'token' })) ?? 0) >= polls,
        20_000,
        `poll ${polls}`,
      );
      expect((await exporter.get('/healthz')).status).toBe(200);
    }
    expect(String(tokenFailures(exporter)[0]?.err).length).toBeLessThanOrEqual(1024);
  });

  it('an alerts page of three million empty objects, under the heap limit npm start sets: the relation fails, the exporter lives', async ({
    onTestFinished,
  }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.alertsDefault = { body: `{"value":[${'{},'.repeat(Math.floor((DEFAULT_MAX_BODY_BYTES - 64 * 1024) / 3))}{}]}` };
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: ['--poll.interval=1s', WITH_SECURITY_ALERTS],
      // As package.json's start script and the image run it: a 192 MiB heap.
      env: { ...clientSecretEnv(), NODE_OPTIONS: '--max-old-space-size=192 --max-semi-space-size=2' },
    });
    const failedRelation = () =>
      exporter.logs().find((l) => typeof l.msg === 'string' && String(JSON.stringify(l)).includes('more than 200000 objects and arrays'));
    await until(failedRelation, 30_000, 'the alerts relation failing on its shape');
    for (let polls = 2; polls <= 3; polls++) {
      await until(async () => ((await exporter.value('partner_security_polls_total', tenant)) ?? 0) >= polls, 20_000, `poll ${polls}`);
      expect((await exporter.get('/healthz')).status).toBe(200);
    }
    expect(exporter.child.exitCode).toBeNull();
    expect(await exporter.value('partner_security_score_current', tenant)).toBe(14.29);
  });
});
