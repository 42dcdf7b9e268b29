/**
 * The exporter process as an operator meets it: no secret ever shown, graceful shutdown on
 * SIGTERM and SIGINT, and bad configuration refused with exit code 2 and every problem listed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  baseEnv,
  CLIENT_SECRET,
  clientSecretEnv,
  defaultArgs,
  type Exporter,
  INTEGRATION_TIMEOUT_MS,
  killExporters,
  runExporter,
  sampleValue,
  startExporter,
  TENANT_ID,
  until,
  withDefaults,
} from '../helpers/exporter.js';
import { closeFakeClouds, type FakeCloud, graphErrorBody, startFakeCloud } from '../helpers/fake-cloud.js';

const tenant = { tenant_id: TENANT_ID };

// Tests run concurrently and clean up after themselves (onTestFinished); this is the safety net.
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

/** Everything an operator can see: every log line, the metrics and the landing page. */
async function visibleText(exporter: Exporter): Promise<string> {
  const metrics = await exporter.get('/metrics');
  const landing = await exporter.get('/');
  const stopped = await exporter.stop();
  expect(stopped.code).toBe(0);
  return [...exporter.stderrLines, exporter.stdout(), metrics.body, landing.body].join('\n');
}

/** Fails when the secret, or any 16 characters in a row of a token's claims or signature, is visible. */
function expectNoSecrets(text: string, cloud: FakeCloud): void {
  expect(text).not.toContain(CLIENT_SECRET);
  for (const token of cloud.issuedTokens) {
    // The JWT header is the same for every token; the claims and the signature are what is secret.
    const secretPart = token.slice(token.indexOf('.') + 1);
    const leaked: string[] = [];
    for (let i = 0; i + 16 <= secretPart.length; i++) {
      const window = secretPart.slice(i, i + 16);
      if (text.includes(window)) leaked.push(window);
    }
    expect(leaked).toEqual([]);
  }
}

