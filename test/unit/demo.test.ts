import { describe, expect, it } from 'vitest';
import { createTenantPoll } from '../../src/collect/poll-tenant.js';
import { demoTenantAt, startDemo } from '../../src/demo.js';
import { createGraphClient } from '../../src/graph/client.js';
import { createTokenSource } from '../../src/graph/token.js';
import { createLogger, createRedactor } from '../../src/lib/log.js';

const STEP = 1000;

describe('demo tenant', () => {
  it('climbs as requirements get fixed, then one regresses and the cycle starts again', () => {
    const scores = Array.from({ length: 13 }, (_, i) => demoTenantAt(i * STEP, 0, STEP).score.currentScore);
    expect(scores).toEqual([20, 20, 20, 40, 40, 40, 60, 60, 60, 80, 80, 100, 20]);
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
      expect(later.data.score).toMatchObject({ currentScore: 60, maxScore: 100, updatedTimestamp: (t0 + 6 * STEP) / 1000 });
      // One expanded call for the score, requirements and history, then three pages of customers.
      expect(later.requests).toEqual(['200', '200', '200', '200']);
      expect(later.data.relationStatus).toEqual({ requirements: 'ok', history: 'ok', customerInsights: 'ok', securityAlerts: 'disabled' });
      expect(later.data.relations.requirements?.map((r) => [r.type, r.compliant, r.state, r.details?.kind])).toEqual([
        ['securityContactProvided', true, 'active', undefined],
        ['mfaEnforcedForAdmins', true, 'active', 'adminsMfa'],
        ['securityAlertsPromptlyResolved', true, 'active', 'responseTime'],
        ['mfaEnforcedForAdminsOfCustomers', false, 'active', 'customersMfa'],
        ['spendingBudgetSetForCustomerAzureSubscriptions', false, 'preview', 'spendingBudget'],
      ]);
      expect(later.data.relations.history).toHaveLength(90);
      expect(later.data.relations.customerInsights).toMatchObject({ seen: 240, pages: 3, truncated: false });
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
