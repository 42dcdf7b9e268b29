import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PollResult } from '../../../src/collect/poll-tenant.js';
import { createPoller, scheduleOf } from '../../../src/collect/poller.js';
import { FIRST_POLL_STEP_MS, FIRST_POLLS_WITHIN_MS, spreadSlots, untilSlotMs } from '../../../src/collect/schedule.js';
import { createLimit } from '../../../src/lib/limit.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';

const INTERVAL = 600_000;
const OK: PollResult = { ok: true, data: { score: { currentScore: 1 }, relations: {}, relationStatus: {}, relationErrors: {} }, requests: ['200'] };

describe('spreading tenants over the interval', () => {
  it('gives tenant i of n the phase i/n, and first polls a second apart, all within the start-up window', () => {
    expect(spreadSlots(1, INTERVAL, 30_000)).toEqual([{ phase: 0, firstDelayMs: 0 }]);
    expect(spreadSlots(3, INTERVAL, 30_000)).toEqual([
      { phase: 0, firstDelayMs: 0 },
      { phase: 1 / 3, firstDelayMs: FIRST_POLL_STEP_MS },
      { phase: 2 / 3, firstDelayMs: 2 * FIRST_POLL_STEP_MS },
    ]);
    const many = spreadSlots(300, INTERVAL, 30_000);
    expect(many.map((s) => s.phase)).toEqual(many.map((_, i) => i / 300));
    expect(Math.max(...many.map((s) => s.firstDelayMs))).toBeLessThan(FIRST_POLLS_WITHIN_MS);
    // A short interval or --graph.timeout bounds the start-up window too.
    expect(Math.max(...spreadSlots(300, 5000, 30_000).map((s) => s.firstDelayMs))).toBeLessThan(5000);
    expect(Math.max(...spreadSlots(300, INTERVAL, 2000).map((s) => s.firstDelayMs))).toBeLessThan(2000);
  });

  it("takes each tenant's schedule from the configuration: interval, deadline and slot", () => {
    const config = { pollIntervalMs: INTERVAL, pollTimeoutMs: 120_000, graphTimeoutMs: 2000 };
    expect(scheduleOf(config, 2, 4)).toEqual({ intervalMs: INTERVAL, timeoutMs: 120_000, slot: { phase: 0.5, firstDelayMs: 1000 } });
  });

  it('waits between half an interval and one to the next poll, and lands on the slot the time after', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 24 * 3600_000 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        (interval, phase, origin, started) => {
          const first = untilSlotMs(started, origin, phase, interval);
          expect(first).toBeGreaterThan(interval / 2 - 1);
          expect(first).toBeLessThanOrEqual(interval + 1e-6);
          const second = untilSlotMs(started + first, origin, phase, interval);
          const onSlot = (((started + first + second - origin - phase * interval) % interval) + interval) % interval;
          expect(Math.min(onSlot, interval - onSlot)).toBeLessThan(1e-3 * interval);
        },
      ),
    );
  });

  describe('300 tenants, 4 at a time', () => {
    beforeEach(() => {
      vi.useFakeTimers({ now: new Date('2026-11-29T12:00:00Z') });
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('poll once per interval each, at most two in any 3 s once settled, the first polls within 10 s of start-up', async () => {
      const count = 300;
      const slots = spreadSlots(count, INTERVAL, 30_000);
      const limit = createLimit(4);
      const logger = createLogger({ level: 'error', format: 'logfmt', redact: createRedactor(), write: () => {} });
      const starts: number[][] = slots.map(() => []);
      const origin = performance.now();
      const pollers = slots.map((slot, i) =>
        createPoller({
          poll: async () => {
            starts[i]?.push(performance.now() - origin);
            return OK;
          },
          intervalMs: INTERVAL,
          slot,
          limit,
          logger,
          random: () => 1,
        }),
      );
      for (const poller of pollers) poller.start();
      await vi.advanceTimersByTimeAsync(4 * INTERVAL);
      for (const poller of pollers) await poller.stop();

      expect(Math.max(...starts.map((s) => s[0] ?? Number.POSITIVE_INFINITY))).toBeLessThan(FIRST_POLLS_WITHIN_MS);
      for (const tenant of starts) {
        const gaps = tenant.slice(1).map((t, i) => t - (tenant[i] ?? 0));
        expect(Math.min(...gaps)).toBeGreaterThan(INTERVAL / 2 - 1);
        expect(Math.max(...gaps)).toBeLessThanOrEqual(INTERVAL);
      }
      // From the third interval on every tenant is on its slot: polls are spread over the whole interval.
      const settled = starts.flat().filter((t) => t >= 2 * INTERVAL && t < 4 * INTERVAL);
      expect(settled).toHaveLength(2 * count);
      const busiest = Math.max(...settled.map((t) => settled.filter((u) => u >= t && u < t + 3000).length));
      expect(busiest).toBeLessThanOrEqual(2);
    });
  });
});