// One concurrent suite per file: every test below may run at the same time as any other.
describe.concurrent('the exporter process', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  describe('secrets', () => {
    it('never shows the client secret or an access token, on success and on Graph failures, even at debug level', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished, expectedClientSecret: CLIENT_SECRET });
      cloud.graphQueue.push(
        {},
        // A hostile Graph that echoes the secret and the token it was sent in its error messages.
        (request) => ({
          status: 401,
          body: graphErrorBody(
            'InvalidAuthenticationToken',
            `Client secret ${CLIENT_SECRET} does not match ${request.authorization}`,
            request.requestId,
            request.clientRequestId ?? '',
          ),
        }),
        (request) => ({ status: 500, body: graphErrorBody('generalException', `Token ${request.authorization?.slice(7)} failed`, request.requestId, '') }),
      );
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s', '--log.level=debug'] });
      await until(() => cloud.graphRequests.length >= 4, 15_000, 'four polls');
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'recovery');
      // The check means something: the secret was sent, tokens were issued and failures were logged.
      expect(cloud.tokenRequests.some((t) => t.clientSecret === CLIENT_SECRET && t.status === 200)).toBe(true);
      expect(cloud.issuedTokens.length).toBeGreaterThanOrEqual(1);
      expect(
        exporter
          .logs()
          .filter((l) => l.msg === 'poll failed')
          .map((l) => l.reason),
      ).toEqual(['unauthorized', 'http_error']);
      expect(exporter.logs().some((l) => l.level === 'debug')).toBe(true);
      expectNoSecrets(await visibleText(exporter), cloud);
    });

    it('never shows the client secret when Entra ID refuses it, even at debug level', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished, expectedClientSecret: 'what-entra-id-expects' });
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m', '--log.level=debug'] });
      await until(
        async () => (await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'token' })) === 1,
        10_000,
        'the token failure',
      );
      expect(cloud.tokenRequests.map((t) => [t.clientSecret, t.status])).toEqual([[CLIENT_SECRET, 401]]);
      expectNoSecrets(await visibleText(exporter), cloud);
    });
  });

  describe('graceful shutdown', () => {
    it.for([
      { signal: 'SIGTERM', state: 'idle' },
      { signal: 'SIGINT', state: 'idle' },
      { signal: 'SIGTERM', state: 'a Graph request hanging' },
      { signal: 'SIGINT', state: 'a Graph request hanging' },
      { signal: 'SIGTERM', state: 'a token request hanging' },
      { signal: 'SIGINT', state: 'a token request hanging' },
    ] as const)('$signal exits 0 with $state, without waiting for it', async ({ signal, state }, { onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      if (state === 'a Graph request hanging') cloud.graphDefault = { hang: true };
      if (state === 'a token request hanging') cloud.hangTokens = true;
      // The request deadline is an hour: an exporter that waited for the hanging request to end
      // would still run when stop() gives up, however slow the machine.
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m', '--graph.timeout=1h'] });
      if (state === 'a Graph request hanging') await until(() => cloud.graphRequests.length === 1, 10_000, 'the hanging Graph request');
      else if (state === 'a token request hanging') await until(() => cloud.tokenRequests.length === 1, 10_000, 'the hanging token request');
      else await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 10_000, 'the first poll');
      // A scrape leaves a keep-alive connection open, as Prometheus does. While a request hangs
      // it is answered at once: no poll has completed.
      const scraped = await exporter.samples();
      expect(sampleValue(scraped, 'partner_security_polls_total', tenant)).toBe(state === 'idle' ? 1 : 0);

      const result = await exporter.stop(signal, 20_000);
      expect({ code: result.code, signal: result.signal, running: result.running }).toEqual({ code: 0, signal: null, running: false });
      const messages = exporter.logs().map((l) => l.msg);
      expect(messages.slice(-2)).toEqual(['stopping', 'stopped']);
      expect(exporter.logs().find((l) => l.msg === 'stopping')?.signal).toBe(signal);
    });
  });

  describe('bad configuration', () => {
    const env = (cloud: FakeCloud) => ({ ...baseEnv(cloud), ...clientSecretEnv() });

    it('exits 2 and lists every problem at once', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const result = await runExporter(withDefaults(defaultArgs(cloud), ['--poll.interval=soon', '--log.format=xml', '--graph.endpoint=http://x']), env(cloud));
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      const problems = result.stderr.split('\n').filter((l) => l.startsWith('  - '));
      expect(problems.sort()).toEqual(
        [
          '  - --graph.endpoint: "http://x" must use https',
          '  - --log.format: "xml" is not one of logfmt, json',
          '  - --poll.interval: "soon" is not a duration (use e.g. 90s, 5m, 1h30m)',
        ].sort(),
      );
      expect(result.stderr).not.toContain('exporter started');
      expect(cloud.tokenRequests).toEqual([]);
      expect(cloud.graphRequests).toEqual([]);
    });

    it.for([
      { what: 'an unknown flag', args: ['--no-such-flag=1'], extraEnv: {}, problems: ['  - unknown flag --no-such-flag'] },
      {
        what: 'a client secret without tenant and client IDs',
        args: [],
        extraEnv: { AZURE_TENANT_ID: undefined, AZURE_CLIENT_ID: undefined },
        problems: ['  - AZURE_CLIENT_ID: required with AZURE_CLIENT_SECRET', '  - AZURE_TENANT_ID: required with AZURE_CLIENT_SECRET'],
      },
    ])('exits 2 for $what', async ({ args, extraEnv, problems }, { onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const merged: Record<string, string | undefined> = { ...env(cloud), ...extraEnv };
      const clean = Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined));
      const result = await runExporter(withDefaults(defaultArgs(cloud), args), clean);
      expect(result.code).toBe(2);
      expect(
        result.stderr
          .split('\n')
          .filter((l) => l.startsWith('  - '))
          .sort(),
      ).toEqual(problems.sort());
      expect(cloud.tokenRequests).toEqual([]);
    });
  });
});
