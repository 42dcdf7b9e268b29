/**
 * The README is the overview: its first screen shows what the exporter gives and the two commands,
 * it stays short, and it points to every reference page under docs/. The flag and metric tables
 * there (between their <!-- name:start --> and <!-- name:end --> markers) list exactly what the
 * code defines and serves.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envName, FLAGS } from '../../../src/config/flags.js';
import { createMetrics } from '../../../src/expose/metrics.js';
import { initialSnapshot } from '../../../src/snapshot.js';
import { markdownLinks } from '../../helpers/markdown.js';

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const readme = read('README.md');
/** Where each generated-from-code table lives. */
const TABLES = { flags: 'docs/flags.md', metrics: 'docs/metrics.md' } as const;
/** The README is an overview; the reference is in docs/. */
const README_MAX_LINES = 400;

function table(name: keyof typeof TABLES): string[][] {
  const text = read(TABLES[name]);
  expect(text.split(`<!-- ${name}:start -->`), `one ${name} table in ${TABLES[name]}`).toHaveLength(2);
  const block = text.split(`<!-- ${name}:start -->`)[1]?.split(`<!-- ${name}:end -->`)[0] ?? '';
  return block
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) =>
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim().replace(/^`|`$/g, '')),
    );
}

describe('README and the reference tables', () => {
  it('opens with what the exporter gives, in one screen: the screenshot, the three headline metrics, the two commands', () => {
    const screen = readme.split('\n').slice(0, 45).join('\n');
    expect(screen).toContain('src="docs/status-page.png"');
    for (const metric of ['partner_security_score_current', 'partner_security_score_max', 'partner_security_score_last_refresh_timestamp'])
      expect(screen).toContain(`| \`${metric}\` |`);
    expect(screen).toMatch(/^npm ci && npm run demo\b/m);
    expect(screen).toMatch(/^npm ci && npm test\b/m);
  });

  it(`is an overview of at most ${README_MAX_LINES} lines that points to every page of the reference in docs/`, () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(README_MAX_LINES);
    const pages = readdirSync(new URL('../../../docs', import.meta.url)).filter((f) => f.endsWith('.md'));
    expect(pages.length).toBeGreaterThanOrEqual(10);
    const linked = new Set(markdownLinks(readme).map((l) => l.target.split('#')[0]));
    expect(pages.filter((page) => !linked.has(`docs/${page}`))).toEqual([]);
    // The tables live there, once; not copied into the README, where they would drift.
    for (const name of Object.keys(TABLES)) expect(readme).not.toContain(`<!-- ${name}:start -->`);
  });

  it('lists every flag with its environment variable and default, and nothing else', () => {
    const rows = table('flags');
    expect(rows.map((r) => r[0])).toEqual(FLAGS.map((f) => `--${f.name}`));
    for (const flag of FLAGS) {
      const row = rows.find((r) => r[0] === `--${flag.name}`);
      expect(row?.[1]).toBe(flag.env ? envName(flag.name) : '');
      if (flag.kind !== 'boolean') expect(row?.[2]).toBe(flag.default);
    }
  });

  it('lists every metric the exporter serves (besides process_* and nodejs_*), and nothing else', async () => {
    const text = await createMetrics({
      snapshots: () => [initialSnapshot('t')],
      build: { version: 'v', nodeVersion: 'n' },
      maxStalenessMs: 0,
      processMetrics: false,
      webConfigStatus: () => ({ ok: true, lastSuccessMs: 0 }),
      webCounters: () => ({ authRejected: { unauthorized: 0, queue_full: 0 }, connectionsDropped: { max_connections: 0 } }),
      // A budget that cuts customers, so that every one of its series shows.
      memoryBudget: () => ({ budgetBytes: 1, estimatedBytes: 1, cut: { depth: 2, customersPerTenant: 1 } }),
    }).render();
    const served = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
    expect(table('metrics').map((r) => [r[0], r[1]])).toEqual(served);
  });
});
