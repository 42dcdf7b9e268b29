import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  GraphParseError,
  MAX_NEXT_LINK_CHARS,
  MAX_NUMBER_CHARS,
  MAX_TIMESTAMP_AHEAD_SECONDS,
  numberField,
  parseCollection,
  parseHistory,
  parseSecurityAlert,
  parseSecurityScore,
  timestampField,
} from '../../../src/graph/parse.js';
import { MAX_LABEL_CHARS, MAX_SCANNED_CHARS } from '../../../src/lib/text.js';
import { probeRegexInputs } from '../../helpers/regex-probe.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../fixtures/graph/${name}`, import.meta.url), 'utf8'));

const EXPECTED = {
  id: '9021efeb-af08-e3dd-9c11-ac69f92e43b8',
  currentScore: 14.29,
  maxScore: 100,
  lastRefreshTimestamp: Date.parse('2024-02-28T00:00:00Z') / 1000,
  updatedTimestamp: Date.parse('2024-01-17T00:00:00Z') / 1000,
};

describe('parseSecurityScore', () => {
  it('reads the wrapped {"value": {...}} shape of the reference example', () => {
    expect(parseSecurityScore(fixture('securityScore.json'))).toEqual(EXPECTED);
  });

  it('reads the top-level OData shape', () => {
    const inner = (fixture('securityScore.json') as { value: object }).value;
    expect(parseSecurityScore({ '@odata.context': 'https://graph.microsoft.com/beta/$metadata#security/partner/securityScore/$entity', ...inner })).toEqual(
      EXPECTED,
    );
  });

  it('reads numbers sent as strings', () => {
    expect(parseSecurityScore({ currentScore: '42.5', maxScore: ' 100 ' })).toEqual({ currentScore: 42.5, maxScore: 100 });
  });

  it('leaves out what is missing or unreadable, never NaN', () => {
    expect(parseSecurityScore({ currentScore: 0, maxScore: 'INF', lastRefreshDateTime: '0001-01-01T00:00:00Z', updatedDateTime: 'yesterday', id: 7 })).toEqual({
      currentScore: 0,
    });
  });

  it('ignores unknown properties and @odata.type with or without "#"', () => {
    expect(parseSecurityScore({ '@odata.type': 'microsoft.graph.partner.security.partnerSecurityScore', currentScore: 1, futureField: { x: 1 } })).toEqual({
      currentScore: 1,
    });
  });

  it.each([
    [null, 'expected a JSON object for partnerSecurityScore, got null'],
    ['text', 'expected a JSON object for partnerSecurityScore, got the string "text"'],
    [[1], 'expected a JSON object for partnerSecurityScore, got an array'],
    [{ value: [] }, 'expected one partnerSecurityScore, got a collection'],
    [{ maxScore: 100 }, 'partnerSecurityScore.currentScore is missing, expected a finite number'],
    [{ currentScore: 'NaN' }, 'partnerSecurityScore.currentScore is the string "NaN", expected a finite number'],
    [{ currentScore: '-INF' }, 'partnerSecurityScore.currentScore is the string "-INF", expected a finite number'],
    [{ currentScore: null }, 'partnerSecurityScore.currentScore is null, expected a finite number'],
    [{ currentScore: true }, 'partnerSecurityScore.currentScore is boolean true, expected a finite number'],
    [{ value: { currentScore: {} } }, 'partnerSecurityScore.currentScore is object, expected a finite number'],
  ])('rejects %j with a clear reason', (body, message) => {
    expect(() => parseSecurityScore(body)).toThrow(new GraphParseError(message));
  });
});

describe('numberField', () => {
  it.each([
    [20, 20],
    ['20', 20],
    ['-1.5e2', -150],
    ['.5', 0.5],
    ['NaN', undefined],
    ['INF', undefined],
    ['Infinity', undefined],
    ['', undefined],
    ['12abc', undefined],
    ['0x10', undefined],
    [Number.NaN, undefined],
    [null, undefined],
  ])('reads %j as %j', (raw, expected) => {
    expect(numberField({ n: raw }, 'n')).toBe(expected);
  });
});

