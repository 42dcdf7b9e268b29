import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/expose/metrics.js';
import { escapeHtml } from '../../../src/expose/status/html.js';
import { humanDuration, refreshParameter, statusPage, statusPageCsp } from '../../../src/expose/status/page.js';
import { statusView, webLink } from '../../../src/expose/status/view.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';
import { initialSnapshot, type Requirement, type TenantSnapshot } from '../../../src/snapshot.js';
import { createApp } from '../../../src/web/app.js';
import { boundAddress, close, startWebServer } from '../../../src/web/server.js';

const NOW = Date.parse('2025-11-29T12:00:00Z');
const DAY = 86_400;
const HOSTILE = '<script>alert("x")</script>';
const IMG = '<img src=x onerror=alert(1)>';

const requirement = (over: Partial<Requirement> & { type: string }): Requirement => ({ state: 'active', score: 0, maxScore: 20, ...over });

/** A polled tenant with every part of the page filled in. */
function polled(over: Partial<TenantSnapshot> = {}): TenantSnapshot {
  return {
    ...initialSnapshot('tenant-a', { partner: 'contoso' }),
    score: { currentScore: 42.5, maxScore: 100, lastRefreshTimestamp: NOW / 1000 - 3600, updatedTimestamp: NOW / 1000 - 2 * DAY },
    relations: {
      requirements: [
        requirement({ type: 'securityContactProvided', compliant: true, score: 20, actionUrl: 'https://partner.microsoft.com/contact' }),
        requirement({
          type: 'mfaEnforcedForAdmins',
          compliant: false,
          actionUrl: 'https://partner.microsoft.com/mfa',
          helpUrl: 'https://learn.microsoft.com/mfa',
          details: {
            kind: 'adminsMfa',
            totalAdmins: 6,
            mfaEnabledAdmins: 5,
            adminsRequiredNotUsingMfa: 1,
            totalUsers: 48,
            mfaEnabledUsers: 40,
            usersRequiredNotUsingMfa: 8,
            policies: { securityDefaults: false, mfaConditionalAccessPolicy: true },
          },
        }),
        requirement({
          type: 'securityAlertsPromptlyResolved',
          compliant: true,
          score: 20,
          details: { kind: 'responseTime', averageResponseTimeSeconds: 12.5 * 3600 },
        }),
        requirement({ type: 'spendingBudgetSetForCustomerAzureSubscriptions', state: 'preview', compliant: false }),
        requirement({ type: 'mfaEnforcedForAdminsOfCustomers', details: { kind: 'customersMfa', compliantTenants: 26, totalTenants: 40 } }),
      ],
      history: [0, 1, 2, 3].map((i) => ({
        createdTimestamp: NOW / 1000 - (3 - i) * DAY,
        score: 20 + i * 10,
        compliantRequirements: 1 + i,
        totalRequirements: 5,
      })),
      customerInsights: {
        customers: [],
        seen: 240,
        pages: 3,
        truncated: false,
        policyEnabled: { securityDefaults: 80, mfaConditionalAccessPolicy: 90, legacyPerUserMfa: 35 },
      },
    },
    relationStatus: { requirements: 'ok', history: 'ok', customerInsights: 'ok' },
    lastSuccessMs: NOW - 5000,
    lastPoll: { startedMs: NOW - 5000, durationMs: 120, ok: true },
    nextPollMs: NOW + 55_000,
    polls: 3,
    ...over,
  };
}

const OPTIONS = { nowMs: NOW, version: '9.9.9', telemetryPath: '/metrics' };

