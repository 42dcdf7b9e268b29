/** The exposition text checked by the real promtool: the golden files and a live render with process metrics. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { initialSnapshot } from '../../src/snapshot.js';

function promtool(text: string): string {
  return execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

describe('promtool check metrics', () => {
  it.each(['healthy.prom', 'failing.prom'])('accepts the golden %s without a lint warning', (name) => {
    expect(promtool(readFileSync(new URL(`../fixtures/golden/${name}`, import.meta.url), 'utf8'))).toBe('');
  });

  it('accepts a render with process metrics on', async () => {
    const snapshot = { ...initialSnapshot('t1'), score: { currentScore: 5 }, lastSuccessMs: Date.now(), polls: 1 };
    const text = await createMetrics({ snapshots: () => [snapshot], build: { version: '1.2.3', nodeVersion: 'v24.0.0' }, maxStalenessMs: 0 }).render();
    expect(text).toContain('process_resident_memory_bytes');
    // prom-client registers it by default; promtool rejects a gauge named _total, so the exporter drops it.
    expect(text).not.toContain('nodejs_active_handles_total');
    expect(promtool(text)).toBe('');
  });

  it('would catch a bad metric (the check can fail)', () => {
    expect(() => promtool('# HELP bad_total x\n# TYPE bad_total gauge\nbad_total 1\n')).toThrow(/non-counter metrics should not have "_total" suffix/);
  });
});
