/**
 * `backfill --output FILE`: the score history as OpenMetrics with sample timestamps, under the
 * live exporter's metric names and labels (src/expose/metrics.ts), for `promtool tsdb create-blocks-from openmetrics`.
 */

import { RELATION_TABLE } from '../collect/relations.js';
import { DEFAULT_MAX_BYTES } from '../config/caps.js';
import { HISTORY_COMPLIANT_REQUIREMENTS, HISTORY_REQUIREMENTS, SCORE_CURRENT, tenantLabeller } from '../expose/metrics.js';
import type { GraphClient } from '../graph/client.js';
import { readPages } from '../graph/paging.js';
import { parseHistory } from '../graph/parse.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { errorText } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { HistoryEntry } from '../snapshot.js';

/** One tenant to backfill, as configured. */
export interface BackfillTenant {
  /** Undefined when the token names the tenant. */
  readonly tenantId?: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface BackfillOptions<T extends BackfillTenant> {
  readonly tenants: readonly T[];
  /** The Graph client of one tenant, as the live exporter builds it, and the tenant its token named. */
  readonly connect: (tenant: T) => { readonly graph: GraphClient; readonly tenantOfToken: () => string | undefined };
  /** Pages of history read per tenant (--collector.max-pages). */
  readonly maxPages: number;
  /** The file to write, or "-" for standard output. */
  readonly output: string | undefined;
  /** Replace an existing output file. */
  readonly force: boolean;
  readonly logger: Logger;
}

/**
 * Reads every tenant's history and writes them whole or not at all. Returns the exit code: 0, or 1
 * when a tenant failed or nothing was written.
 */
export async function backfill<T extends BackfillTenant>(options: BackfillOptions<T>): Promise<number> {
  const { logger } = options;
  const labelsOf = tenantLabeller([...new Set(options.tenants.flatMap((t) => Object.keys(t.labels)))]);
  const histories: TenantHistory[] = [];
  let failed = 0;
  for (const [index, tenant] of options.tenants.entries()) {
    const client = options.connect(tenant);
    // Progress on standard error (the log): a long history is many pages, several tenants more.
    const progress = logger.with({ tenant_id: tenant.tenantId ?? 'unknown', tenant: `${index + 1}/${options.tenants.length}` });
    try {
      const history = await readHistory(client.graph, options.maxPages, new AbortController().signal, (pages, entries) =>
        progress.info('history page read', { pages, entries }),
      );
      const tenantId = tenant.tenantId ?? client.tenantOfToken() ?? 'unknown';
      // OpenMetrics has no empty label values: a constant label this tenant lacks is left out.
      const labels = Object.fromEntries(Object.entries(labelsOf(tenantId, tenant.labels)).filter(([, v]) => v !== ''));
      histories.push({ labels, history });
      logger.info('history read', { tenant_id: tenantId, entries: history.length });
    } catch (error) {
      failed++;
      logger.error('reading the history failed', { tenant_id: tenant.tenantId ?? 'unknown', err: errorText(error) });
    }
  }
  const destination = options.output === '-' ? 'stdout' : options.output;
  if (histories.length === 0) {
    // Nothing read: an existing file keeps the good data it holds.
    logger.error('no history could be read; nothing written', { output: destination, failed, note: 'an existing file is left unchanged' });
    return 1;
  }
  const text = renderBackfill(histories);
  // Wait for standard output to drain: the process exits right after.
  if (options.output === '-') await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  else if (options.output !== undefined) {
    try {
      writeFileAtomic(options.output, text, options.force);
    } catch (error) {
      logger.error('writing the backfill failed; nothing written', { output: destination, err: errorText(error), note: 'an existing file is left unchanged' });
      return 1;
    }
  }
  logger.info('backfill written', { output: destination, tenants: histories.length, failed, bytes: Buffer.byteLength(text) });
  return failed > 0 ? 1 : 0;
}

/** Reads the whole score history of one tenant, following nextLinks up to maxPages. */
async function readHistory(
  graph: GraphClient,
  maxPages: number,
  signal: AbortSignal,
  onPage: (pages: number, entries: number) => void,
): Promise<readonly HistoryEntry[]> {
  const items: Record<string, unknown>[] = [];
  await readPages(
    (path, reader) => graph.get(path, signal, 'history', reader),
    RELATION_TABLE.history.path,
    'securityScoreHistory',
    { maxPages, maxBytes: DEFAULT_MAX_BYTES },
    (read) => items.push(...read),
    undefined,
    (pages) => onPage(pages, items.length),
  );
  return parseHistory(items);
}

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
  { name: SCORE_CURRENT, help: 'Partner security score reported by Graph (backfilled from the score history).', value: (e) => e.score },
  {
    name: HISTORY_COMPLIANT_REQUIREMENTS,
    help: 'Compliant requirements in the score history entry (backfilled).',
    value: (e) => e.compliantRequirements,
  },
  { name: HISTORY_REQUIREMENTS, help: 'Requirements evaluated in the score history entry (backfilled).', value: (e) => e.totalRequirements },
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
