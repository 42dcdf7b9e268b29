/**
 * The status page: a StatusView rendered on the server as one HTML document with inline SVG
 * charts. No script, no external asset or font; the only style is the <style> element, allowed
 * by its hash in statusPageCsp(). Every value is escaped by html``.
 */
import { createHash } from 'node:crypto';
import { html, Markup } from './html.js';
import { band, bar, gauge, historyChart, longDate, responseTimeChart } from './svg.js';
import {
  AUTHORIZATION_LEADS,
  type Count,
  formatNumber,
  type Moment,
  monthOf,
  PARTNER_TYPE_NAMES,
  type RequirementView,
  type StatusView,
  type TenantView,
} from './view.js';

export interface StatusPageOptions {
  /** Reload the page every this many seconds (a meta refresh, for wall screens); off when undefined. */
  refreshSeconds?: number | undefined;
}

// Colours meet WCAG AA (4.5:1 for text) on both the page background and the cards, in both themes;
// compliance is always written out as well as coloured.
const STYLE = `
:root{color-scheme:light dark;--bg:#f6f8fa;--surface:#fff;--text:#1f2328;--muted:#59636e;--border:#d1d9e0;--link:#0969da;--accent:#0969da;
--ok:#116329;--bad:#a40e26;--warn:#7d4e00;--ok-bg:#dafbe1;--bad-bg:#ffebe9;--warn-bg:#fff8c5;--neutral-bg:#eff2f5;--track:#e1e6eb;
--graphic-ok:#1a7f37;--graphic-warn:#bf8700;--graphic-bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--surface:#151b23;--text:#f0f6fc;--muted:#9198a1;--border:#3d444d;--link:#4493f8;--accent:#4493f8;
--ok:#3fb950;--bad:#ff7b72;--warn:#d29922;--ok-bg:#12261e;--bad-bg:#2d1519;--warn-bg:#272115;--neutral-bg:#212830;--track:#2a313c;
--graphic-ok:#3fb950;--graphic-warn:#d29922;--graphic-bad:#f85149}}
*{box-sizing:border-box}
html{font-size:100%;-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);
font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",Arial,sans-serif;font-variant-numeric:tabular-nums}
a{color:var(--link)}a:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.875em;overflow-wrap:anywhere}
h1,h2,h3{line-height:1.25;margin:0}h1{font-size:1.5rem}h2{font-size:1.25rem}h3{font-size:1rem;margin-bottom:.75rem}
.top{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:baseline;justify-content:space-between;padding:1rem clamp(1rem,3vw,2rem);
border-bottom:1px solid var(--border);background:var(--surface)}
.top p{margin:.25rem 0 0}
nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
main{max-width:90rem;margin:0 auto;padding:1rem clamp(1rem,3vw,2rem) 2rem}
.muted{color:var(--muted)}.small{font-size:.875rem}
.tenant{margin:1rem 0 2rem}.tenant>header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;margin-bottom:.75rem}
.tenant>header p{margin:0}
.label{display:inline-block;padding:0 .5rem;border:1px solid var(--border);border-radius:1rem;font-size:.875rem;color:var(--muted)}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,20rem),1fr));margin-bottom:1rem}
.card{background:var(--surface);border:1px solid var(--border);border-radius:.5rem;padding:1rem;min-width:0}
.requirements-card{margin-bottom:1rem}.wide{grid-column:span 2}@media (max-width:44rem){.wide{grid-column:auto}}
.verdicts{margin:0 0 1rem}.verdict{display:flex;flex-wrap:wrap;gap:.25rem .75rem;align-items:baseline;margin:0 0 .5rem;padding:.75rem 1rem;
border-radius:.5rem;border:1px solid var(--border);border-left-width:6px;font-size:1.125rem}
.verdict.at-risk{border-left-color:var(--graphic-bad);background:var(--bad-bg)}.verdict.not-at-risk{border-left-color:var(--graphic-ok);background:var(--ok-bg)}
.verdict.unknown{border-left-color:var(--graphic-warn);background:var(--warn-bg)}
.verdict .word{font-weight:700;white-space:nowrap}.verdict.at-risk .word{color:var(--bad)}.verdict.not-at-risk .word{color:var(--ok)}.verdict.unknown .word{color:var(--warn)}
.verdict .why{flex:1 1 30rem}.verdict .whose{flex:0 0 100%;font-size:.875rem}
.notice{border-left:4px solid var(--graphic-bad);background:var(--bad-bg);padding:.75rem 1rem;border-radius:.25rem;margin-bottom:1rem}
.notice p{margin:0}
.gauge{display:block;width:100%;max-width:16rem;margin:0 auto}
.gauge-track{fill:none;stroke:var(--track);stroke-width:16;stroke-linecap:round}
.gauge-value{fill:none;stroke-width:16;stroke-linecap:round}
.gauge-score{fill:var(--text);font-size:40px;font-weight:700}.gauge-max{fill:var(--muted);font-size:14px}
.gauge-value.band-ok{stroke:var(--graphic-ok)}.gauge-value.band-warn{stroke:var(--graphic-warn)}.gauge-value.band-bad{stroke:var(--graphic-bad)}
.bar-fill.band-ok{fill:var(--graphic-ok)}.bar-fill.band-warn{fill:var(--graphic-warn)}.bar-fill.band-bad{fill:var(--graphic-bad)}
.bar-fill.band-neutral{fill:var(--accent)}.bar-track{fill:var(--track)}
.facts{margin:.75rem 0 0;padding:0;list-style:none}.facts li{margin:.25rem 0}
.chart{display:grid;grid-template-columns:auto minmax(0,1fr);grid-template-rows:13rem auto;column-gap:.5rem;margin:1rem 0 .25rem;
font-size:.8125rem;color:var(--muted)}
.y-axis{display:flex;flex-direction:column;justify-content:space-between;margin:-.5em 0;line-height:1;text-align:right}
.plot{display:block;width:100%;height:100%;overflow:visible}
.x-axis{grid-column:2;display:grid;grid-template-columns:repeat(8,minmax(0,1fr));padding-top:.375rem;white-space:nowrap}
/* Each date centred under its quarter of the time range; the first and last flush with the ends. */
.x-axis span{text-align:center}.x-axis .tick-0{grid-column:1;text-align:left}.x-axis .tick-1{grid-column:2/4}.x-axis .tick-2{grid-column:4/6}
.x-axis .tick-3{grid-column:6/8}.x-axis .tick-4{grid-column:8;text-align:right}.x-axis .tick-only{grid-column:1/-1}
.scroll{overflow-x:auto}
.gridline{stroke:var(--border);stroke-width:1;vector-effect:non-scaling-stroke}
.axis{fill:var(--muted);font-size:12px}
.line{fill:none;stroke:var(--accent);stroke-width:2;stroke-linejoin:round;vector-effect:non-scaling-stroke}
.area{fill:var(--accent);fill-opacity:.12}
.point{fill:none;stroke:var(--accent);stroke-width:6;stroke-linecap:round;vector-effect:non-scaling-stroke}
@media (max-width:44rem){.point{stroke-width:4}}
details{margin-top:.5rem}summary{cursor:pointer;color:var(--link)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.5rem .75rem;border-bottom:1px solid var(--border);vertical-align:top}
th{font-size:.875rem;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right}
.num,.nowrap,.health td:nth-child(2),.health td:nth-child(5){white-space:nowrap}
.chip{display:inline-block;padding:.05rem .6rem;border-radius:1rem;font-weight:600;font-size:.875rem;white-space:nowrap}
.chip.ok{color:var(--ok);background:var(--ok-bg)}.chip.bad{color:var(--bad);background:var(--bad-bg)}
.chip.warn{color:var(--warn);background:var(--warn-bg)}.chip.neutral{color:var(--text);background:var(--neutral-bg)}
.bad-text{color:var(--bad)}
.bar{display:block;width:100%;max-width:14rem;height:.4rem;margin-top:.25rem}
.response{display:block;width:100%;max-width:24rem;margin:.5rem 0}.limit{stroke:var(--text);stroke-width:2}
dl.figures{display:grid;grid-template-columns:minmax(0,1fr) auto;gap:.5rem 1rem;margin:0}
dl.figures dt{color:var(--text)}dl.figures dd{margin:0;text-align:right;font-weight:600}
dl.figures dd.full{grid-column:1/-1;text-align:left;font-weight:400}
footer{max-width:90rem;margin:0 auto;padding:0 clamp(1rem,3vw,2rem) 2rem}
@media (max-width:44rem){
.requirements thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
.requirements tr{display:block;border-bottom:1px solid var(--border);padding:.5rem 0}
.requirements td{display:grid;grid-template-columns:7rem minmax(0,1fr);gap:.5rem;border:0;padding:.25rem 0;text-align:left}
.requirements td::before{content:attr(data-label);color:var(--muted);font-size:.875rem}
}
@media (min-width:120rem){html{font-size:125%}main,footer{max-width:none}}
`;

