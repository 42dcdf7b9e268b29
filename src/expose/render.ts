/**
 * The data part of the exposition (every per-tenant family and the build info), written as text
 * straight from one frozen set of snapshots, family by family, in chunks: no registry of every
 * series is built, and no render is ever one string. The same input renders the same bytes, so a
 * plain answer too big to keep is rendered again for the scrape that asks, identical to the first.
 */
import type { TenantSnapshot } from '../snapshot.js';
import { ChunkWriter, escapeHelp, familyHeader, formatLabels, SampleLines } from './exposition.js';

/** What a family's samples are read with besides the snapshot: the render's clock and staleness bound. */
export interface RenderContext {
  /** Wall clock: what Graph's timestamps are compared with. */
  readonly nowMs: number;
  /** Monotonic clock: what the score's age is measured on. */
  readonly monoNowMs: number;
  readonly maxStalenessMs: number;
}

/** One sample: its own labels (after the tenant's) and its value. */
export type Sample = readonly [Readonly<Record<string, string>>, number];

/** One metric family: how to read its samples from a tenant snapshot. */
export interface MetricSpec {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  /** The labels its samples carry, after tenant_id and the constant labels. */
  readonly labels: readonly string[];
  readonly samples: (tenant: TenantSnapshot, ctx: RenderContext) => Iterable<Sample>;
}

/**
 * What one render of the data part reads, taken once and frozen: the snapshots of that moment and
 * the clock. Everything the data metrics show comes from here and nothing else, so one render can
 * never mix two polls, and nothing shared changes under it.
 */
export interface RenderInput {
  readonly snapshots: readonly TenantSnapshot[];
  readonly ctx: RenderContext;
}

/** What the exporter is, for partner_security_build_info. */
export interface BuildInfo {
  readonly version: string;
  /** The source revision the build was made from; "unknown" when not given or the build could not tell. */
  readonly revision?: string;
  readonly nodeVersion: string;
}

/** How the data part is written: its families, the tenants' label names and the build. */
export interface DataPart {
  readonly families: readonly MetricSpec[];
  /** How a tenant's series are labelled: tenant_id, then its constant labels. */
  readonly tenantLabels: (tenantId: string, labels: Readonly<Record<string, string>>) => Readonly<Record<string, string>>;
  readonly build: BuildInfo;
}

const BUILD_INFO_HELP = 'A metric with a constant 1 value labelled by the version and source revision of the exporter and the version of Node.js.';

/** Snapshots that carry the same labels, in the order first met, with their label text (tenant_id, constant labels). */
export interface TenantGroup {
  readonly prefix: string;
  readonly tenants: readonly TenantSnapshot[];
}

/**
 * The snapshots grouped by their labels. Snapshots that carry the same labels (one tenant
 * configured twice in effect, say) share their lines, as one registry would: Prometheus refuses a
 * whole scrape that holds a series twice.
 */
export function tenantGroups(snapshots: readonly TenantSnapshot[], part: DataPart): TenantGroup[] {
  const groups = new Map<string, TenantSnapshot[]>();
  for (const tenant of snapshots) {
    const prefix = formatLabels(part.tenantLabels(tenant.tenantId, tenant.labels));
    const group = groups.get(prefix);
    if (group === undefined) groups.set(prefix, [tenant]);
    else group.push(tenant);
  }
  return [...groups].map(([prefix, tenants]) => ({ prefix, tenants }));
}

/** One family's HELP and TYPE lines, after the blank line that separates it from the one before (none for the first). */
export function familyHead(spec: Pick<MetricSpec, 'name' | 'type' | 'help'>, first: boolean): string {
  return `${first ? '' : '\n'}${familyHeader(spec.name, spec.type, spec.help)}`;
}

/** The build info family, the last of the data part. */
export function buildInfoText(build: BuildInfo): string {
  const labels = formatLabels({ version: build.version, revision: build.revision ?? 'unknown', nodejs_version: build.nodeVersion });
  return `${familyHead({ name: 'partner_security_build_info', type: 'gauge', help: BUILD_INFO_HELP }, false)}partner_security_build_info{${labels}} 1\n`;
}

/** The sample lines of one family for one group of snapshots, each ending in a newline. */
export function familyLines(spec: MetricSpec, group: TenantGroup, ctx: RenderContext): Generator<string, void, undefined> {
  const lines = new SampleLines(escapeHelp(spec.name), spec.type === 'counter');
  for (const tenant of group.tenants) {
    for (const [labels, value] of spec.samples(tenant, ctx)) {
      const own = formatLabels(labels);
      lines.add(own === '' ? group.prefix : `${group.prefix},${own}`, value);
    }
  }
  return lines.lines();
}

/**
 * The data part as UTF-8 chunks of about CHUNK_CHARS, in order. Lazy: each chunk is written when
 * asked for, into the same buffer as the one before, so it is valid only until the next is asked
 * for: a consumer copies it, or is done with it (compressed, written to the socket) before asking.
 */
export function* dataChunks(input: RenderInput, part: DataPart, chunkChars?: number): Generator<Buffer, void, undefined> {
  const writer = new ChunkWriter(chunkChars);
  const groups = tenantGroups(input.snapshots, part);
  let first = true;
  for (const spec of part.families) {
    writer.write(familyHead(spec, first));
    first = false;
    for (const group of groups) {
      for (const line of familyLines(spec, group, input.ctx)) {
        writer.write(line);
        if (writer.full()) yield writer.take() as Buffer;
      }
    }
  }
  writer.write(first ? buildInfoText(part.build).slice(1) : buildInfoText(part.build));
  const last = writer.take();
  if (last !== undefined) yield last;
}