describe('numberField on long strings', () => {
  it(`reads a number of MAX_NUMBER_CHARS (${MAX_NUMBER_CHARS}) characters and leaves out a longer one before any pattern sees it`, () => {
    const atBound = `${'0'.repeat(MAX_NUMBER_CHARS - 2)}42`;
    expect(numberField({ n: atBound }, 'n')).toBe(42);
    expect(numberField({ n: `0${atBound}` }, 'n')).toBeUndefined();
    const probe = probeRegexInputs(MAX_NUMBER_CHARS);
    try {
      // The answer that took 30 s per poll: 100,000 digits and a letter; here 10 MiB of them.
      for (const raw of [`${'1'.repeat(100_000)}x`, `${'9'.repeat(10 * 1024 * 1024)}x`, `${' '.repeat(10 * 1024 * 1024)}1`]) {
        expect(numberField({ n: raw }, 'n')).toBeUndefined();
      }
    } finally {
      probe.restore();
    }
    expect(probe.violations).toEqual([]);
  });
});

describe('timestampField', () => {
  const NOW = Date.parse('2026-12-01T12:00:00Z');
  const at = (raw: unknown) => timestampField({ t: raw }, 't', NOW);

  it.each([
    ['2024-02-28T00:00:00Z', '2024-02-28T00:00:00Z'],
    ['2023-09-26T04:04:01.4261872Z', '2023-09-26T04:04:01.426Z'],
    ['2024-02-28T01:30:00+01:30', '2024-02-28T00:00:00Z'],
    ['2024-02-27T20:00:00-0400', '2024-02-28T00:00:00Z'],
    ['2024-02-28t00:00:00z', '2024-02-28T00:00:00Z'],
    ['2024-02-28T00:00', '2024-02-28T00:00:00Z'],
    // Without an offset Graph means UTC.
    ['2024-02-28T00:00:00', '2024-02-28T00:00:00Z'],
    ['2024-02-28T00:00:00.5', '2024-02-28T00:00:00.500Z'],
    // A leap second is the instant before the next midnight; read as that midnight.
    ['2016-12-31T23:59:60Z', '2017-01-01T00:00:00Z'],
    ['2016-12-31T23:59:60.25Z', '2017-01-01T00:00:00.250Z'],
    ['2017-01-01T00:59:60+01:00', '2017-01-01T00:00:00Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
  ])('reads %s as %s', (raw, iso) => {
    expect(at(raw)).toBe(Date.parse(iso) / 1000);
  });

  it.each([
    ['0001-01-01T00:00:00Z', "OData's no date"],
    ['1969-12-31T23:59:59Z', 'before 1970'],
    ['0070-01-01T00:00:00Z', 'a two-digit year Date.UTC would move'],
    ['2016-12-31T23:58:60Z', 'second 60 outside 23:59 UTC'],
    ['2016-12-31T23:59:60+01:00', 'second 60 at 22:59 UTC'],
    ['2016-12-31T23:59:61Z', 'second 61'],
    ['2023-02-29T00:00:00Z', 'February 29 of a common year'],
    ['2024-13-01T00:00:00Z', 'month 13'],
    ['2024-02-28T24:00:00Z', 'hour 24'],
    ['2024-02-28T00:00:00+24:00', 'an offset of a day'],
    ['2024-02-28T00:00:00+01:60', 'an offset minute 60'],
    ['2024-02-28', 'a date without a time'],
    ['2024-02-28T00:00:00 GMT+0100', 'what only Date.parse reads'],
    ['2024-02-28T00:00:00Z ', 'a trailing space'],
    [20240228, 'a number'],
    [null, 'null'],
  ] as [unknown, string][])('leaves out %j (%s)', (raw) => {
    expect(at(raw)).toBeUndefined();
  });

  it(`exports a date up to ${MAX_TIMESTAMP_AHEAD_SECONDS} s ahead of now and leaves out one further ahead`, () => {
    const ahead = (seconds: number) => new Date(NOW + seconds * 1000).toISOString();
    expect(at(ahead(MAX_TIMESTAMP_AHEAD_SECONDS))).toBe(NOW / 1000 + MAX_TIMESTAMP_AHEAD_SECONDS);
    expect(at(ahead(MAX_TIMESTAMP_AHEAD_SECONDS + 1))).toBeUndefined();
    expect(at('9999-12-31T23:59:59Z')).toBeUndefined();
    // With the clock of the process: a history entry or an alert from next year is not exported.
    const nextYear = new Date(Date.now() + 365 * 86_400_000).toISOString();
    expect(parseHistory([{ createdDateTime: nextYear, score: 1 }])).toEqual([]);
    expect(parseSecurityAlert({ id: 'a', status: 'active', detectedDateTime: nextYear }, Date.now() / 1000).detectedTimestamp).toBeUndefined();
    expect(parseSecurityScore({ currentScore: 1, lastRefreshDateTime: nextYear }).lastRefreshTimestamp).toBeUndefined();
  });

  it('reads a date without an offset as UTC whatever TZ the process has', () => {
    const saved = process.env.TZ;
    try {
      for (const zone of ['Asia/Kolkata', 'America/St_Johns', 'UTC']) {
        // Node applies a new TZ to every Date from then on.
        process.env.TZ = zone;
        expect(new Date(2024, 0, 1).getTimezoneOffset()).toBe({ 'Asia/Kolkata': -330, 'America/St_Johns': 210, UTC: 0 }[zone]);
        expect(at('2024-02-28T00:00:00')).toBe(Date.parse('2024-02-28T00:00:00Z') / 1000);
        expect(parseSecurityScore({ currentScore: 1, updatedDateTime: '2024-01-17T00:00:00' }).updatedTimestamp).toBe(1705449600);
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('leaves out a date longer than the bound before any pattern sees it', () => {
    const probe = probeRegexInputs(64);
    try {
      expect(at(`2024-02-28T00:00:00.${'1'.repeat(10 * 1024 * 1024)}Z`)).toBeUndefined();
      expect(at(`2024-02-28T${' '.repeat(10 * 1024 * 1024)}`)).toBeUndefined();
    } finally {
      probe.restore();
    }
    expect(probe.violations).toEqual([]);
  });
});

describe('long values from Graph', () => {
  it(`follows an @odata.nextLink of ${MAX_NEXT_LINK_CHARS} characters and refuses a longer one`, () => {
    const link = (n: number) => `https://graph.microsoft.com/beta/x?$skiptoken=${'a'.repeat(n - 46)}`;
    expect(link(MAX_NEXT_LINK_CHARS)).toHaveLength(MAX_NEXT_LINK_CHARS);
    expect(parseCollection({ value: [], '@odata.nextLink': link(MAX_NEXT_LINK_CHARS) }, 'history').nextLink).toBe(link(MAX_NEXT_LINK_CHARS));
    expect(() => parseCollection({ value: [], '@odata.nextLink': link(MAX_NEXT_LINK_CHARS + 1) }, 'history')).toThrow(
      new GraphParseError(`the @odata.nextLink of history is longer than ${MAX_NEXT_LINK_CHARS} characters`),
    );
  });

  it('cuts 10 MiB labels to their bound, each still its own series, with no pattern over MAX_SCANNED_CHARS', () => {
    const probe = probeRegexInputs(MAX_SCANNED_CHARS);
    let alerts: ReturnType<typeof parseSecurityAlert>[];
    try {
      const huge = (unit: string) => unit.repeat(Math.ceil((10 * 1024 * 1024) / unit.length));
      alerts = ['eyJ', '7', 'Bearer ', '\u200b'].map((unit) =>
        parseSecurityAlert(
          { id: huge(unit), status: huge(unit), severity: `${huge(unit)}x`, alertType: huge(unit), customerTenantId: huge(unit) },
          Date.now() / 1000,
        ),
      );
    } finally {
      probe.restore();
    }
    expect(probe.violations).toEqual([]);
    for (const alert of alerts) {
      for (const value of [alert.status, alert.severity, alert.alertType, alert.id ?? '']) expect([...value].length).toBeLessThanOrEqual(MAX_LABEL_CHARS);
      expect(alert.status).not.toBe(alert.severity);
    }
    // A run of invisible characters is cut by what it was, not by what is left after cleaning.
    expect(alerts[3]?.status).toMatch(/^…[0-9a-f]{16}$/);
  });
});
