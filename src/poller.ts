/** Per-tenant schedule: first poll at start, then every interval; backoff and Retry-After on trouble. */
import type { PollOnce, PollResult } from './collect.js';
import { formatDuration } from './duration.js';
import type { Logger } from './log.js';
import { initialSnapshot, RELATIONS, type RelationsData, type TenantSnapshot } from './snapshot.js';

/** First wait after a transient failure without Retry-After (what Graph's own SDK waits). */
export const BACKOFF_BASE_MS = 3000;
/** A Retry-After longer than this is treated as this long: a broken header must not stop polling for good. */
export const MAX_RETRY_AFTER_MS = 24 * 3600_000;

export interface PollerOptions {
  /** The tenant label before a token names it; undefined means "unknown" until then. */
  tenantId?: string;
  /** Constant labels for every series of this tenant. */
  labels?: Readonly<Record<string, string>>;
  /** Runs a poll when a slot is free (bounds how many tenants poll at once). */
  limit?: <T>(task: () => Promise<T>) => Promise<T>;
  poll: PollOnce;
  intervalMs: number;
  logger: Logger;
  now?: () => number;
  random?: () => number;
}

export interface Poller {
  start(): void;
  /** Stops scheduling, aborts a poll in flight and resolves once it has ended. */
  stop(): Promise<void>;
  snapshot(): TenantSnapshot;
}

/**
 * Delay before the next poll. Success: the interval. Transient failure: Retry-After when Graph
 * sent one (never earlier), else exponential backoff with jitter, never longer than the interval.
 * Other failures (401, 403, bad body) would fail the same way at once: wait the interval.
 */
export function nextDelayMs(result: PollResult, consecutiveFailures: number, intervalMs: number, random: () => number): number {
  if (result.ok || !result.error.transient) return intervalMs;
  if (result.error.retryAfterMs !== undefined) return Math.min(Math.max(result.error.retryAfterMs, 0), MAX_RETRY_AFTER_MS);
  const exponential = Math.min(intervalMs, BACKOFF_BASE_MS * 2 ** Math.min(consecutiveFailures - 1, 30));
  return Math.round(exponential * (0.5 + random() / 2));
}

function waitsInterval(result: PollResult): boolean {
  return result.ok || !result.error.transient;
}

/** Creates a poller; it does nothing until start(). */
export function createPoller(options: PollerOptions): Poller {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const limit = options.limit ?? ((task) => task());
  let current = initialSnapshot(options.tenantId ?? 'unknown', options.labels);
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let controller: AbortController | undefined;
  let stopped = false;

  const schedule = (delayMs: number) => {
    if (stopped) return;
    current = Object.freeze({ ...current, nextPollMs: now() + delayMs });
    timer = setTimeout(() => {
      timer = undefined;
      inFlight = runOnce().finally(() => {
        inFlight = undefined;
      });
    }, delayMs);
  };

  const runOnce = async () => {
    controller = new AbortController();
    const signal = controller.signal;
    let startedMs = now();
    const result = await limit(() => {
      startedMs = now();
      return options.poll(signal);
    });
    controller = undefined;
    if (stopped) return;
    const durationMs = now() - startedMs;
    const previous = current;
    const wasFailing = previous.consecutiveFailures > 0;
    current = apply(previous, result, startedMs, durationMs, now());
    // The interval runs from poll start to poll start, so the cadence does not drift by the
    // poll's own duration; a poll slower than the interval is followed at once, never overlapped.
    const delayMs = Math.max(0, nextDelayMs(result, current.consecutiveFailures, options.intervalMs, random) - (waitsInterval(result) ? durationMs : 0));
    const log = options.logger.with({ tenant_id: current.tenantId });
    if (result.ok) {
      if (wasFailing) log.info('poll succeeded again', { duration_ms: durationMs });
      else log.debug('poll succeeded', { duration_ms: durationMs, score: result.data.score.currentScore });
      // One line when a relation stops (or starts) being readable, not one every poll.
      for (const relation of RELATIONS) {
        const before = previous.relationStatus[relation];
        const after = result.data.relationStatus[relation];
        if (after === before || after === 'disabled') continue;
        if (after === 'ok') {
          if (before !== undefined) log.info('relation readable again', { relation });
        } else
          log.warn(
            after === 'unavailable'
              ? 'relation not available for this tenant; exporting the score without it'
              : 'reading a relation failed; keeping its last data',
            { relation, err: result.data.relationErrors[relation] },
          );
      }
      const insights = result.data.relations.customerInsights;
      const wasTruncated = previous.relations.customerInsights?.truncated ?? false;
      if (insights?.truncated && !wasTruncated)
        log.warn('customer insights exceed the caps; some customers are not exported', {
          customers_seen: insights.seen,
          customers_exported: insights.customers.length,
          pages: insights.pages,
        });
    } else {
      const e = result.error;
      log.warn('poll failed', {
        reason: e.reason,
        status: e.status,
        code: e.code,
        request_id: e.requestId,
        client_request_id: e.clientRequestId,
        retry_in: formatDuration(delayMs),
        err: e.message,
      });
    }
    schedule(delayMs);
  };

  return {
    start() {
      if (timer === undefined && inFlight === undefined && !stopped) schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      controller?.abort(new Error('exporter stopping'));
      await inFlight;
    },
    snapshot: () => current,
  };
}

/** The next snapshot after one poll; the previous score survives a failure. */
function apply(previous: TenantSnapshot, result: PollResult, startedMs: number, durationMs: number, nowMs: number): TenantSnapshot {
  const requests: Record<string, number> = { ...previous.requests };
  for (const code of result.requests) requests[code] = (requests[code] ?? 0) + 1;
  const base = { ...previous, polls: previous.polls + 1, requests: Object.freeze(requests) };
  if (result.ok) {
    // A relation read now replaces its data; one that failed keeps its last data; one that is
    // unavailable or turned off has none, so its series vanish.
    const relations: Record<string, unknown> = {};
    for (const relation of RELATIONS) {
      const status = result.data.relationStatus[relation];
      const data = status === 'ok' ? result.data.relations[relation] : status === 'failed' ? previous.relations[relation] : undefined;
      if (data !== undefined) relations[relation] = data;
    }
    return Object.freeze({
      ...base,
      tenantId: result.tenantId !== undefined && previous.tenantId === 'unknown' ? result.tenantId : previous.tenantId,
      score: result.data.score,
      relations: Object.freeze(relations) as RelationsData,
      relationStatus: result.data.relationStatus,
      lastSuccessMs: nowMs,
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