describe('statusView', () => {
  it.each([
    ['securityContactProvided', 'Security contact provided'],
    ['mfaEnforcedForAdmins', 'MFA for partner admins'],
    ['mfaEnforcedForAdminsOfCustomers', 'MFA for customer admins'],
    ['securityAlertsPromptlyResolved', 'Security alerts resolved within 24 hours'],
    ['spendingBudgetSetForCustomerAzureSubscriptions', 'Spending budgets on customer Azure subscriptions'],
    ['somethingNewFromGraph', 'somethingNewFromGraph'],
    [IMG, IMG],
  ])('puts requirement type %s in words as "%s"', (type, title) => {
    const view = statusView([polled({ relations: { requirements: [requirement({ type })] } })], OPTIONS);
    expect(view.tenants[0]?.requirements?.[0]).toMatchObject({ type, title });
  });

  it.each([
    ['active', 'recommended'],
    ['preview', 'preview'],
    ['retired', 'retired'],
    [undefined, null],
  ])('calls state %s "%s"', (state, shown) => {
    const view = statusView([polled({ relations: { requirements: [{ type: 't', ...(state === undefined ? {} : { state }) }] } })], OPTIONS);
    expect(view.tenants[0]?.requirements?.[0]?.state).toBe(shown);
  });

  it('calls an active requirement CSP authorization depends on "mandatory"', () => {
    for (const type of ['mfaEnforcedForAdmins', 'securityContactProvided', 'securityAlertsPromptlyResolved']) {
      const view = statusView([polled({ relations: { requirements: [{ type, state: 'active' }] } })], OPTIONS);
      expect(view.tenants[0]?.requirements?.[0]?.state).toBe('mandatory');
    }
  });

  it('lists what to fix first: non-compliant, then unknown, then compliant; mandatory, recommended, then preview', () => {
    const tenant = statusView([polled()], OPTIONS).tenants[0];
    expect(tenant?.requirements?.map((r) => [r.type, r.compliance, r.state])).toEqual([
      ['mfaEnforcedForAdmins', 'non-compliant', 'mandatory'],
      ['spendingBudgetSetForCustomerAzureSubscriptions', 'non-compliant', 'preview'],
      ['mfaEnforcedForAdminsOfCustomers', 'unknown', 'recommended'],
      ['securityContactProvided', 'compliant', 'mandatory'],
      ['securityAlertsPromptlyResolved', 'compliant', 'mandatory'],
    ]);
    expect(tenant?.requirementsSummary).toEqual({ compliant: 2, nonCompliant: 2, unknown: 1 });
  });

  it.each([
    ['https://partner.microsoft.com/dashboard#x', 'https://partner.microsoft.com/dashboard#x'],
    ['http://example.com/a', 'http://example.com/a'],
    ['javascript:alert(1)', null],
    [' JavaScript:alert(1)', null],
    ['data:text/html,<script>alert(1)</script>', null],
    ['/relative/path', null],
    ['ftp://example.com/file', null],
    ['not a url', null],
    ['https://example.com/"><script>alert(1)</script>', 'https://example.com/%22%3E%3Cscript%3Ealert(1)%3C/script%3E'],
  ])('links %s only when it is an http(s) URL', (url, link) => {
    expect(webLink(url)).toBe(link);
  });

  it('has the score, its refresh time, the history, MFA counts and the alert response time against 24 hours', () => {
    const tenant = statusView([polled()], OPTIONS).tenants[0];
    expect(tenant?.score).toEqual({
      current: 42.5,
      max: 100,
      percent: 42.5,
      lastRefresh: { at: '2025-11-29T11:00:00.000Z', ageSeconds: 3600 },
      updated: { at: '2025-11-27T12:00:00.000Z', ageSeconds: 2 * DAY },
    });
    expect(tenant?.history?.map((h) => [h.date, h.score])).toEqual([
      ['2025-11-26', 20],
      ['2025-11-27', 30],
      ['2025-11-28', 40],
      ['2025-11-29', 50],
    ]);
    expect(tenant?.mfa).toEqual({
      partnerAdmins: { count: 5, total: 6, requiredNotUsingMfa: 1 },
      partnerUsers: { count: 40, total: 48, requiredNotUsingMfa: 8 },
      policies: { securityDefaults: false, mfaConditionalAccessPolicy: true, legacyPerUserMfa: null },
      customerTenants: { count: 26, total: 40 },
      customerInsights: {
        customers: 240,
        pages: 3,
        truncated: false,
        policyEnabled: { securityDefaults: 80, mfaConditionalAccessPolicy: 90, legacyPerUserMfa: 35 },
      },
    });
    expect(tenant?.alertResponse).toEqual({ averageSeconds: 45_000, requirementSeconds: 86_400, withinRequirement: true });
    const slow = polled({ relations: { requirements: [requirement({ type: 'x', details: { kind: 'responseTime', averageResponseTimeSeconds: 86_401 } })] } });
    expect(statusView([slow], OPTIONS).tenants[0]?.alertResponse?.withinRequirement).toBe(false);
  });

  it('has the exporter health: last poll, result, next poll, failures by reason, relations', () => {
    const failures = { ...initialSnapshot('x').failures, throttled: 2, timeout: 1 };
    const view = statusView(
      [
        polled({
          lastPoll: { startedMs: NOW - 10_000, durationMs: 30_000, ok: false, reason: 'throttled', message: 'Graph answered 429' },
          failures,
          consecutiveFailures: 2,
          relationStatus: { requirements: 'ok', history: 'unavailable' },
        }),
      ],
      OPTIONS,
    );
    expect(view.tenants[0]?.health).toEqual({
      lastPoll: {
        started: { at: '2025-11-29T11:59:50.000Z', ageSeconds: 10 },
        durationMs: 30_000,
        result: 'failed',
        reason: 'throttled',
        message: 'Graph answered 429',
      },
      lastSuccess: { at: '2025-11-29T11:59:55.000Z', ageSeconds: 5 },
      nextPoll: { at: '2025-11-29T12:00:55.000Z', ageSeconds: -55 },
      polls: 3,
      consecutiveFailures: 2,
      failures,
      relations: { requirements: 'ok', history: 'unavailable', customerInsights: null, securityAlerts: null },
    });
  });

  it('says whether the authorization is at risk, why, where to act and when Microsoft validates next', () => {
    const a = statusView([polled({ partner: { type: 'direct', validationMonth: 3 } })], OPTIONS).tenants[0]?.authorization;
    expect(a).toMatchObject({
      state: 'at_risk',
      partnerType: 'direct',
      failing: [
        {
          type: 'mfaEnforcedForAdmins',
          title: 'MFA for partner admins',
          actionUrl: 'https://partner.microsoft.com/mfa',
          actionLink: 'https://partner.microsoft.com/mfa',
        },
      ],
      unknown: [],
      validationMonth: 3,
      nextValidation: { at: '2026-03-01T00:00:00.000Z', ageSeconds: -(Date.parse('2026-03-01T00:00:00Z') - NOW) / 1000 },
    });
    expect(a?.sentence).toBe(
      'Authorization at risk: 1 mandatory requirement is not met: MFA for partner admins (https://partner.microsoft.com/mfa). Next validation: March 2026, in 92 days.',
    );
  });

  it.each([
    [
      'every mandatory requirement met',
      { requirements: ['compliant', 'compliant', 'compliant'] },
      'not_at_risk',
      'Authorization not at risk: all 3 requirements mandatory for a direct partner are met.',
    ],
    [
      'one missing from Graph',
      { requirements: ['compliant', 'compliant'] },
      'unknown',
      "Authorization risk unknown: Graph's answer lacks the mandatory requirement Security alerts resolved within 24 hours.",
    ],
    [
      'one without a status',
      { requirements: ['compliant', 'compliant', undefined] },
      'unknown',
      'Authorization risk unknown: Graph does not say whether Security alerts resolved within 24 hours is compliant.',
    ],
    ['requirements turned off', { off: true }, 'unknown', 'Authorization risk unknown: reading the requirements is turned off (--no-collector.requirements).'],
    [
      'requirements stale',
      { requirements: ['compliant', 'compliant', 'compliant'], readHoursAgo: 4 },
      'unknown',
      'Authorization risk unknown: the requirements were last read 4 h ago, longer ago than --poll.max-staleness.',
    ],
  ] as const)('never says "not at risk" without the data for it: %s', (_name, setup, state, start) => {
    const types = ['mfaEnforcedForAdmins', 'securityContactProvided', 'securityAlertsPromptlyResolved'];
    const given = 'requirements' in setup ? setup.requirements : [];
    const requirements = given.map((c, i) => requirement({ type: types[i] ?? '', ...(c === undefined ? {} : { compliant: c === 'compliant' }) }));
    const snapshot = polled({
      relations: 'off' in setup ? {} : { requirements },
      relationStatus: { requirements: 'off' in setup ? 'disabled' : 'ok' },
      ...('readHoursAgo' in setup ? { relationsReadMs: { requirements: NOW - setup.readHoursAgo * 3600_000 } } : {}),
    });
    const a = statusView([snapshot], { ...OPTIONS, maxStalenessMs: 3 * 3600_000 }).tenants[0]?.authorization;
    expect(a?.state).toBe(state);
    expect(a?.sentence).toBe(`${start} The validation month is not configured (validation_month, --partner.validation-month).`);
  });

  it('calls a mandatory requirement Graph sent twice "mandatory" under its told-apart name, and exempts an indirect reseller from alert response', () => {
    const twice = statusView(
      [polled({ relations: { requirements: [requirement({ type: 'mfaEnforcedForAdmins:second', sentType: 'mfaEnforcedForAdmins', compliant: false })] } })],
      OPTIONS,
    ).tenants[0];
    expect(twice?.requirements?.[0]).toMatchObject({ type: 'mfaEnforcedForAdmins:second', title: 'MFA for partner admins', state: 'mandatory' });
    expect(twice?.authorization.failing.map((f) => f.type)).toEqual(['mfaEnforcedForAdmins:second']);
    const reseller = statusView([polled({ partner: { type: 'indirect_reseller' } })], OPTIONS).tenants[0];
    expect(reseller?.requirements?.find((r) => r.type === 'securityAlertsPromptlyResolved')?.state).toBe('recommended');
    expect(reseller?.authorization.mandatory).toEqual(['mfaEnforcedForAdmins', 'securityContactProvided']);
  });

  it('is plain JSON with null for what is not known, before the first poll too', () => {
    const view = statusView([polled(), initialSnapshot('new')], OPTIONS);
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
    expect(view.exporter).toEqual({ name: 'partner-security-score-exporter', version: '9.9.9', telemetryPath: '/metrics' });
    expect(view.generatedAt).toBe('2025-11-29T12:00:00.000Z');
    expect(view.tenants[1]).toMatchObject({ tenantId: 'new', score: null, requirements: null, history: null, mfa: null, alertResponse: null });
    expect(view.tenants[1]?.health).toMatchObject({ lastPoll: null, lastSuccess: null, nextPoll: null, polls: 0 });
  });
});

