/**
 * The demo's security alerts, read through the real Graph client and parser: they open, age and are
 * resolved over the demo cycle, one after crossing the 20-hour threshold, beside a test alert.
 */
import { describe, expect, it } from 'vitest';
import { createTenantPoll } from '../../../src/collect/poll-tenant.js';
import { summarizeAlerts } from '../../../src/collect/security-alerts.js';
import { startDemo } from '../../../src/demo.js';
import { createGraphClient } from '../../../src/graph/client.js';
import { createTokenSource } from '../../../src/graph/token.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';

const STEP = 1000;
const HOUR = 3600;

describe('demo security alerts', () => {
  it('open, age past 20 hours and get resolved over the cycle; the test alert never counts as open', async () => {
    const t0 = Date.parse('2026-11-29T12:00:00Z');
    let now = t0;
    const demo = await startDemo({ now: () => now, stepMs: STEP });
    try {
      const tokens = createTokenSource({ credential: demo.credential, scope: demo.scope, redact: createRedactor() });
      const graph = createGraphClient({ endpoint: demo.endpoint, timeoutMs: 5000, tokens, userAgent: 'test' });
      const collectors = { requirements: false, history: false, customerInsights: false, securityAlerts: true, maxPages: 10, maxCustomers: 1000 };
      const logger = createLogger({ level: 'error', format: 'json', redact: createRedactor(), write: () => {} });
      const poll = createTenantPoll({ graph, collectors, tenantOfToken: () => undefined, logger });
      const at = async (step: number) => {
        now = t0 + step * STEP;
        const result = await poll(new AbortController().signal);
        if (!result.ok) throw new Error(`demo poll failed: ${result.error.message}`);
        const alerts = result.data.relations.securityAlerts;
        if (alerts === undefined) throw new Error('no alerts');
        return { alerts, summary: summarizeAlerts(alerts, now / 1000), requests: result.requests };
      };

      const start = await at(0);
      // Seven resolved in the last 30 days, the test alert and one open: three pages of four.
      expect(start.requests).toEqual(['200', '200', '200', '200']);
      expect(start.summary.open).toEqual([{ status: 'active', severity: 'low', alertType: 'unusualSignInActivity', count: 1 }]);
      expect([...start.summary.testOpen]).toEqual([['high', 1]]);
      expect(start.summary.resolvedInWindow).toBe(7);
      expect(Object.fromEntries(start.summary.resolvedByReason)).toEqual({ legitimate: 5, ignore: 1, fraud: 1, other: 0 });
      // Detected in the last 7 days: the open one and the two resolved 2 and 5 days ago.
      expect(Object.fromEntries(start.summary.detectedLast7Days)).toEqual({ informational: 0, low: 2, medium: 1, high: 0 });

      const crossing = await at(9);
      const age = now / 1000 - (crossing.summary.oldestOpenBySeverity.get('high') ?? Number.NaN);
      expect(age).toBeGreaterThan(20 * HOUR);
      expect(age).toBeLessThan(24 * HOUR);
      expect(crossing.summary.open.map((o) => [o.alertType, o.status])).toEqual(
        expect.arrayContaining([
          ['unusualAzureConsumption', 'investigating'],
          ['unusualSignInActivity', 'active'],
        ]),
      );

      const resolved = await at(10);
      expect(resolved.summary.oldestOpenBySeverity.has('high')).toBe(false);
      // The two demo alerts resolved this cycle join the seven from the past.
      expect(resolved.summary.resolvedInWindow).toBe(9);
      // Personal data sent by the demo (resolvedBy) never reaches the snapshot.
      expect(JSON.stringify(resolved.alerts)).not.toContain('demo.admin@partner.example');
    } finally {
      await demo.close();
    }
  });
});
