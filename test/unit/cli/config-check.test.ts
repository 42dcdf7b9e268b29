/**
 * --config.check says what a run would choose, as the run's own start-up log says it: per tenant the
 * credential and why, this shard's tenants, and warnings where a valid configuration is likely wrong.
 */
import { describe, expect, it } from 'vitest';
import { budgetWarning, describeConfiguration } from '../../../src/cli/config-check.js';
import { parseConfig } from '../../../src/config/parse.js';
import { shardOf } from '../../../src/config/shard.js';

const TENANT = '8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b';
const CLIENT = '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40';
const CHOOSERS = 'AZURE_CLIENT_SECRET, AZURE_CLIENT_SECRET_FILE, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE';

function report(env: Record<string, string>, argv: string[] = [], yaml = '') {
  const io = { readable: (p: string) => p === '/t.yml', readText: () => yaml };
  const parsed = parseConfig([...argv, '--config.check'], env, io);
  if (parsed.action !== 'check') throw new Error(JSON.stringify(parsed));
  return describeConfiguration(parsed.config, env);
}

describe('--config.check', () => {
  it('names the credential of each tenant and the variable or key that chose it', () => {
    expect(report({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'shh-secret-value' })).toEqual({
      summary: `configuration OK: 1 tenant(s)\n  - ${TENANT}: client secret (AZURE_CLIENT_SECRET is set)\n`,
      warnings: [],
    });
    const yaml = `tenants:\n  - { tenant_id: a.example.com, client_id: ${CLIENT}, client_secret_env: S, labels: { partner: alpha } }\n`;
    expect(report({ S: 'shh-secret-value' }, ['--config.file=/t.yml'], yaml).summary).toBe(
      'configuration OK: 1 tenant(s)\n  - a.example.com: client secret (tenants[0].client_secret_env in /t.yml) {"partner":"alpha"}\n',
    );
  });

  it('warns when a forgotten secret leaves managed identity chosen where nothing says this is an Azure host', () => {
    const forgotten = report({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT });
    expect(forgotten.summary).toBe(`configuration OK: 1 tenant(s)\n  - ${TENANT}: managed identity (none of ${CHOOSERS} is set)\n`);
    expect(forgotten.warnings).toHaveLength(1);
    expect(forgotten.warnings[0]).toMatch(new RegExp(`^${TENANT}: managed identity works only on an Azure host`));
    expect(forgotten.warnings[0]).toContain('is AZURE_CLIENT_SECRET (or AZURE_CLIENT_SECRET_FILE) missing?');
    // Nothing set at all: the same warning, without the guess about a secret.
    const empty = report({});
    expect(empty.summary).toContain('  - (from the token): managed identity');
    expect(empty.warnings[0]).not.toContain('missing?');
    // On a host that says it has managed identity, there is nothing to warn about.
    expect(report({ IDENTITY_ENDPOINT: 'http://localhost:42356/msi/token' }).warnings).toEqual([]);
  });

  it('lists the tenants this shard takes, of how many, and warns when it takes none', () => {
    const ids = ['a.example.com', 'b.example.com', 'c.example.com', 'd.example.com'];
    const yaml = ['tenants:', ...ids.map((id) => `  - { tenant_id: ${id}, client_id: ${CLIENT}, client_secret_env: S }`), ''].join('\n');
    for (let k = 0; k < 3; k++) {
      const { summary } = report({ S: 'shh' }, ['--config.file=/t.yml', `--tenants.shard=${k}/3`], yaml);
      const taken = ids.filter((id) => shardOf(id, 3) === k);
      expect(summary).toBe(
        `configuration OK: ${taken.length} tenant(s), shard ${k}/3 (0-based) of 4 configured\n${taken.map((id) => `  - ${id}: client secret (tenants[${ids.indexOf(id)}].client_secret_env in /t.yml)\n`).join('')}`,
      );
    }
    const one = report({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'shh' }, [`--tenants.shard=${(shardOf(TENANT, 2) + 1) % 2}/2`]);
    expect(one.summary).toBe(`configuration OK: 0 tenant(s), shard ${(shardOf(TENANT, 2) + 1) % 2}/2 (0-based) of 1 configured\n`);
    expect(one.warnings).toEqual([
      `shard ${(shardOf(TENANT, 2) + 1) % 2}/2 takes none of the 1 configured tenant(s): this exporter would serve no tenant's data`,
    ]);
  });

  it('warns when the configured tenants at the caps would not fit the memory budget, and says what would be cut', () => {
    const yaml = (n: number) =>
      ['tenants:', ...Array.from({ length: n }, (_, i) => `  - { tenant_id: t${i}.example.com, client_id: ${CLIENT}, client_secret_env: S }`), ''].join('\n');
    const flags = ['--config.file=/t.yml', '--collector.customer-insights', '--collector.security-alerts.customers', '--memory.budget=104857600'];
    // 1,000 customers and 10,000 alerts each (the default caps): 50 tenants fit in 100 MiB, 120 do not.
    expect(report({ S: 'shh' }, flags, yaml(50)).warnings).toEqual([]);
    const warnings = report({ S: 'shh' }, flags, yaml(120)).warnings;
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^memory budget: 120 tenant\(s\) at the caps would take an estimated 1\d\d MiB of the 100 MiB budget; then the exporter cuts per-customer series beyond \d+ customer\(s\) per tenant \(docs\/performance\.md\)/,
    );
    // Tenants alone beyond the budget: everything but the score, the requirements and health.
    expect(report({ S: 'shh' }, [...flags.slice(0, 3), '--memory.budget=1048576'], yaml(50)).warnings[0]).toContain(
      "every per-customer series and the tenants' details",
    );
  });

  it('without --memory.budget, judges by the default budget the exporter would take: 35% of the heap limit it runs with', () => {
    const yaml = (n: number) =>
      ['tenants:', ...Array.from({ length: n }, (_, i) => `  - { tenant_id: t${i}.example.com, client_id: ${CLIENT}, client_secret_env: S }`), ''].join('\n');
    const configOf = (n: number) => {
      const parsed = parseConfig(
        ['--config.file=/t.yml', '--collector.customer-insights', '--collector.security-alerts.customers', '--config.check'],
        { S: 'shh' },
        {
          readable: (p: string) => p === '/t.yml',
          readText: () => yaml(n),
        },
      );
      if (parsed.action !== 'check') throw new Error(JSON.stringify(parsed));
      return parsed.config;
    };
    // V8's heap limit under npm start's --max-semi-space-size=2 --max-old-space-size=192: a budget of 69 MiB.
    const npmStartHeapLimit = 207_618_048;
    expect(budgetWarning(configOf(30), npmStartHeapLimit)).toBeUndefined();
    const warning = budgetWarning(configOf(150), npmStartHeapLimit);
    expect(warning).toMatch(
      /^memory budget: 150 tenant\(s\) at the caps would take an estimated \d+ MiB of the 69 MiB budget \(35% of the V8 heap limit of this process\); /,
    );
    // 150 tenants at the caps: even with no per-customer series they take more than it (their alert aggregates), so the details go too.
    expect(warning).toContain("then the exporter cuts every per-customer series and the tenants' details");
    // A heap twice as big: twice the budget, where 60 tenants at the caps fit.
    expect(budgetWarning(configOf(60), 2 * npmStartHeapLimit)).toBeUndefined();
  });
});
