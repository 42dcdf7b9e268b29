/**
 * The status page in a real browser: Debian's Chromium driven by playwright-core, against the
 * built exporter on the demo tenant and against the fake Graph with hostile strings. Every request
 * that is not to the exporter is refused and recorded; console errors (a CSP violation is one)
 * are collected. Nothing leaves the machine.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../scripts/chromium.js';
import type { StatusView } from '../../src/expose/status/view.js';
import { type Exporter, killExporters, startExporter, until } from '../helpers/exporter.js';
import { closeFakeClouds, type FakeCloud, startFakeCloud } from '../helpers/fake-cloud.js';

const IMG = '<img src=x onerror=alert(1)>';
const SCRIPT_URL = 'https://partner.microsoft.com/security"><script>alert(2)</script>';
const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
const iso = (ms: number) => new Date(ms).toISOString();

/** Six scored days, one entry without a score (no chart point) and one without a date (dropped by the parser). */
const HISTORY_SCORES = [10, 20, 20, 35.5, 40, 42.5];
const SCORE_ENTITY = {
  '@odata.context': 'https://graph.microsoft.com/beta/$metadata#security/partner/securityScore(requirements(),history())/$entity',
  '@odata.type': '#microsoft.graph.partner.security.partnerSecurityScore',
  id: 'score-1',
  currentScore: 42.5,
  maxScore: 100,
  lastRefreshDateTime: iso(Date.now() - 2 * HOUR_MS),
  updatedDateTime: iso(today - DAY_MS),
  requirements: [
    {
      '@odata.type': '#microsoft.graph.partner.security.adminsMfaEnforcedSecurityRequirement',
      id: 'r-mfa',
      requirementType: 'mfaEnforcedForAdmins',
      complianceStatus: 'compliant',
      actionUrl: SCRIPT_URL,
      helpUrl: 'https://learn.microsoft.com/partner-center/security/partner-security-requirements-mandating-mfa',
      score: 20,
      maxScore: 20,
      state: 'active',
      updatedDateTime: iso(today - DAY_MS),
      totalAdminsCount: 4,
      mfaEnabledAdminsCount: 4,
      adminsRequiredNotUsingMfaCount: 0,
      totalUsersCount: 30,
      mfaEnabledUsersCount: 27,
      usersRequiredNotUsingMfaCount: 3,
      securityDefaultsStatus: 'disabled',
      mfaConditionalAccessPolicyStatus: 'enabled',
      legacyPerUserMfaStatus: 'disabled',
    },
    {
      '@odata.type': '#microsoft.graph.partner.security.securityRequirement',
      id: 'r-hostile',
      requirementType: IMG,
      complianceStatus: 'noncomplaint',
      actionUrl: 'javascript:alert(1)',
      score: 0,
      maxScore: 20,
      state: 'active',
      updatedDateTime: iso(today - DAY_MS),
    },
    {
      '@odata.type': '#microsoft.graph.partner.security.responseTimeSecurityRequirement',
      id: 'r-alerts',
      requirementType: 'securityAlertsPromptlyResolved',
      complianceStatus: 'compliant',
      actionUrl: 'https://partner.microsoft.com/dashboard/securityalerts',
      score: 20,
      maxScore: 20,
      state: 'preview',
      updatedDateTime: iso(today - DAY_MS),
      averageResponseTimeInHours: 6.5,
    },
  ],
  history: [
    ...HISTORY_SCORES.map((score, i) => ({
      id: `h${i}`,
      createdDateTime: iso(today - (HISTORY_SCORES.length - i) * DAY_MS),
      score,
      compliantRequirementsCount: i < 3 ? 1 : 2,
      totalRequirementsCount: 3,
    })),
    { id: 'h-no-score', createdDateTime: iso(today), compliantRequirementsCount: 2, totalRequirementsCount: 3 },
    { id: 'h-no-date', score: 99 },
  ],
};

/**
 * Runs in the page: every visible text whose colour has less than 4.5:1 contrast with the
 * background behind it (WCAG AA for normal text). A string, so no test-runner helper leaks into it.
 */
