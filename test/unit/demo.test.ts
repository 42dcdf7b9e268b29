import { describe, expect, it } from 'vitest';
import { assessAuthorization } from '../../src/collect/authorization.js';
import { createTenantPoll } from '../../src/collect/poll-tenant.js';
import { demoPartner, demoTenantAt, startDemo } from '../../src/demo.js';
import { createGraphClient } from '../../src/graph/client.js';
import { createTokenSource } from '../../src/graph/token.js';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { initialSnapshot } from '../../src/snapshot.js';

const STEP = 1000;

describe('demo tenant', () => {
  it('climbs as requirements get fixed, then one regresses and the cycle starts again', () => {
    const scores = Array.from({ length: 13 }, (_, i) => demoTenantAt(i * STEP, 0, STEP).score.currentScore);
    // Customer-admin MFA is met at step 1, lost at 7 and met again at 9: the dip in the middle.
    expect(scores).toEqual([20, 40, 40, 60, 60, 60, 80, 60, 60, 80, 80, 100, 20]);
    const early = demoTenantAt(0, 0, STEP);
    expect(early.requirements.filter((r) => r.complianceStatus === 'compliant').map((r) => r.requirementType)).toEqual(['securityContactProvided']);
    expect(early.history).toHaveLength(90);
    expect(early.customers).toHaveLength(240);
  });

  it('is served through the real Graph client and parser with the static demo token', async () => {
    const t0 = Date.parse('2026-11-29T12:00:00Z');
    let now = t0;
    const demo = await startDemo({ now: () => now, stepMs: STEP });
    try {
      // The fake Graph stands in for the real one: tokens are asked for the real Graph's scope.
      expect(demo.scope).toBe('https://graph.microsoft.com/.default');
      const tokens = createTokenSource({ credential: demo.credential, scope: demo.scope, redact: createRedactor() });
      const graph = createGraphClient({ endpoint: demo.endpoint, timeoutMs: 5000, tokens, userAgent: 'test' });
      const collectors = { requirements: true, history: true, customerInsights: true, maxPages: 10, maxCustomers: 1000 };
      const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
      const poll = createTenantPoll({ graph, collectors, tenantOfToken: () => tokens.lastTenantId(), logger });
      const first = await poll(new AbortController().signal);
      now = t0 + 6 * STEP;
      const later = await poll(new AbortController().signal);
      if (!first.ok || !later.ok) throw new Error('demo poll failed');
      expect(first.data.score.currentScore).toBe(20);
      expect(later.data.score).toMatchObject({ currentScore: 80, maxScore: 100, updatedTimestamp: (t0 + 6 * STEP) / 1000 });
      // One expanded call for the score, requirements and history, then three pages of customers.
      expect(later.requests).toEqual(['200', '200', '200', '200']);
      expect(later.data.relationStatus).toEqual({ requirements: 'ok', history: 'ok', customerInsights: 'ok', securityAlerts: 'disabled' });
      expect(later.data.relations.requirements?.map((r) => [r.type, r.compliant, r.state, r.details?.kind])).toEqual([
        ['securityContactProvided', true, 'active', undefined],
        ['mfaEnforcedForAdmins', true, 'active', 'adminsMfa'],
        ['securityAlertsPromptlyResolved', true, 'active', 'responseTime'],
        ['mfaEnforcedForAdminsOfCustomers', true, 'active', 'customersMfa'],
        ['spendingBudgetSetForCustomerAzureSubscriptions', false, 'preview', 'spendingBudget'],
      ]);
      expect(later.data.relations.history).toHaveLength(90);
      expect(later.data.relations.customerInsights).toMatchObject({ seen: 240, pages: 3, truncated: false });
    } finally {
      await demo.close();
    }
  });

  it('passes through "at risk" and recovers within its cycle, a recommended requirement regressing on the way', async () => {
    const t0 = Date.parse('2026-11-29T12:00:00Z');
    let now = t0;
    const demo = await startDemo({ now: () => now, stepMs: STEP });
    try {
      const tokens = createTokenSource({ credential: demo.credential, scope: demo.scope, redact: createRedactor() });
      const graph = createGraphClient({ endpoint: demo.endpoint, timeoutMs: 5000, tokens, userAgent: 'test' });
      const collectors = { requirements: true, history: false, customerInsights: false, maxPages: 10, maxCustomers: 0 };
      const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
      const poll = createTenantPoll({ graph, collectors, tenantOfToken: () => undefined, logger });
      const steps = [];
      for (let step = 0; step <= 12; step++) {
        now = t0 + step * STEP;
        const result = await poll(new AbortController().signal);
        if (!result.ok) throw new Error(`demo poll failed: ${result.error.message}`);
        const requirements = result.data.relations.requirements ?? [];
        const snapshot = { ...initialSnapshot('demo', {}, demo.target.partner), relations: { requirements }, lastSuccessMs: now };
        const a = assessAuthorization(snapshot, now, 0);
        const customers = requirements.find((r) => r.type === 'mfaEnforcedForAdminsOfCustomers')?.compliant;
        steps.push([step, a.state, a.failing.map((r) => r.type).join(','), customers]);
      }
      expect(steps).toEqual([
        [0, 'at_risk', 'mfaEnforcedForAdmins,securityAlertsPromptlyResolved', false],
        [1, 'at_risk', 'mfaEnforcedForAdmins,securityAlertsPromptlyResolved', true],
        [2, 'at_risk', 'mfaEnforcedForAdmins,securityAlertsPromptlyResolved', true],
        [3, 'at_risk', 'securityAlertsPromptlyResolved', true],
        [4, 'at_risk', 'securityAlertsPromptlyResolved', true],
        [5, 'at_risk', 'securityAlertsPromptlyResolved', true],
        [6, 'not_at_risk', '', true],
        // The recommended customer-admin MFA regresses while the partner is out of risk: it stays out.
        [7, 'not_at_risk', '', false],
        [8, 'not_at_risk', '', false],
        [9, 'not_at_risk', '', true],
        [10, 'not_at_risk', '', true],
        [11, 'not_at_risk', '', true],
        // The next cycle starts at risk again.
        [12, 'at_risk', 'mfaEnforcedForAdmins,securityAlertsPromptlyResolved', false],
      ]);
    } finally {
      await demo.close();
    }
  });

  it('reports an average alert response over 24 hours exactly while securityAlertsPromptlyResolved is not compliant', () => {
    for (let step = 0; step < 12; step++) {
      const r = demoTenantAt(step * STEP, 0, STEP).requirements.find((x) => x.requirementType === 'securityAlertsPromptlyResolved') as
        | { complianceStatus: string; averageResponseTimeInHours: number }
        | undefined;
      expect(r?.complianceStatus === 'compliant', `step ${step}`).toBe((r?.averageResponseTimeInHours ?? 0) <= 24);
    }
  });

  it('is a direct partner validated two months ahead unless --partner.* says otherwise', async () => {
    expect(demoPartner({ type: 'direct' }, Date.parse('2026-11-29T12:00:00Z'))).toEqual({ type: 'direct', validationMonth: 1 });
    expect(demoPartner({ type: 'direct' }, Date.parse('2026-03-01T00:00:00Z'))).toEqual({ type: 'direct', validationMonth: 5 });
    expect(demoPartner({ type: 'indirect_reseller', validationMonth: 7 }, 0)).toEqual({ type: 'indirect_reseller', validationMonth: 7 });
    const demo = await startDemo({ partner: { type: 'indirect_provider', validationMonth: 2 } });
    try {
      expect(demo.target).toMatchObject({ tenantId: 'demo', partner: { type: 'indirect_provider', validationMonth: 2 }, endpoint: demo.endpoint });
    } finally {
      await demo.close();
    }
  });

  it('refuses requests without the demo token, like Graph would', async () => {
    const demo = await startDemo();
    try {
      const res = await fetch(`${demo.endpoint}/beta/security/partner/securityScore`);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'InvalidAuthenticationToken' } });
    } finally {
      await demo.close();
    }
  });
});
