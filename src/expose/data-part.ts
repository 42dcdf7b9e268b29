/**
 * The data part of /metrics, rendered once per change and kept deflated, in one of two ways:
 * - whole, while it is small (the demo's 0.2 MB): one pass through one compressor, kept plain too,
 *   the best compression and one buffer per scrape;
 * - in segments, once a render came out bigger than maxPlainBytes (50 tenants of 1,000 customers:
 *   70 MB of text): each tenant's lines of each family deflated on their own (one stream per tenant,
 *   a full flush after each family), kept per tenant and joined in the format's order at each
 *   change. A poll that lands renders its tenant again, not all of them, and nothing is kept plain:
 *   a plain scrape gets the segments inflated one by one as they are written.
 */

import type { TenantSnapshot } from '../snapshot.js';
import { ChunkWriter } from './exposition.js';
import {
  createPartDeflater,
  type DeflatedChunks,
  type DeflatedPart,
  deflateSegment,
  inflateSegments,
  joinedPart,
  joinSegments,
  type PartDeflater,
} from './gzip.js';
import {
  buildInfoText,
  type DataPart,
  dataChunks,
  familyHead,
  familyLines,
  type RenderContext,
  type RenderInput,
  type TenantGroup,
  tenantGroups,
} from './render.js';

/** One render of the data part, done or under way. */
export interface DataRender {
  /** What the text depends on: the snapshot objects (replaced whole on every poll) and what keyOf says of each. */
  readonly key: readonly unknown[];
  readonly input: RenderInput;
  readonly result: Promise<DataResult>;
}

/** What a render keeps. */
export interface DataResult {
  /** The text, when it is small enough to keep. */
  readonly plain: Buffer | undefined;
  /** The deflated parts in order: one for a whole render, a segment per family and tenant for a segmented one. */
  readonly parts: readonly DeflatedPart[];
  /** Each part inflates on its own (a segmented render). */
  readonly segmented: boolean;
  /** Bytes of the text. */
  readonly length: number;
}

export interface DataPartOptions {
  readonly part: DataPart;
  /** The largest text kept plain; a bigger render makes the next ones segmented. */
  readonly maxPlainBytes: number;
  /**
   * What a tenant's text depends on besides its snapshot object (whether its score is fresh, say), as
   * one number: every scrape asks it of every tenant, so it allocates nothing.
   */
  readonly keyOf: (tenant: TenantSnapshot, ctx: RenderContext) => number;
}

export interface DataPartCache {
  /**
   * The render of the data part for these snapshots at ctx: the kept one when nothing it depends on
   * changed. A new render keeps a copy of ctx, so the caller may reuse its object for the next scrape.
   */
  render(snapshots: readonly TenantSnapshot[], ctx: RenderContext): DataRender;
  /** The render's result once it is there (undefined while it is under way, or after it failed). */
  settled(render: DataRender): DataResult | undefined;
  /** The text of a render, chunk by chunk (each valid until the next is asked for). */
  plainChunks(render: DataRender, result: DataResult): Iterable<Buffer> | AsyncIterable<Buffer>;
}

/** Whether a render's key is the one these snapshots have at ctx (each snapshot, then what keyOf says of it). */
function sameKey(key: readonly unknown[], snapshots: readonly TenantSnapshot[], ctx: RenderContext, keyOf: DataPartOptions['keyOf']): boolean {
  let at = 0;
  for (const t of snapshots) {
    if (key[at++] !== t || key[at++] !== keyOf(t, ctx)) return false;
  }
  return at === key.length;
}

/** The key of these tenants: each snapshot, then what keyOf said of it. */
function keyOfTenants(tenants: readonly TenantSnapshot[], keys: ReadonlyMap<TenantSnapshot, number>): unknown[] {
  return tenants.flatMap((t) => [t, keys.get(t)]);
}

