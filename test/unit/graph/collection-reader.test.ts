/**
 * A collection page read item by item as its text arrives must read exactly as JSON.parse and
 * parseCollection read the whole text: the same items, the same next link, an error for the same
 * texts, however the text is cut into pieces.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCollectionReader } from '../../../src/graph/collection-reader.js';
import { JsonShapeError, MAX_JSON_DEPTH } from '../../../src/graph/json-shape.js';
import { GraphParseError, parseCollection } from '../../../src/graph/parse.js';

/** Reads text cut at the given places; the items and the page, or the error. */
function read(text: string, cuts: readonly number[]): { items: unknown[]; nextLink?: string } | { error: string } {
  const items: unknown[] = [];
  const reader = createCollectionReader('x', (item) => items.push(item));
  const at = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
  try {
    let from = 0;
    for (const cut of [...at, text.length]) {
      reader.write(text.slice(from, cut));
      from = cut;
    }
    const page = reader.end();
    return page.nextLink === undefined ? { items } : { items, nextLink: page.nextLink };
  } catch (error) {
    if (error instanceof GraphParseError || error instanceof JsonShapeError) return { error: error.message };
    throw error;
  }
}

/** What parsing the whole text gives. */
function whole(text: string): { items: unknown[]; nextLink?: string } | { error: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
  try {
    const page = parseCollection(body, 'x');
    return page.nextLink === undefined ? { items: [...page.items] } : { items: [...page.items], nextLink: page.nextLink };
  } catch (error) {
    return { error: `cannot read x: ${error instanceof Error ? error.message : String(error)}` };
  }
}

const member = fc.tuple(fc.constantFrom('@odata.context', '@odata.nextLink', 'other', 'val"ue', 'valu\\u0065x'), fc.jsonValue({ maxDepth: 2 }));
const page = fc
  .record({
    before: fc.array(member, { maxLength: 2 }),
    value: fc.option(
      fc.array(fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 })), fc.jsonValue({ maxDepth: 2 })), { maxLength: 6 }),
      {
        nil: undefined,
      },
    ),
    after: fc.array(member, { maxLength: 2 }),
    next: fc.option(fc.webUrl(), { nil: undefined }),
    space: fc.constantFrom('', ' ', '\n  '),
  })
  .map(({ before, value, after, next, space }) => {
    const members = [
      ...before,
      ...(value === undefined ? [] : [['value', value] as const]),
      ...after,
      ...(next === undefined ? [] : [['@odata.nextLink', next] as const]),
    ];
    // Only one "value", as Graph sends it (a second one is refused: see below).
    return `{${space}${members
      .filter(([k], i, all) => k !== 'value' || all.findIndex(([other]) => other === 'value') === i)
      .map(([k, v]) => `${JSON.stringify(k)}${space}:${space}${JSON.stringify(v, null, space === '' ? undefined : 1)}`)
      .join(`,${space}`)}${space}}`;
  });
const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 8 });

describe('a collection page read item by item', () => {
  it('reads what JSON.parse and parseCollection read, however the text is cut', () => {
    fc.assert(
      fc.property(page, cuts, (text, at) => {
        expect(read(text, at)).toEqual(whole(text));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses every text JSON.parse refuses, and reads every other one alike', () => {
    const mutated = fc.tuple(page, fc.nat(), fc.constantFrom('', '{', '}', '[', ']', ',', ':', '"', '\\', 'x', ' ')).map(([text, at, c]) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + c + text.slice(i + 1);
    });
    fc.assert(
      fc.property(mutated, cuts, (text, at) => {
        const ours = read(text, at);
        const theirs = whole(text);
        if ('error' in theirs) expect(ours).toHaveProperty('error');
        else if (!('error' in ours)) expect(ours).toEqual(theirs);
        // Else only a second "value", which JSON.parse takes and this reader refuses.
        else expect(ours.error).toMatch(/"value" given twice|an empty item/);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['{"value":[{"a":1},{"b":2}],"@odata.nextLink":"https://graph/next"}', { items: [{ a: 1 }, { b: 2 }], nextLink: 'https://graph/next' }],
    ['{"value":[1,"s",null,{"a":[]}]}', { items: [{ a: [] }] }],
    ['{"value":[]}', { items: [] }],
    // A key is read as JSON reads it: escapes and all.
    ['{"valu\\u0065":[{"a":1}], "x\\"value":[2]}', { items: [{ a: 1 }] }],
    ['{"value":{}}', { error: 'cannot read x: expected a collection of x, got an object without a "value" array' }],
    ['[]', { error: 'cannot read x: expected a collection of x, got an array' }],
  ])('reads %s', (text, expected) => {
    for (let cut = 0; cut <= text.length; cut++) expect(read(text, [cut])).toEqual(expected);
  });

  it.each([
    ['{"value":[1,]}', /an empty item/],
    ['{"value":[,1]}', /an empty item/],
    ['{"value":[1}', /mismatched brackets/],
    ['{"value":[{"a":1]}]}', /mismatched brackets/],
    ['{"value":[{"a":[1}],1]}', /invalid JSON in an item/],
    ['{"value":[1],"value":[2]}', /"value" given twice/],
    ['{"value":[1]', /ends inside a value/],
    ['{"value":[1]}}', /a closing bracket without an opening one/],
    [`{"value":[${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}]}`, /^nested deeper than 64 levels$/],
  ])('refuses %.40s', (text, message) => {
    const result = read(text, []);
    expect('error' in result ? result.error : 'read').toMatch(message);
  });
});
