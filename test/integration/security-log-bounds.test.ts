/**
 * Sizes: every value taken from Graph or Entra ID is bounded before it reaches a log line, a
 * metric, the page or the JSON, and the logger itself bounds every value and the whole line.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphClient } from '../../src/graph/client.js';
import { GraphError, MAX_ERROR_MESSAGE_CHARS, MAX_ID_CHARS } from '../../src/graph/errors.js';
import type { TokenSource } from '../../src/graph/token.js';
import { createLogger, createRedactor, type LogFormat, MAX_LOG_LINE_BYTES, MAX_LOG_VALUE_CHARS } from '../../src/lib/log.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, startExporter, TENANT_ID, until } from '../helpers/exporter.js';
import { closeFakeClouds, graphErrorBody, startFakeCloud } from '../helpers/fake-cloud.js';

const MIB = 1024 * 1024;
const bytes = (line: string) => Buffer.byteLength(line);
const codePoints = (text: string) => [...text].length;

function capture(format: LogFormat, secrets: string[] = []) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format, redact: createRedactor(secrets), write: (l) => lines.push(l) });
  return { lines, logger };
}

/** The value of one field of a logfmt or JSON line. */
function field(format: LogFormat, line: string, key: string): string {
  if (format === 'json') return String((JSON.parse(line) as Record<string, unknown>)[key]);
  const match = new RegExp(`(?:^| )${key}=("(?:[^"\\\\]|\\\\.)*"|\\S*)`).exec(line.trimEnd());
  const raw = match?.[1] ?? '';
  return raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
}

describe.each(['logfmt', 'json'] as const)('the %s logger bounds what it writes', (format) => {
  it(`cuts a megabyte value to ${MAX_LOG_VALUE_CHARS} characters ending with … and keeps the line under ${MAX_LOG_LINE_BYTES} bytes`, () => {
    const { lines, logger } = capture(format);
    logger.warn('poll failed', { request_id: 'r'.repeat(MIB), reason: 'http_error' });
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? '';
    expect(bytes(line)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    expect(line.endsWith('\n')).toBe(true);
    const value = field(format, line, 'request_id');
    expect(codePoints(value)).toBe(MAX_LOG_VALUE_CHARS);
    expect(value.endsWith('r…')).toBe(true);
    expect(field(format, line, 'reason')).toBe('http_error');
  });

  it('keeps a line of many long fields (and a megabyte message) under the bound, every field still there', () => {
    const { lines, logger } = capture(format);
    const letter = (i: number) => String.fromCharCode(97 + i);
    const fields = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, letter(i).repeat(MAX_LOG_VALUE_CHARS)]));
    logger.error('m'.repeat(MIB), fields);
    const line = lines[0] ?? '';
    expect(bytes(line)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    for (let i = 0; i < 20; i++) expect(field(format, line, `f${i}`)).toMatch(new RegExp(`^${letter(i)}+…$`));
    expect(field(format, line, 'msg')).toMatch(/^m+…$/);
  });

  it('keeps a line of thousands of fields under the bound and says that fields were dropped', () => {
    const { lines, logger } = capture(format);
    logger.info('wide', Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`field_${i}`, 'x'.repeat(64)])));
    const line = lines[0] ?? '';
    expect(bytes(line)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    expect(field(format, line, 'msg')).toBe('wide');
    expect(field(format, line, 'log_fields_dropped')).toBe('true');
  });

  it('counts bytes, not characters: a value of multi-byte characters stays under the bound', () => {
    const { lines, logger } = capture(format);
    logger.info('wide characters', { a: '😀'.repeat(MIB / 4), b: 'é'.repeat(MIB / 4), c: '\u0001'.repeat(MIB / 4) });
    const line = lines[0] ?? '';
    expect(bytes(line)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    // Cut between characters: no half of a surrogate pair.
    expect(field(format, line, 'a')).toMatch(/^(😀)+…$/u);
  });

  it('redacts a secret before cutting, so a cut never leaves half of it', () => {
    const secret = 'Zq8~s3cr3t.V4lue_nEVER-l0gged-7Kp2';
    const { lines, logger } = capture(format, [secret]);
    // The secret straddles the place where the value is cut.
    logger.warn('poll failed', { err: `${'x'.repeat(MAX_LOG_VALUE_CHARS - 10)}${secret}` });
    expect(lines[0]).not.toContain(secret.slice(0, 9));
    expect(lines[0]).toContain('[REDACTED]');
  });

  it('writes C1 controls and bidi overrides as visible escapes, never as they are', () => {
    const { lines, logger } = capture(format);
    logger.warn('poll failed', { err: 'a\u009b31mb\u202ec\u2066d\u200be\ufeff' });
    const line = lines[0] ?? '';
    expect(line).not.toMatch(/[\u0080-\u009f\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]/);
    expect(field(format, line, 'err')).toBe('a\\u009b31mb\\u202ec\\u2066d\\u200be\\ufeff');
  });
});

