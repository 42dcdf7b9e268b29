/**
 * Longest Retry-After looked at: an IMF-fixdate is 29 characters, RFC 850's at most 39, and no
 * meaningful delay has more digits; a longer value is ignored before any pattern sees it.
 */
export const MAX_RETRY_AFTER_CHARS = 64;

/** Reads an HTTP Retry-After header: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3). */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined || value.length > MAX_RETRY_AFTER_CHARS) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : undefined;
  }
  // An HTTP-date (IMF-fixdate, RFC 850 or asctime) starts with a weekday; Date.parse alone
  // accepts far too much ("1", "2024") to be trusted with anything else.
  if (!/^[A-Za-z]{3,9},? /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
