/**
 * SIGUSR1 once the exporter serves: refused with a log line at most once a minute, a minute of
 * real time whatever the wall clock does (NTP, an operator or a VM resume may step it back by hours).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { handleSignals } from '../../../src/cli/signals.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';
import type { WebServer } from '../../../src/web/server.js';

const lines: string[] = [];
const logger = createLogger({ level: 'info', format: 'json', redact: createRedactor(), write: (l) => lines.push(l) });
/** Only what the signal handlers use of the web server: no web config file. */
const web = { webConfigStatus: () => undefined, reload: () => {} } as unknown as WebServer;
const refusals = () => lines.filter((l) => l.includes('SIGUSR1 ignored')).length;

let stop: (() => void) | undefined;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date', 'performance'] });
  lines.length = 0;
  stop = handleSignals(logger, web);
});
afterEach(() => {
  stop?.();
  vi.useRealTimers();
});

describe('SIGUSR1 once serving', () => {
  it('is logged once, then again only after a minute', () => {
    process.emit('SIGUSR1', 'SIGUSR1');
    process.emit('SIGUSR1', 'SIGUSR1');
    expect(refusals()).toBe(1);
    vi.advanceTimersByTime(59_999);
    process.emit('SIGUSR1', 'SIGUSR1');
    expect(refusals()).toBe(1);
    vi.advanceTimersByTime(1);
    process.emit('SIGUSR1', 'SIGUSR1');
    expect(refusals()).toBe(2);
  });

  it('is logged again a minute later when the wall clock was stepped back an hour in between', () => {
    process.emit('SIGUSR1', 'SIGUSR1');
    vi.setSystemTime(Date.now() - 3600_000);
    vi.advanceTimersByTime(60_000);
    process.emit('SIGUSR1', 'SIGUSR1');
    expect(refusals()).toBe(2);
  });

  it('is not logged twice in a minute when the wall clock was stepped forward an hour in between', () => {
    process.emit('SIGUSR1', 'SIGUSR1');
    vi.setSystemTime(Date.now() + 3600_000);
    process.emit('SIGUSR1', 'SIGUSR1');
    expect(refusals()).toBe(1);
  });
});