describe('Graph error values are bounded where they are read', () => {
  let server: Server;
  let endpoint: string;
  let answer = { status: 500, headers: {} as Record<string, string>, body: '' };
  beforeAll(async () => {
    server = createServer({ cert: readFileSync('test/fixtures/tls/server.pem'), key: readFileSync('test/fixtures/tls/server-key.pem') }, (_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
  });
  const tokens: TokenSource = { get: async () => ({ token: 'token-abc' }), invalidate: () => {}, lastTenantId: () => undefined };

  it('a megabyte innerError.request-id, code and message in the body, a long request-id header', async () => {
    const graph = createGraphClient({ endpoint, timeoutMs: 10_000, tokens, userAgent: 'ua/1' });
    const huge = (c: string) => c.repeat(MIB);
    answer = {
      status: 500,
      headers: {},
      body: JSON.stringify({ error: { code: huge('c'), message: huge('m'), innerError: { 'request-id': huge('r'), 'client-request-id': huge('q') } } }),
    };
    const fromBody = await graph.get('/beta/x', new AbortController().signal).catch((e: unknown) => e);
    expect(fromBody).toBeInstanceOf(GraphError);
    const e = fromBody as GraphError;
    expect(e.requestId?.length).toBe(MAX_ID_CHARS);
    expect(e.requestId?.endsWith('r…')).toBe(true);
    expect(e.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    expect(e.clientRequestId?.length).toBeLessThanOrEqual(MAX_ID_CHARS);

    answer = { status: 503, headers: { 'request-id': 'h'.repeat(8000) }, body: '' };
    const fromHeader = (await graph.get('/beta/x', new AbortController().signal).catch((error: unknown) => error)) as GraphError;
    expect(fromHeader.requestId?.length).toBe(MAX_ID_CHARS);
  });

  it('an error made anywhere with megabyte details is bounded too', () => {
    const e = new GraphError('http_error', `said: ${'m'.repeat(MIB)}`, { code: 'c'.repeat(MIB), requestId: 'r'.repeat(MIB), clientRequestId: 'q'.repeat(MIB) });
    expect([e.message.length, e.code?.length, e.requestId?.length, e.clientRequestId?.length]).toEqual([
      MAX_ERROR_MESSAGE_CHARS,
      MAX_ID_CHARS,
      MAX_ID_CHARS,
      MAX_ID_CHARS,
    ]);
  });
});

describe.concurrent('the exporter with a Graph that answers megabyte error fields', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  afterAll(async () => {
    await killExporters();
    await closeFakeClouds();
  });

  it('logs, shows and serves every failure bounded', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.graphDefault = (request) => ({
      status: 500,
      headers: { 'request-id': `${request.requestId}${'-'.repeat(8000)}` },
      body: graphErrorBody('generalException', `boom ${'m'.repeat(2 * MIB)}`, 'r'.repeat(2 * MIB), 'q'.repeat(MIB)),
    });
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s', '--log.level=debug'] });
    await until(() => exporter.logs().filter((l) => l.msg === 'poll failed').length >= 2, 20_000, 'two failed polls');
    const failed = exporter.logs().filter((l) => l.msg === 'poll failed');
    expect(failed[0]).toMatchObject({ tenant_id: TENANT_ID, reason: 'http_error', status: 500 });
    for (const line of exporter.stderrLines) expect(bytes(line) + 1).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    for (const record of failed) {
      expect(String(record.request_id).length).toBeLessThanOrEqual(MAX_ID_CHARS);
      expect(String(record.err).length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    }
    const api = await exporter.get('/api/status');
    const landing = await exporter.get('/');
    const metrics = await exporter.get('/metrics');
    const message = (JSON.parse(api.body) as { tenants: { health: { lastPoll: { message: string } } }[] }).tenants[0]?.health.lastPoll.message ?? '';
    expect(message).toMatch(/^Graph answered 500 generalException: boom m+…$/);
    expect(message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    // The whole page for one failing tenant is a few tens of kilobytes, not megabytes.
    for (const body of [api.body, landing.body, metrics.body]) expect(body.length).toBeLessThan(256 * 1024);
  });
});
