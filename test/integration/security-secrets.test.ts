/**
 * Configured secrets stay redacted for the life of the process, whatever the number of tenants,
 * tokens or renewals: a token endpoint that echoes the client secret (as sent, form-urlencoded and
 * JSON-escaped) while the tenant is still failing, searched for on every surface an operator sees.
 */
import { createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, type Exporter, INTEGRATION_TIMEOUT_MS, killExporters, runExporter, startExporter, until } from '../helpers/exporter.js';
import { closeFakeClouds, startFakeCloud, type TokenAnswer, type TokenRequest } from '../helpers/fake-cloud.js';

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'pss-secrets-'));
});
// Tests run concurrently and clean up after themselves (onTestFinished); this is the safety net.
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
  rmSync(workDir, { recursive: true, force: true });
});

/** One client-secret tenant of a tenants file. */
interface SecretTenant {
  readonly tenantId: string;
  readonly secret: string;
  /** The random part of the secret: it survives every encoding, so finding it anywhere is a leak. */
  readonly marker: string;
  readonly envName: string;
}

/**
 * Secrets shaped like Entra ID's (a "~" among them) plus characters that URL encoding and JSON
 * escaping change: a quote, a backslash, a space, an accented letter.
 */
function secretTenants(count: number): SecretTenant[] {
  return Array.from({ length: count }, (_, i) => {
    const marker = randomBytes(12).toString('hex');
    return {
      tenantId: `0000${i.toString(16).padStart(4, '0')}-0000-4000-8000-${randomBytes(6).toString('hex')}`,
      secret: `Sx8~${i}"q\\w é.V4lue_nEVER-l0gged-${marker}`,
      marker,
      envName: `PSS_TEST_SECRET_${i}`,
    };
  });
}