/** Creates the cache: no render until asked for one. */
export function createDataPartCache(options: DataPartOptions): DataPartCache {
  const { part, maxPlainBytes } = options;
  let current: DataRender | undefined;
  const done = new WeakMap<DataRender, DataResult>();
  let segmented = false;
  // Segmented: every family's HELP and TYPE lines and the build info, deflated once; and each tenant's segments.
  const heads = part.families.map((spec, i) => deflateSegment(Buffer.from(familyHead(spec, i === 0))));
  const buildInfo = deflateSegment(Buffer.from(part.families.length === 0 ? buildInfoText(part.build).slice(1) : buildInfoText(part.build)));
  let groups = new Map<string, { key: readonly unknown[]; segments: Promise<readonly DeflatedPart[]> }>();

  /** One pass through one compressor; the text kept while it stays small. */
  const whole = async (input: RenderInput): Promise<DataResult> => {
    const deflater = createPartDeflater();
    let plain: Buffer[] | undefined = [];
    let length = 0;
    for (const chunk of dataChunks(input, part)) {
      length += chunk.length;
      if (plain !== undefined && length > maxPlainBytes) plain = undefined;
      // Each chunk is the render's one buffer, written over by the next: the kept text is a copy.
      plain?.push(Buffer.from(chunk));
      await deflater.write(chunk);
    }
    const deflated = await deflater.end();
    // Past the bound, the next renders go by tenant.
    segmented = length > maxPlainBytes;
    return { plain: plain === undefined ? undefined : Buffer.concat(plain, length), parts: [deflated], segmented: false, length };
  };

  // One compressor for every tenant's segments, kept: a compressor made and freed per tenant and
  // poll leaves the allocator's heap fragmented (hundreds of kilobytes each). Tenants take turns on it.
  let shared: PartDeflater | undefined;
  let turn: Promise<unknown> = Promise.resolve();
  // And one buffer for the text on its way to it.
  const writer = new ChunkWriter();

  /** One tenant's (group's) lines, a segment per family, cut from the shared compressor after each family. */
  const renderGroup = (group: TenantGroup, input: RenderInput): Promise<readonly DeflatedPart[]> => {
    const task = turn.then(async () => {
      shared ??= createPartDeflater();
      const deflater = shared;
      try {
        writer.take();
        const segments: DeflatedChunks[] = [];
        for (const spec of part.families) {
          for (const line of familyLines(spec, group, input.ctx)) {
            writer.write(line);
            if (writer.full()) await deflater.write(writer.take() as Buffer);
          }
          const rest = writer.take();
          if (rest !== undefined) await deflater.write(rest);
          segments.push(await deflater.cut());
        }
        // One buffer per tenant, not one per family: what is kept between polls is a few allocations.
        return joinSegments(segments);
      } catch (error) {
        // A compressor that failed (or a render that threw halfway) is not used again.
        if (shared === deflater) shared = undefined;
        deflater.close();
        throw error;
      }
    });
    turn = task.catch(() => {});
    return task;
  };

  /** The tenants rendered again only where they changed, one after the other, then joined in the format's order. */
  const bySegments = async (input: RenderInput, keys: ReadonlyMap<TenantSnapshot, number>): Promise<DataResult> => {
    const found = tenantGroups(input.snapshots, part);
    const next = new Map<string, { key: readonly unknown[]; segments: Promise<readonly DeflatedPart[]> }>();
    const done: (readonly DeflatedPart[])[] = [];
    for (const group of found) {
      const key = keyOfTenants(group.tenants, keys);
      const kept = groups.get(group.prefix);
      const entry = kept && kept.key.length === key.length && kept.key.every((k, i) => k === key[i]) ? kept : { key, segments: renderGroup(group, input) };
      next.set(group.prefix, entry);
      try {
        done.push(await entry.segments);
      } catch (error) {
        // A failed tenant is rendered again by the next scrape.
        next.delete(group.prefix);
        groups = next;
        throw error;
      }
    }
    groups = next;
    const parts: DeflatedPart[] = [];
    part.families.forEach((_, f) => {
      parts.push(heads[f] as DeflatedPart);
      for (const segments of done) parts.push(segments[f] as DeflatedPart);
    });
    parts.push(buildInfo);
    const { length } = joinedPart(parts);
    // Back to one pass once it is small again (well under the bound, so that it does not flap).
    if (length < maxPlainBytes / 2) segmented = false;
    return { plain: undefined, parts, segmented: true, length };
  };

  return {
    render(snapshots, ctx) {
      // Compared in place first: a scrape between polls allocates no key at all.
      if (current !== undefined && sameKey(current.key, snapshots, ctx, options.keyOf)) return current;
      const keys = new Map(snapshots.map((t) => [t, options.keyOf(t, ctx)] as const));
      const key = keyOfTenants(snapshots, keys);
      const input: RenderInput = Object.freeze({ snapshots, ctx: Object.freeze({ ...ctx }) });
      const render: DataRender = { key, input, result: segmented ? bySegments(input, keys) : whole(input) };
      // A failed render is not served again: the scrape that asked gets the error, the next one renders anew.
      render.result.then(
        (result) => done.set(render, result),
        () => {
          if (current === render) current = undefined;
        },
      );
      current = render;
      return render;
    },
    settled: (render) => done.get(render),
    plainChunks(render, result) {
      if (result.plain !== undefined) return [result.plain];
      // Segments inflate one by one as they are asked for; a whole render too big to keep is written again from its input.
      return result.segmented ? inflateSegments(result.parts) : dataChunks(render.input, part);
    },
  };
}
