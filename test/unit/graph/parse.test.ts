import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GraphParseError, numberField, parseSecurityScore } from '../../../src/graph/parse.js';

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
