import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PollResult } from '../../../src/collect/poll-tenant.js';
import { BACKOFF_BASE_MS, createPoller, nextDelayMs, POLL_ABORT_GRACE_MS, THROTTLED_BACKOFF_MAX_MS } from '../../../src/collect/poller.js';
import { GraphError } from '../../../src/graph/errors.js';
import { createLimit } from '../../../src/lib/limit.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';

const INTERVAL = 60_000;
const ok = (currentScore: number, tenantId?: string): PollResult => ({
  ok: true,
  data: { score: { currentScore }, relations: {}, relationStatus: {}, relationErrors: {} },
  requests: ['200'],
  ...(tenantId ? { tenantId } : {}),
});
const fail = (error: GraphError, requests = ['none']): PollResult => ({ ok: false, error, requests });
const throttled = (retryAfterMs?: number) => new GraphError('throttled', 'slow down', { status: 429, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });

function setup(
  results: PollResult[],
  options: { tenantId?: string; durationMs?: number; timeoutMs?: number; limit?: <T>(task: () => Promise<T>) => Promise<T>; ignoreAbort?: boolean } = {},
) {
  const lines: string[] = [];
  const calls: number[] = [];
  const mono: number[] = [];
  const poll = vi.fn(async (signal: AbortSignal): Promise<PollResult> => {
    calls.push(Date.now());
    mono.push(performance.now());
    if (options.durationMs) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, options.durationMs);
        if (!options.ignoreAbort)
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
      });
    }
    return results.shift() ?? ok(1);
  });
  const logger = createLogger({ level: 'debug', format: 'logfmt', redact: createRedactor(), write: (l) => lines.push(l) });
  const poller = createPoller({
    poll,
    intervalMs: INTERVAL,
    logger,
    random: () => 1,
    ...(options.tenantId ? { tenantId: options.tenantId } : {}),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  });
  return { poller, poll, calls, mono, lines, start: Date.now() };
}

