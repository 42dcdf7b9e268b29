import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorText } from '../../../src/lib/errors.js';
import {
  createLogger,
  createRedactor,
  type LogFormat,
  MAX_LOG_LINE_BYTES,
  MAX_LOG_VALUE_CHARS,
  MAX_REDACTED_INPUT_CHARS,
  redactJwts,
} from '../../../src/lib/log.js';
import { MAX_SCANNED_CHARS } from '../../../src/lib/text.js';
import { probeRegexInputs } from '../../helpers/regex-probe.js';

/** 10 MiB runs of what made the old patterns slow: each on its own, as Graph or Entra ID could send it. */
const HOSTILE_RUNS: readonly (readonly [string, string])[] = [
  ['eyJ', 'eyJ'],
  ['digits', '7'],
  ['Bearer ', 'Bearer '],
  ['whitespace', ' \t'],
].map(([name, unit]) => [name ?? '', (unit ?? '').repeat(Math.ceil((10 * 1024 * 1024) / (unit ?? ' ').length))] as const);

function capture(format: LogFormat, level: 'debug' | 'info' | 'warn' | 'error' = 'info', secrets: string[] = []) {
  const lines: string[] = [];
  const redact = createRedactor(secrets);
  const logger = createLogger({ level, format, redact, write: (l) => lines.push(l), now: () => new Date('2026-11-29T12:00:00Z') });
  return { lines, logger, redact };
}

describe('logger', () => {
  it('writes logfmt with quoting where needed', () => {
    const { lines, logger } = capture('logfmt');
    logger.with({ tenant_id: 't1' }).warn('poll failed', { reason: 'throttled', status: 429, err: 'say "hi"\nnext', empty: '', skipped: undefined });
    expect(lines).toEqual([
      'ts=2026-11-29T12:00:00.000Z level=warn msg="poll failed" tenant_id=t1 reason=throttled status=429 err="say \\"hi\\"\\nnext" empty=""\n',
    ]);
  });

  it('writes one JSON object per line', () => {
    const { lines, logger } = capture('json');
    logger.info('started', { port: 10059, demo: true });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toEqual({ ts: '2026-11-29T12:00:00.000Z', level: 'info', msg: 'started', port: 10059, demo: true });
  });

  it('drops lines below the level', () => {
    const { lines, logger } = capture('logfmt', 'warn');
    logger.debug('a');
    logger.info('b');
    logger.warn('c');
    logger.error('d');
    expect(lines.map((l) => l.match(/msg=(\w)/)?.[1])).toEqual(['c', 'd']);
  });

  it('redacts known secrets, bearer tokens and JWTs in every format', () => {
    for (const format of ['logfmt', 'json'] as const) {
      const { lines, logger, redact } = capture(format, 'debug', ['client-secret-value']);
      redact.tokenSlot()('opaque-token-abcdef');
      logger.error('boom client-secret-value', {
        err: 'Authorization: Bearer abc.def-ghi and opaque-token-abcdef',
        jwt: 'eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.sig',
      });
      const line = lines.join('');
      expect(line).not.toMatch(/client-secret-value|abc\.def-ghi|opaque-token-abcdef|eyJhbGciOiJub25lIn0/);
      expect(line.match(/\[REDACTED\]/g)?.length).toBe(4);
    }
  });

  it(`bounds a line at ${MAX_LOG_LINE_BYTES} bytes counting its newline: up to the byte, and not one beyond`, () => {
    for (const format of ['logfmt', 'json'] as const) {
      const { lines, logger } = capture(format);
      const full = 'x'.repeat(MAX_LOG_VALUE_CHARS - 96);
      // Four values near their own bound come near the line's; a fifth tunes the line to the byte.
      const log = (last: number) => logger.info('m', { a: full, b: full, c: full, d: full, e: 'y'.repeat(last) });
      log(1);
      const base = Buffer.byteLength(lines.pop() ?? '') - 1;
      for (const written of [MAX_LOG_LINE_BYTES - 2, MAX_LOG_LINE_BYTES - 1, MAX_LOG_LINE_BYTES, MAX_LOG_LINE_BYTES + 1, MAX_LOG_LINE_BYTES + 2]) {
        // The line as it would be written whole, newline included, is `written` bytes long.
        log(written - base);
        const line = lines.pop() ?? '';
        expect(line.endsWith('\n')).toBe(true);
        expect(Buffer.byteLength(line), `${format}, a line of ${written} bytes`).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
        // At the bound nothing is cut; beyond it, something is.
        expect(line.includes('…'), `${format}, a line of ${written} bytes`).toBe(written > MAX_LOG_LINE_BYTES);
        if (written <= MAX_LOG_LINE_BYTES) expect(Buffer.byteLength(line)).toBe(written);
      }
    }
  });

  it('redacts a bearer token whatever the case of "Bearer"', () => {
    const redact = createRedactor();
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const text = redact(`authorization: ${scheme} opaque-access-token-0123 and ${scheme}\tsecond-token-4567`);
      expect(text).toBe(`authorization: ${scheme} [REDACTED] and ${scheme}\t[REDACTED]`);
    }
  });

  it('does not treat very short values as secrets', () => {
    const redact = createRedactor(['ab']);
    expect(redact('about ab')).toBe('about ab');
  });
});

