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
 * Longest stretch of outside text (from Graph, Entra ID, a file, the environment, a header) any
 * pattern, redaction or cleaning in src/ looks at: a longer text is cut to its start first. Every
 * value shown is far shorter (a log value 4096 characters, an error 1024, a label 256), so the
 * start holds all that is shown, and no pattern ever runs over a 10 MiB answer.
 */
export const MAX_SCANNED_CHARS = 64 * 1024;

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
  // A value longer than MAX_SCANNED_CHARS is cut whatever it holds: only its start is cleaned,
  // and the hash is of the whole value as sent, so it still names one series.
  const long = text.length > MAX_SCANNED_CHARS;
  const clean = withoutHidden(long ? startOf(text, MAX_SCANNED_CHARS) : text);
  if (!long && clean.length <= maxChars) return clean;
  const hash = createHash('sha256')
    .update(long ? text : clean)
    .digest('hex')
    .slice(0, LABEL_HASH_CHARS);
  return cut(clean, maxChars, hash, long);
}

/** At most maxChars UTF-16 units from the start of text, never ending on half of a surrogate pair. */
export function startOf(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const end = isHighSurrogate(text.charCodeAt(maxChars - 1)) ? maxChars - 1 : maxChars;
  return text.slice(0, end);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
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
 * unless a single cluster is longer than the room left. always: cut even a text that fits (its
 * source was longer).
 */
function cut(text: string, maxChars: number, suffix: string, always = false): string {
  if (!always && !codePointsOver(text, maxChars)) return text;
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
  const limit = Math.min(maxChars * 64 + 1024, MAX_SCANNED_CHARS - ELLIPSIS.length * 2);
  if (text.length <= limit) return text;
  return `${startOf(text, limit)}${ELLIPSIS.repeat(2)}`;
}
