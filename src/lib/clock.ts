/**
 * Two clocks: the wall clock, which NTP, an operator or a VM resume may step by hours, and a
 * monotonic one, which only moves forward at the rate of real time. Timestamps that are shown or
 * exported come from the wall clock; every duration, schedule, backoff and age from the monotonic one.
 */
export interface Clock {
  /** Unix time in milliseconds: only for timestamps people or Prometheus read. */
  wallMs(): number;
  /** Milliseconds from an arbitrary origin that never goes back: for durations and ages. */
  monoMs(): number;
}

/** The process's clocks: Date.now() and performance.now(), looked up at each call (fake timers replace them). */
export const systemClock: Clock = Object.freeze({
  wallMs: () => Date.now(),
  monoMs: () => performance.now(),
});
