/**
 * The data part is written as text straight from the snapshots (src/expose/render.ts), no longer
 * through prom-client's gauges: prom-client's registry stays the reference for the exposition
 * rules, and any family, label text and value must come out byte for byte as it writes them.
 */
import fc from 'fast-check';
import { Counter, Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ChunkWriter } from '../../../src/expose/exposition.js';
import { tenantLabeller } from '../../../src/expose/metrics.js';
import { dataChunks, type MetricSpec, type RenderInput } from '../../../src/expose/render.js';
import { initialSnapshot, type TenantSnapshot } from '../../../src/snapshot.js';

const build = { version: '1.2.3', revision: 'abc"\\\n', nodeVersion: 'v24.0.0' };

/** Text with what the format escapes (backslash, newline, double quote) and more. */
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', '\\', '\n', '"', 'a\\nb', '\\"', 'ü€😀', '\r\t'));
const value = fc.oneof(
  fc.integer({ min: -1e6, max: 1e6 }),
  fc.double({ noNaN: true }),
  fc.constantFrom(0, -0, 1.5e300, 5e-324, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
);
/** One family with samples per tenant: labels a and b, values (label sets may repeat). */
const family = fc.record({
  // prom-client wants some help text; every family of the exporter has one.
  help: text.map((h) => `h${h}`),
  type: fc.constantFrom('gauge' as const, 'counter' as const),
  perTenant: fc.array(fc.array(fc.tuple(text, text, value), { maxLength: 5 }), { minLength: 3, maxLength: 3 }),
});

/** The same samples through prom-client's gauges and counters, as the exporter used to render them. */
async function throughPromClient(
  families: readonly { help: string; type: 'gauge' | 'counter'; perTenant: [string, string, number][][] }[],
  tenants: readonly TenantSnapshot[],
  constant: readonly string[],
) {
  const registry = new Registry();
  const labelsOf = tenantLabeller(constant);
  families.forEach((f, i) => {
    const metric = new (f.type === 'gauge' ? Gauge : Counter)({
      name: `m${i}`,
      help: f.help,
      labelNames: ['tenant_id', ...constant, 'a', 'b'],
      registers: [registry],
    });
    tenants.forEach((tenant, t) => {
      for (const [a, b, v] of f.perTenant[t] ?? []) {
        const labels = { ...labelsOf(tenant.tenantId, tenant.labels), a, b };
        if (metric instanceof Gauge) metric.set(labels, v);
        else metric.inc(labels, v);
      }
    });
  });
  new Gauge({
    name: 'partner_security_build_info',
    help: 'A metric with a constant 1 value labelled by the version and source revision of the exporter and the version of Node.js.',
    labelNames: ['version', 'revision', 'nodejs_version'],
    registers: [registry],
  }).set({ version: build.version, revision: build.revision, nodejs_version: build.nodeVersion }, 1);
  return registry.metrics();
}

function render(input: RenderInput, families: readonly MetricSpec[], constant: readonly string[], chunkBytes?: number): string {
  return Array.from(dataChunks(input, { families, tenantLabels: tenantLabeller(constant), build }, chunkBytes), (c) => c.toString('utf8')).join('');
}

describe('the data part written as text', () => {
  it('is byte for byte what prom-client writes for the same samples, whatever the text and values', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(family, { minLength: 1, maxLength: 4 }), text, fc.integer({ min: 1, max: 200 }), async (families, partner, chunkBytes) => {
        // Counters only ever grow by finite steps: prom-client refuses a negative or infinite increment.
        const step = (v: number) => (Number.isFinite(v) ? Math.abs(v) : 1);
        const fixed = families.map((f) =>
          f.type === 'counter' ? { ...f, perTenant: f.perTenant.map((s) => s.map(([a, b, v]) => [a, b, step(v)] as [string, string, number])) } : f,
        );
        const tenants = [initialSnapshot('t1', { partner }), initialSnapshot('t"2\\'), initialSnapshot('t3', { partner: '' })];
        const specs: MetricSpec[] = fixed.map((f, i) => ({
          name: `m${i}`,
          help: f.help,
          type: f.type,
          labels: ['a', 'b'],
          samples: (t) => (f.perTenant[tenants.indexOf(t)] ?? []).map(([a, b, v]) => [{ a, b }, v] as const),
        }));
        const input: RenderInput = { snapshots: tenants, ctx: { nowMs: 0, monoNowMs: 0, maxStalenessMs: 0 } };
        const expected = await throughPromClient(fixed, tenants, ['partner']);
        // prom-client writes NaN as "Nan"; no sample of the exporter is NaN (fc.double above excludes it).
        expect(render(input, specs, ['partner'], chunkBytes)).toBe(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('cuts the text into chunks of about the size asked for, in one buffer used again, never splitting a character', () => {
    const chunks: string[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const writer = new ChunkWriter(10);
    for (let i = 0; i < 20; i++) {
      writer.write('ü€😀ab');
      if (writer.full()) {
        const chunk = writer.take() as Buffer;
        buffers.add(chunk.buffer);
        chunks.push(chunk.toString('utf8'));
      }
    }
    chunks.push(writer.take()?.toString('utf8') ?? '');
    expect(chunks.length).toBeGreaterThan(5);
    expect(buffers.size).toBe(1);
    expect(chunks.join('')).toBe('ü€😀ab'.repeat(20));
    for (const chunk of chunks) expect(chunk).not.toContain('\uFFFD');
    // A line longer than the buffer gets one of its own.
    writer.write('x'.repeat(100_000));
    expect(writer.take()?.length).toBe(100_000);
  });
});
