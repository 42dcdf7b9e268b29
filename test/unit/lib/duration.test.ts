import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../../src/graph/retry-after.js';
import { formatDuration, parseDuration } from '../../../src/lib/duration.js';

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1d', 86_400_000],
    ['2w', 1_209_600_000],
    ['1y', 31_536_000_000],
    [' 15s ', 15_000],
  ])('reads %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'soon', '5', '-5s', '1.5h', '5M', '30m1h', '1h1h', '5 m', 's'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([
    [0, '0s'],
    [250, '250ms'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [90_061_001, '1d1h1m1s1ms'],
  ])('formats %d as %j and reads it back', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  it.each([
    ['3', 3000],
    ['0', 0],
    [' 120 ', 120_000],
    ['Sun, 29 Nov 2026 12:00:30 GMT', 30_000],
    ['Sunday, 29-Nov-26 12:01:00 GMT', 60_000],
    ['Sun Nov 29 12:00:10 2026', 10_000],
    ['Sun, 29 Nov 2026 11:00:00 GMT', 0],
  ])('reads %j', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it.each([undefined, '', 'soon', '-1', '1.5', '2026-11-29', 'Sun, 99 Foo 2026 GMT'])('ignores %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
