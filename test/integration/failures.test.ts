/**
 * The exporter through real boundaries when Graph misbehaves: throttling with Retry-After (seconds
 * and HTTP date), a 500 with Graph's error body, HTML instead of JSON, and a Graph that never answers.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { type Exporter, INTEGRATION_TIMEOUT_MS, killExporters, type Sample, sampleValue, startExporter, TENANT_ID, until } from '../helpers/exporter.js';
import { closeFakeClouds, type FakeCloud, FIXTURE_SCORE, type GraphReply, graphErrorBody, startFakeCloud } from '../helpers/fake-cloud.js';

const tenant = { tenant_id: TENANT_ID };
const THROTTLED_BODY = readFileSync(new URL('../fixtures/graph/error-429.json', import.meta.url), 'utf8');
// Date.now() has millisecond resolution on both sides of the wire, and a timer may start on the
// event loop's cached clock: allow a few milliseconds, far less than any backoff would be.
const CLOCK_SLACK_MS = 5;

// Tests run concurrently and clean up after themselves (onTestFinished); this is the safety net.
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

const failures = (exporter: Exporter, reason: string) => exporter.value('partner_security_poll_failures_total', { ...tenant, reason });

/** The first scrape that satisfies the condition, so every check reads one consistent state. */
function scrapeWhen(exporter: Exporter, condition: (samples: Sample[]) => boolean, what: string, timeoutMs = 15_000): Promise<Sample[]> {
  return until(
    async () => {
      const samples = await exporter.samples();
      return condition(samples) ? samples : undefined;
    },
    timeoutMs,
    what,
  );
}

const failedWith = (reason: string) => (samples: Sample[]) => (sampleValue(samples, 'partner_security_poll_failures_total', { ...tenant, reason }) ?? 0) >= 1;

/**
 * Waits for the throttled poll and the one after it: up 0 while throttled (with the last good score
 * still served, if there was one), no request before Retry-After allows it, then up 1 again.
 */
async function expectThrottledThenRecovered(cloud: FakeCloud, exporter: Exporter, throttledIndex: number, notBefore: () => number): Promise<void> {
  const throttled = (samples: Sample[]) => sampleValue(samples, 'partner_security_poll_failures_total', { ...tenant, reason: 'throttled' }) === 1;
  const failing = await scrapeWhen(exporter, (s) => throttled(s) && sampleValue(s, 'partner_security_up', tenant) === 0, 'up 0 after the 429');
  expect(sampleValue(failing, 'partner_security_graph_requests_total', { ...tenant, code: '429' })).toBe(1);
  expect(sampleValue(failing, 'partner_security_graph_requests_total', { ...tenant, code: '200' })).toBe(throttledIndex === 0 ? undefined : throttledIndex);
  // While failing, the last good score keeps being served.
  expect(sampleValue(failing, 'partner_security_score_current', tenant)).toBe(throttledIndex === 0 ? undefined : FIXTURE_SCORE.current);
  expect(sampleValue(failing, 'partner_security_score_max', tenant)).toBe(throttledIndex === 0 ? undefined : FIXTURE_SCORE.max);

  const recovered = await scrapeWhen(exporter, (s) => sampleValue(s, 'partner_security_up', tenant) === 1 && throttled(s), 'recovery after Retry-After');
  const retry = cloud.graphRequests[throttledIndex + 1];
  expect(retry?.at).toBeGreaterThanOrEqual(notBefore() - CLOCK_SLACK_MS);
  expect(sampleValue(recovered, 'partner_security_graph_requests_total', { ...tenant, code: '429' })).toBe(1);
  expect(sampleValue(recovered, 'partner_security_score_current', tenant)).toBe(FIXTURE_SCORE.current);
}