/** Writes a tenants file naming each secret by its environment variable; returns the path and that environment. */
function tenantsFile(name: string, tenants: readonly SecretTenant[]): { path: string; env: Record<string, string> } {
  const path = join(workDir, `${name}-${randomUUID()}.yml`);
  const lines = ['tenants:'];
  for (const t of tenants) lines.push(`  - tenant_id: ${t.tenantId}`, `    client_id: ${randomUUID()}`, `    client_secret_env: ${t.envName}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return { path, env: Object.fromEntries(tenants.map((t) => [t.envName, t.secret])) };
}

/** A value as an HTML form (and MSAL's token request) encodes it. */
function formEncoded(value: string): string {
  return new URLSearchParams({ s: value }).toString().slice(2);
}

/** A token endpoint that refuses the secret and echoes it back as sent, URL-encoded and JSON-escaped. */
function echoingRefusal(request: TokenRequest): TokenAnswer {
  const secret = request.form.client_secret ?? '';
  const formBody = new URLSearchParams(request.form).toString();
  return {
    status: 401,
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify({
      error: 'invalid_client',
      error_description: `AADSTS7000215: Invalid client secret provided: client_secret=${formEncoded(secret)} (${JSON.stringify(JSON.stringify(secret))}, '${secret}'). Request body: ${formBody} Parameters: ${JSON.stringify(request.form)} Trace ID: ${randomUUID()}`,
      error_codes: [7000215],
    }),
  };
}

/** Fails with the tenants whose secret (in any form) is visible in the text. */
function expectNoSecrets(text: string, tenants: readonly SecretTenant[]): void {
  const forms = (t: SecretTenant) => [t.secret, encodeURIComponent(t.secret), formEncoded(t.secret), JSON.stringify(t.secret).slice(1, -1)];
  const leaked = tenants.filter((t) => text.includes(t.marker) || forms(t).some((f) => text.includes(f))).map((t) => t.tenantId);
  expect(leaked).toEqual([]);
}

/** Every surface of a running exporter: its log so far, /, /api/status and /metrics. */
async function surfaces(exporter: Exporter): Promise<string> {
  const [landing, api, metrics] = await Promise.all([exporter.get('/'), exporter.get('/api/status'), exporter.get('/metrics')]);
  expect([landing.status, api.status, metrics.status]).toEqual([200, 200, 200]);
  return [...exporter.stderrLines, exporter.stdout(), landing.body, api.body, metrics.body].join('\n');
}

/** The failed polls of each tenant, read from partner_security_poll_failures_total{reason="token"}. */
async function tokenFailures(exporter: Exporter): Promise<Map<string, number>> {
  const samples = await exporter.samples();
  return new Map(
    samples
      .filter((s) => s.name === 'partner_security_poll_failures_total' && s.labels.reason === 'token')
      .map((s) => [s.labels.tenant_id ?? '', s.value] as const),
  );
}

const TENANTS_BEYOND_ANY_BOUND = 60;

describe.concurrent('configured secrets are redacted for the life of the process', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it(`with ${TENANTS_BEYOND_ANY_BOUND} client-secret tenants all failing with a token endpoint that echoes the secret`, async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.tokenAnswer = echoingRefusal;
    const tenants = secretTenants(TENANTS_BEYOND_ANY_BOUND);
    const file = tenantsFile('many', tenants);
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      env: { ...file.env },
      args: [`--config.file=${file.path}`, '--poll.interval=1m', '--poll.concurrency=64', '--log.level=debug'],
    });
    await until(
      async () => (await tokenFailures(exporter)).size === tenants.length && [...(await tokenFailures(exporter)).values()].every((n) => n >= 1),
      30_000,
      'a token failure of every tenant',
    );
    // The check means something: every tenant sent its own secret and had it echoed back.
    const sent = new Set(cloud.tokenRequests.map((r) => r.clientSecret));
    expect(tenants.filter((t) => !sent.has(t.secret))).toEqual([]);
    const failed = exporter.stderrLines.filter((l) => l.includes('poll failed'));
    expect(failed.length).toBeGreaterThanOrEqual(tenants.length);
    expect(failed.every((l) => l.includes('AADSTS7000215') && l.includes('[REDACTED]'))).toBe(true);

    expectNoSecrets(await surfaces(exporter), tenants);
    const stopped = await exporter.stop();
    expect(stopped.code).toBe(0);
    expectNoSecrets(exporter.stderrLines.join('\n'), tenants);
  });

  it('after hundreds of token renewals, while one tenant is still failing with an echoing token endpoint', async ({ onTestFinished }) => {
    // Tokens that are due for renewal at once: every poll of every healthy tenant gets a new one.
    const cloud = await startFakeCloud({ onTestFinished, tokenLifetimeSeconds: 60 });
    const [victim, ...healthy] = secretTenants(21) as [SecretTenant, ...SecretTenant[]];
    cloud.tokenAnswer = (request) => (request.tenant === victim.tenantId ? echoingRefusal(request) : undefined);
    const file = tenantsFile('renewals', [victim, ...healthy]);
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      env: { ...file.env },
      args: [`--config.file=${file.path}`, '--poll.interval=1s', '--poll.concurrency=64', '--log.level=debug'],
    });
    const RENEWALS = 300;
    await until(() => cloud.issuedTokens.length >= RENEWALS, 45_000, `${RENEWALS} issued tokens`);
    const before = (await tokenFailures(exporter)).get(victim.tenantId) ?? 0;
    await until(async () => ((await tokenFailures(exporter)).get(victim.tenantId) ?? 0) > before, 10_000, 'a failure of the victim after the renewals');
    expect(cloud.tokenRequests.filter((r) => r.tenant === victim.tenantId).every((r) => r.clientSecret === victim.secret && r.status === 401)).toBe(true);

    const text = await surfaces(exporter);
    // The victim's failure is on the page, with the echo redacted rather than dropped.
    const api = JSON.parse((await exporter.get('/api/status')).body) as { tenants: { tenantId: string; health: { lastPoll: { message: string } | null } }[] };
    expect(api.tenants.find((t) => t.tenantId === victim.tenantId)?.health.lastPoll?.message).toMatch(/AADSTS7000215.*\[REDACTED\]/);
    expectNoSecrets(text, [victim, ...healthy]);
  });

  it('a tenants-file certificate password (client_certificate_password_env), echoed by Graph, is redacted everywhere', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const marker = randomBytes(12).toString('hex');
    const password = `Pw8~"q\\w é.nEVER-l0gged-${marker}`;
    // The key is encrypted with the password, so the credential can sign its assertion only by using it.
    const tls = new URL('../fixtures/tls/', import.meta.url);
    const key = createPrivateKey(readFileSync(new URL('server-key.pem', tls))).export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: password,
    });
    const certificate = join(workDir, `certificate-${randomUUID()}.pem`);
    writeFileSync(certificate, `${readFileSync(new URL('server.pem', tls), 'utf8')}${String(key)}`);
    const tenantId = `c0000000-0000-4000-8000-${randomBytes(6).toString('hex')}`;
    const file = join(workDir, `certificate-${randomUUID()}.yml`);
    writeFileSync(
      file,
      [
        'tenants:',
        `  - { tenant_id: ${tenantId}, client_id: ${randomUUID()}, client_certificate_path: "${certificate}", client_certificate_password_env: PASS_C }`,
        '',
      ].join('\n'),
    );
    // Graph echoes the password as sent, form-encoded and JSON-escaped (any echo will do: redaction cannot tell).
    cloud.graphDefault = {
      status: 500,
      body: { error: { code: 'generalException', message: `${password} ${formEncoded(password)} ${JSON.stringify(password)}` } },
    };
    const exporter = await startExporter({ cloud, onTestFinished, env: { PASS_C: password }, args: [`--config.file=${file}`] });
    const failed = await until(() => exporter.stderrLines.find((l) => l.includes('poll failed')), 30_000, 'the failed poll');
    // The check means something: the password opened the key, and Graph's echo reached the log, redacted.
    expect(cloud.tokenRequests.map((r) => r.auth)).toContain('assertion');
    expect(failed).toContain('generalException');
    expect(failed).toContain('[REDACTED]');
    expectNoSecrets(await surfaces(exporter), [{ tenantId, secret: password, marker, envName: 'PASS_C' }]);
  });

  it.for(['json', 'logfmt'] as const)('in backfill output (stdout and the %s log) and in --config.check output', async (format, { onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    cloud.tokenAnswer = echoingRefusal;
    const tenants = secretTenants(40);
    const file = tenantsFile('backfill', tenants);
    const env = { ...baseEnv(cloud), ...file.env };
    const backfill = await runExporter(
      ['backfill', '--output=-', `--config.file=${file.path}`, `--graph.endpoint=${cloud.url}`, `--log.format=${format}`],
      env,
    );
    expect(backfill.code).toBe(1);
    expect(backfill.stderr.split('\n').filter((l) => l.includes('reading the history failed') && l.includes('[REDACTED]'))).toHaveLength(tenants.length);
    expectNoSecrets(`${backfill.stdout}\n${backfill.stderr}`, tenants);

    const check = await runExporter(['--config.check', `--config.file=${file.path}`, `--graph.endpoint=${cloud.url}`], env);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`${tenants.length} tenant(s)`);
    expectNoSecrets(`${check.stdout}\n${check.stderr}`, tenants);
  });
});
