/**
 * Per-tenant schedule: first poll at start (or at the tenant's place in a spread start-up), then
 * every interval (at the tenant's slot, src/collect/schedule.ts); backoff and Retry-After on
 * trouble; a deadline on every poll. Durations and waits are measured on the monotonic clock.
 */

import type { Config } from '../config/parse.js';
import { GraphError } from '../graph/errors.js';
import { type Clock, systemClock } from '../lib/clock.js';
import { formatDuration } from '../lib/duration.js';
import type { Logger } from '../lib/log.js';
import { initialSnapshot, type PartnerProgram, type TenantSnapshot } from '../snapshot.js';
import type { TenantBudget } from './budget.js';
import type { PollOnce, PollResult } from './poll-tenant.js';
import { keptRelations, relationLogLines } from './relations.js';
import { type Slot, slotOf, untilSlotMs } from './schedule.js';

/** First wait after a transient failure without Retry-After (what Graph's own SDK waits). */
export const BACKOFF_BASE_MS = 3000;
/** A Retry-After longer than this is treated as this long: a broken header must not stop polling for good. */
export const MAX_RETRY_AFTER_MS = 24 * 3600_000;
/** How far throttling (429, 503, 504) may push the backoff past a shorter poll interval. */
export const THROTTLED_BACKOFF_MAX_MS = 5 * 60_000;
/** The same failure (reason, status, code) is logged again after this long, with how often it repeated. */
export const FAILURE_LOG_REPEAT_MS = 3600_000;
/**
 * How long a poll may go on after its deadline aborted it before it is given up on: its slot is
 * freed and the poll counts as failed, whether or not it has ended (every request of ours ends at
 * once when aborted; this only bounds a bug).
 */
export const POLL_ABORT_GRACE_MS = 1000;

export interface PollerOptions {
  /** The tenant label before a token names it; undefined means "unknown" until then. */
  tenantId?: string;
  /** Constant labels for every series of this tenant. */
  labels?: Readonly<Record<string, string>>;
  /** The tenant's partner type and validation month (direct, none, by default). */
  partner?: PartnerProgram;
  /** Runs a poll when a slot is free (bounds how many tenants poll at once). */
  limit?: <T>(task: () => Promise<T>) => Promise<T>;
  poll: PollOnce;
  intervalMs: number;
  /**
   * Deadline of one poll, counted from when it has a slot (--poll.timeout): then its requests are
   * aborted, what it did not read is reported, and its slot is freed. Undefined: no deadline.
   */
  timeoutMs?: number;
  /** This tenant's place in the interval; undefined: first poll at start, then start to start. */
  slot?: Slot;
  logger: Logger;
  /** Wall clock for the timestamps shown, monotonic clock for every duration and wait (default: the system's). */
  clock?: Clock;
  random?: () => number;
  /** This tenant's place in the memory budget: what a successful poll's data keeps, and how it is shown. */
  budget?: TenantBudget;
}

export interface Poller {
  start(): void;
  /** Stops scheduling, aborts a poll in flight and resolves once it has ended. */
  stop(): Promise<void>;
  snapshot(): TenantSnapshot;
}

/**
 * Delay before the next poll. Success or a failure that would only repeat (401, 403, bad body):
 * the interval, counted from the poll's start (elapsedMs). Transient failure: exponential backoff
 * with jitter, never longer than the interval, except that throttling (429, 503, 504) may grow it
 * up to THROTTLED_BACKOFF_MAX_MS. Retry-After (from the score or from a relation) can only lengthen
 * the wait, never shorten it: "Retry-After: 0" or a date in the past must not become a hot loop.
 * Until a poll has succeeded once (neverSucceeded), every failure backs off like a transient one.
 */
