/**
 * Watches every regular expression run in this process (test, match, replace, split, matchAll and
 * search all go through RegExp.prototype.exec once it is replaced) and records the longest text
 * code under src/ handed to one. A text over the bound from src/ is a violation: it is recorded
 * with the pattern and the src/ frame, and the call throws instead of running, so a pattern that
 * would take minutes on it fails the test at once. The proof that outside text is cut before any
 * pattern sees it, with no clock involved.
 */

export interface RegexProbe {
  /** The longest text a pattern called from src/ was given. */
  readonly longestFromSrc: () => number;
  /** "pattern (length) at src/file.ts:line" for each text over the bound. */
  readonly violations: string[];
  /** Puts RegExp.prototype.exec back. */
  restore(): void;
}

const SRC_FRAME = /\/src\/[\w/.-]+\.ts:\d+/;
const LIBRARY_FRAME = '/node_modules/';

/** Starts watching; call restore() when done (onTestFinished). */
export function probeRegexInputs(maxChars: number): RegexProbe {
  const exec = RegExp.prototype.exec;
  const violations: string[] = [];
  let longest = 0;
  const fromSrc = (): string | undefined => {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 50;
    const stack = new Error().stack ?? '';
    Error.stackTraceLimit = limit;
    // The nearest caller that is src/ or a library decides; test/ and Node's own frames are skipped.
    for (const frame of stack.split('\n').slice(2)) {
      if (frame.includes(LIBRARY_FRAME)) return undefined;
      const src = exec.call(SRC_FRAME, frame)?.[0];
      if (src !== undefined) return src;
    }
    return undefined;
  };
  // A global replace calls exec once per match on the same text: one stack per text is enough.
  let last: { regex: RegExp; input: string; frame: string | undefined } | undefined;
  RegExp.prototype.exec = function probedExec(this: RegExp, input: string) {
    const text = String(input);
    const length = text.length;
    // Only long texts pay for a stack: the probe must not slow the code it watches.
    if (length > 1024) {
      const frame = last?.regex === this && last.input === text ? last.frame : fromSrc();
      last = { regex: this, input: text, frame };
      if (frame !== undefined) {
        longest = Math.max(longest, length);
        if (length > maxChars) {
          violations.push(`/${this.source}/${this.flags} (${length} characters) at ${frame}`);
          throw new Error(`a pattern in src/ was given ${length} characters (bound ${maxChars}) at ${frame}`);
        }
      }
    }
    return exec.call(this, input);
  } as typeof exec;
  return {
    longestFromSrc: () => longest,
    violations,
    restore() {
      RegExp.prototype.exec = exec;
    },
  };
}
