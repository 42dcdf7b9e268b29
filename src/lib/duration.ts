/** Prometheus-style durations ("90s", "5m", "1h30m", "500ms", "1d") to and from milliseconds. */

const UNITS_MS: Record<string, number> = {
  y: 365 * 24 * 3600_000,
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

// Same grammar as Prometheus' model.ParseDuration: units in descending order, each at most once.
const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const ORDER = ['y', 'w', 'd', 'h', 'm', 's', 'ms'] as const;

/** Parses a duration; returns undefined when the text is not one. "0" is zero. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  if (trimmed === '') return undefined;
  const match = DURATION.exec(trimmed);
  if (!match) return undefined;
  let total = 0;
  ORDER.forEach((unit, i) => {
    const amount = match[i + 1];
    if (amount !== undefined) total += Number(amount) * (UNITS_MS[unit] ?? 0);
  });
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Formats milliseconds the way parseDuration reads them ("1h30m", "250ms", "0s"). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const size = UNITS_MS[unit] ?? 1;
    const amount = Math.floor(rest / size);
    if (amount > 0) {
      out += `${amount}${unit}`;
      rest -= amount * size;
    }
  }
  return out;
}
