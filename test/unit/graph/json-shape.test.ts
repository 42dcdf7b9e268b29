import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonShapeProblem, MAX_JSON_CONTAINERS, MAX_JSON_DEPTH, MAX_JSON_ITEMS } from '../../../src/graph/json-shape.js';

const shape = (text: string) => jsonShapeProblem(Buffer.from(text));

describe('jsonShapeProblem', () => {
  it(`accepts nesting ${MAX_JSON_DEPTH} deep and refuses one level more`, () => {
    expect(shape(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toBeUndefined();
    expect(shape(`{"a":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`)).toBe(`nested deeper than ${MAX_JSON_DEPTH} levels`);
  });

  it(`accepts ${MAX_JSON_CONTAINERS} objects and arrays and refuses one more`, () => {
    const objects = (n: number) => `[${'{},'.repeat(n - 2)}{}]`;
    expect(shape(objects(MAX_JSON_CONTAINERS))).toBeUndefined();
    expect(shape(objects(MAX_JSON_CONTAINERS + 1))).toBe(`more than ${MAX_JSON_CONTAINERS} objects and arrays`);
  });

  it(`accepts ${MAX_JSON_ITEMS} commas (an array of one value more) and refuses one more`, () => {
    const values = (n: number) => `[${'0,'.repeat(n - 1)}0]`;
    expect(shape(values(MAX_JSON_ITEMS + 1))).toBeUndefined();
    expect(shape(values(MAX_JSON_ITEMS + 2))).toBe(`more than ${MAX_JSON_ITEMS} values`);
  });

  it('does not count brackets and commas inside strings, escaped quotes included', () => {
    const inside = `"${'[{,'.repeat(100)}\\"${'['.repeat(100)}\\\\"`;
    expect(shape(`{"a":${inside}}`)).toBeUndefined();
    // An even run of backslashes ends the string: what follows is counted.
    expect(shape(`["\\\\"${',['.repeat(MAX_JSON_DEPTH)}`)).toBe(`nested deeper than ${MAX_JSON_DEPTH} levels`);
  });

  it('accepts every document of ordinary depth, and counts depth as JSON.parse nests it', () => {
    const depthOf = (value: unknown): number =>
      typeof value === 'object' && value !== null ? 1 + Math.max(0, ...Object.values(value as Record<string, unknown>).map(depthOf)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const text = JSON.stringify(value);
        expect(shape(text) === undefined).toBe(depthOf(value) <= MAX_JSON_DEPTH);
      }),
    );
  });
});