describe('statusPage', () => {
  const page = (snapshots: readonly TenantSnapshot[], options = {}) => statusPage(statusView(snapshots, OPTIONS), options);

  it('shows the score, one chart point per scored history entry, the requirements and the links', () => {
    const html = page([polled()]);
    expect(html).toContain('<h1>Partner security score exporter</h1>');
    expect(html).toContain('version 9.9.9');
    for (const [href, text] of [
      ['/metrics', 'Metrics'],
      ['/healthz', 'Health'],
      ['/readyz', 'Readiness'],
      ['/api/status', 'Status as JSON'],
    ]) {
      expect(html).toContain(`<a href="${href}">${text}</a>`);
    }
    expect(html).toMatch(/<svg class="gauge"[^>]* data-score="42.5" data-max="100">/);
    expect(html).toContain('<strong class="score-text">42.5 / 100</strong>');
    expect(html).toContain(
      'Graph refreshed the data <time datetime="2025-11-29T11:00:00.000Z">2025-11-29 11:00 UTC</time> <span class="muted">(1h ago)</span>',
    );
    expect([...html.matchAll(/<path class="point" d="[^"]+" data-date="([\d-]+)" data-score="([\d.]+)">/g)].map((m) => [m[1], m[2]])).toEqual([
      ['2025-11-26', '20'],
      ['2025-11-27', '30'],
      ['2025-11-28', '40'],
      ['2025-11-29', '50'],
    ]);
    expect([...html.matchAll(/<tr data-requirement-type="([^"]+)" data-compliance="([^"]+)">/g)].map((m) => m[1])).toHaveLength(5);
    expect(html).toContain('<span class="chip bad">✗ Not compliant</span>');
    expect(html).toContain('<span class="chip ok">✓ Compliant</span>');
    expect(html).toContain('<span class="chip warn">Preview</span>');
    expect(html).toContain('<a class="nowrap" href="https://partner.microsoft.com/mfa" rel="noopener noreferrer" target="_blank">Take action</a>');
    expect(html).toContain('<strong class="response-hours">12.5 h</strong> average over 30 days, against the 24-hour requirement.');
    expect(html).toContain('<dt>Partner admins with MFA');
    expect(html).toContain('<dd>5 of 6</dd>');
  });

  it('opens with the authorization sentence of each tenant, in colour and words, before anything else', () => {
    const met = ['mfaEnforcedForAdmins', 'securityContactProvided', 'securityAlertsPromptlyResolved'].map((type) => requirement({ type, compliant: true }));
    const snapshots = [
      polled({ partner: { type: 'direct', validationMonth: 11 } }),
      polled({ tenantId: 'tenant-b', relations: { requirements: met } }),
      initialSnapshot('tenant-c'),
    ];
    const view = statusView(snapshots, OPTIONS);
    const html = statusPage(view);
    const main = html.split('<main>')[1] ?? '';
    expect(main.trimStart().startsWith('<section class="verdicts" aria-label="CSP authorization">')).toBe(true);
    const verdicts = [
      ...main.matchAll(
        /<p class="verdict ([a-z-]+)" data-state="([a-z_]+)" data-tenant-id="([^"]+)">(?:<a [^>]+><code>[^<]+<\/code><\/a>)?<strong class="word">([^<]+)<\/strong>/g,
      ),
    ].map((m) => m.slice(1));
    expect(verdicts).toEqual([
      ['at-risk', 'at_risk', 'tenant-a', '✗ Authorization at risk:'],
      ['not-at-risk', 'not_at_risk', 'tenant-b', '✓ Authorization not at risk:'],
      ['unknown', 'unknown', 'tenant-c', '? Authorization risk unknown:'],
    ]);
    // In words, the same sentence as /api/status (whose action URLs are links here), after the mark and the tenant.
    const text = (tenant: string) =>
      (new RegExp(`data-tenant-id="${tenant}">(.*?)</span></p>`).exec(main)?.[1] ?? '')
        .replace(/<a class="whose"[^>]*>.*?<\/a>/, '')
        .replace(/<[^>]+>/g, '')
        .trim();
    const marks = { at_risk: '✗', not_at_risk: '✓', unknown: '?' };
    view.tenants.forEach((t) => {
      expect(text(t.tenantId)).toBe(`${marks[t.authorization.state]} ${t.authorization.sentence.replace(/ \(https:[^)]*\)/g, '')}`);
    });
    expect(text('tenant-a')).toContain('Microsoft validates the requirements this month (November 2025).');
    expect(text('tenant-c')).toContain('no poll of Microsoft Graph has succeeded yet');
    expect(main).toContain('<a class="failing" href="https://partner.microsoft.com/mfa" rel="noopener noreferrer" target="_blank">MFA for partner admins</a>');
    // With several tenants, each sentence names its tenant and links to its section.
    expect(main).toContain('<a class="whose" href="#tenant-2"><code>tenant-b</code></a>');
  });

  it('leaves out the chart points of history entries without a score', () => {
    const history = [
      { createdTimestamp: NOW / 1000 - DAY, score: 10 },
      { createdTimestamp: NOW / 1000 - DAY / 2 },
      { createdTimestamp: NOW / 1000, score: 30 },
    ];
    const html = page([polled({ relations: { history } })]);
    expect(html.match(/<path class="point"/g)).toHaveLength(2);
    expect(html).toContain('data-points="2"');
  });

  it('writes five dates under the chart, only the first and last under eight days', () => {
    const axis = (html: string) => [...html.matchAll(/<span class="tick-(\d)">([^<]+)<\/span>/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(axis(page([polled()]))).toEqual(['0:26 Nov', '4:29 Nov']);
    const long = [0, 30, 60, 90].map((d) => ({ createdTimestamp: NOW / 1000 - (90 - d) * DAY, score: d }));
    expect(axis(page([polled({ relations: { history: long } })]))).toEqual(['0:31 Aug', '1:23 Sep', '2:15 Oct', '3:7 Nov', '4:29 Nov']);
  });

  it('escapes every string that comes from Graph, the tenants file or the flags', () => {
    const hostileUrl = `https://example.com/"><script>alert(1)</script>`;
    const view = statusView(
      [
        polled({
          tenantId: HOSTILE,
          labels: { [HOSTILE]: IMG },
          relations: {
            requirements: [
              requirement({ type: IMG, actionUrl: 'javascript:alert(1)', helpUrl: hostileUrl, state: `"><b>x</b>` }),
              // Failing mandatory requirements: the verdict at the top links to the first and shows the second as text.
              requirement({ type: 'mfaEnforcedForAdmins', actionUrl: hostileUrl, compliant: false }),
              requirement({ type: 'securityContactProvided', actionUrl: 'javascript:alert(2)', compliant: false }),
            ],
          },
          lastPoll: { startedMs: NOW, durationMs: 1, ok: false, reason: 'http_error', message: `Graph said ${HOSTILE}` },
        }),
      ],
      { ...OPTIONS, version: HOSTILE, telemetryPath: `/m"><script>` },
    );
    const html = statusPage(view);
    expect(html).not.toMatch(/<script|<img|<b>/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('<span class="requirement-title">&lt;img src=x onerror=alert(1)&gt;</span>');
    // A javascript: action URL is shown as text, never as a link.
    expect(html).not.toMatch(/href="\s*javascript:/i);
    expect(html).toContain('<code class="unlinked-url">javascript:alert(1)</code>');
    expect(html).toContain('href="https://example.com/%22%3E%3Cscript%3Ealert(1)%3C/script%3E"');
    expect(html).toContain(
      '<a class="failing" href="https://example.com/%22%3E%3Cscript%3Ealert(1)%3C/script%3E" rel="noopener noreferrer" target="_blank">MFA for partner admins</a>, <span class="failing">Security contact provided</span>',
    );
    // Every link is a path on the exporter, an http(s) URL, or the inline icon.
    for (const [, href] of html.matchAll(/href="([^"]*)"/g)) expect(href).toMatch(/^(\/|https?:\/\/|data:image\/svg\+xml,)/);
  });

  it('needs nothing but its own stylesheet, allowed by hash: no script, no style attribute, nothing to load', () => {
    const html = page([polled()]);
    const style = /<style>([\s\S]*)<\/style>/.exec(html)?.[1] ?? '';
    expect(style.length).toBeGreaterThan(1000);
    const hash = createHash('sha256').update(style).digest('base64');
    expect(statusPageCsp()).toBe(`default-src 'none'; style-src 'sha256-${hash}'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
    expect(html.match(/<style>/g)).toHaveLength(1);
    expect(html).not.toMatch(/<script|\sstyle=|\son[a-z]+=|\ssrc=|@import|url\(/i);
    expect(html).toContain('<link rel="icon" href="data:image/svg+xml,');
  });

  it('reloads itself only when asked to, with a bounded interval', () => {
    expect(page([polled()])).not.toContain('http-equiv="refresh"');
    expect(page([polled()], { refreshSeconds: 30 })).toContain('<meta http-equiv="refresh" content="30">');
    expect([undefined, '', '30', '5', '4', '86400', '86401', '1e3', '-5', '30s', ['30', '40']].map(refreshParameter)).toEqual([
      undefined,
      undefined,
      30,
      5,
      undefined,
      86_400,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('says what is missing instead of showing empty charts', () => {
    const waiting = page([initialSnapshot('t1')]);
    expect(waiting).toContain('Waiting for the first poll of Microsoft Graph.');
    const unavailable = page([polled({ relations: {}, relationStatus: { requirements: 'disabled', history: 'unavailable' } })]);
    expect(unavailable).toContain('Reading the requirements is turned off.');
    expect(unavailable).toContain('Graph does not offer the history for this tenant.');
    expect(unavailable).not.toContain('class="point"');
    const failed = page([polled({ lastPoll: { startedMs: NOW - 1000, durationMs: 1, ok: false, reason: 'forbidden', message: 'no consent' } })]);
    expect(failed).toContain('<strong>The last poll failed</strong> (forbidden): no consent.');
    expect(failed).toContain('The figures below are from the last successful poll, 5s ago.');
  });

  it.each([
    [0, '0s'],
    [0.4, '0s'],
    [45, '45s'],
    [60, '1m'],
    [312, '5m 12s'],
    [3600, '1h'],
    [3661, '1h 1m'],
    [86_400 + 5, '1d'],
    [2 * 86_400 + 3 * 3600 + 59, '2d 3h'],
  ])('writes %s seconds as %s', (seconds, text) => {
    expect(humanDuration(seconds)).toBe(text);
  });

  it('keeps escapeHtml where the server exported it', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('/ and /api/status', () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await close(server, 100);
    server = undefined;
  });

  async function start(snapshots: readonly TenantSnapshot[]): Promise<string> {
    const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
    const metrics = createMetrics({ snapshots: () => snapshots, build: { version: '9.9.9', nodeVersion: 'v24' }, maxStalenessMs: 0, processMetrics: false });
    const app = createApp({ telemetryPath: '/metrics', metrics, snapshots: () => snapshots, version: '9.9.9', logger, now: () => NOW });
    server = (await startWebServer({ app, address: { host: '127.0.0.1', port: 0 }, healthzWithoutAuth: false, logger })).server;
    return `http://${boundAddress(server)}`;
  }

  it('serves the page with a strict Content-Security-Policy', async () => {
    const base = await start([polled()]);
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(statusPageCsp());
    expect(res.headers.get('content-security-policy')).not.toContain('unsafe');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(statusPage(statusView([polled()], OPTIONS)));
    expect(await (await fetch(`${base}/?refresh=60`)).text()).toContain('<meta http-equiv="refresh" content="60">');
    expect(await (await fetch(`${base}/?refresh=1`)).text()).not.toContain('http-equiv="refresh"');
  });

  it('serves the same view as JSON on /api/status', async () => {
    const base = await start([polled(), initialSnapshot('new')]);
    const res = await fetch(`${base}/api/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual(statusView([polled(), initialSnapshot('new')], OPTIONS));
  });

  it('answers other methods on /api/status with 405, HEAD with headers only', async () => {
    const base = await start([polled()]);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${base}/api/status`, { method });
      expect([res.status, res.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    }
    const head = await fetch(`${base}/api/status`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    expect((await fetch(`${base}/api/status/extra`)).status).toBe(404);
  });
});
