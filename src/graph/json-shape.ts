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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

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
      if (++depth > MAX_JSON_DEPTH) return `nested deeper than ${MAX_JSON_DEPTH} levels`;
      if (++containers > MAX_JSON_CONTAINERS) return `more than ${MAX_JSON_CONTAINERS} objects and arrays`;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) depth--;
    else if (byte === COMMA && ++items > MAX_JSON_ITEMS) return `more than ${MAX_JSON_ITEMS} values`;
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