/** The page's ?refresh= value: a whole number of seconds from 5 to 86400, else undefined (no reload). */
export function refreshParameter(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,5}$/.test(value)) return undefined;
  const seconds = Number(value);
  return seconds >= 5 && seconds <= 86_400 ? seconds : undefined;
}

/** The Content-Security-Policy of the page: nothing may load, only the page's own stylesheet applies. */
export function statusPageCsp(): string {
  const styleHash = createHash('sha256').update(STYLE).digest('base64');
  return `default-src 'none'; style-src 'sha256-${styleHash}'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

// A small shield as the tab icon, inline so the browser does not ask for /favicon.ico.
const ICON = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path fill="#0969da" d="M8 0 1 3v5c0 4 3 7 7 8 4-1 7-4 7-8V3z"/></svg>',
)}`;

/** Renders the whole page. */
export function statusPage(view: StatusView, options: StatusPageOptions = {}): string {
  const { exporter } = view;
  const links = [
    [exporter.telemetryPath, 'Metrics'],
    ['/healthz', 'Health'],
    ['/readyz', 'Readiness'],
    ['/api/status', 'Status as JSON'],
  ] as const;
  const refreshNote =
    options.refreshSeconds === undefined
      ? 'Add ?refresh=60 to the address to reload the page every minute.'
      : `This page reloads every ${options.refreshSeconds} s.`;
  const nav = html`<ul>${links.map(([href, text]) => html`<li><a href="${href}">${text}</a></li>`)}</ul>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
${options.refreshSeconds === undefined ? '' : html`<meta http-equiv="refresh" content="${options.refreshSeconds}">`}
<title>${pageTitle(view)}</title>
<link rel="icon" href="${ICON}">
<style>${new Markup(STYLE)}</style>
</head>
<body>
<header class="top">
<div>
<h1>Partner security score exporter</h1>
<p class="muted small">${exporter.name} version ${exporter.version} · page generated ${dateTime(view.generatedAt)}</p>
</div>
<nav aria-label="Exporter endpoints">${nav}</nav>
</header>
<main>
${view.tenants.length === 0 ? html`<p>No partner tenant is configured.</p>` : verdicts(view.tenants)}
${view.tenants.map((tenant, i) => tenantSection(tenant, i))}
${healthSection(view)}
</main>
<footer class="small muted">
<p>Data from Microsoft Graph (<code>/beta/security/partner/securityScore</code>), as of the exporter's last successful poll. Times are UTC.
${refreshNote}</p>
<nav aria-label="Exporter endpoints, again">${nav}</nav>
</footer>
</body>
</html>
`.text;
}

/** "42.5 / 100", or "42.5" without a maximum. */
function scoreText(current: number, max: number | null): string {
  return max === null ? formatNumber(current) : `${formatNumber(current)} / ${formatNumber(max)}`;
}

function pageTitle(view: StatusView): string {
  const first = view.tenants[0];
  return view.tenants.length === 1 && first?.score ? `${scoreText(first.score.current, first.score.max)} · Partner security score` : 'Partner security score';
}

/** "2025-11-29 18:05 UTC" for an ISO time. */
export function dateTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

const UNITS = [
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
] as const;

/** "5m 12s", "2d 3h", "1h": the largest unit and, when not zero, the next one. */
export function humanDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.round(totalSeconds));
  const first = UNITS.findIndex(([, size]) => seconds >= size);
  if (first === -1) return '0s';
  const [unit, size] = UNITS[first] ?? UNITS[3];
  const text = `${Math.floor(seconds / size)}${unit}`;
  const next = UNITS[first + 1];
  const rest = next === undefined ? 0 : Math.floor((seconds % size) / next[1]);
  return next === undefined || rest === 0 ? text : `${text} ${rest}${next[0]}`;
}