export function nextDelayMs(
  result: PollResult,
  consecutiveFailures: number,
  intervalMs: number,
  random: () => number,
  elapsedMs = 0,
  neverSucceeded = false,
  untilNextMs = intervalMs,
): number {
  const asked = result.ok ? result.data.retryAfterMs : result.error.retryAfterMs;
  const retryAfterMs = asked === undefined ? 0 : Math.min(Math.max(asked, 0), MAX_RETRY_AFTER_MS);
  // Until a first success, every failure backs off: on a first run a wrong setting (managed identity
  // off Azure, a missing consent) is fixed and retried in seconds, not after a whole interval.
  // untilNextMs: from the poll's start to its next regular start (the interval, or the tenant's slot).
  if (waitsInterval(result) && !(neverSucceeded && !result.ok)) return Math.max(untilNextMs - elapsedMs, retryAfterMs, 0);
  const ceiling = throttledBy(result) ? Math.max(intervalMs, THROTTLED_BACKOFF_MAX_MS) : intervalMs;
  const exponential = Math.min(ceiling, BACKOFF_BASE_MS * 2 ** Math.min(Math.max(consecutiveFailures, 1) - 1, 30));
  return Math.max(Math.round(exponential * (0.5 + random() / 2)), retryAfterMs);
}

function waitsInterval(result: PollResult): boolean {
  return result.ok || !result.error.transient;
}

/** Graph itself asked to slow down (as opposed to a network error on the way). */
function throttledBy(result: PollResult): boolean {
  return !result.ok && (result.error.reason === 'throttled' || result.error.reason === 'unavailable');
}

/**
 * The schedule of tenant index of count, from the configuration: the interval, the deadline
 * (--poll.timeout) and its place in the interval, the first polls within 10 s and --graph.timeout.
 */
export function scheduleOf(
  config: Pick<Config, 'pollIntervalMs' | 'pollTimeoutMs' | 'graphTimeoutMs'>,
  index: number,
  count: number,
): Required<Pick<PollerOptions, 'intervalMs' | 'timeoutMs' | 'slot'>> {
  return { intervalMs: config.pollIntervalMs, timeoutMs: config.pollTimeoutMs, slot: slotOf(index, count, config.pollIntervalMs, config.graphTimeoutMs) };
}

