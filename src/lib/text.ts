/**
 * Text from outside (Graph, Entra ID, the tenants file) made fit to show: the one place that
 * removes invisible and direction-changing characters and cuts long values at a character boundary.
 */
import { createHash } from 'node:crypto';

/**
 * Longest label value, in characters: Graph's enums, URLs and tenant IDs are far shorter, and a
 * broken body must not turn into a megabyte label. A longer value taken from Graph is cut and ends
 * with … and a hash of the whole value, so it stays its own series; the tenants file's constant
 * labels must fit.
 */
export const MAX_LABEL_CHARS = 256;

/** What a cut value ends with. */
export const ELLIPSIS = '…';

/**
 * Characters that show nothing or change how the text around them reads: C0 and C1 controls
 * (Cc), format characters (Cf: bidi embeddings, overrides and isolates U+202A–U+202E and
 * U+2066–U+2069, U+200E/U+200F, U+061C, zero-width U+200B–U+200D, U+FEFF, tags...), line and
 * paragraph separators, and lone surrogates (half of a character).
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const WHITESPACE = /[\s\p{Zl}\p{Zp}]+/gu;

/** Length of the hash a cut label ends with (hex digits of SHA-256: 64 bits). */
const LABEL_HASH_CHARS = 16;

/** The text without hidden characters (a tab or a newline is a control character too). */
export function withoutHidden(text: string): string {
  return text.replace(HIDDEN, '');
}

/** The text on one line: runs of whitespace (tabs, newlines) become one space, hidden characters go. */
export function visibleText(text: string): string {
  return withoutHidden(text.replace(WHITESPACE, ' '));
}

/** The text on one line, without hidden characters, at most maxChars code points (cut ones end with …). */
export function boundText(text: string, maxChars: number): string {
  return cut(visibleText(prefix(text, maxChars)).trim(), maxChars, '');
}

/**
 * A label value: visible characters only, at most maxChars code points. A longer value is cut at
 * a character boundary and ends with … and a hash of the whole (clean) value, so two different
 * long values never become one series.
 */
export function labelValue(text: string, maxChars: number): string {
  const clean = withoutHidden(text);
  if (clean.length <= maxChars) return clean;
  const hash = createHash('sha256').update(clean).digest('hex').slice(0, LABEL_HASH_CHARS);
  return cut(clean, maxChars, hash);
}

/** Counts code points, stopping once there are more than limit. */
function codePointsOver(text: string, limit: number): boolean {
  if (text.length <= limit) return false;
  let n = 0;
  for (const _ of text) if (++n > limit) return true;
  return false;
}

/**
 * At most maxChars code points ending with … and the suffix when the text is longer. The cut
 * falls between grapheme clusters (no surrogate pair, combining mark or emoji sequence split)
 * unless a single cluster is longer than the room left.
 */
function cut(text: string, maxChars: number, suffix: string): string {
  if (!codePointsOver(text, maxChars)) return text;
  const room = Math.max(0, maxChars - 1 - [...suffix].length);
  let kept = '';
  let keptChars = 0;
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)) {
    const chars = [...segment].length;
    if (keptChars + chars > room) {
      // One cluster longer than the room (a base with thousands of marks): cut it by code point.
      if (keptChars === 0) kept = [...segment].slice(0, room).join('');
      break;
    }
    kept += segment;
    keptChars += chars;
  }
  return `${kept}${ELLIPSIS}${suffix}`;
}

/**
 * The start of a huge text, enough to clean and cut to maxChars: cleaning only removes
 * characters and collapses whitespace, so a bounded prefix is all boundText needs to look at.
 * The prefix keeps a margin so that a value that is cut still shows it was cut.
 */
function prefix(text: string, maxChars: number): string {
  const limit = maxChars * 64 + 1024;
  if (text.length <= limit) return text;
  // Never end on half of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(text.charAt(limit - 1)) ? limit - 1 : limit;
  return `${text.slice(0, end)}${ELLIPSIS.repeat(2)}`;
}
