/**
 * A Graph collection page ({"value": [...], "@odata.nextLink": "..."}) read item by item as its text
 * arrives, instead of parsed whole: a page of 250 alerts is a quarter of a megabyte of text and a
 * megabyte of objects, which the garbage collector would move to the old generation while the page
 * is read; one item at a time never leaves the young one. Each item of the top-level "value" array
 * is cut out and parsed on its own; everything else (the envelope, with "value" left empty) is
 * parsed as one small document at the end, so the page as a whole is held to JSON's rules as
 * JSON.parse would hold it, and read with the same rules as parseCollection. The bounds on its
 * shape (src/graph/json-shape.ts) are counted as it comes: JsonShapeError past one of them.
 */
import { commaProblem, JSON_CODE, JsonShapeError, MAX_JSON_ITEMS, openedProblem } from './json-shape.js';
import { type CollectionPage, GraphParseError, parseCollection } from './parse.js';

type JsonObject = Record<string, unknown>;

/** Takes the decoded text of one page in pieces. */
export interface CollectionReader {
  write(text: string): void;
  /** The page's next link once the whole text is read; throws GraphParseError when it is not a collection of JSON. */
  end(): CollectionPage;
}

const { QUOTE, BACKSLASH, OPEN_OBJECT, CLOSE_OBJECT, OPEN_ARRAY, CLOSE_ARRAY, COMMA, COLON } = JSON_CODE;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/**
 * Reads a collection of typeName, handing every object item of "value" to onItem as soon as it is
 * complete (items that are not objects are skipped, as parseCollection skips them). The envelope
 * goes to parseCollection at the end: its error messages, its nextLink. Stricter than JSON.parse
 * in one way only: a second top-level "value" is refused instead of replacing the first.
 */
export function createCollectionReader(typeName: string, onItem: (item: JsonObject) => void): CollectionReader {
  /** Everything but the items of "value" (which it holds as []): parsed at the end. */
  let envelope = '';
  let depth = 0;
  let containers = 0;
  let commas = 0;
  /** The kinds of the open containers of the first two levels, innermost last; deeper ones are only counted. */
  const kinds: number[] = [];
  let inString = false;
  let escaped = false;
  /** The raw text of a string being read at depth 1 (a key, or a string value), across pieces. */
  let capture: string | undefined;
  /** The raw text of the last string read at depth 1. */
  let lastString = '';
  /** The key of the member whose value comes next at depth 1. */
  let key: string | undefined;
  let valueSeen = false;
  /** Inside the top-level "value" array: depth 2 and below belongs to its items. */
  let inValue = false;
  /** The item being read, across pieces of text. */
  let item = '';
  let itemActive = false;
  /** A comma was read in "value" and no item after it yet. */
  let expectItem = false;

  const fail = (what: string): never => {
    throw new GraphParseError(`cannot read ${typeName}: ${what}`);
  };

  const finishItem = (text: string) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      fail(`invalid JSON in an item of "value": ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) onItem(parsed as JsonObject);
  };

  return {
    write(text) {
      // Where, in this piece, the envelope, the item and the captured string go on from (-1: not here).
      let envelopeFrom = inValue ? -1 : 0;
      let itemFrom = itemActive ? 0 : -1;
      let captureFrom = capture === undefined ? -1 : 0;
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (inString) {
          if (escaped) escaped = false;
          else if (code === BACKSLASH) escaped = true;
          else if (code === QUOTE) {
            inString = false;
            if (capture !== undefined) {
              lastString = capture + text.slice(captureFrom, i + 1);
              capture = undefined;
              captureFrom = -1;
            }
          }
          continue;
        }
        if (code === COMMA && ++commas > MAX_JSON_ITEMS) throw new JsonShapeError(commaProblem(commas));
        if (inValue && depth === 2) {
          // Between the items of "value": a comma ends one, the bracket ends them all.
          if (code === COMMA || code === CLOSE_ARRAY) {
            if (itemActive) {
              finishItem(item + text.slice(itemFrom, i));
              item = '';
              itemActive = false;
              itemFrom = -1;
            } else if (code === COMMA || expectItem) fail('an empty item in "value"');
            expectItem = code === COMMA;
            if (code === CLOSE_ARRAY) {
              kinds.pop();
              depth = 1;
              inValue = false;
              envelopeFrom = i + 1;
            }
            continue;
          }
          if (!itemActive && !isSpace(code)) {
            itemActive = true;
            itemFrom = i;
            expectItem = false;
          }
        }
        if (code === QUOTE) {
          inString = true;
          if (depth === 1) {
            capture = '';
            captureFrom = i;
          }
          continue;
        }
        if (code === OPEN_OBJECT || code === OPEN_ARRAY) {
          const problem = openedProblem(depth + 1, ++containers);
          if (problem !== undefined) throw new JsonShapeError(problem);
          if (depth === 1 && code === OPEN_ARRAY && key === 'value') {
            if (valueSeen) fail('"value" given twice');
            valueSeen = true;
            key = undefined;
            inValue = true;
            // The envelope holds an empty "value": its items are read one by one.
            envelope += `${text.slice(envelopeFrom, i)}[]`;
            envelopeFrom = -1;
            kinds.push(code);
            depth = 2;
            continue;
          }
          depth++;
          if (depth <= 2) kinds.push(code);
          continue;
        }
        if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) {
          if (depth === 0) fail('a closing bracket without an opening one');
          if (depth <= 2 && kinds.pop() !== (code === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY)) fail('mismatched brackets');
          depth--;
          continue;
        }
        if (depth === 1 && kinds[0] === OPEN_OBJECT) {
          if (code === COLON) {
            try {
              key = JSON.parse(lastString) as string;
            } catch {
              // Not a string: the envelope fails to parse at the end.
              key = undefined;
            }
          } else if (code === COMMA) key = undefined;
        }
      }
      if (capture !== undefined) capture += text.slice(captureFrom);
      if (itemActive) item += text.slice(itemFrom);
      if (envelopeFrom >= 0) envelope += text.slice(envelopeFrom);
    },
    end() {
      if (inString || depth !== 0) fail('the text ends inside a value');
      let body: unknown;
      try {
        body = JSON.parse(envelope);
      } catch (error) {
        fail(`invalid JSON: ${error instanceof Error ? error.message : String(error)}`);
      }
      try {
        return parseCollection(body, typeName);
      } catch (error) {
        return fail(error instanceof Error ? error.message : String(error));
      }
    },
  };
}
