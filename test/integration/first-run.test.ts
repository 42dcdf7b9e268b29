/**
 * The first run, as a new user lives it: the exporter says which credential it chose and why, warns
 * when managed identity was chosen where there is none, and a first poll that fails is retried
 * with the usual backoff instead of after a whole interval; --config.check says the same before any run.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PollResult } from '../../src/collect/poll-tenant.js';
import { BACKOFF_BASE_MS, createPoller } from '../../src/collect/poller.js';
import { credentialChoice } from '../../src/config/credential-hint.js';
import { parseConfig } from '../../src/config/parse.js';
import { GraphError } from '../../src/graph/errors.js';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { CLIENT_ID, CLIENT_SECRET, INTEGRATION_TIMEOUT_MS, killExporters, runExporter, startExporter, TENANT_ID, until } from '../helpers/exporter.js';
import { closeFakeClouds, startFakeCloud } from '../helpers/fake-cloud.js';

const INTERVAL = 10 * 60_000;
const ok: PollResult = { ok: true, data: { score: { currentScore: 1 }, relations: {}, relationStatus: {}, relationErrors: {} }, requests: ['200'] };
const fail = (reason: 'token' | 'forbidden'): PollResult => ({ ok: false, error: new GraphError(reason, 'no'), requests: [] });

describe('a failed first poll', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-12-01T12:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is retried with the backoff (3 s, 6 s, ...) until a poll has succeeded once; after that a lasting failure waits the interval', async () => {
    const results = [fail('token'), fail('token'), ok, fail('forbidden')];
    const calls: number[] = [];
    const start = Date.now();
    const poller = createPoller({
      poll: async () => {
        calls.push(Date.now() - start);
        return results.shift() ?? ok;
      },
      intervalMs: INTERVAL,
      logger: createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} }),
      random: () => 1,
    });
    poller.start();
    await vi.advanceTimersByTimeAsync(2 * INTERVAL + 10 * BACKOFF_BASE_MS);
    await poller.stop();
    expect(calls.slice(0, 5)).toEqual([0, BACKOFF_BASE_MS, 3 * BACKOFF_BASE_MS, 3 * BACKOFF_BASE_MS + INTERVAL, 3 * BACKOFF_BASE_MS + 2 * INTERVAL]);
  });
});

describe('the credential chosen', () => {
  const choice = (env: Record<string, string>) => {
    const parsed = parseConfig([], env);
    if (parsed.action !== 'run') throw new Error(JSON.stringify(parsed));
    const tenant = parsed.config.tenants[0];
    if (tenant === undefined) throw new Error('no tenant');
    return credentialChoice(tenant, env);
  };
  const ids = { AZURE_TENANT_ID: '8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b', AZURE_CLIENT_ID: '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40' };

  it('names the variable that chose it', () => {
    expect(choice({ ...ids, AZURE_CLIENT_SECRET: 'a-secret-value' })).toEqual({ credential: 'client secret', reason: 'AZURE_CLIENT_SECRET is set' });
  });

  it('says why managed identity was chosen, and warns when nothing says this is an Azure host', () => {
    const chosen = choice({});
    expect(chosen.credential).toBe('managed identity');
    expect(chosen.reason).toBe('none of AZURE_CLIENT_SECRET, AZURE_CLIENT_SECRET_FILE, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE is set');
    expect(chosen.warning).toContain('works only on an Azure host');
    expect(chosen.warning).toContain('--demo');
    // App Service, Functions, Container Apps and Arc say so in the environment: no warning there.
    expect(choice({ IDENTITY_ENDPOINT: 'http://localhost:42356/msi/token' }).warning).toBeUndefined();
  });
});

describe('the exporter at start-up', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  afterEach(async () => {
    await killExporters();
    await closeFakeClouds();
  });

  it('logs the credential it chose and why, one line per tenant', async () => {
    const cloud = await startFakeCloud();
    const exporter = await startExporter({ cloud });
    const line = await until(() => exporter.logs().find((l) => l.msg === 'credential chosen'), 10_000, 'the credential line');
    expect(line).toMatchObject({ level: 'info', credential: 'client secret', reason: 'AZURE_CLIENT_SECRET is set' });
  });
});

describe('--config.check, as a new user runs it', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  const PATH = process.env.PATH ?? '/usr/bin:/bin';

  it('says a forgotten secret means managed identity, and warns that it works only on Azure', async () => {
    const check = await runExporter(['--config.check'], { PATH, AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID });
    expect(check.code).toBe(0);
    expect(check.stdout).toBe(
      `configuration OK: 1 tenant(s)\n  - ${TENANT_ID}: managed identity (none of AZURE_CLIENT_SECRET, AZURE_CLIENT_SECRET_FILE, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE is set)\n`,
    );
    expect(check.stderr).toMatch(
      new RegExp(
        `^partner-security-score-exporter: warning: ${TENANT_ID}: managed identity works only on an Azure host .*AZURE_CLIENT_SECRET .* missing\\?\\n$`,
      ),
    );
  });

  it('refuses the README placeholder as a client ID and a PSS_ variable that sets no flag, at once, exactly as start-up does', async () => {
    const env = { PATH, AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: '<application id>', AZURE_CLIENT_SECRET: CLIENT_SECRET, PSS_POLL_INTERVALL: '5m' };
    const expected = [
      '  - AZURE_CLIENT_ID: "<application id>" is a placeholder: put the Application (client) ID of the app registration here (a GUID)',
      '  - PSS_POLL_INTERVALL: no flag is set by this variable (did you mean PSS_POLL_INTERVAL?); every PSS_ variable must name a flag (see --help)',
    ];
    for (const args of [['--config.check'], ['--web.listen-address=127.0.0.1:0']]) {
      const result = await runExporter(args, env);
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: '' });
      expect(result.stderr.split('\n').filter((l) => l.startsWith('  - '))).toEqual(expected);
      expect(result.stderr).not.toContain(CLIENT_SECRET);
    }
  });
});
