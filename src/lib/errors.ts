/** Any error as one bounded line of text, for the log and for messages that quote it. */
import { boundText } from './text.js';

/** Longest text quoted from Graph or Entra ID in an error (their message, a credential's error). */
export const MAX_QUOTED_CHARS = 300;

/** The message of an error, one line, without stack; redacted first, so a secret is never cut into an unrecognisable half. */
export function errorText(error: unknown, redact: (text: string) => string = (text) => text): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // A wrapper often repeats its cause's words (the Azure SDK does): then they are said once.
    const cause = error.cause instanceof Error && !error.message.includes(error.cause.message) ? ` (${error.cause.message})` : '';
    return boundText(redact(`${typeof code === 'string' ? `${code}: ` : ''}${error.message}${cause}`), MAX_QUOTED_CHARS);
  }
  return boundText(redact(String(error)), MAX_QUOTED_CHARS);
}
