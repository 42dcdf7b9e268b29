/**
 * --tenants.shard: the hash is Prometheus's hashmod (test/stack/hashmod.test.ts checks it against
 * Prometheus itself), the flag is strict, and the shards split the tenants without a gap or an overlap.
 */
import { describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../../src/config/parse.js';
import { MAX_SHARDS, parseShard, shardOf } from '../../../src/config/shard.js';

const CLIENT = '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40';
const TENANTS = Array.from({ length: 12 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`);

function tenantsFile(ids: readonly string[], extra: readonly string[] = []): string {
  return ['tenants:', ...ids.map((id) => `  - { tenant_id: ${id}, client_id: ${CLIENT}, client_secret_env: S }`), ...extra, ''].join('\n');
}

function parse(argv: readonly string[], yaml: string, env: Record<string, string> = {}) {
  const io = { readable: (p: string) => p === '/t.yml', readText: () => yaml };
  return parseConfig(['--config.file=/t.yml', ...argv], { S: 'secret-value', ...env }, io);
}

function config(argv: readonly string[], yaml: string, env: Record<string, string> = {}): Config {
  const result = parse(argv, yaml, env);
  if (result.action !== 'run') throw new Error(JSON.stringify(result));
  return result.config;
}

describe('shardOf', () => {
  // Computed apart from this code, with Python: int.from_bytes(hashlib.md5(id.encode()).digest()[8:], 'big') % n.
  it.each([
    ['aaaaaaaa-0000-4000-8000-00000000000a', [0, 1, 1, 4, 571]],
    ['contoso.onmicrosoft.com', [0, 0, 2, 4, 88]],
    ['8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b', [0, 1, 0, 0, 161]],
  ])('%s: md5, the last 8 bytes as an unsigned big-endian integer, modulo N (N = 1, 2, 3, 7, 1000)', (id, expected) => {
    expect([1, 2, 3, 7, 1000].map((n) => shardOf(id, n))).toEqual(expected);
  });

  it('hashes the lower-cased ID: the tenant_id label as the exporter writes it', () => {
    expect(shardOf('Contoso.OnMicrosoft.com', 1000)).toBe(88);
  });
});

describe('parseShard', () => {
  it.each([
    ['0/1', { index: 0, count: 1 }],
    ['2/3', { index: 2, count: 3 }],
    [`999/${MAX_SHARDS}`, { index: 999, count: MAX_SHARDS }],
  ])('reads %s', (text, expected) => {
    expect(parseShard(text)).toEqual(expected);
  });

  it.each(['3/3', '1/0', '0/1001', '1', '1/', '/3', '-1/3', '1/3/5', ' 1/3', '1.0/3', 'a/b', `${'1'.repeat(20)}/3`])('refuses %j', (text) => {
    const result = parseShard(text);
    expect(result).toHaveProperty('problem');
    expect('problem' in result && result.problem).toContain('is not a shard K/N (0-based K of N shards');
  });

  it('quotes a long value cut to its bound, before any regex reads it', () => {
    const long = `1/${'9'.repeat(100_000)}`;
    const result = parseShard(long);
    expect('problem' in result && result.problem.length).toBeLessThan(200);
  });
});

describe('--tenants.shard', () => {
  it('splits the tenants: every one in exactly one of N shards, as shardOf says', () => {
    const yaml = tenantsFile(TENANTS);
    for (const count of [1, 2, 3, 5]) {
      const shards = Array.from({ length: count }, (_, k) => config([`--tenants.shard=${k}/${count}`], yaml));
      const taken = shards.flatMap((c) => c.tenants.map((t) => t.tenantId));
      expect(taken.sort()).toEqual([...TENANTS].sort());
      shards.forEach((c, k) => {
        expect(c.shard).toEqual({ index: k, count, configuredTenants: TENANTS.length });
        for (const t of c.tenants) expect(shardOf(t.tenantId ?? '', count)).toBe(k);
      });
    }
    // With three shards the twelve test tenants do not all fall in one (the split is real).
    const sizes = [0, 1, 2].map((k) => config([`--tenants.shard=${k}/3`], yaml).tenants.length);
    expect(sizes.filter((n) => n > 0).length).toBeGreaterThan(1);
  });

  it('is read from PSS_TENANTS_SHARD, and without it every tenant is polled', () => {
    const yaml = tenantsFile(TENANTS);
    expect(config([], yaml, { PSS_TENANTS_SHARD: '1/3' }).tenants).toEqual(config(['--tenants.shard=1/3'], yaml).tenants);
    const all = config([], yaml);
    expect(all.tenants).toHaveLength(TENANTS.length);
    expect(all.shard).toBeUndefined();
  });

  it('refuses a malformed shard, and tenants whose ID would only come from the token', () => {
    const yaml = tenantsFile(TENANTS.slice(0, 2), ['  - { auth: managed_identity }']);
    expect(parse(['--tenants.shard=3/3'], tenantsFile(TENANTS))).toEqual({
      action: 'fail',
      errors: ['--tenants.shard: "3/3" is not a shard K/N (0-based K of N shards: 0 <= K < N <= 1000, e.g. 0/3, 1/3, 2/3)'],
    });
    expect(parse([], yaml, { PSS_TENANTS_SHARD: '0/2' })).toEqual({
      action: 'fail',
      errors: [
        "PSS_TENANTS_SHARD: /t.yml: tenants[2] has no tenant ID (managed identity would learn it from its token): sharding needs every tenant's ID; set it",
      ],
    });
    expect(parseConfig(['--tenants.shard=0/2'], {}, { readable: () => false, readText: () => '' })).toEqual({
      action: 'fail',
      errors: [
        "--tenants.shard: the tenant of the environment (no AZURE_TENANT_ID) has no tenant ID (managed identity would learn it from its token): sharding needs every tenant's ID; set it",
      ],
    });
    expect(parseConfig(['--demo', '--tenants.shard=0/2'], {})).toEqual({
      action: 'fail',
      errors: ['--tenants.shard: not used with --demo (the demo has one simulated tenant)'],
    });
  });
});
