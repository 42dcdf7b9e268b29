/**
 * A big data part is kept as segments deflated apart and joined at each change: the joined stream
 * must be one gzip stream any reader decodes to the joined text, in whatever order the segments
 * are joined, with a trailer whose CRC-32 is combined from the segments'.
 */

import { crc32, gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc32Combine,
  createPartDeflater,
  type DeflatedChunks,
  deflateFinal,
  deflateSegment,
  gzipOfSegments,
  inflateSegments,
  joinSegments,
} from '../../../src/expose/gzip.js';

const bytes = fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a));
const text = fc.string({ maxLength: 400 }).map((s) => Buffer.from(s.repeat(1 + (s.length % 5))));

describe('segments deflated apart', () => {
  it('combine their CRC-32s as zlib does: crc(a + b) from crc(a), crc(b) and the length of b', () => {
    fc.assert(
      fc.property(bytes, bytes, (a, b) => {
        expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
      }),
      { numRuns: 300 },
    );
  });

  it('cut from one compressor, each inflates on its own and any order of them gunzips to the same order of texts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(text, { maxLength: 4 }), { minLength: 1, maxLength: 6 }), fc.nat(), text, async (segments, seed, last) => {
        const deflater = createPartDeflater();
        const cuts: DeflatedChunks[] = [];
        for (const chunks of segments) {
          for (const chunk of chunks) await deflater.write(chunk);
          cuts.push(await deflater.cut());
        }
        deflater.close();
        const parts = joinSegments(cuts);
        for (const [i, chunks] of segments.entries()) {
          const out: Buffer[] = [];
          for await (const chunk of inflateSegments([parts[i] as (typeof parts)[number]])) out.push(chunk);
          expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
        }
        // Any order, and with a separately deflated piece among them.
        const order = parts.map((_, i) => i).sort((a, b) => ((a * 7919 + seed) % 13) - ((b * 7919 + seed) % 13));
        const head = Buffer.from('# HELP x y\n');
        const joined = gzipOfSegments([deflateSegment(head), ...order.map((i) => parts[i] as (typeof parts)[number])], deflateFinal(last));
        const expected = Buffer.concat([head, ...order.map((i) => Buffer.concat(segments[i] ?? [])), last]);
        expect(gunzipSync(Buffer.concat(joined)).equals(expected)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('inflate in order through one inflater, batch after batch, to the joined text', async () => {
    const deflater = createPartDeflater();
    const texts = Array.from({ length: 600 }, (_, i) => Buffer.from(Array.from({ length: 400 }, (_, k) => ((i * 31 + k * k) % 251).toString(36)).join('|')));
    const cuts: DeflatedChunks[] = [];
    for (const text of texts) {
      await deflater.write(text);
      cuts.push(await deflater.cut());
    }
    deflater.close();
    const parts = joinSegments(cuts);
    expect(parts.reduce((n, p) => n + p.deflated.length, 0)).toBeGreaterThan(128 * 1024);
    const out: Buffer[] = [];
    for await (const chunk of inflateSegments(parts)) out.push(Buffer.from(chunk));
    expect(Buffer.concat(out).equals(Buffer.concat(texts))).toBe(true);
  });
});
