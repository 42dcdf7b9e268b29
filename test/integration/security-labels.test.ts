/**
 * Labels and the page: long values are cut at a character boundary and stay distinct series;
 * invisible and direction-changing characters never reach a label, the page or /api/status.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { statusPage } from '../../src/expose/status/page.js';
import { statusView } from '../../src/expose/status/view.js';
import { parseCustomerInsight, parseRequirement } from '../../src/graph/parse.js';
import { boundText, labelValue, MAX_LABEL_CHARS } from '../../src/lib/text.js';
import { initialSnapshot } from '../../src/snapshot.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, startExporter, TENANT_ID, until } from '../helpers/exporter.js';
import { closeFakeClouds, defaultGraphAnswer, graphErrorBody, startFakeCloud } from '../helpers/fake-cloud.js';

const RUNS = 300;
/** Every character the issue names, plus the rest of Cc and Cf, that must never be shown. */
const HIDDEN_CHARS = [
  ...'\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\u200c\u200d\ufeff\u2060\u00ad\u2028\u2029',
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)),
  ...Array.from({ length: 33 }, (_, i) => String.fromCharCode(0x7f + i)),
  '\u{e0041}',
];
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const codePoints = (text: string) => [...text].length;

/** Strings that mix ordinary text, astral characters, combining marks and every hidden character. */
const hostile = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 8 }),
      fc.constantFrom(...HIDDEN_CHARS),
      fc.constantFrom('😀', '👨‍👩‍👧', 'é', 'e\u0301', '\ud83d', '\ude00', 'a'),
    ),
    { maxLength: 400 },
  )
  .map((parts) => parts.join(''));

describe('labelValue: the one sanitiser of label values', () => {
  it('never yields a hidden character or half a character, and never more than the bound', () => {
    fc.assert(
      fc.property(hostile, fc.integer({ min: 24, max: 300 }), (input, max) => {
        const label = labelValue(input, max);
        expect(label).not.toMatch(HIDDEN);
        expect(label).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
        // No half character turned into U+FFFD (a U+FFFD the input itself carries is a character like any).
        if (!input.includes('\ufffd')) expect(label).not.toContain('\ufffd');
        expect(codePoints(label)).toBeLessThanOrEqual(max);
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps two different values different, however long and however alike', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), hostile, hostile, (common, a, b) => {
        const long = common.repeat(Math.ceil(600 / common.length));
        const [x, y] = [`${long}${a}`, `${long}${b}`].map((v) => v.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu, ''));
        fc.pre(x !== y);
        expect(labelValue(x ?? '', MAX_LABEL_CHARS)).not.toBe(labelValue(y ?? '', MAX_LABEL_CHARS));
      }),
      { numRuns: RUNS },
    );
  });

  it('leaves a short visible value as it is', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: MAX_LABEL_CHARS }), (input) => {
        fc.pre(!HIDDEN.test(input) && codePoints(input) <= MAX_LABEL_CHARS);
        expect(labelValue(input, MAX_LABEL_CHARS)).toBe(input);
      }),
      { numRuns: RUNS },
    );
  });

  it('cuts a long value between characters and ends it with … and a hash of the whole value', () => {
    const emoji = '😀'.repeat(1000);
    const label = labelValue(emoji, MAX_LABEL_CHARS);
    expect(codePoints(label)).toBe(MAX_LABEL_CHARS);
    expect(label).toMatch(/^(😀)+…[0-9a-f]{16}$/u);
    // A letter and its combining accent are not split either.
    const accented = labelValue('e\u0301'.repeat(200), 50);
    expect(accented).toMatch(/^(e\u0301)+…[0-9a-f]{16}$/u);
  });

  it('boundText cuts messages at a character boundary too', () => {
    expect(boundText(`${'😀'.repeat(500)}`, 10)).toBe(`${'😀'.repeat(9)}…`);
    expect(boundText('a\u202eb\nc\td', 100)).toBe('ab c d');
  });
});