describe('redaction of outside text', () => {
  // The pattern the redactor used before its JWT search became linear: the reference for what is redacted.
  const OLD_JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*)?/g;

  it('finds JWTs exactly where the old pattern did, in plain code', () => {
    const text = fc.string({
      unit: fc.constantFrom('e', 'y', 'J', 'a', 'b', '9', '_', '-', '.', ' ', '"', 'eyJ', 'eyJhbGciOi', 'abcd.', '.efgh'),
      maxLength: 40,
    });
    fc.assert(
      fc.property(text, (t) => {
        expect(t.replace(/[A-Za-z0-9_.-]+/g, redactJwts)).toBe(t.replace(OLD_JWT, '[REDACTED]'));
      }),
      { numRuns: 3000 },
    );
    expect(redactJwts('xeyJhbGci.eyJ0aWQi.c2ln.more')).toBe('x[REDACTED].more');
    expect(redactJwts('eyJhbGci.eyJ')).toBe('eyJhbGci.eyJ');
  });

  it.for(HOSTILE_RUNS)('looks at no more than MAX_SCANNED_CHARS of a 10 MiB run of %s, and shows only its start', ([, run]) => {
    const probe = probeRegexInputs(MAX_SCANNED_CHARS);
    try {
      const redact = createRedactor(['the-configured-secret']);
      expect(redact(run).endsWith('…')).toBe(true);
      const lines: string[] = [];
      createLogger({ level: 'info', format: 'logfmt', redact, write: (l) => lines.push(l) }).warn('poll failed', { err: run, msg2: run });
      expect(Buffer.byteLength(lines.join(''))).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
      expect(errorText(new Error(run), redact).length).toBeLessThanOrEqual(300);
    } finally {
      probe.restore();
    }
    expect(probe.violations).toEqual([]);
    expect(probe.longestFromSrc()).toBeGreaterThan(1024);
  });

  it('never leaves part of a secret or token at the end of a cut text', () => {
    const secret = 'S3cr3t-value-of-forty-characters-long!!!';
    const token = 'opaque-access-token-that-is-not-a-jwt-0123456789';
    const redact = createRedactor([secret]);
    redact.tokenSlot()(token);
    for (const value of [secret, token]) {
      // Every place the cut could fall inside the value.
      for (let at = 1; at < value.length; at++) {
        const text = `${'x'.repeat(MAX_REDACTED_INPUT_CHARS - at)}${value}${'y'.repeat(100)}`;
        const out = redact(text);
        expect(out.endsWith('…')).toBe(true);
        expect(out.slice(-value.length - 1)).toBe(`${'x'.repeat(value.length)}…`);
      }
    }
    // And a value wholly before the cut is still redacted.
    expect(redact(`${secret} ${'z'.repeat(MAX_REDACTED_INPUT_CHARS)}`).startsWith('[REDACTED] z')).toBe(true);
  });
});
