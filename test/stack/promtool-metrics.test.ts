/** The exposition text checked by the real promtool: the golden files and a live render with process metrics. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/expose/metrics.js';
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
    expect(promtool(text)).toBe('');
  });

  it('accepts the gzip answer with process metrics, GC durations and event loop delay', async () => {
    const snapshot = { ...initialSnapshot('t1'), score: { currentScore: 5 }, lastSuccessMs: Date.now(), polls: 1 };
    const metrics = createMetrics({ snapshots: () => [snapshot], build: { version: '1.2.3', nodeVersion: 'v24.0.0' }, maxStalenessMs: 0 });
    // Some garbage and a wait of one event loop turn, so that both have something to report.
    const garbage = Array.from({ length: 500_000 }, (_, i) => ({ i }));
    expect(garbage).toHaveLength(500_000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const text = gunzipSync(Buffer.concat(await metrics.renderGzipChunks())).toString('utf8');
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(promtool(text)).toBe('');
  });

  it('would catch a bad metric (the check can fail)', () => {
    expect(() => promtool('# HELP bad_total x\n# TYPE bad_total gauge\nbad_total 1\n')).toThrow(/non-counter metrics should not have "_total" suffix/);
  });
});
