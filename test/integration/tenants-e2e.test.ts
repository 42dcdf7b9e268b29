import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startExporter } from '../helpers/exporter.js';
import { closeFakeClouds, FIXTURE_SCORE, INVALID_CLIENT_SECRET, jwtPart, startFakeCloud } from '../helpers/fake-cloud.js';

afterEach(async () => {
  await closeFakeClouds();
});

const TENANT_A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const TENANT_B = 'bbbbbbbb-0000-4000-8000-00000000000b';
const TENANT_C = 'cccccccc-0000-4000-8000-00000000000c';

function until<T>(fn: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  const loop = async (): Promise<T> => {
    const value = await fn();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
    return loop();
  };
  return loop();
}

function requirement(type: string, complianceStatus: string) {
  return {
    '@odata.type': '#microsoft.graph.partner.security.securityRequirement',
    requirementType: type,
    complianceStatus,
    score: 0,
    maxScore: 20,
    state: 'active',
  };
}

describe('several partner tenants', () => {
  it("one tenant's throttling or bad secret never delays or hides another's data", async ({ onTestFinished }) => {
    // Each tenant has its own authority; tokens carry the tenant as tid, and the shared fake Graph
    // throttles tenant A by its token while it answers tenant C at once.
    const cloudA = await startFakeCloud({ tenantClaim: TENANT_A, onTestFinished });
    const cloudB = await startFakeCloud({ tenantClaim: TENANT_B, onTestFinished });
    const cloudC = await startFakeCloud({ tenantClaim: TENANT_C, onTestFinished });
    cloudB.refuseTokens = INVALID_CLIENT_SECRET;
    cloudA.graphDefault = (request) => {
      const tid = jwtPart((request.authorization ?? '').replace(/^Bearer /, ''), 1).tid;
      return tid === TENANT_A
        ? { status: 429, headers: { 'retry-after': '60' }, body: { error: { code: 'TooManyRequests', message: 'Too many requests.' } } }
        : {};
    };
    const dir = mkdtempSync(join(tmpdir(), 'pss-tenants-'));
    const file = join(dir, 'tenants.yml');
    writeFileSync(
      file,
      [
        'tenants:',
        `  - { tenant_id: ${TENANT_A}, client_id: 770eb9fc-2394-4c87-89f1-71ac487a8bb9, client_secret_env: SECRET_A, authority_host: "${cloudA.url}", labels: { partner: alpha } }`,
        `  - { tenant_id: ${TENANT_B}, client_id: acd33a7c-4184-4b71-8198-fc8f7580fd87, client_secret_env: SECRET_B, authority_host: "${cloudB.url}", labels: { partner: beta } }`,
        `  - { tenant_id: ${TENANT_C}, client_id: 1dc2ce1f-f1a4-4416-87d8-c834a6609d9b, client_secret_env: SECRET_C, authority_host: "${cloudC.url}" }`,
        '',
      ].join('\n'),
    );
    const exporter = await startExporter({
      cloud: cloudA,
      onTestFinished,
      args: [`--config.file=${file}`, '--poll.interval=1s', '--no-collector.requirements', '--no-collector.history'],
      env: { SECRET_A: 'secret-a-0123456789', SECRET_B: 'secret-b-0123456789', SECRET_C: 'secret-c-0123456789' },
    });

    await until(async () => ((await exporter.value('partner_security_polls_total', { tenant_id: TENANT_C })) ?? 0) >= 3, 10_000, 'three polls of tenant C');
    const samples = await exporter.samples();
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value('partner_security_score_current', { tenant_id: TENANT_C, partner: '' })).toBe(FIXTURE_SCORE.current);
    expect(value('partner_security_up', { tenant_id: TENANT_C })).toBe(1);
    expect(value('partner_security_up', { tenant_id: TENANT_A, partner: 'alpha' })).toBe(0);
    expect(value('partner_security_poll_failures_total', { tenant_id: TENANT_A, reason: 'throttled' })).toBe(1);
    expect(value('partner_security_up', { tenant_id: TENANT_B, partner: 'beta' })).toBe(0);
    expect(value('partner_security_poll_failures_total', { tenant_id: TENANT_B, reason: 'token' })).toBeGreaterThanOrEqual(1);
    expect(value('partner_security_score_current', { tenant_id: TENANT_A })).toBeUndefined();
    // Tenant A waits for its Retry-After: one Graph request in all, while C was polled again and again.
    const tidOf = (auth?: string) => jwtPart((auth ?? '').replace(/^Bearer /, ''), 1).tid;
    expect(cloudA.graphRequests.filter((r) => tidOf(r.authorization) === TENANT_A)).toHaveLength(1);
    expect(cloudA.graphRequests.filter((r) => tidOf(r.authorization) === TENANT_C).length).toBeGreaterThanOrEqual(3);
    expect(cloudB.tokenRequests.length).toBeGreaterThanOrEqual(1);
    expect(exporter.stderrLines.join('\n')).not.toMatch(/secret-[abc]-0123456789/);
  });

  it('drops requirements that disappear from Graph at the next poll, and marks a missing relation', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const withBoth = {
      value: {
        ...JSON.parse('{"currentScore": 50, "maxScore": 100}'),
        requirements: [requirement('mfaEnforcedForAdmins', 'nonCompliant'), requirement('securityContactProvided', 'compliant')],
        history: [],
      },
    };
    const withOne = { value: { currentScore: 70, maxScore: 100, requirements: [requirement('mfaEnforcedForAdmins', 'compliant')], history: [] } };
    cloud.graphQueue.push({ body: withBoth });
    cloud.graphDefault = { body: withOne };
    // Customer insights are turned on, but Graph has none for this tenant: 404.
    cloud.relationDefault = (request) =>
      request.path.endsWith('/customerInsights') ? { status: 404, body: { error: { code: 'ResourceNotFound', message: 'Resource not found.' } } } : {};
    const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s', '--poll.max-staleness=0', '--collector.customer-insights'] });
    await until(async () => ((await exporter.value('partner_security_polls_total')) ?? 0) >= 2, 10_000, 'two polls');
    const samples = await exporter.samples();
    const types = samples.filter((s) => s.name === 'partner_security_requirement_compliant').map((s) => [s.labels.requirement_type, s.value]);
    expect(types).toEqual([['mfaEnforcedForAdmins', 1]]);
    expect(samples.find((s) => s.name === 'partner_security_requirement_info' && s.labels.requirement_type === 'securityContactProvided')).toBeUndefined();
    expect(samples.find((s) => s.name === 'partner_security_relation_up' && s.labels.relation === 'requirements')?.value).toBe(1);
    expect(samples.find((s) => s.name === 'partner_security_relation_up' && s.labels.relation === 'customerInsights')?.value).toBe(0);
    // Turned off, a relation has no series at all.
    expect(samples.find((s) => s.name === 'partner_security_relation_up' && s.labels.relation === 'securityAlerts')).toBeUndefined();
  });

  it('a 401 or 403 names what to check the way the tenant was configured', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ tenantClaim: TENANT_A, onTestFinished });
    cloud.graphDefault = (request) => {
      const tid = jwtPart((request.authorization ?? '').replace(/^Bearer /, ''), 1).tid;
      return tid === TENANT_A ? { status: 401, body: { error: { code: 'InvalidAuthenticationToken', message: 'Access token validation failure.' } } } : {};
    };
    const file = join(mkdtempSync(join(tmpdir(), 'pss-tenants-hint-')), 'tenants.yml');
    writeFileSync(
      file,
      [
        'tenants:',
        `  - { tenant_id: ${TENANT_A}, client_id: 770eb9fc-2394-4c87-89f1-71ac487a8bb9, client_secret_env: SECRET_A, authority_host: "${cloud.url}" }`,
        '',
      ].join('\n'),
    );
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: [`--config.file=${file}`, '--no-collector.requirements', '--no-collector.history'],
      env: { SECRET_A: 'secret-a-0123456789' },
    });
    const failed = await until(async () => exporter.logs().find((l) => l.msg === 'poll failed'), 10_000, 'the failed poll');
    expect(String(failed.err)).toContain(
      `The token was rejected: check tenants[0].tenant_id, tenants[0].client_id and tenants[0].client_secret_env in ${file}, and that the client secret is current`,
    );
    expect(String(failed.err)).not.toContain('AZURE_TENANT_ID');
  });
});
