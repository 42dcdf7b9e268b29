/**
 * The shape of a JSON answer, checked on its bytes before JSON.parse sees it. Within the 10 MiB
 * body cap, shape decides the cost: five million nested brackets take JSON.parse seconds and
 * JSON.stringify a stack overflow, and three million empty objects more heap than the exporter
 * has. Graph's answers are a few levels deep and hold at most a few thousand objects per page.
 */

/** Deepest nesting of objects and arrays read (Graph's is about 5). */
export const MAX_JSON_DEPTH = 64;
/** Most objects and arrays read in one answer (a page of a thousand alerts with their logs is some tens of thousands). */
export const MAX_JSON_CONTAINERS = 200_000;
/** Most commas (between array elements or object members) read in one answer. */
export const MAX_JSON_ITEMS = 2_000_000;

/** The codes of JSON's structural characters: the same as UTF-8 bytes and as UTF-16 code units. */
export const JSON_CODE = {
  QUOTE: 0x22,
  BACKSLASH: 0x5c,
  COMMA: 0x2c,
  COLON: 0x3a,
  OPEN_OBJECT: 0x7b,
  OPEN_ARRAY: 0x5b,
  CLOSE_OBJECT: 0x7d,
  CLOSE_ARRAY: 0x5d,
} as const;
const { QUOTE, BACKSLASH, COMMA, OPEN_OBJECT, OPEN_ARRAY, CLOSE_OBJECT, CLOSE_ARRAY } = JSON_CODE;

/** Why one more container (the containers-th, opened at depth) is beyond the bounds; undefined within them. */
export function openedProblem(depth: number, containers: number): string | undefined {
  if (depth > MAX_JSON_DEPTH) return `nested deeper than ${MAX_JSON_DEPTH} levels`;
  if (containers > MAX_JSON_CONTAINERS) return `more than ${MAX_JSON_CONTAINERS} objects and arrays`;
  return undefined;
}

/** Why the items-th comma is beyond the bounds; undefined within them. */
export function commaProblem(items: number): string | undefined {
  return items > MAX_JSON_ITEMS ? `more than ${MAX_JSON_ITEMS} values` : undefined;
}

/**
 * Why the JSON text is beyond the bounds ("nested deeper than 64 levels"), or undefined. Counts
 * brackets and commas outside strings in one pass (strings are skipped with indexOf); it does
 * not validate: JSON.parse does that afterwards.
 */
export function jsonShapeProblem(bytes: Uint8Array): string | undefined {
  let depth = 0;
  let containers = 0;
  let items = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] ?? 0;
    if (byte === QUOTE) {
      i = stringEnd(bytes, i);
      if (i === -1) return undefined;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      const problem = openedProblem(++depth, ++containers);
      if (problem !== undefined) return problem;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) depth--;
    else if (byte === COMMA && ++items > MAX_JSON_ITEMS) return commaProblem(items);
  }
  return undefined;
}

/** The index of the quote that closes the string opened at start (-1: none): one not escaped by an odd run of backslashes. */
function stringEnd(bytes: Uint8Array, start: number): number {
  let from = start + 1;
  for (;;) {
    const end = bytes.indexOf(QUOTE, from);
    if (end === -1) return -1;
    let backslashes = 0;
    while (bytes[end - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
    from = end + 1;
  }
}

/** A JSON text beyond these bounds, found while it is read piece by piece (src/graph/collection-reader.ts); the message says which. */
export class JsonShapeError extends Error {
  override name = 'JsonShapeError';
}