const CONTRAST_PROBLEMS = `(() => {
  const parse = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c);
    if (!m) return null;
    const [r, g, b, a] = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return [r, g, b, a === undefined ? 1 : a];
  };
  const lum = ([r, g, b]) => [r, g, b].map((v) => v / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4))
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) return c;
    }
    return [255, 255, 255, 1];
  };
  const problems = [];
  let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    const el = n.parentElement;
    if (!text || !el || el.getClientRects().length === 0 || el.closest('title')) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible') continue;
    const fg = parse(el instanceof SVGElement ? style.fill : style.color);
    const bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    checked++;
    if (ratio < 4.5) problems.push(el.tagName + '.' + el.getAttribute('class') + ' "' + text.slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return { checked, problems };
})()`;

/** Expressions evaluated in the page (strings: the test's TypeScript has no DOM types). */
const BODY_BACKGROUND = 'getComputedStyle(document.body).backgroundColor';
const PAGE_WIDTH = 'document.documentElement.scrollWidth';

let browser: Browser | undefined;
let cloud: FakeCloud;
let fake: Exporter;
let demo: Exporter;

beforeAll(async () => {
  [browser, cloud] = await Promise.all([launchChromium(), startFakeCloud()]);
  cloud.graphDefault = { body: SCORE_ENTITY };
  [fake, demo] = await Promise.all([
    startExporter({ cloud, args: ['--poll.interval=1s'] }),
    startExporter({ cloud, args: ['--demo', '--poll.interval=1s'], env: {} }),
  ]);
  await Promise.all([fake, demo].map((e) => until(async () => (await e.get('/readyz')).status === 200, 15_000, `${e.url}/readyz`)));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await killExporters();
  await closeFakeClouds();
});

interface Visit {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Requests the page tried to make anywhere but the exporter (all refused). */
  readonly outside: string[];
  readonly consoleErrors: string[];
  readonly dialogs: string[];
}