/** "in 55s" for a moment ahead, "due now" once it has passed. */
function upcoming(moment: Moment): string {
  return moment.ageSeconds >= 0 ? 'due now' : relative(moment);
}

/** "5m ago" / "in 55s" / "just now". */
export function relative(moment: Moment): string {
  if (Math.abs(moment.ageSeconds) < 1) return 'just now';
  return moment.ageSeconds > 0 ? `${humanDuration(moment.ageSeconds)} ago` : `in ${humanDuration(-moment.ageSeconds)}`;
}

function when(moment: Moment | null, unknown = 'unknown'): Markup {
  if (moment === null) return html`<span class="muted">${unknown}</span>`;
  return html`<time datetime="${moment.at}">${dateTime(moment.at)}</time> <span class="muted">(${relative(moment)})</span>`;
}

const VERDICT = {
  at_risk: { tone: 'at-risk', mark: '✗' },
  not_at_risk: { tone: 'not-at-risk', mark: '✓' },
  unknown: { tone: 'unknown', mark: '?' },
} as const;

/**
 * The first thing on the page: for each tenant, one sentence in colour and words saying whether its
 * CSP authorization is at risk, why (each failing mandatory requirement linking to its action page),
 * and when Microsoft next validates; or why that is not known.
 */
function verdicts(tenants: readonly TenantView[]): Markup {
  const many = tenants.length > 1;
  return html`<section class="verdicts" aria-label="CSP authorization">${tenants.map((t, i) => {
    const a = t.authorization;
    const v = VERDICT[a.state];
    const whose = many ? html`<a class="whose" href="#tenant-${i + 1}"><code>${t.tenantId}</code></a>` : '';
    return html`<p class="verdict ${v.tone}" data-state="${a.state}" data-tenant-id="${t.tenantId}">${whose}<strong class="word">${v.mark} ${AUTHORIZATION_LEADS[a.state]}</strong> <span class="why">${verdictText(t)}</span></p>`;
  })}</section>`;
}