/** Creates a poller; it does nothing until start(). */
export function createPoller(options: PollerOptions): Poller {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const limit = options.limit ?? ((task) => task());
  let current = initialSnapshot(options.tenantId ?? 'unknown', options.labels, options.partner);
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let controller: AbortController | undefined;
  let stopped = false;
  // When start() was called (monotonic): the tenant's slots are counted from it.
  let originMs = 0;
  // The last failure logged at warn level (monotonic time), and how many identical ones were not.
  let failureLog: { key: string; loggedMs: number; suppressed: number } | undefined;

  const schedule = (delayMs: number) => {
    if (stopped) return;
    current = Object.freeze({ ...current, nextPollMs: clock.wallMs() + delayMs });
    timer = setTimeout(() => {
      timer = undefined;
      inFlight = runOnce().finally(() => {
        inFlight = undefined;
      });
    }, delayMs);
  };

  /** One poll within its deadline: aborted at the deadline, given up on POLL_ABORT_GRACE_MS later. */
  const pollWithin = (ctrl: AbortController): Promise<PollResult> => {
    const polled = options.poll(ctrl.signal);
    const { timeoutMs } = options;
    if (timeoutMs === undefined) return polled;
    const limitText = `--poll.timeout (${formatDuration(timeoutMs)})`;
    return new Promise<PollResult>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => {
        ctrl.abort(new GraphError('timeout', `the poll did not finish within ${limitText}; what it had not read by then keeps its last data`));
        grace = setTimeout(() => {
          resolve({
            ok: false,
            error: new GraphError('timeout', `the poll did not stop within ${formatDuration(POLL_ABORT_GRACE_MS)} of ${limitText}`),
            requests: [],
          });
        }, POLL_ABORT_GRACE_MS);
      }, timeoutMs);
      const settle = () => {
        clearTimeout(deadline);
        clearTimeout(grace);
      };
      polled.then(
        (result) => {
          settle();
          resolve(result);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  };

  const runOnce = async () => {
    const ctrl = new AbortController();
    controller = ctrl;
    let startedMono = clock.monoMs();
    let startedMs = clock.wallMs();
    const result = await limit(() => {
      startedMono = clock.monoMs();
      startedMs = clock.wallMs();
      return pollWithin(ctrl);
    });
    controller = undefined;
    if (stopped) return;
    const durationMs = clock.monoMs() - startedMono;
    const previous = current;
    const wasFailing = previous.consecutiveFailures > 0;
    current = apply(previous, result, startedMs, durationMs, clock);
    // What the memory budget lets a successful poll's data keep (src/collect/budget.ts).
    if (result.ok && options.budget) current = options.budget.admit(current);
    // The interval runs from poll start to poll start (or to the tenant's slot), so the cadence
    // does not drift by the poll's own duration; a poll slower than the interval is followed at
    // once, never overlapped.
    const untilNextMs = options.slot === undefined ? options.intervalMs : untilSlotMs(startedMono, originMs, options.slot.phase, options.intervalMs);
    const delayMs = nextDelayMs(result, current.consecutiveFailures, options.intervalMs, random, durationMs, current.lastSuccessMs === undefined, untilNextMs);
    const log = options.logger.with({ tenant_id: current.tenantId });
    if (result.ok) {
      if (wasFailing) log.info('poll succeeded again', { duration_ms: durationMs, failed_polls: previous.consecutiveFailures });
      else log.debug('poll succeeded', { duration_ms: durationMs, score: result.data.score.currentScore });
      failureLog = undefined;
      for (const line of relationLogLines(previous, result.data)) log[line.level](line.msg, line.fields);
    } else {
      const e = result.error;
      // The same failure poll after poll is one line, repeated (with a count) only now and then;
      // a new reason, status or code is logged at once. Every failure is in the metrics anyway.
      const key = `${e.reason}|${e.status ?? ''}|${e.code ?? ''}`;
      const nowMs = clock.monoMs();
      const repeat = failureLog?.key === key && nowMs - failureLog.loggedMs < FAILURE_LOG_REPEAT_MS;
      const fields = {
        reason: e.reason,
        status: e.status,
        code: e.code,
        request_id: e.requestId,
        client_request_id: e.clientRequestId,
        retry_in: formatDuration(delayMs),
        ...(failureLog?.key === key && !repeat && failureLog.suppressed > 0 ? { repeated: failureLog.suppressed } : {}),
        err: e.message,
      };
      if (repeat && failureLog) {
        failureLog.suppressed++;
        log.debug('poll failed', fields);
      } else {
        failureLog = { key, loggedMs: nowMs, suppressed: 0 };
        log.warn('poll failed', fields);
      }
    }
    schedule(delayMs);
  };

  return {
    start() {
      if (timer !== undefined || inFlight !== undefined || stopped) return;
      originMs = clock.monoMs();
      schedule(options.slot?.firstDelayMs ?? 0);
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      controller?.abort(new Error('exporter stopping'));
      await inFlight;
    },
    // As the budget's cut in force shows it: data kept from before a deeper cut is cut at once too.
    snapshot: () => options.budget?.view(current) ?? current,
  };
}

/** The next snapshot after one poll; the previous score survives a failure. */
function apply(previous: TenantSnapshot, result: PollResult, startedMs: number, durationMs: number, clock: Clock): TenantSnapshot {
  const requests: Record<string, number> = { ...previous.requests };
  for (const code of result.requests) requests[code] = (requests[code] ?? 0) + 1;
  const base = { ...previous, polls: previous.polls + 1, requests: Object.freeze(requests) };
  if (result.ok) {
    const nowMs = clock.wallMs();
    const monoMs = clock.monoMs();
    const { relations, truncated, relationsReadMs, relationsReadMonoMs } = keptRelations(previous, result.data, nowMs, monoMs);
    return Object.freeze({
      ...base,
      tenantId: result.tenantId !== undefined && previous.tenantId === 'unknown' ? result.tenantId : previous.tenantId,
      score: result.data.score,
      relations,
      relationStatus: result.data.relationStatus,
      truncated,
      relationsReadMs,
      relationsReadMonoMs,
      lastSuccessMs: nowMs,
      lastSuccessMonoMs: monoMs,
      consecutiveFailures: 0,
      lastPoll: Object.freeze({ startedMs, durationMs, ok: true }),
    });
  }
  const { reason, message } = result.error;
  return Object.freeze({
    ...base,
    tenantId: result.tenantId !== undefined && previous.tenantId === 'unknown' ? result.tenantId : previous.tenantId,
    consecutiveFailures: previous.consecutiveFailures + 1,
    failures: Object.freeze({ ...previous.failures, [reason]: previous.failures[reason] + 1 }),
    lastPoll: Object.freeze({ startedMs, durationMs, ok: false, reason, message }),
  });
}
