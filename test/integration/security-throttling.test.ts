/**
 * Throttling can only slow the exporter down: a Retry-After of 0 or a date in the past never makes
 * it ask sooner than the backoff floor, a relation's Retry-After delays the next poll, and the same
 * failure over and over is one log line, not one per poll.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PollData, PollResult } from '../../src/collect/poll-tenant.js';
import { BACKOFF_BASE_MS, createPoller, FAILURE_LOG_REPEAT_MS, nextDelayMs, THROTTLED_BACKOFF_MAX_MS } from '../../src/collect/poller.js';
import { GraphError } from '../../src/graph/errors.js';
import { parseRetryAfter } from '../../src/graph/retry-after.js';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { type Exporter, INTEGRATION_TIMEOUT_MS, killExporters, startExporter, TENANT_ID, until } from '../helpers/exporter.js';
import { closeFakeClouds, type FakeCloud, SECURITY_SCORE_PATH, startFakeCloud, wrappedScoreBody } from '../helpers/fake-cloud.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const NOW = Date.parse('2026-11-29T12:00:00Z');
const THROTTLED_BODY = readFileSync(new URL('../fixtures/graph/error-429.json', import.meta.url), 'utf8');

const okData = (retryAfterMs?: number): PollData => ({
  score: { currentScore: 1 },
  relations: {},
  relationStatus: {},
  relationErrors: {},
  ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
});
const ok = (retryAfterMs?: number): PollResult => ({ ok: true, data: okData(retryAfterMs), requests: ['200'] });
const fail = (error: GraphError): PollResult => ({ ok: false, error, requests: [String(error.status ?? 'none')] });
const throttled = (retryAfterMs?: number) =>
  new GraphError('throttled', 'Graph answered 429', { status: 429, code: 'TooManyRequests', ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
const unavailable = (retryAfterMs?: number) =>
  new GraphError('unavailable', 'Graph answered 503', { status: 503, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });

describe('the delay before the next poll', () => {
  it.each([
    ['Retry-After: 0', parseRetryAfter('0', NOW)],
    ['an HTTP date in the past', parseRetryAfter('Sun, 29 Nov 2026 11:00:00 GMT', NOW)],
    ['an HTTP date of right now', parseRetryAfter('Sun, 29 Nov 2026 12:00:00 GMT', NOW)],
  ])('%s never shortens the backoff floor', (_what, retryAfterMs) => {
    expect(retryAfterMs).toBe(0);
    for (const error of [throttled(retryAfterMs), unavailable(retryAfterMs)]) {
      // The lowest the jitter can go, the first time.
      expect(nextDelayMs(fail(error), 1, 10 * MINUTE, () => 0)).toBe(BACKOFF_BASE_MS / 2);
      expect(nextDelayMs(fail(error), 1, 10 * MINUTE, () => 1)).toBe(BACKOFF_BASE_MS);
      // And the floor keeps doubling while the throttling goes on.
      expect(nextDelayMs(fail(error), 4, 10 * MINUTE, () => 1)).toBe(BACKOFF_BASE_MS * 8);
    }
  });

  it('takes the longer of Retry-After and the backoff floor', () => {
    expect(nextDelayMs(fail(throttled(90 * SECOND)), 1, 10 * MINUTE, () => 1)).toBe(90 * SECOND);
    expect(nextDelayMs(fail(throttled(2 * SECOND)), 3, 10 * MINUTE, () => 1)).toBe(4 * BACKOFF_BASE_MS);
    expect(nextDelayMs(fail(throttled(10 * 24 * 3600 * SECOND)), 1, 10 * MINUTE, () => 1)).toBe(24 * 3600 * SECOND);
  });

  it('lets a throttling Graph push the backoff past a short interval, up to its own ceiling', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => nextDelayMs(fail(throttled(0)), n, SECOND, () => 1));
    expect(delays).toEqual([3, 6, 12, 24, 48, 96, 192, 300, 300].map((s) => s * SECOND));
    expect(THROTTLED_BACKOFF_MAX_MS).toBe(5 * MINUTE);
    // A network error is no request to slow down: its backoff stays within the interval.
    expect(nextDelayMs(fail(new GraphError('network', 'ECONNRESET')), 20, SECOND, () => 1)).toBe(SECOND);
  });

  it("waits for a relation's Retry-After after an otherwise successful poll", () => {
    expect(nextDelayMs(ok(30 * SECOND), 0, SECOND, () => 1)).toBe(30 * SECOND);
    expect(nextDelayMs(ok(30 * SECOND), 0, 10 * MINUTE, () => 1)).toBe(10 * MINUTE);
    expect(nextDelayMs(ok(0), 0, MINUTE, () => 1)).toBe(MINUTE);
  });
});

describe('a poller against a Graph that keeps throttling', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function throttledPoller(results: () => PollResult, intervalMs: number, random: () => number) {
    const lines: string[] = [];
    const calls: number[] = [];
    const logger = createLogger({ level: 'info', format: 'logfmt', redact: createRedactor(), write: (l) => lines.push(l) });
    const poller = createPoller({
      poll: async () => {
        calls.push(Date.now());
        return results();
      },
      intervalMs,
      logger,
      random,
      tenantId: 't1',
    });
    return { poller, lines, calls };
  }

  it.each([
    ['the lowest jitter', () => 0],
    ['the highest jitter', () => 1],
  ])('asks a handful of times a minute at most, with Retry-After: 0 and a 1 s interval (%s)', async (_what, random) => {
    const { poller, calls } = throttledPoller(() => fail(throttled(0)), SECOND, random);
    poller.start();
    await vi.advanceTimersByTimeAsync(MINUTE);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.length).toBeLessThanOrEqual(8);
    // Later minutes see fewer still.
    const before = calls.length;
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    expect((calls.length - before) / 10).toBeLessThanOrEqual(4);
    await poller.stop();
  });

  it('logs the same failure once, a different one at once, repeats again after a while with their count, and recovery', async () => {
    let next: () => PollResult = () => fail(throttled(0));
    const { poller, lines } = throttledPoller(
      () => next(),
      MINUTE,
      () => 1,
    );
    const failedLines = () => lines.filter((l) => l.includes('msg="poll failed"'));
    const nextPoll = async () => {
      const polls = poller.snapshot().polls;
      await vi.advanceTimersByTimeAsync(Math.max(1, (poller.snapshot().nextPollMs ?? 0) - Date.now()));
      expect(poller.snapshot().polls).toBe(polls + 1);
    };
    poller.start();
    for (let i = 0; i < 10; i++) await nextPoll();
    expect(failedLines()).toHaveLength(1);
    expect(failedLines()[0]).toContain('reason=throttled status=429 code=TooManyRequests');

    next = () => fail(unavailable());
    await nextPoll();
    expect(failedLines()).toHaveLength(2);
    expect(failedLines()[1]).toContain('reason=unavailable status=503');
    const loggedAt = Date.now();

    // The same failure again and again: quiet until the repeat period has passed, then one line
    // that says how many were left out.
    let polls = 0;
    while (failedLines().length === 2) {
      await nextPoll();
      polls++;
    }
    expect(Date.now() - loggedAt).toBeGreaterThanOrEqual(FAILURE_LOG_REPEAT_MS);
    expect(polls).toBeGreaterThan(2);
    expect(failedLines()[2]).toContain(`repeated=${polls - 1} `);

    next = () => ok();
    await nextPoll();
    expect(lines.filter((l) => l.includes('msg="poll succeeded again"'))).toHaveLength(1);
    // After recovery, the same failure is news again.
    next = () => fail(throttled(0));
    await nextPoll();
    expect(failedLines()).toHaveLength(4);
    expect(failedLines()[3]).not.toContain('repeated=');
    await poller.stop();
  });
});

// Through the real exporter and the fake Graph over TLS: count what Graph sees over a window.
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

const WINDOW_MS = 6000;

/**
 * Waits until WINDOW_MS after the first Graph request, then returns the requests seen by then: a
 * bounded window by design, since what is checked is a rate (requests per window), not an event.
 */
