/**
 * --tenants.shard=K/N: several exporters split the tenants between them, each polling the tenants
 * whose ID hashes to its K. The hash is Prometheus's `hashmod` relabel action (model/relabel:
 * md5 of the value, the last 8 of its 16 bytes as a big-endian unsigned 64-bit integer, modulo N),
 * applied to the tenant_id label's value, so K is 0-based as hashmod's result is, and a
 * `hashmod` of tenant_id with modulus N in Prometheus names the shard that exports a tenant.
 */
import { createHash } from 'node:crypto';
import { boundText } from '../lib/text.js';

/** Shard index of count: 0 <= index < count. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** Most shards: far more exporters than a partner has tenants to split is a mistake, not a layout. */
export const MAX_SHARDS = 1000;
/** "999/1000" is 8 characters: longer text is not read further. */
const MAX_SHARD_CHARS = 16;

/** Parses "K/N"; a problem (naming the value, cut to a bound) when it is not one. */
export function parseShard(text: string): Shard | { readonly problem: string } {
  const match = text.length <= MAX_SHARD_CHARS ? /^(\d{1,4})\/(\d{1,4})$/.exec(text) : null;
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match && count >= 1 && count <= MAX_SHARDS && index < count) return { index, count };
  return {
    problem: `"${boundText(text, MAX_SHARD_CHARS)}" is not a shard K/N (0-based K of N shards: 0 <= K < N <= ${MAX_SHARDS}, e.g. 0/3, 1/3, 2/3)`,
  };
}

/** The shard (0 to count - 1) of a tenant ID, the lower-cased tenant_id label value: Prometheus's hashmod. */
export function shardOf(tenantId: string, count: number): number {
  const digest = createHash('md5').update(tenantId.toLowerCase(), 'utf8').digest();
  return Number(digest.readBigUInt64BE(8) % BigInt(count));
}
