/**
 * Where each tenant's polls fall in the interval. Many tenants polled on one cadence would poll (and
 * renew their tokens) in the same few seconds; spread, tenant i of n polls at i/n of the interval.
 */

/** One tenant's place in the schedule. */
export interface Slot {
  /** Its fraction of the interval, in [0, 1): its polls start at that point of every interval. */
  readonly phase: number;
  /** Wait from start-up to its first poll. */
  readonly firstDelayMs: number;
}

/** Gap between the first polls of two consecutive tenants at start-up (shorter when that would not fit). */
export const FIRST_POLL_STEP_MS = 1000;
/** Every tenant's first poll starts this soon after start-up at the latest (sooner with a shorter firstWithinMs or interval). */
export const FIRST_POLLS_WITHIN_MS = 10_000;

/**
 * The slots of count tenants: phases evenly over the interval; the first polls FIRST_POLL_STEP_MS
 * apart, or closer so that every tenant's first poll starts within FIRST_POLLS_WITHIN_MS,
 * firstWithinMs and the interval, whichever is shortest.
 */
export function spreadSlots(count: number, intervalMs: number, firstWithinMs: number): Slot[] {
  return Array.from({ length: count }, (_, i) => slotOf(i, count, intervalMs, firstWithinMs));
}

/** The slot of tenant index of count (see spreadSlots). */
export function slotOf(index: number, count: number, intervalMs: number, firstWithinMs: number): Slot {
  const stepMs = Math.min(FIRST_POLL_STEP_MS, Math.min(intervalMs, firstWithinMs, FIRST_POLLS_WITHIN_MS) / Math.max(count, 1));
  return Object.freeze({ phase: index / Math.max(count, 1), firstDelayMs: Math.floor(index * stepMs) });
}

/**
 * From a poll's start (startedMs, monotonic) to the tenant's next poll when nothing asks for a
 * longer wait: its next slot (originMs + phase × interval + k × interval) when that is at least
 * half an interval away, else that distance plus half an interval. The result is within
 * [interval / 2, interval] (to within a millisecond): never later than one interval, never two
 * polls closer than half of one, and the poll after is on the slot again (a first poll or a
 * backoff moved it off).
 */
export function untilSlotMs(startedMs: number, originMs: number, phase: number, intervalMs: number): number {
  const slotMs = originMs + phase * intervalMs;
  const ahead = (((slotMs - startedMs) % intervalMs) + intervalMs) % intervalMs;
  // A poll that started on its slot (to within a millisecond: the clock is fractional) waits one interval.
  const distance = ahead < 1 || intervalMs - ahead < 1 ? intervalMs : ahead;
  // Half an interval to the slot (to within a millisecond) is far enough: that is where the rule below lands.
  return distance > intervalMs / 2 - 1 ? distance : distance + intervalMs / 2;
}
