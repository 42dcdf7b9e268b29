import { describe, expect, it } from 'vitest';
import { createLogger, createRedactor, type LogFormat } from '../../../src/lib/log.js';

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

  it('does not treat very short values as secrets', () => {
    const redact = createRedactor(['ab']);
    expect(redact('about ab')).toBe('about ab');
  });
});