describe('the parsers and the status view use it', () => {
  it('a requirement type with bidi overrides, zero-width and C1 characters becomes a clean label', () => {
    const r = parseRequirement({ requirementType: 'mfa\u202eEnforced\u200bFor\u0085Admins\u2066', state: 'act\u200dive', actionUrl: 'https://x.test/\u202e' });
    expect(r.type).toBe('mfaEnforcedForAdmins');
    expect(r.state).toBe('active');
    expect(r.actionUrl).toBe('https://x.test/');
    expect(parseCustomerInsight({ tenantId: '\ufeff\u200b' })).toBeUndefined();
  });

  it('two long requirement types that differ only at the end stay two series', () => {
    const long = 'x'.repeat(MAX_LABEL_CHARS);
    const a = parseRequirement({ requirementType: `${long}a` }).type;
    const b = parseRequirement({ requirementType: `${long}b` }).type;
    expect(a).not.toBe(b);
    expect(codePoints(a)).toBeLessThanOrEqual(MAX_LABEL_CHARS);
  });

  it('the page and /api/status show no hidden character from a message, a label or a tenant ID', () => {
    const snapshot = {
      ...initialSnapshot('t\u202eenant', { team: 'ops\u2067\u0085' }),
      polls: 1,
      consecutiveFailures: 1,
      lastPoll: { startedMs: 0, durationMs: 1, ok: false, reason: 'http_error' as const, message: 'Graph said \u202eevil\u200b\u0085 here' },
    };
    const view = statusView([snapshot], { nowMs: 1000, version: '1', telemetryPath: '/metrics' });
    const json = JSON.stringify(view);
    for (const c of ['\u202e', '\u2067', '\u0085', '\u200b']) {
      expect(json).not.toContain(c);
      expect(json).not.toContain(JSON.stringify(c).slice(1, -1));
    }
    expect(view.tenants[0]?.health.lastPoll?.message).toBe('Graph said evil here');
    expect(statusPage(view).toString()).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u0080-\u009f\u200b]/);
  });
});

describe.concurrent('the exporter with a Graph that sends hidden characters and long values', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  afterAll(async () => {
    await killExporters();
    await closeFakeClouds();
  });

  it('keeps them out of /metrics, the page and /api/status, and long types stay distinct series', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const long = '😀'.repeat(MAX_LABEL_CHARS);
    const types = [`${long}a`, `${long}b`, 'security\u202eContact\u200bProvided\u0085', `x\u2066${'\ud83d'}y`];
    // Polls fail with a message full of hidden characters until the test has looked; then they succeed.
    let failureSeen = false;
    cloud.graphDefault = (request) => {
      if (!failureSeen) return { status: 500, body: graphErrorBody('generalException', 'bad \u202eevil\u2067 \u0085news\u200b', request.requestId, '') };
      const answer = defaultGraphAnswer(new URL(`${request.path}${request.query}`, cloud.url));
      const body = JSON.parse(answer.body) as { value: Record<string, unknown> };
      body.value.requirements = types.map((requirementType, i) => ({
        requirementType,
        complianceStatus: 'compliant',
        state: 'act\u202eive',
        score: i,
        maxScore: 10,
      }));
      return { status: 200, body };
    };
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
    await until(() => exporter.logs().some((l) => l.msg === 'poll failed'), 15_000, 'the failed poll');
    const failedPage = [(await exporter.get('/')).body, (await exporter.get('/api/status')).body];
    expect(failedPage[1]).toContain('bad evil news');
    failureSeen = true;
    await until(async () => (await exporter.value('partner_security_up', { tenant_id: TENANT_ID })) === 1, 40_000, 'a successful poll');

    const metrics = (await exporter.get('/metrics')).body;
    const page = (await exporter.get('/')).body;
    const api = (await exporter.get('/api/status')).body;
    for (const text of [metrics, page, api, ...failedPage]) {
      expect(text).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u0080-\u009f\u200b-\u200f\ufeff\ufffd]/);
      expect(text).not.toMatch(/\\u(202[a-e]|206[6-9]|008[0-9a-f]|200[b-f]|feff)/i);
    }
    const scored = metrics.split('\n').filter((l) => l.startsWith('partner_security_requirement_score{'));
    expect(scored).toHaveLength(types.length);
    expect(metrics).toContain('requirement_type="securityContactProvided"');
    expect(new Set(scored.map((l) => /requirement_type="([^"]*)"/.exec(l)?.[1])).size).toBe(types.length);
  });
});