/** The sentence of one tenant, as authorizationSentence() writes it, with the action pages as links. */
function verdictText(t: TenantView): Markup {
  const a = t.authorization;
  const kind = PARTNER_TYPE_NAMES[a.partnerType];
  const validation =
    a.nextValidation === null
      ? html`<span class="muted small">The validation month is not configured (<code>validation_month</code>, <code>--partner.validation-month</code>).</span>`
      : a.nextValidation.ageSeconds >= 0
        ? html`Microsoft validates the requirements this month (<time datetime="${a.nextValidation.at}">${monthOf(a.nextValidation.at)}</time>).`
        : html`Next validation: <time datetime="${a.nextValidation.at}">${monthOf(a.nextValidation.at)}</time>, in ${Math.ceil(-a.nextValidation.ageSeconds / 86_400)} days.`;
  if (a.state === 'at_risk') {
    const n = a.failing.length;
    const list = a.failing.map(
      (f, i) =>
        html`${i > 0 ? ', ' : ''}${f.actionLink ? html`<a class="failing" href="${f.actionLink}" rel="noopener noreferrer" target="_blank">${f.title}</a>` : html`<span class="failing">${f.title}</span>`}`,
    );
    const also = a.unknown.length === 0 ? '' : html` <span class="small">Not known: ${a.unknown.join('; ')}.</span>`;
    return html`${n} mandatory ${n === 1 ? 'requirement is' : 'requirements are'} not met: ${list}.${also} ${validation}`;
  }
  if (a.state === 'not_at_risk') return html`all ${a.mandatory.length} requirements mandatory for ${kind} are met. ${validation}`;
  return html`${a.unknown.join('; ')}. ${validation}`;
}

