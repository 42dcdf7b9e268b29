/** Raw Graph JSON -> typed snapshot parts, surviving the quirks the beta API is known for. */
import type { SecurityScore } from '../snapshot.js';

/** A Graph body this exporter cannot read; the message says which field and why. */
export class GraphParseError extends Error {
  override name = 'GraphParseError';
}

type JsonObject = Record<string, unknown>;

/** Parses GET /beta/security/partner/securityScore. */
export function parseSecurityScore(body: unknown): SecurityScore {
  const entity = entityOf(body, 'partnerSecurityScore');
  const currentScore = numberField(entity, 'currentScore');
  if (currentScore === undefined) {
    throw new GraphParseError(`partnerSecurityScore.currentScore is ${describe(entity.currentScore)}, expected a finite number`);
  }
  const score: { -readonly [K in keyof SecurityScore]: SecurityScore[K] } = { currentScore };
  const id = stringField(entity, 'id');
  if (id !== undefined) score.id = id;
  const maxScore = numberField(entity, 'maxScore');
  if (maxScore !== undefined) score.maxScore = maxScore;
  const lastRefresh = timestampField(entity, 'lastRefreshDateTime');
  if (lastRefresh !== undefined) score.lastRefreshTimestamp = lastRefresh;
  const updated = timestampField(entity, 'updatedDateTime');
  if (updated !== undefined) score.updatedTimestamp = updated;
  return Object.freeze(score);
}

/**
 * The entity of a single-entity response. The reference shows it wrapped as {"value": {...}}
 * while OData puts it at the root; a root "value" array is a collection, not an entity.
 */
export function entityOf(body: unknown, typeName: string): JsonObject {
  if (!isObject(body)) throw new GraphParseError(`expected a JSON object for ${typeName}, got ${describe(body)}`);
  const inner = body.value;
  if (Array.isArray(inner)) throw new GraphParseError(`expected one ${typeName}, got a collection`);
  return isObject(inner) ? inner : body;
}

/**
 * A number that may arrive as a JSON number or a string ("20", "14.29"). Edm.Single's "NaN",
 * "INF" and "-INF" and anything unreadable count as absent: no NaN ever reaches a metric.
 */
export function numberField(entity: JsonObject, key: string): number | undefined {
  const raw = entity[key];
  let value: number | undefined;
  if (typeof raw === 'number') value = raw;
  else if (typeof raw === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(raw)) value = Number(raw);
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

/** An ISO 8601 date-time as Unix seconds; OData's 0001-01-01 "no date" and junk count as absent. */
export function timestampField(entity: JsonObject, key: string): number | undefined {
  const raw = entity[key];
  if (typeof raw !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(raw)) return undefined;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms) || ms < 0) return undefined;
  return ms / 1000;
}

/** A string property, absent when missing or not a string. */
export function stringField(entity: JsonObject, key: string): string | undefined {
  const raw = entity[key];
  return typeof raw === 'string' ? raw : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `${typeof value} ${typeof value === 'object' ? '' : String(value)}`.trim();
}