async function visit(exporter: Exporter, options: { colorScheme?: 'light' | 'dark'; javaScriptEnabled?: boolean; width?: number } = {}): Promise<Visit> {
  if (!browser) throw new Error('no browser');
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
    javaScriptEnabled: options.javaScriptEnabled ?? true,
  });
  const outside: string[] = [];
  const consoleErrors: string[] = [];
  const dialogs: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${exporter.url}/`)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  const response = await page.goto(`${exporter.url}/`, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
  return { context, page, outside, consoleErrors, dialogs };
}

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();
const attributes = (page: Page, selector: string, name: string) =>
  page.locator(selector).evaluateAll((elements, attribute) => elements.map((e) => e.getAttribute(attribute as string)), name);

async function status(exporter: Exporter): Promise<StatusView> {
  const answer = await exporter.get('/api/status');
  expect(answer.contentType).toBe('application/json; charset=utf-8');
  return JSON.parse(answer.body) as StatusView;
}

/** What must not change while the page is read (the demo moves on every 20 s). */
const stable = (view: StatusView) =>
  JSON.stringify(view.tenants.map((t) => [t.score?.current, t.requirements?.map((r) => r.compliance), t.history?.map((h) => [h.date, h.score])]));

describe('status page in Chromium', () => {
  it('shows the demo tenant as /api/status has it, readable with scripts off, loading nothing from elsewhere', async () => {
    let before: StatusView;
    let after: StatusView;
    let v: Visit;
    // The demo's data moves every 20 s: read again in the rare case the page straddled a step.
    for (let attempt = 0; ; attempt++) {
      before = await status(demo);
      v = await visit(demo, { javaScriptEnabled: false });
      after = await status(demo);
      if (stable(before) === stable(after) || attempt === 2) break;
      await v.context.close();
    }
    const { page } = v;
    const tenant = after.tenants[0];
    expect(stable(before)).toBe(stable(after));
    expect(tenant?.tenantId).toBe('demo');
    const score = tenant?.score?.current ?? Number.NaN;

    expect(await page.locator('h1').textContent()).toBe('Partner security score exporter');
    expect(await page.title()).toBe(`${score} / 100 · Partner security score`);

    // First on the page: whether the authorization is at risk, in words and colour, as /api/status says it.
    const authorization = tenant?.authorization;
    const word = { at_risk: '✗ Authorization at risk:', not_at_risk: '✓ Authorization not at risk:', unknown: '? Authorization risk unknown:' }[
      authorization?.state ?? 'unknown'
    ];
    expect(await page.locator('main > :first-child').getAttribute('class')).toBe('verdicts');
    expect(await attributes(page, '.verdict', 'data-state')).toEqual([authorization?.state]);
    expect(await texts(page, '.verdict .word')).toEqual([word]);
    expect(await texts(page, '.verdict')).toEqual([`${word?.slice(0, 1)} ${authorization?.sentence.replace(/ \(https:[^)]*\)/g, '')}`]);
    expect(await attributes(page, '.verdict a.failing', 'href')).toEqual(authorization?.failing.map((f) => f.actionLink));
    const verdictBox = await page.locator('.verdict').boundingBox();
    const tenantBox = await page.locator('.tenant h2').boundingBox();
    expect(verdictBox?.y ?? Number.NaN).toBeLessThan(tenantBox?.y ?? Number.NaN);
    // The colour says it too: red, green or amber edge.
    const edge = await page.locator('.verdict').evaluate((e) => e.ownerDocument.defaultView?.getComputedStyle(e).borderLeftColor);
    expect(edge).toBe({ at_risk: 'rgb(207, 34, 46)', not_at_risk: 'rgb(26, 127, 55)', unknown: 'rgb(191, 135, 0)' }[authorization?.state ?? 'unknown']);
    expect(await attributes(page, 'svg.gauge', 'data-score')).toEqual([String(score)]);
    expect(await texts(page, '.score-text')).toEqual([`${score} / 100`]);

    const requirements = tenant?.requirements ?? [];
    expect(requirements).toHaveLength(5);
    expect(await attributes(page, 'tr[data-requirement-type]', 'data-requirement-type')).toEqual(requirements.map((r) => r.type));
    expect(await attributes(page, 'tr[data-requirement-type]', 'data-compliance')).toEqual(requirements.map((r) => r.compliance));
    expect(await texts(page, '.requirement-title')).toEqual(requirements.map((r) => r.title));
    expect(await texts(page, '.requirements .chip.warn')).toEqual(['Preview']);
    const nonCompliant = requirements.filter((r) => r.compliance === 'non-compliant').length;
    expect(await page.locator('.requirements .chip.bad').count()).toBe(nonCompliant);
    expect(await texts(page, '.requirements .chip.bad')).toEqual(Array(nonCompliant).fill('✗ Not compliant'));

    const history = tenant?.history ?? [];
    expect(history).toHaveLength(90);
    expect(await page.locator('svg.plot .point').count()).toBe(90);
    expect(await attributes(page, 'svg.plot .point', 'data-date')).toEqual(history.map((h) => h.date));
    expect(await attributes(page, 'svg.plot .point', 'data-score')).toEqual(history.map((h) => String(h.score)));

    expect(await texts(page, '.response-hours')).toEqual([`${Math.round(((tenant?.alertResponse?.averageSeconds ?? 0) / 3600) * 100) / 100} h`]);
    expect(await page.locator('.mfa-card').textContent()).toContain(`of 6`);
    expect(await page.locator('.mfa-card').textContent()).toContain('240 customers read');
    expect(await page.locator('.health tr[data-tenant-id="demo"]').textContent()).toContain('✓ succeeded');
    for (const [href, name] of [
      ['/metrics', 'Metrics'],
      ['/healthz', 'Health'],
      ['/readyz', 'Readiness'],
      ['/api/status', 'Status as JSON'],
    ]) {
      expect(await page.locator(`header nav a[href="${href}"]`).textContent()).toBe(name);
    }

    // The stylesheet applied (its CSP hash matched), no script anywhere, nothing asked of anyone else.
    expect(await page.evaluate(BODY_BACKGROUND)).toBe('rgb(246, 248, 250)');
    expect(await page.locator('script').count()).toBe(0);
    expect(v.outside).toEqual([]);
    expect(v.consoleErrors).toEqual([]);
    await v.context.close();
  });

  it('meets WCAG AA contrast in light and dark mode and fits a phone without sideways scrolling', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      const v = await visit(demo, { colorScheme });
      expect(await v.page.evaluate(BODY_BACKGROUND)).toBe(colorScheme === 'light' ? 'rgb(246, 248, 250)' : 'rgb(13, 17, 23)');
      const contrast = (await v.page.evaluate(CONTRAST_PROBLEMS)) as { checked: number; problems: string[] };
      expect(contrast.checked).toBeGreaterThan(100);
      expect(contrast.problems).toEqual([]);
      expect(v.consoleErrors).toEqual([]);
      await v.context.close();
    }
    const phone = await visit(demo, { width: 360 });
    expect(await phone.page.evaluate(PAGE_WIDTH)).toBeLessThanOrEqual(360);
    expect(await phone.page.locator('svg.plot .point').count()).toBe(90);
    expect(phone.consoleErrors).toEqual([]);
    await phone.context.close();
  });

  it('shows what the fake Graph said and renders its hostile strings as text, never as markup or links', async () => {
    // Wait until the exporter has read the fake's score at least once (it is ready after the first poll).
    await until(async () => (await status(fake)).tenants[0]?.score?.current === 42.5, 10_000, 'the fake score');
    const v = await visit(fake);
    const { page } = v;

    expect(await attributes(page, 'svg.gauge', 'data-score')).toEqual(['42.5']);
    expect(await texts(page, '.score-text')).toEqual(['42.5 / 100']);
    expect(await page.locator('.score-card').textContent()).toContain('2 of 3 requirements compliant, 1 to fix');
    // The fake sends no security contact requirement, and its alert-response one is in preview: unknown, never "not at risk".
    expect(await attributes(page, '.verdict', 'data-state')).toEqual(['unknown']);
    expect(await page.locator('.verdict .why').textContent()).toContain("Graph's answer lacks the mandatory requirement Security contact provided");
    // Non-compliant first; the hostile type is shown as sent, as text.
    expect(await texts(page, '.requirement-title')).toEqual([IMG, 'MFA for partner admins', 'Security alerts resolved within 24 hours']);
    expect(await attributes(page, 'tr[data-requirement-type]', 'data-requirement-type')).toEqual([
      IMG,
      'mfaEnforcedForAdmins',
      'securityAlertsPromptlyResolved',
    ]);
    expect(await page.locator('img, script, iframe, object, embed').count()).toBe(0);

    // javascript: is not a link; the URL with markup in it is a link, with the markup percent-encoded.
    expect(await page.locator('a[href^="javascript:" i]').count()).toBe(0);
    expect(await texts(page, '.unlinked-url')).toEqual(['javascript:alert(1)']);
    const hrefs = (await attributes(page, 'a', 'href')) as string[];
    for (const href of hrefs) expect(href).toMatch(/^(\/|https:\/\/)/);
    expect(hrefs).toContain('https://partner.microsoft.com/security%22%3E%3Cscript%3Ealert(2)%3C/script%3E');
    expect(hrefs.filter((h) => /["<>]/.test(h))).toEqual([]);

    // One chart point per scored history entry, oldest first; the unscored entry is only in the table.
    expect(await page.locator('svg.plot').getAttribute('data-points')).toBe('6');
    expect(await attributes(page, 'svg.plot .point', 'data-score')).toEqual(HISTORY_SCORES.map(String));
    expect(await attributes(page, 'svg.plot .point', 'data-date')).toEqual(HISTORY_SCORES.map((_, i) => iso(today - (6 - i) * DAY_MS).slice(0, 10)));
    expect(await page.locator('.history-card details tbody tr').count()).toBe(7);

    expect(await page.locator('.response-card').textContent()).toContain('✓ Within 24 h');
    expect(await texts(page, '.response-hours')).toEqual(['6.5 h']);
    expect(await page.locator('.mfa-card dd').first().textContent()).toBe('4 of 4');

    // Scripts were on: had any markup been injected, an alert would have shown.
    expect(v.dialogs).toEqual([]);
    expect(v.outside).toEqual([]);
    expect(v.consoleErrors).toEqual([]);
    expect(cloud.unexpected).toEqual([]);
    await v.context.close();
  });
});