function tenantSection(t: TenantView, index: number): Markup {
  const labels = Object.entries(t.labels).map(([k, v]) => html` <span class="label">${k}=${v}</span>`);
  const poll = t.health.lastPoll;
  const lastSuccess = t.health.lastSuccess;
  const failedNotice =
    poll?.result === 'failed'
      ? html`<div class="notice" role="status"><p><strong>The last poll failed</strong> (${poll.reason ?? 'unknown reason'})${
          poll.message ? html`: ${poll.message}` : ''
        }.
${lastSuccess ? `The figures below are from the last successful poll, ${relative(lastSuccess)}.` : 'No poll has succeeded yet.'}</p></div>`
      : '';
  const headingId = `tenant-${index + 1}`;
  return html`<section class="tenant" aria-labelledby="${headingId}" data-tenant-id="${t.tenantId}">
<header><h2 id="${headingId}">Partner tenant <code>${t.tenantId}</code></h2>${labels}
<p class="small muted">${pollLine(t)}</p></header>
${failedNotice}
${t.score === null && poll === null ? html`<p class="card">Waiting for the first poll of Microsoft Graph.</p>` : tenantBody(t)}
</section>`;
}

function pollLine(t: TenantView): Markup {
  const h = t.health;
  if (h.lastPoll === null) return html`Not polled yet${h.nextPoll ? html`; first poll ${upcoming(h.nextPoll)}` : ''}.`;
  return html`Last poll ${h.lastPoll.result} ${relative(h.lastPoll.started)}${h.nextPoll ? html` · next poll ${upcoming(h.nextPoll)}` : ''}`;
}

function tenantBody(t: TenantView): Markup {
  return html`<div class="grid">
${scoreCard(t)}
${historyCard(t)}
</div>
${requirementsCard(t)}
${securityAlertsCard(t)}
<div class="grid">
${mfaCard(t)}
${responseCard(t)}
</div>`;
}

const ALERT_AGE = {
  ok: { tone: 'ok', text: 'within 20 h' },
  warn: { tone: 'warn', text: 'over 20 h: resolve it before it counts over 24 h' },
  bad: { tone: 'bad', text: 'over 24 h: it raises the 30-day average above the requirement' },
} as const;

