import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envName, FLAGS } from '../../../src/config/flags.js';
import { createMetrics } from '../../../src/expose/metrics.js';
import { initialSnapshot } from '../../../src/snapshot.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

function table(name: string): string[][] {
  const block = readme.split(`<!-- ${name}:start -->`)[1]?.split(`<!-- ${name}:end -->`)[0] ?? '';
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

describe('README', () => {
  it('opens with what the exporter gives, in one screen: the screenshot, the three headline metrics, the two commands', () => {
    const screen = readme.split('\n').slice(0, 45).join('\n');
    expect(screen).toContain('src="docs/status-page.png"');
    for (const metric of ['partner_security_score_current', 'partner_security_score_max', 'partner_security_score_last_refresh_timestamp'])
      expect(screen).toContain(`| \`${metric}\` |`);
    expect(screen).toMatch(/^npm ci && npm run demo\b/m);
    expect(screen).toMatch(/^npm ci && npm test\b/m);
    // The long reference comes after it.
    expect(readme.indexOf('## Flags')).toBeGreaterThan(screen.length);
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
    }).render();
    const served = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]);
    expect(table('metrics').map((r) => [r[0], r[1]])).toEqual(served);
  });
});
