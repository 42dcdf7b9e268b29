import { describe, expect, it } from 'vitest';
import { createCollector } from '../src/collect.js';
import { demoCredential, demoTenantAt, startDemoGraph } from '../src/demo.js';
import { createGraphClient } from '../src/graph/client.js';
import { createTokenSource } from '../src/graph/token.js';
import { createRedactor } from '../src/log.js';

const STEP = 1000;

describe('demo tenant', () => {
  it('climbs as requirements get fixed, then one regresses and the cycle starts again', () => {
    const scores = Array.from({ length: 13 }, (_, i) => demoTenantAt(i * STEP, 0, STEP).score.currentScore);
    expect(scores).toEqual([20, 20, 20, 40, 40, 40, 60, 60, 60, 80, 80, 100, 20]);
    const early = demoTenantAt(0, 0, STEP);
    expect(early.requirements.filter((r) => r.complianceStatus === 'compliant').map((r) => r.requirementType)).toEqual(['securityContactProvided']);
    expect(early.history).toHaveLength(30);
  });

  it('is served through the real Graph client and parser with the static demo token', async () => {
    let now = 0;
    const demo = await startDemoGraph({ now: () => now, stepMs: STEP });
    try {
      const tokens = createTokenSource({ credential: demoCredential(), scope: 'https://graph.microsoft.com/.default', redact: createRedactor() });
      const graph = createGraphClient({ endpoint: demo.endpoint, timeoutMs: 5000, tokens, userAgent: 'test' });
      const poll = createCollector(graph, () => tokens.lastTenantId());
      const first = await poll(new AbortController().signal);
      now = 6 * STEP;
      const later = await poll(new AbortController().signal);
      expect(first.ok && first.score.currentScore).toBe(20);
      expect(later.ok && later.score).toMatchObject({ currentScore: 60, maxScore: 100, updatedTimestamp: (6 * STEP) / 1000 });
      expect(later.requests).toEqual(['200']);
    } finally {
      await demo.close();
    }
  });

  it('refuses requests without the demo token, like Graph would', async () => {
    const demo = await startDemoGraph();
    try {
      const res = await fetch(`${demo.endpoint}/beta/security/partner/securityScore`);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'InvalidAuthenticationToken' } });
    } finally {
      await demo.close();
    }
  });
});
