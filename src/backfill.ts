/**
 * `backfill --output FILE`: the score history as OpenMetrics with sample timestamps, under the
 * live exporter's metric names and labels, for `promtool tsdb create-blocks-from openmetrics`.
 */
import type { HistoryEntry } from './snapshot.js';

/** The history of one tenant, labelled as the live exporter labels it. */
export interface TenantHistory {
  readonly labels: Readonly<Record<string, string>>;
  readonly history: readonly HistoryEntry[];
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly value: (entry: HistoryEntry) => number | undefined;
}

const FAMILIES: readonly Family[] = [
  { name: 'partner_security_score_current', help: 'Partner security score reported by Graph (backfilled from the score history).', value: (e) => e.score },
  {
    name: 'partner_security_history_compliant_requirements',
    help: 'Compliant requirements in the score history entry (backfilled).',
    value: (e) => e.compliantRequirements,
  },
  { name: 'partner_security_history_requirements', help: 'Requirements evaluated in the score history entry (backfilled).', value: (e) => e.totalRequirements },
];

/** Renders the OpenMetrics text: one family at a time, each series in time order, then # EOF. */
export function renderBackfill(tenants: readonly TenantHistory[]): string {
  const lines: string[] = [];
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} gauge`);
    for (const tenant of tenants) {
      const labels = Object.entries(tenant.labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',');
      const seen = new Set<number>();
      for (const entry of [...tenant.history].sort((a, b) => a.createdTimestamp - b.createdTimestamp)) {
        const value = family.value(entry);
        // OpenMetrics forbids two samples of a series at one time; Graph may repeat a day.
        if (value === undefined || seen.has(entry.createdTimestamp)) continue;
        seen.add(entry.createdTimestamp);
        lines.push(`${family.name}{${labels}} ${value} ${entry.createdTimestamp}`);
      }
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
