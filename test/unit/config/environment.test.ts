/**
 * What a first run gets wrong in the environment, refused at start-up and by --config.check alike
 * (both parse the configuration the same way): a PSS_ variable that sets no flag, and a client ID
 * that is a placeholder or no GUID.
 */
import { describe, expect, it } from 'vitest';
import { MAX_REPORTED_VARIABLES, unknownVariables } from '../../../src/config/flags.js';
import { parseConfig } from '../../../src/config/parse.js';
import { editDistance } from '../../../src/lib/suggest.js';

const CLIENT = '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40';
const SECRET_ENV = { AZURE_TENANT_ID: '8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b', AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'shh-very-secret' };
const noFiles = { readable: () => false, readText: () => '' };

function problems(env: Record<string, string>, argv: string[] = []): readonly string[] {
  const result = parseConfig(argv, env, noFiles);
  return result.action === 'fail' ? result.errors : [];
}

describe('PSS_ variables', () => {
  it.each([
    ['PSS_POLL_INTERVALL', 'PSS_POLL_INTERVAL'],
    ['PSS_LISTEN_ADDRESS', 'PSS_WEB_LISTEN_ADDRESS'],
    ['PSS_COLLECTOR_CUSTOMER_INSIGHT', 'PSS_COLLECTOR_CUSTOMER_INSIGHTS'],
    ['PSS_TENANT_SHARD', 'PSS_TENANTS_SHARD'],
  ])('%s names no flag: an error that suggests %s', (name, suggested) => {
    expect(problems({ ...SECRET_ENV, [name]: '5m' })).toEqual([
      `${name}: no flag is set by this variable (did you mean ${suggested}?); every PSS_ variable must name a flag (see --help)`,
    ]);
  });

  it('suggests nothing when no flag variable is near', () => {
    expect(problems({ ...SECRET_ENV, PSS_FROBNICATE: 'yes' })).toEqual([
      'PSS_FROBNICATE: no flag is set by this variable; every PSS_ variable must name a flag (see --help)',
    ]);
  });

  it('names the flag of a variable that exists only on the command line', () => {
    expect(problems({ ...SECRET_ENV, PSS_CONFIG_CHECK: 'true', PSS_VERSION: '1' })).toEqual([
      'PSS_CONFIG_CHECK: --config.check is not read from the environment; give it on the command line',
      'PSS_VERSION: --version is not read from the environment; give it on the command line',
    ]);
  });

  it('leaves alone flag variables, empty ones, other prefixes and the variables the tenants file names for secrets', () => {
    expect(problems({ ...SECRET_ENV, PSS_POLL_INTERVAL: '5m', PSS_UNSET: '', pss_lower: 'x', XPSS_OTHER: 'x' })).toEqual([]);
    const yaml = `tenants:\n  - { tenant_id: a.example.com, client_id: ${CLIENT}, client_secret_env: PSS_SECRET_A }\n`;
    const io = { readable: (p: string) => p === '/t.yml', readText: () => yaml };
    expect(parseConfig(['--config.file=/t.yml'], { PSS_SECRET_A: 'shh-secret' }, io).action).toBe('run');
  });

  it(`reports at most ${MAX_REPORTED_VARIABLES} by name, counts the rest, and shows long names cut`, () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) env[`PSS_JUNK_${i}`] = 'x';
    env[`PSS_${'X'.repeat(100_000)}`] = 'x';
    const found = unknownVariables(env, new Set());
    expect(found).toHaveLength(MAX_REPORTED_VARIABLES + 1);
    expect(found.at(-1)).toBe(`${5001 - MAX_REPORTED_VARIABLES} more PSS_ variable(s) that set no flag`);
    const long = unknownVariables({ [`PSS_POLL_INTERVAL${'L'.repeat(100_000)}`]: 'x' }, new Set());
    expect(long).toHaveLength(1);
    expect(long[0]?.length).toBeLessThan(300);
    expect(long[0]).toMatch(/^PSS_POLL_INTERVALL+…: no flag/);
  });
});

describe('the client ID', () => {
  it.each([
    ['the README placeholder', '<application id>', 'AZURE_CLIENT_ID: "<application id>" is a placeholder'],
    ['a name', 'my-app', "AZURE_CLIENT_ID: not a client ID (the app registration's Application (client) ID, a GUID)"],
    ['a GUID with a character too many', `${CLIENT}0`, 'AZURE_CLIENT_ID: not a client ID'],
    ['the nil GUID', '00000000-0000-0000-0000-000000000000', 'AZURE_CLIENT_ID: not a client ID'],
  ])('refuses %s, for an app registration and for a managed identity', (_what, value, message) => {
    for (const env of [{ ...SECRET_ENV, AZURE_CLIENT_ID: value }, { AZURE_CLIENT_ID: value }]) {
      const found = problems(env);
      expect(found).toHaveLength(1);
      expect(found[0]).toContain(message);
    }
  });

  it('never quotes a value that is not a placeholder: it may be the secret, set in the wrong variable', () => {
    const secret = 'Zq8~s3cr3t.V4lue_nEVER-l0gged-7Kp2';
    expect(problems({ ...SECRET_ENV, AZURE_CLIENT_ID: secret }).join('\n')).not.toContain(secret);
  });

  it('takes a GUID in either case, and a placeholder tenant ID is named as one', () => {
    expect(problems({ ...SECRET_ENV, AZURE_CLIENT_ID: CLIENT.toUpperCase() })).toEqual([]);
    expect(problems({ ...SECRET_ENV, AZURE_TENANT_ID: '<partner tenant id>' })).toEqual([
      'AZURE_TENANT_ID: "<partner tenant id>" is not a tenant ID (a GUID or a domain): a placeholder to replace with the partner tenant',
    ]);
  });
});

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['kitten', 'sitting', 3],
    ['PSS_POLL_INTERVALL', 'PSS_POLL_INTERVAL', 1],
    ['PSS_LISTEN_ADDRESS', 'PSS_WEB_LISTEN_ADDRESS', 4],
  ])('%j to %j: %i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});