// One concurrent suite per file: every test below may run at the same time as any other.
describe.concurrent('the exporter when Graph fails', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  describe('Graph throttling', () => {
    it('honours Retry-After in seconds, counts the 429 and keeps serving the last good score', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      cloud.graphQueue.push({}, { status: 429, headers: { 'retry-after': '3' }, body: THROTTLED_BODY });
      // A 1 s interval caps the backoff at 1 s: only Retry-After can explain a 3 s wait.
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
      await expectThrottledThenRecovered(cloud, exporter, 1, () => (cloud.graphRequests[1]?.answeredAt ?? Number.NaN) + 3000);
    });

    it('honours Retry-After as an HTTP date', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      let retryAt = Number.NaN;
      const throttle = (): GraphReply => {
        // A whole second at least 3 s ahead: HTTP dates have no milliseconds.
        retryAt = Math.ceil((Date.now() + 3000) / 1000) * 1000;
        return { status: 429, headers: { 'retry-after': new Date(retryAt).toUTCString() }, body: THROTTLED_BODY };
      };
      cloud.graphQueue.push(throttle);
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
      await expectThrottledThenRecovered(cloud, exporter, 0, () => retryAt);
    });
  });

  describe('Graph errors', () => {
    it('a 500 with a Graph error body: reason http_error and one log line with code, status and both request ids', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      cloud.graphQueue.push((request) => ({
        status: 500,
        body: graphErrorBody(
          'generalException',
          'An unexpected error occurred while processing the request.',
          request.requestId,
          request.clientRequestId ?? '',
        ),
      }));
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
      await until(async () => (await failures(exporter, 'http_error')) === 1, 10_000, 'the failed poll');

      const samples = await exporter.samples();
      expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(0);
      expect(sampleValue(samples, 'partner_security_graph_requests_total', { ...tenant, code: '500' })).toBe(1);
      expect(sampleValue(samples, 'partner_security_score_current', tenant)).toBeUndefined();

      const received = cloud.graphRequests[0];
      const lines = exporter.logs().filter((l) => l.msg === 'poll failed');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'warn',
        tenant_id: TENANT_ID,
        reason: 'http_error',
        status: 500,
        code: 'generalException',
        request_id: received?.requestId,
        client_request_id: received?.clientRequestId,
      });
      expect(received?.clientRequestId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('an HTML page with status 200: reason invalid_response, and the exporter keeps serving', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      cloud.graphQueue.push({ contentType: 'text/html; charset=utf-8', body: '<!DOCTYPE html><html><body><h1>Sign in to your account</h1></body></html>' });
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
      await until(async () => (await failures(exporter, 'invalid_response')) === 1, 10_000, 'the failed poll');

      const samples = await exporter.samples();
      expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(0);
      expect(sampleValue(samples, 'partner_security_graph_requests_total', { ...tenant, code: '200' })).toBe(1);
      expect(sampleValue(samples, 'partner_security_score_current', tenant)).toBeUndefined();
      expect(exporter.logs().filter((l) => l.msg === 'poll failed')).toMatchObject([{ reason: 'invalid_response', status: 200 }]);

      expect(exporter.child.exitCode).toBeNull();
      expect((await exporter.get('/healthz')).status).toBe(200);
      expect((await exporter.get('/readyz')).status).toBe(200);
      expect((await exporter.get('/')).body).toContain('failed (invalid_response)');
    });

    it('a Graph that never answers: reason timeout after --graph.timeout, and the exporter keeps serving', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      cloud.graphDefault = { hang: true };
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m', '--graph.timeout=1s'] });
      await until(() => cloud.graphRequests.length === 1, 10_000, 'the first Graph request');

      const samples = await scrapeWhen(exporter, failedWith('timeout'), 'the timeout', 5000);
      expect(sampleValue(samples, 'partner_security_poll_failures_total', { ...tenant, reason: 'timeout' })).toBe(1);
      const duration = sampleValue(samples, 'partner_security_poll_duration_seconds', tenant) ?? Number.NaN;
      // At least the 1 s deadline; an upper bound would measure the machine, not the exporter (the
      // poll interval is a minute, so only the deadline can have ended this poll).
      expect(duration).toBeGreaterThanOrEqual(1);
      expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(0);
      expect(sampleValue(samples, 'partner_security_graph_requests_total', { ...tenant, code: 'none' })).toBe(1);
      expect(exporter.logs().find((l) => l.msg === 'poll failed')).toMatchObject({ reason: 'timeout' });
      expect(exporter.child.exitCode).toBeNull();
      expect((await exporter.get('/')).body).toContain('failed (timeout)');
    });

    it('an Entra ID that never answers: reason timeout after --graph.timeout, whose deadline covers the token', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      cloud.hangTokens = true;
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m', '--graph.timeout=1s'] });
      await until(() => cloud.tokenRequests.length === 1, 10_000, 'the token request');

      const samples = await scrapeWhen(exporter, failedWith('timeout'), 'the timeout', 5000);
      expect(sampleValue(samples, 'partner_security_poll_failures_total', { ...tenant, reason: 'timeout' })).toBe(1);
      const duration = sampleValue(samples, 'partner_security_poll_duration_seconds', tenant) ?? Number.NaN;
      // At least the 1 s deadline; an upper bound would measure the machine, not the exporter (the
      // poll interval is a minute, so only the deadline can have ended this poll).
      expect(duration).toBeGreaterThanOrEqual(1);
      expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(0);
      expect(cloud.graphRequests).toEqual([]);
    });

    it('a Graph certificate nobody trusts: reason network, and the request never reaches it', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const impostor = await startFakeCloud({ onTestFinished, certificate: 'untrusted' });
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m', `--graph.endpoint=${impostor.url}`] });
      const samples = await scrapeWhen(exporter, failedWith('network'), 'the network failure');
      expect(sampleValue(samples, 'partner_security_poll_failures_total', { ...tenant, reason: 'network' })).toBe(1);
      expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(0);
      expect(sampleValue(samples, 'partner_security_graph_requests_total', { ...tenant, code: 'none' })).toBe(1);
      expect(impostor.graphRequests).toEqual([]);
      const line = exporter.logs().find((l) => l.msg === 'poll failed');
      expect(line).toMatchObject({ reason: 'network' });
      expect(String(line?.err)).toMatch(/self[- ]signed certificate/i);
    });
  });
});
