/**
 * --tenants.shard picks a tenant's shard as Prometheus's own `hashmod` relabel action does: the
 * real Prometheus relabels one target per tenant ID (its tenant_id label) with hashmod, and the
 * shard it writes is the one shardOf gives, for several moduli.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { shardOf } from '../../src/config/shard.js';
import { startPrometheus } from '../helpers/prometheus.js';

/** GUIDs and domains as the tenant_id label holds them (lower case), spread wide enough that every shard gets some. */
const TENANTS = [
  ...Array.from({ length: 60 }, (_, i) => {
    const hex = (i * 2654435761).toString(16).padStart(8, '0').slice(-8);
    return `${hex}-${hex.slice(0, 4)}-4${hex.slice(1, 4)}-8${hex.slice(5, 8)}-${hex}${hex.slice(0, 4)}`;
  }),
  'contoso.onmicrosoft.com',
  'fabrikam.example',
  'a',
];
const MODULI = [1, 2, 3, 7, 50];

describe('--tenants.shard and Prometheus hashmod', () => {
  it('give every tenant ID the same shard, for every modulus', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pss-hashmod-'));
    // Nothing listens on port 1: only the targets' relabelled labels matter, never a scrape.
    const config = {
      global: { scrape_interval: '1h' },
      scrape_configs: MODULI.map((modulus) => ({
        job_name: `mod${modulus}`,
        static_configs: TENANTS.map((tenant_id) => ({ targets: ['127.0.0.1:1'], labels: { tenant_id } })),
        relabel_configs: [{ source_labels: ['tenant_id'], action: 'hashmod', modulus, target_label: 'shard' }],
      })),
    };
    const prometheus = await startPrometheus({ dataDir, config: stringify(config) });
    try {
      const targets = await (async () => {
        for (let attempt = 0; ; attempt++) {
          const body = (await (await fetch(`${prometheus.url}/api/v1/targets?state=active`)).json()) as {
            data: { activeTargets: { labels: Record<string, string> }[] };
          };
          if (body.data.activeTargets.length === TENANTS.length * MODULI.length || attempt > 100) return body.data.activeTargets;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      expect(targets).toHaveLength(TENANTS.length * MODULI.length);
      const theirs = targets.map((t) => `${t.labels.job} ${t.labels.tenant_id} ${t.labels.shard}`).sort();
      const ours = MODULI.flatMap((m) => TENANTS.map((t) => `mod${m} ${t} ${shardOf(t, m)}`)).sort();
      expect(theirs).toEqual(ours);
      // Not a degenerate agreement: with 50 shards the tenants spread over many of them.
      expect(new Set(TENANTS.map((t) => shardOf(t, 50))).size).toBeGreaterThan(20);
    } finally {
      await prometheus.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
