/**
 * The status page's charts as inline SVG, drawn by hand: no script, no library, no external asset.
 * Colours come from classes styled by the page's stylesheet (style attributes would need a
 * weaker Content-Security-Policy); every text goes through html``.
 */
import { html, type Markup } from './html.js';
import { formatNumber, type HistoryPointView } from './view.js';

/** Rounds a coordinate to keep the markup short. */
const r1 = (n: number) => Math.round(n * 10) / 10;

/** "ok", "warn" or "bad" for a fraction of the maximum: a hint only, the numbers are always written out. */
export function band(fraction: number): 'ok' | 'warn' | 'bad' {
  return fraction >= 0.8 ? 'ok' : fraction >= 0.5 ? 'warn' : 'bad';
}

/** A half-circle gauge of current against max. */
export function gauge(current: number, max: number | null): Markup {
  const top = max !== null && max > 0 ? max : 100;
  const fraction = Math.min(1, Math.max(0, current / top));
  const cx = 100;
  const cy = 100;
  const radius = 80;
  const angle = Math.PI * (1 - fraction);
  const end = `${r1(cx + radius * Math.cos(angle))} ${r1(cy - radius * Math.sin(angle))}`;
  const label = max === null ? `Score ${formatNumber(current)}` : `Score ${formatNumber(current)} of ${formatNumber(max)}`;
  return html`<svg class="gauge" viewBox="0 0 200 118" role="img" aria-label="${label}" data-score="${current}" data-max="${max ?? ''}">
<path class="gauge-track" d="M 20 100 A 80 80 0 0 1 180 100"/>
${fraction > 0 ? html`<path class="gauge-value band-${band(fraction)}" d="M 20 100 A 80 80 0 0 1 ${end}"/>` : ''}
<text class="gauge-score" x="100" y="90" text-anchor="middle">${formatNumber(current)}</text>
<text class="gauge-max" x="100" y="114" text-anchor="middle">${max === null ? 'no maximum' : `of ${formatNumber(max)}`}</text>
</svg>`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "1 Sep" (UTC) for an ISO date. */
export function shortDate(iso: string): string {
  const date = new Date(iso);
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}`;
}

/** "1 Sep 2025" (UTC) for an ISO date. */
export function longDate(iso: string): string {
  return `${shortDate(iso)} ${new Date(iso).getUTCFullYear()}`;
}

const DAY_MS = 86_400_000;
/** The plot's own coordinates; it is stretched to the card's width and a fixed height. */
const PLOT = { width: 1000, height: 300 } as const;
/** Where the five date labels sit, as fractions of the time range. */
const DATE_TICKS = [0, 0.25, 0.5, 0.75, 1] as const;

/**
 * The score over time. The plot is SVG stretched to fit (preserveAspectRatio none, strokes that
 * do not scale), the axis labels are HTML around it, so the text stays readable from a phone to a
 * wall screen. One dot per history entry with a score, each with data-date, data-score and a
 * tooltip; y from 0 to max, five dates along x.
 */
export function historyChart(points: readonly HistoryPointView[], max: number | null): Markup {
  const scored = points.filter((p): p is HistoryPointView & { score: number } => p.score !== null);
  const top = Math.max(max ?? 0, ...scored.map((p) => p.score), 1);
  const times = scored.map((p) => Date.parse(p.at));
  const first = Math.min(...times);
  const last = Math.max(...times);
  const x = (t: number) => (last === first ? PLOT.width / 2 : ((t - first) / (last - first)) * PLOT.width);
  const y = (score: number) => PLOT.height - (Math.min(top, Math.max(0, score)) / top) * PLOT.height;
  const coords = scored.map((p, i) => [r1(x(times[i] ?? first)), r1(y(p.score))] as const);
  const line = coords.map(([cx, cy], i) => `${i === 0 ? 'M' : 'L'}${cx} ${cy}`).join(' ');
  const area = coords.length > 1 ? `${line} L${coords.at(-1)?.[0]} ${PLOT.height} L${coords[0]?.[0]} ${PLOT.height} Z` : '';
  const gridlines = [0, 0.25, 0.5, 0.75, 1].map(
    (f) => html`<line class="gridline" x1="0" x2="${PLOT.width}" y1="${r1(PLOT.height * f)}" y2="${r1(PLOT.height * f)}"/>`,
  );
  // A zero-length path with a round cap is a dot that stays round when the plot is stretched.
  const dots = scored.map((p, i) => {
    const [cx, cy] = coords[i] ?? [0, 0];
    return html`<path class="point" d="M${cx} ${cy}h0" data-date="${p.date}" data-score="${p.score}"><title>${p.date}: ${formatNumber(p.score)}</title></path>`;
  });
  // Under eight days the quarter ticks would name the same day twice or sit half a day from their
  // point: only the ends are labelled then.
  const labels = DATE_TICKS.map((f) => shortDate(new Date(first + f * (last - first)).toISOString()));
  const shown = labels.map((_, i) => i === 0 || i === labels.length - 1 || last - first >= 8 * DAY_MS);
  const dates =
    last === first
      ? html`<span class="tick-only">${labels[0]}</span>`
      : labels.map((label, i) => (shown[i] ? html`<span class="tick-${i}">${label}</span>` : ''));
  const summary =
    scored.length === 0
      ? 'No scores in the history'
      : `Score history from ${longDate(scored[0]?.at ?? '')} to ${longDate(scored.at(-1)?.at ?? '')}: ${scored.length} entries, lowest ${formatNumber(
          Math.min(...scored.map((p) => p.score)),
        )}, highest ${formatNumber(Math.max(...scored.map((p) => p.score)))}, latest ${formatNumber(scored.at(-1)?.score ?? 0)}`;
  return html`<div class="chart">
<div class="y-axis" aria-hidden="true">${[1, 0.75, 0.5, 0.25, 0].map((f) => html`<span>${formatNumber(top * f)}</span>`)}</div>
<svg class="plot" viewBox="0 0 ${PLOT.width} ${PLOT.height}" preserveAspectRatio="none" role="img" aria-label="${summary}" data-points="${scored.length}">
${gridlines}
${area ? html`<path class="area" d="${area}"/>` : ''}
${coords.length > 1 ? html`<path class="line" d="${line}"/>` : ''}
${dots}
</svg>
<div class="x-axis" aria-hidden="true">${dates}</div>
</div>`;
}

/** A thin horizontal bar of value against total (decorative: the numbers are written next to it). */
export function bar(value: number, total: number, tone: 'ok' | 'warn' | 'bad' | 'neutral'): Markup {
  const width = total > 0 ? Math.min(100, Math.max(0, (value / total) * 100)) : 0;
  return html`<svg class="bar" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true"><rect class="bar-track" width="100" height="6" rx="3"/>
<rect class="bar-fill band-${tone}" width="${r1(width)}" height="6" rx="3"/></svg>`;
}

/**
 * The average alert response time on a scale up to twice the 24-hour limit (or the average, if
 * longer), with the limit marked.
 */
export function responseTimeChart(averageSeconds: number, limitSeconds: number): Markup {
  const scale = Math.max(limitSeconds * 2, averageSeconds * 1.1);
  const w = 300;
  const px = (s: number) => r1((s / scale) * w);
  const within = averageSeconds <= limitSeconds;
  return html`<svg class="response" viewBox="0 0 ${w} 44" aria-hidden="true">
<rect class="bar-track" x="0" y="8" width="${w}" height="12" rx="6"/>
<rect class="bar-fill band-${within ? 'ok' : 'bad'}" x="0" y="8" width="${px(averageSeconds)}" height="12" rx="6"/>
<line class="limit" x1="${px(limitSeconds)}" x2="${px(limitSeconds)}" y1="2" y2="26"/>
<text class="axis" x="${px(limitSeconds)}" y="40" text-anchor="middle">${formatNumber(limitSeconds / 3600)} h</text>
</svg>`;
}