function securityAlertsCard(t: TenantView): Markup {
  const a = t.securityAlerts;
  const heading = html`<h3>Open security alerts</h3>`;
  if (a === null)
    return html`<article class="card alerts-card">${heading}<p class="muted">${relationNote(t.health.relations.securityAlerts, 'security alerts')}</p></article>`;
  const severities = a.bySeverity.map((s) => html`<li>${s.count} <span class="muted">${s.severity}</span></li>`);
  const testNote =
    a.testOpen === 0 ? '' : html` <span class="muted">(and ${a.testOpen} test ${a.testOpen === 1 ? 'alert' : 'alerts'}, which never page)</span>`;
  const oldest =
    a.oldest === null
      ? ''
      : html`<p class="alert-age">Oldest open alert: <strong>${humanDuration(a.oldest.detected.ageSeconds)}</strong> against the ${formatNumber(a.oldest.limitSeconds / 3600)}-hour requirement <span class="chip ${ALERT_AGE[a.oldest.state].tone}">${a.oldest.state === 'ok' ? '✓' : '✗'} ${ALERT_AGE[a.oldest.state].text}</span></p>`;
  const rows = a.oldestAlerts.map(
    (o) =>
      html`<tr><td data-label="Customer">${o.customerTenantId === null ? html`<span class="muted">unknown</span>` : html`<code>${o.customerTenantId}</code>`}</td><td data-label="Type">${o.alertType}</td><td data-label="Severity">${o.severity}</td><td data-label="Status">${o.status}</td><td data-label="Age" class="num">${humanDuration(o.detected.ageSeconds)}</td></tr>`,
  );
  const table =
    rows.length === 0
      ? ''
      : html`<div class="scroll"><table class="alerts"><caption class="small muted">The oldest open alerts</caption>
<thead><tr><th>Customer</th><th>Type</th><th>Severity</th><th>Status</th><th class="num">Age</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
  const resolved = html`<p class="small muted">${a.resolvedIn30Days} resolved in the last 30 days${
    a.averageResponseSeconds === null ? '' : `, in ${formatNumber(a.averageResponseSeconds / 3600)} h on average (the exporter's own count)`
  }.</p>`;
  return html`<article class="card alerts-card">${heading}
<p><strong class="alerts-open">${a.open}</strong> open${testNote}</p>
${severities.length === 0 ? '' : html`<ul class="facts">${severities}</ul>`}
${oldest}
${table}
${resolved}
</article>`;
}

function scoreCard(t: TenantView): Markup {
  const s = t.score;
  if (s === null) return html`<article class="card"><h3>Score</h3><p>Microsoft Graph has not returned a score yet.</p></article>`;
  const summary = t.requirementsSummary;
  const percent = s.percent === null ? '' : html` <span class="muted">(${formatNumber(s.percent)} %)</span>`;
  return html`<article class="card score-card"><h3>Score</h3>
${gauge(s.current, s.max)}
<ul class="facts">
<li><strong class="score-text">${scoreText(s.current, s.max)}</strong>${percent}</li>
${
  summary
    ? html`<li>${summary.compliant} of ${summary.compliant + summary.nonCompliant + summary.unknown} requirements compliant${
        summary.nonCompliant > 0 ? html`, <strong class="bad-text">${summary.nonCompliant} to fix</strong>` : ''
      }</li>`
    : ''
}
<li>Graph refreshed the data ${when(s.lastRefresh)}</li>
<li class="small muted">Score or data last changed ${s.updated ? html`${dateTime(s.updated.at)} (${relative(s.updated)})` : 'unknown'}</li>
</ul>
</article>`;
}

function historyCard(t: TenantView): Markup {
  const history = t.history;
  const scored = history?.filter((p) => p.score !== null) ?? [];
  let body: Markup;
  if (history === null) body = html`<p class="muted">${relationNote(t.health.relations.history, 'history')}</p>`;
  else if (scored.length === 0) body = html`<p class="muted">Graph returned no scored history entries.</p>`;
  else {
    const first = scored[0]?.at ?? '';
    const last = scored.at(-1)?.at ?? '';
    body = html`<p class="small muted">${longDate(first)} to ${longDate(last)}, ${scored.length} ${scored.length === 1 ? 'entry' : 'entries'}</p>
${historyChart(history, t.score?.max ?? null)}
<details><summary>History as a table</summary><div class="scroll"><table>
<thead><tr><th>Date</th><th class="num">Score</th><th class="num">Compliant requirements</th></tr></thead>
<tbody>${[...history]
      .reverse()
      .map(
        (p) =>
          html`<tr><td>${p.date}</td><td class="num">${p.score === null ? '–' : formatNumber(p.score)}</td><td class="num">${
            p.compliantRequirements === null ? '–' : `${p.compliantRequirements}${p.totalRequirements === null ? '' : ` of ${p.totalRequirements}`}`
          }</td></tr>`,
      )}</tbody></table></div></details>`;
  }
  return html`<article class="card wide history-card"><h3>Score history</h3>${body}</article>`;
}

function relationNote(status: string | null, what: string): string {
  switch (status) {
    case 'disabled':
      return `Reading the ${what} is turned off.`;
    case 'unavailable':
      return `Graph does not offer the ${what} for this tenant.`;
    case 'failed':
      return `Reading the ${what} failed; it will be retried at the next poll.`;
    default:
      return `No ${what} yet.`;
  }
}

const COMPLIANCE = {
  compliant: { tone: 'ok', text: '✓ Compliant' },
  'non-compliant': { tone: 'bad', text: '✗ Not compliant' },
  unknown: { tone: 'neutral', text: '? Unknown' },
} as const;

function stateChip(state: string | null): Markup {
  if (state === 'mandatory') return html`<span class="chip neutral">Mandatory</span>`;
  if (state === 'recommended') return html`<span class="chip neutral">Recommended</span>`;
  if (state === 'preview') return html`<span class="chip warn">Preview</span>`;
  return html`<span class="muted">${state ?? 'unknown'}</span>`;
}

function requirementRow(r: RequirementView): Markup {
  const c = COMPLIANCE[r.compliance];
  const points =
    r.score === null && r.maxScore === null
      ? '–'
      : `${r.score === null ? '–' : formatNumber(r.score)} / ${r.maxScore === null ? '–' : formatNumber(r.maxScore)}`;
  const action = r.actionLink
    ? html`<a class="nowrap" href="${r.actionLink}" rel="noopener noreferrer" target="_blank">Take action</a>`
    : r.actionUrl
      ? html`<span class="muted small">Not a web link: <code class="unlinked-url">${r.actionUrl}</code></span>`
      : html`<span class="muted">–</span>`;
  const typeLine = r.title === r.type ? '' : html`<br><code class="small muted">${r.type}</code>`;
  const help = r.helpLink ? html`<br><a class="small" href="${r.helpLink}" rel="noopener noreferrer" target="_blank">Help</a>` : '';
  return html`<tr data-requirement-type="${r.type}" data-compliance="${r.compliance}">
<td data-label="Requirement"><span><span class="requirement-title">${r.title}</span>${typeLine}</span></td>
<td data-label="Kind">${stateChip(r.state)}</td>
<td data-label="Status"><span class="chip ${c.tone}">${c.text}</span></td>
<td data-label="Points" class="num">${points}</td>
<td data-label="Details">${r.detail ?? html`<span class="muted">–</span>`}</td>
<td data-label="Action"><span>${action}${help}</span></td>
</tr>`;
}

function requirementsCard(t: TenantView): Markup {
  const requirements = t.requirements;
  const body =
    requirements === null
      ? html`<p class="muted">${relationNote(t.health.relations.requirements, 'requirements')}</p>`
      : requirements.length === 0
        ? html`<p class="muted">Graph returned no requirements.</p>`
        : html`<div class="scroll"><table class="requirements">
<thead><tr><th>Requirement</th><th>Kind</th><th>Status</th><th class="num">Points</th><th>Details</th><th>Action</th></tr></thead>
<tbody>
${requirements.map(requirementRow)}
</tbody></table></div>`;
  return html`<article class="card requirements-card"><h3>Requirements</h3>${body}</article>`;
}

function countText(c: Count, unit: string): string {
  if (c.count === null || c.total === null) return 'unknown';
  return `${formatNumber(c.count)} of ${formatNumber(c.total)}${unit}`;
}

function countFigure(label: string, c: Count | null, extra?: string): Markup {
  if (c === null) return html``;
  const fraction = c.count !== null && c.total !== null && c.total > 0 ? c.count / c.total : null;
  const meter = fraction === null || c.count === null || c.total === null ? '' : bar(c.count, c.total, band(fraction));
  return html`<dt>${label}${meter}</dt><dd>${countText(c, '')}</dd>${extra ? html`<dd class="full small muted">${extra}</dd>` : ''}`;
}

const POLICY_NAMES = {
  securityDefaults: 'Security defaults',
  mfaConditionalAccessPolicy: 'Conditional Access MFA policy',
  legacyPerUserMfa: 'Legacy per-user MFA',
} as const;

function mfaCard(t: TenantView): Markup {
  const m = t.mfa;
  if (m === null) return html`<article class="card"><h3>Multifactor authentication</h3><p class="muted">Graph has not reported MFA figures.</p></article>`;
  const notUsing = (n: number | null | undefined) => (n ? `Required to use MFA but not using it: ${n}` : undefined);
  const policies = m.policies
    ? (Object.keys(POLICY_NAMES) as (keyof typeof POLICY_NAMES)[]).map(
        (p) => html`<dt>${POLICY_NAMES[p]}</dt><dd>${m.policies?.[p] === null ? 'unknown' : m.policies?.[p] ? 'on' : 'off'}</dd>`,
      )
    : '';
  const insights = m.customerInsights;
  const enabled = insights?.policyEnabled;
  const insightsText =
    insights && enabled
      ? `${insights.customers} customers read${insights.truncated ? ' (capped: not all customers are listed)' : ''}: ` +
        `security defaults on in ${enabled.securityDefaults}, a Conditional Access MFA policy in ${enabled.mfaConditionalAccessPolicy}, ` +
        `legacy per-user MFA in ${enabled.legacyPerUserMfa}.`
      : '';
  return html`<article class="card mfa-card"><h3>Multifactor authentication</h3>
<dl class="figures">
${countFigure('Partner admins with MFA', m.partnerAdmins, notUsing(m.partnerAdmins?.requiredNotUsingMfa))}
${countFigure('Partner users with MFA', m.partnerUsers, notUsing(m.partnerUsers?.requiredNotUsingMfa))}
${policies}
${countFigure('Customer tenants enforcing admin MFA', m.customerTenants)}
</dl>
${insightsText ? html`<p class="small muted">${insightsText}</p>` : ''}
</article>`;
}

function responseCard(t: TenantView): Markup {
  const a = t.alertResponse;
  if (a === null)
    return html`<article class="card"><h3>Security alert response</h3><p class="muted">Graph has not reported the average alert response time.</p></article>`;
  const hours = formatNumber(a.averageSeconds / 3600);
  const limit = formatNumber(a.requirementSeconds / 3600);
  return html`<article class="card response-card"><h3>Security alert response</h3>
<p><strong class="response-hours">${hours} h</strong> average over 30 days, against the ${limit}-hour requirement.</p>
${responseTimeChart(a.averageSeconds, a.requirementSeconds)}
<p>${a.withinRequirement ? html`<span class="chip ok">✓ Within ${limit} h</span>` : html`<span class="chip bad">✗ Over ${limit} h</span>`}</p>
</article>`;
}

function healthSection(view: StatusView): Markup {
  const rows = view.tenants.map((t) => {
    const h = t.health;
    const poll = h.lastPoll;
    const result =
      poll === null
        ? html`<td><span class="chip neutral">not polled yet</span></td>`
        : poll.result === 'succeeded'
          ? html`<td><span class="chip ok">✓ succeeded</span></td>`
          : html`<td><span class="chip bad">✗ failed (${poll.reason ?? 'unknown'})</span>${
              poll.message ? html`<br><span class="small">${poll.message}</span>` : ''
            }</td>`;
    const failures = Object.entries(h.failures).filter(([, n]) => n > 0);
    const score = t.score === null ? 'no data yet' : scoreText(t.score.current, t.score.max);
    return html`<tr data-tenant-id="${t.tenantId}"><td>${t.tenantId}</td><td>${score}</td>${result}<td>${
      poll ? html`${relative(poll.started)} <span class="muted small">(took ${formatNumber(poll.durationMs / 1000)} s)</span>` : '–'
    }</td><td>${h.nextPoll ? upcoming(h.nextPoll) : '–'}</td><td>${h.lastSuccess ? relative(h.lastSuccess) : 'never'}</td><td class="failures">${
      failures.length === 0 ? 'none' : failures.map(([reason, n], i) => html`${i > 0 ? ', ' : ''}${reason} ${n}`)
    }</td><td>${Object.entries(h.relations).map(([r, s], i) => html`${i > 0 ? ', ' : ''}${r} ${s ?? '–'}`)}</td></tr>`;
  });
  return html`<section class="card health" aria-labelledby="health"><h2 id="health">Exporter health</h2>
<p class="small muted">Polls of Microsoft Graph by this exporter. Failures are counted since the exporter started.</p>
<div class="scroll"><table>
<thead><tr><th>Tenant</th><th>Score</th><th>Last poll result</th><th>Last poll</th><th>Next poll</th><th>Last success</th>
<th>Failures by reason</th><th>Relations</th></tr></thead>
<tbody>
${rows}
</tbody></table></div>
</section>`;
}
