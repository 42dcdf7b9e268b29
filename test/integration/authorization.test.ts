/**
 * The partner program settings, through the built exporter and the fake cloud: --partner.type and
 * partner_type decide which requirements are mandatory (an indirect reseller is exempt from the
 * alert-response requirement), --partner.validation-month and validation_month give the next
 * validation; the metrics and /api/status say the same.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLIENT_ID, clientSecretEnv, INTEGRATION_TIMEOUT_MS, killExporters, startExporter, until } from '../helpers/exporter.js';
import { closeFakeClouds, type FakeCloud, startFakeCloud } from '../helpers/fake-cloud.js';

afterEach(async () => {
  await killExporters();
  await closeFakeClouds();
});

const TENANT_A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const TENANT_B = 'bbbbbbbb-0000-4000-8000-00000000000b';

function requirement(type: string, complianceStatus: string) {
  return {
    '@odata.type': '#microsoft.graph.partner.security.securityRequirement',
    requirementType: type,
    complianceStatus,
    actionUrl: `https://partner.microsoft.com/dashboard/securityrequirements#${type}`,
    score: 0,
    maxScore: 20,
    state: 'active',
  };
}

/** Every mandatory requirement met but the alert response: at risk for a direct partner, not for an indirect reseller. */
function slowToAnswerAlerts(cloud: FakeCloud): void {
  cloud.graphDefault = {
    body: {
      value: {
        currentScore: 40,
        maxScore: 100,
        requirements: [
          requirement('mfaEnforcedForAdmins', 'compliant'),
          requirement('securityContactProvided', 'compliant'),
          requirement('securityAlertsPromptlyResolved', 'noncomplaint'),
        ],
        history: [],
      },
    },
  };
}

interface StatusJson {
  tenants: { tenantId: string; authorization: { state: string; sentence: string; mandatory: string[]; nextValidation: { at: string } | null } }[];
}

/** The start of the next March (UTC), as the exporter computes it now: this year's until March has ended. */
function nextMarch(): number {
  const now = new Date();
  const year = now.getUTCFullYear();
  return (Date.now() < Date.UTC(year, 3, 1) ? Date.UTC(year, 2, 1) : Date.UTC(year + 1, 2, 1)) / 1000;
}

describe('partner program settings', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('--partner.type=indirect_reseller leaves securityAlertsPromptlyResolved out of the mandatory set; the default counts it', async () => {
    const cloud = await startFakeCloud();
    slowToAnswerAlerts(cloud);
    const direct = await startExporter({ cloud });
    const reseller = await startExporter({ cloud, args: ['--partner.type=indirect_reseller'] });
    for (const [exporter, atRisk, mandatory] of [
      [direct, 1, 1],
      [reseller, 0, 0],
    ] as const) {
      await until(() => exporter.value('partner_security_authorization_at_risk'), 15_000, 'the authorization signal');
      expect(await exporter.value('partner_security_authorization_at_risk')).toBe(atRisk);
      expect(await exporter.value('partner_security_mandatory_requirements_noncompliant')).toBe(atRisk);
      expect(await exporter.value('partner_security_requirement_mandatory', { requirement_type: 'securityAlertsPromptlyResolved' })).toBe(mandatory);
    }
    const status = JSON.parse((await reseller.get('/api/status')).body) as StatusJson;
    expect(status.tenants[0]?.authorization).toMatchObject({ state: 'not_at_risk', mandatory: ['mfaEnforcedForAdmins', 'securityContactProvided'] });
    expect(status.tenants[0]?.authorization.sentence).toContain('all 2 requirements mandatory for an indirect reseller are met');
  });

  it('--partner.validation-month=3 exports the start of the next March and puts it on the status page; without it, nothing', async () => {
    const cloud = await startFakeCloud();
    slowToAnswerAlerts(cloud);
    const march = await startExporter({ cloud, env: { ...clientSecretEnv(), PSS_PARTNER_VALIDATION_MONTH: '3' } });
    const none = await startExporter({ cloud });
    await until(() => march.value('partner_security_authorization_at_risk'), 15_000, 'a poll');
    await until(() => none.value('partner_security_authorization_at_risk'), 15_000, 'a poll');
    expect(await march.value('partner_security_next_validation_timestamp_seconds')).toBe(nextMarch());
    expect(await none.value('partner_security_next_validation_timestamp_seconds')).toBeUndefined();
    const status = JSON.parse((await march.get('/api/status')).body) as StatusJson;
    expect(status.tenants[0]?.authorization.nextValidation?.at).toBe(new Date(nextMarch() * 1000).toISOString());
    expect((await march.get('/')).body).toMatch(/Next validation: <time datetime="[^"]+">March \d{4}<\/time>/);
  });

  it('partner_type and validation_month in the tenants file set each tenant its mandatory set and its next validation', async () => {
    const cloudA = await startFakeCloud({ tenantClaim: TENANT_A });
    const cloudB = await startFakeCloud({ tenantClaim: TENANT_B });
    slowToAnswerAlerts(cloudA);
    const file = join(mkdtempSync(join(tmpdir(), 'pss-partner-')), 'tenants.yml');
    writeFileSync(
      file,
      [
        'tenants:',
        `  - { tenant_id: ${TENANT_A}, client_id: ${CLIENT_ID}, client_secret_env: SECRET_A, authority_host: "${cloudA.url}", partner_type: indirect_reseller, validation_month: 3 }`,
        `  - { tenant_id: ${TENANT_B}, client_id: ${CLIENT_ID}, client_secret_env: SECRET_B, authority_host: "${cloudB.url}" }`,
        '',
      ].join('\n'),
    );
    const exporter = await startExporter({
      cloud: cloudA,
      args: [`--config.file=${file}`],
      env: { SECRET_A: 'secret-a-0123456789', SECRET_B: 'secret-b-0123456789' },
    });
    for (const tenant_id of [TENANT_A, TENANT_B]) await until(() => exporter.value('partner_security_authorization_at_risk', { tenant_id }), 15_000, tenant_id);
    expect(await exporter.value('partner_security_authorization_at_risk', { tenant_id: TENANT_A })).toBe(0);
    expect(await exporter.value('partner_security_authorization_at_risk', { tenant_id: TENANT_B })).toBe(1);
    expect(await exporter.value('partner_security_next_validation_timestamp_seconds', { tenant_id: TENANT_A })).toBe(nextMarch());
    expect(await exporter.value('partner_security_next_validation_timestamp_seconds', { tenant_id: TENANT_B })).toBeUndefined();
  });
});