describe('poller', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-29T12:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('polls at start, then once per interval', async () => {
    const { poller, calls, start } = setup([]);
    poller.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([start]);
    await vi.advanceTimersByTimeAsync(INTERVAL * 3);
    expect(calls.map((t) => t - start)).toEqual([0, INTERVAL, 2 * INTERVAL, 3 * INTERVAL]);
    await poller.stop();
  });

  it('keeps its cadence from poll start to poll start', async () => {
    const { poller, calls, start } = setup([], { durationMs: 20_000 });
    poller.start();
    await vi.advanceTimersByTimeAsync(INTERVAL * 2);
    expect(calls.map((t) => t - start)).toEqual([0, INTERVAL, 2 * INTERVAL]);
    await poller.stop();
  });

  it('never overlaps: a poll slower than the interval is followed at once', async () => {
    const { poller, calls, start } = setup([], { durationMs: INTERVAL * 1.5 });
    poller.start();
    await vi.advanceTimersByTimeAsync(INTERVAL * 4);
    // setTimeout(0) fires after 1 ms; compare whole seconds.
    expect(calls.map((t) => Math.floor((t - start) / 1000))).toEqual([0, 90, 180]);
    await poller.stop();
  });

  it('honours Retry-After and never polls earlier', async () => {
    const { poller, calls, start } = setup([fail(throttled(90_000), ['429']), ok(5)]);
    poller.start();
    await vi.advanceTimersByTimeAsync(89_999);
    expect(calls).toHaveLength(1);
    expect(poller.snapshot().nextPollMs).toBe(start + 90_000);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((t) => t - start)).toEqual([0, 90_000]);
    await poller.stop();
  });

  it('backs off exponentially on transient failures without Retry-After, bounded by the interval', async () => {
    const network = () => fail(new GraphError('network', 'ECONNRESET'));
    const { poller, calls, start } = setup([network(), network(), network(), network(), network(), network(), ok(1)]);
    poller.start();
    await vi.advanceTimersByTimeAsync(10 * INTERVAL);
    const gaps = calls.slice(1).map((t, i) => t - (calls[i] ?? start));
    expect(gaps.slice(0, 7)).toEqual([3000, 6000, 12_000, 24_000, 48_000, INTERVAL, INTERVAL]);
    await poller.stop();
  });

  it('waits the full interval after failures that would only repeat (401, 403, bad body)', () => {
    for (const reason of ['unauthorized', 'forbidden', 'invalid_response', 'http_error', 'not_found', 'token'] as const) {
      expect(nextDelayMs(fail(new GraphError(reason, 'x')), 3, INTERVAL, () => 1)).toBe(INTERVAL);
    }
  });

  it('jitters backoff between half and all of the step', () => {
    const e = fail(new GraphError('unavailable', 'x', { status: 503 }));
    expect(nextDelayMs(e, 1, INTERVAL, () => 0)).toBe(BACKOFF_BASE_MS / 2);
    expect(nextDelayMs(e, 2, INTERVAL, () => 0.5)).toBe(BACKOFF_BASE_MS * 2 * 0.75);
    // Graph asked to slow down (503): the backoff may outgrow a short interval, up to its own ceiling.
    expect(nextDelayMs(e, 80, INTERVAL, () => 1)).toBe(THROTTLED_BACKOFF_MAX_MS);
    expect(nextDelayMs(fail(new GraphError('timeout', 'x')), 80, INTERVAL, () => 1)).toBe(INTERVAL);
    expect(nextDelayMs(fail(throttled(10 * 24 * 3600_000)), 1, INTERVAL, () => 1)).toBe(24 * 3600_000);
  });

  it('never lets the jitter cut a wait below Retry-After, whatever random() draws', () => {
    for (const draw of [0, 0.1, 0.5, 0.9, 0.999_999, 1]) {
      const random = () => draw;
      // Retry-After longer than any jittered step: it is the wait, to the millisecond.
      expect(nextDelayMs(fail(throttled(90_000)), 1, INTERVAL, random)).toBe(90_000);
      expect(nextDelayMs(fail(new GraphError('unavailable', 'x', { status: 503, retryAfterMs: 45_000 })), 3, INTERVAL, random)).toBe(45_000);
      // Retry-After shorter than the jittered step: the step, jittered between half and all of it.
      expect(nextDelayMs(fail(throttled(1000)), 3, INTERVAL, random)).toBe(Math.max(1000, Math.round(4 * BACKOFF_BASE_MS * (0.5 + draw / 2))));
      // A relation's Retry-After after a successful poll: no jitter at all.
      const read = ok(1);
      const relationThrottled: PollResult = read.ok ? { ...read, data: { ...read.data, retryAfterMs: 2 * INTERVAL } } : read;
      expect(nextDelayMs(relationThrottled, 0, INTERVAL, random)).toBe(2 * INTERVAL);
    }
  });

  it('a poller drawing random() = 0 still waits the whole Retry-After', async () => {
    const calls: number[] = [];
    const results = [fail(throttled(90_000), ['429']), ok(5)];
    const poller = createPoller({
      poll: async () => {
        calls.push(performance.now());
        return results.shift() ?? ok(1);
      },
      intervalMs: INTERVAL,
      logger: createLogger({ level: 'error', format: 'logfmt', redact: createRedactor(), write: () => {} }),
      random: () => 0,
    });
    poller.start();
    await vi.advanceTimersByTimeAsync(89_999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    expect((calls[1] ?? 0) - (calls[0] ?? 0)).toBe(90_000);
    await poller.stop();
  });

  it('keeps the last good score through failures, counts them, and logs one line per failure', async () => {
    const { poller, lines } = setup(
      [
        ok(42),
        fail(new GraphError('http_error', 'Graph answered 500', { status: 500, code: 'generalException', requestId: 'r-1', clientRequestId: 'c-1' }), ['500']),
      ],
      { tenantId: 't1' },
    );
    poller.start();
    await vi.advanceTimersByTimeAsync(INTERVAL);
    const s = poller.snapshot();
    expect(s).toMatchObject({
      tenantId: 't1',
      score: { currentScore: 42 },
      polls: 2,
      consecutiveFailures: 1,
      requests: { '200': 1, '500': 1 },
      lastPoll: { ok: false, reason: 'http_error' },
    });
    expect(s.failures.http_error).toBe(1);
    expect(s.lastSuccessMs).toBe(Date.parse('2026-11-29T12:00:00Z'));
    const warnings = lines.filter((l) => l.includes('level=warn'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      'msg="poll failed" tenant_id=t1 reason=http_error status=500 code=generalException request_id=r-1 client_request_id=c-1 retry_in=1m',
    );
    expect(Object.isFrozen(s)).toBe(true);
    await poller.stop();
  });

  it('learns the tenant from the token when none was configured', async () => {
    const { poller } = setup([ok(1, 'tid-from-token')]);
    expect(poller.snapshot().tenantId).toBe('unknown');
    poller.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(poller.snapshot().tenantId).toBe('tid-from-token');
    await poller.stop();
  });

  it('keeps when each relation was read: a relation that fails keeps its data and its read time, a new read renews both', async () => {
    const requirements = [{ type: 'securityContactProvided', compliant: true }];
    const withRequirements = (status: 'ok' | 'failed'): PollResult => ({
      ok: true,
      data: {
        score: { currentScore: 1 },
        relations: status === 'ok' ? { requirements } : {},
        relationStatus: { requirements: status, history: 'ok' },
        relationErrors: {},
      },
      requests: ['200'],
    });
    const { poller, start } = setup([withRequirements('ok'), withRequirements('failed'), withRequirements('failed'), withRequirements('ok')]);
    poller.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(poller.snapshot().relationsReadMs).toEqual({ requirements: start });
    await vi.advanceTimersByTimeAsync(2 * INTERVAL);
    expect(poller.snapshot()).toMatchObject({ relations: { requirements }, relationsReadMs: { requirements: start }, lastSuccessMs: start + 2 * INTERVAL });
    await vi.advanceTimersByTimeAsync(INTERVAL);
    expect(poller.snapshot().relationsReadMs).toEqual({ requirements: start + 3 * INTERVAL });
    await poller.stop();
  });

  it('starts the snapshot with the partner program it is given, direct by default', () => {
    expect(setup([]).poller.snapshot().partner).toEqual({ type: 'direct' });
    const logger = createLogger({ level: 'error', format: 'logfmt', redact: createRedactor(), write: () => {} });
    const poller = createPoller({ poll: async () => ok(1), intervalMs: INTERVAL, logger, partner: { type: 'indirect_reseller', validationMonth: 4 } });
    expect(poller.snapshot().partner).toEqual({ type: 'indirect_reseller', validationMonth: 4 });
  });

  it('logs recovery once', async () => {
    const { poller, lines } = setup([fail(new GraphError('network', 'x')), ok(1)]);
    poller.start();
    await vi.advanceTimersByTimeAsync(INTERVAL);
    expect(lines.filter((l) => l.includes('poll succeeded again'))).toHaveLength(1);
    await poller.stop();
  });

  it('a wall-clock step of an hour back or forward changes no duration and no schedule', async () => {
    for (const stepMs of [-3600_000, 3600_000]) {
      const { poller, mono } = setup([], { durationMs: 20_000 });
      const origin = performance.now();
      poller.start();
      await vi.advanceTimersByTimeAsync(10_000);
      // The wall clock steps while the poll is in flight; timers and the monotonic clock do not.
      vi.setSystemTime(Date.now() + stepMs);
      await vi.advanceTimersByTimeAsync(10_000);
      const s = poller.snapshot();
      expect(s.lastPoll?.durationMs).toBe(20_000);
      // The next poll is due one interval after the first started, on the stepped wall clock too.
      expect(s.nextPollMs).toBe(Date.now() + INTERVAL - 20_000);
      await vi.advanceTimersByTimeAsync(INTERVAL);
      expect(mono.map((t) => t - origin)).toEqual([0, INTERVAL]);
      await poller.stop();
    }
  });

  describe('the deadline of a poll (--poll.timeout)', () => {
    it('aborts a poll still running at the deadline, with the reason, and records what it returns', async () => {
      const { poller, poll } = setup([], { durationMs: 10 * INTERVAL, timeoutMs: 20_000 });
      poller.start();
      await vi.advanceTimersByTimeAsync(19_999);
      const signal = poll.mock.calls[0]?.[0];
      expect(signal?.aborted).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(signal?.aborted).toBe(true);
      expect(signal?.reason).toBeInstanceOf(GraphError);
      expect(signal?.reason).toMatchObject({ reason: 'timeout', message: expect.stringContaining('--poll.timeout (20s)') });
      // The poll returned what it had (here a success): recorded at once, the next one on schedule.
      expect(poller.snapshot()).toMatchObject({ polls: 1, lastPoll: { ok: true, durationMs: 20_000 } });
      await vi.advanceTimersByTimeAsync(INTERVAL - 20_000);
      expect(poll).toHaveBeenCalledTimes(2);
      await poller.stop();
    });

    it('frees the slot at the deadline: a tenant waiting behind a stuck one polls then', async () => {
      const limit = createLimit(1);
      const stuck = setup([], { durationMs: 100 * INTERVAL, timeoutMs: 30_000, limit });
      const healthy = setup([], { limit });
      stuck.poller.start();
      healthy.poller.start();
      await vi.advanceTimersByTimeAsync(29_999);
      expect(healthy.poll).not.toHaveBeenCalled();
      expect(healthy.poller.snapshot().lastPoll).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(healthy.poll).toHaveBeenCalledTimes(1);
      expect(healthy.poller.snapshot().lastPoll?.ok).toBe(true);
      await Promise.all([stuck.poller.stop(), healthy.poller.stop()]);
    });

    it('gives up on a poll that does not stop when aborted: counted as a timeout, its slot freed', async () => {
      const limit = createLimit(1);
      const deaf = setup([], { durationMs: 100 * INTERVAL, timeoutMs: 30_000, limit, ignoreAbort: true });
      const healthy = setup([], { limit });
      deaf.poller.start();
      healthy.poller.start();
      await vi.advanceTimersByTimeAsync(30_000 + POLL_ABORT_GRACE_MS - 1);
      expect(deaf.poller.snapshot().lastPoll).toBeUndefined();
      expect(healthy.poll).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(deaf.poller.snapshot()).toMatchObject({ polls: 1, lastPoll: { ok: false, reason: 'timeout', durationMs: 30_000 + POLL_ABORT_GRACE_MS } });
      expect(deaf.poller.snapshot().lastPoll?.message).toContain('did not stop within 1s of --poll.timeout (30s)');
      expect(healthy.poll).toHaveBeenCalledTimes(1);
      await healthy.poller.stop();
    });

    it('is counted from when the poll has a slot, not from when it was due', async () => {
      const limit = createLimit(1);
      const first = setup([], { durationMs: 25_000, limit });
      const second = setup([], { durationMs: 100 * INTERVAL, timeoutMs: 30_000, limit });
      first.poller.start();
      second.poller.start();
      // The second waits 25 s for the slot, then has its whole 30 s.
      await vi.advanceTimersByTimeAsync(25_000 + 29_999);
      expect(second.poll.mock.calls[0]?.[0].aborted).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(second.poll.mock.calls[0]?.[0].aborted).toBe(true);
      await Promise.all([first.poller.stop(), second.poller.stop()]);
    });
  });

  it('a wall-clock step during a failing poll leaves the backoff as it is', async () => {
    for (const stepMs of [-3600_000, 3600_000]) {
      const { poller, mono } = setup([fail(new GraphError('network', 'ECONNRESET'))], { durationMs: 20_000 });
      const origin = performance.now();
      poller.start();
      await vi.advanceTimersByTimeAsync(10_000);
      vi.setSystemTime(Date.now() + stepMs);
      await vi.advanceTimersByTimeAsync(10_000 + BACKOFF_BASE_MS);
      expect(poller.snapshot().lastPoll).toMatchObject({ ok: false, durationMs: 20_000 });
      expect(mono.map((t) => t - origin)).toEqual([0, 20_000 + BACKOFF_BASE_MS]);
      await poller.stop();
    }
  });

  it('stop() aborts a poll in flight and schedules nothing more', async () => {
    const { poller, poll } = setup([], { durationMs: 10 * INTERVAL });
    poller.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(poll).toHaveBeenCalledTimes(1);
    const signal = poll.mock.calls[0]?.[0];
    await poller.stop();
    expect(signal?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(20 * INTERVAL);
    expect(poll).toHaveBeenCalledTimes(1);
  });
});