async function requestsInWindow(cloud: FakeCloud, path = SECURITY_SCORE_PATH) {
  const first = await until(() => cloud.graphRequests[0], 15_000, 'the first Graph request');
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, first.at + WINDOW_MS - Date.now())));
  return cloud.graphRequests.filter((r) => r.at <= first.at + WINDOW_MS && r.path === path);
}

const pollFailedLines = (exporter: Exporter) => exporter.logs().filter((l) => l.msg === 'poll failed');

describe.concurrent('the exporter against a throttling Graph', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it.for([
    ['429 with Retry-After: 0', () => ({ status: 429, headers: { 'retry-after': '0' }, body: THROTTLED_BODY })],
    ['503 with an HTTP date in the past', () => ({ status: 503, headers: { 'retry-after': new Date(Date.now() - 3600_000).toUTCString() }, body: '' })],
  ] as const)('%s: a handful of requests, one log line', async ([, reply], { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = reply;
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
    const requests = await requestsInWindow(cloud);
    // The floor after the first failures is at least 1.5 s, 3 s, 6 s: at most 4 requests in 6 s.
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests.length).toBeLessThanOrEqual(4);
    expect(pollFailedLines(exporter)).toHaveLength(1);
    expect(await exporter.value('partner_security_up', { tenant_id: TENANT_ID })).toBe(0);
  });

  it("a relation's 429 with Retry-After delays the next poll, while the score is served", async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    // The score without its relations inlined: the exporter asks /requirements and /history itself.
    cloud.graphDefault = { body: wrappedScoreBody() };
    cloud.relationDefault = (request) => (request.path.endsWith('/requirements') ? { status: 429, headers: { 'retry-after': '4' }, body: THROTTLED_BODY } : {});
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
    const scores = await requestsInWindow(cloud);
    // With a 1 s interval that would be six polls; Retry-After: 4 allows two.
    expect(scores.length).toBeGreaterThanOrEqual(1);
    expect(scores.length).toBeLessThanOrEqual(2);
    const requirements = () => cloud.graphRequests.filter((r) => r.path === `${SECURITY_SCORE_PATH}/requirements`);
    const [first, second] = await until(() => (requirements().length >= 2 ? requirements() : undefined), 10_000, 'the second poll');
    expect(second?.at).toBeGreaterThanOrEqual((first?.answeredAt ?? Number.NaN) + 4000 - 5);
    expect(await exporter.value('partner_security_up', { tenant_id: TENANT_ID })).toBe(1);
    expect(await exporter.value('partner_security_relation_up', { tenant_id: TENANT_ID, relation: 'requirements' })).toBe(0);
    expect(exporter.logs().filter((l) => l.msg === 'reading a relation failed; keeping its last data')).toHaveLength(1);
  });
});
