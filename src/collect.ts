/** One poll of one tenant: which endpoints to call, $expand and its fallback, paging and caps. */
import type { CollectorsConfig } from './config/parse.js';
import { errorText, type GraphClient, GraphError, type GraphResponse } from './graph/client.js';
import {
  expandedItems,
  GraphParseError,
  parseCollection,
  parseCustomerInsight,
  parseHistory,
  parseRequirement,
  parseSecurityScore,
  scoreEntity,
} from './graph/parse.js';
import type { Logger } from './log.js';
import {
  type CustomerInsight,
  type CustomerInsights,
  type HistoryEntry,
  POLICIES,
  type Policy,
  type Relation,
  type RelationStatus,
  type RelationsData,
  type RelationTruncation,
  type Requirement,
  type SecurityScore,
} from './snapshot.js';

export const SECURITY_SCORE_PATH = '/beta/security/partner/securityScore';

/** Pages read of one relation in one poll (--collector.max-pages); the expanded score counts as one. */
export const DEFAULT_MAX_PAGES = 50;
/**
 * JSON bytes read of one relation's pages in one poll (--collector.max-bytes): each answer is
 * capped at 10 MiB, but fifty of them would be half a gigabyte of text and far more as objects.
 */
export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
/** Requirements kept per tenant (--collector.requirements.max-requirements): Microsoft has five types. */
export const DEFAULT_MAX_REQUIREMENTS = 1000;
/** History entries kept per tenant, the newest (--collector.history.max-entries): the history is daily. */
export const DEFAULT_MAX_HISTORY_ENTRIES = 1000;

/** What one successful poll read. */
export interface PollData {
  readonly score: SecurityScore;
  /** Data of the relations read successfully in this poll. */
  readonly relations: RelationsData;
  readonly relationStatus: Readonly<Partial<Record<Relation, RelationStatus>>>;
  /** Why a relation is not "ok", for the log. */
  readonly relationErrors: Readonly<Partial<Record<Relation, string>>>;
  /** The longest Retry-After a relation's answer asked for: the next poll waits at least this long. */
  readonly retryAfterMs?: number;
  /** The relations read in this poll that a cap cut short. */
  readonly truncated?: Readonly<Partial<Record<Relation, RelationTruncation>>>;
}

/** The result of one poll: data or an error, and the HTTP status of every Graph request made. */
export type PollResult =
  | { readonly ok: true; readonly data: PollData; readonly requests: readonly string[]; readonly tenantId?: string }
  | { readonly ok: false; readonly error: GraphError; readonly requests: readonly string[]; readonly tenantId?: string };

/** A function the poller calls once per poll. It never rejects. */
export type PollOnce = (signal: AbortSignal) => Promise<PollResult>;

type JsonObject = Record<string, unknown>;

/**
 * Takes a relation's items page by page and keeps at most its cap, so no more than one page of raw
 * JSON is ever held. seen counts what was read, kept what is exported.
 */
interface Accumulator {
  add(items: readonly JsonObject[]): void;
  done(): { readonly data: RelationsData; readonly seen: number; readonly kept: number };
}

/** A relation that is read as a collection, with how to turn its items into snapshot data. */
interface CollectionRelation {
  readonly name: Exclude<Relation, 'customerInsights'>;
  readonly enabled: (c: CollectorsConfig) => boolean;
  readonly accumulate: (c: CollectorsConfig) => Accumulator;
}

function requirementsUpTo(max: number): Accumulator {
  const kept: Requirement[] = [];
  let seen = 0;
  return {
    add(items) {
      for (const item of items) {
        seen++;
        if (kept.length < max) kept.push(parseRequirement(item));
      }
    },
    done: () => ({ data: { requirements: Object.freeze(kept) }, seen, kept: kept.length }),
  };
}

function historyUpTo(max: number): Accumulator {
  let kept: HistoryEntry[] = [];
  let seen = 0;
  return {
    add(items) {
      const entries = parseHistory(items);
      seen += entries.length;
      // Only the newest entries matter: the metrics export the latest one.
      if (entries.length > 0) kept = [...kept, ...entries].sort((a, b) => a.createdTimestamp - b.createdTimestamp);
      if (kept.length > max) kept = kept.slice(kept.length - max);
    },
    done: () => ({ data: { history: Object.freeze(kept) }, seen, kept: kept.length }),
  };
}

const EXPANDABLE: readonly CollectionRelation[] = [
  { name: 'requirements', enabled: (c) => c.requirements, accumulate: (c) => requirementsUpTo(c.maxRequirements ?? DEFAULT_MAX_REQUIREMENTS) },
  { name: 'history', enabled: (c) => c.history, accumulate: (c) => historyUpTo(c.maxHistoryEntries ?? DEFAULT_MAX_HISTORY_ENTRIES) },
];

// Graph answers a refused $expand with 400 (or 501); a relation that is missing for the tenant
// can turn the expanded call into a 404 while the plain score still answers.
const EXPANSION_REFUSED = new Set([400, 404, 501]);

export interface CollectorOptions {
  graph: GraphClient;
  collectors: CollectorsConfig;
  tenantOfToken: () => string | undefined;
  logger: Logger;
}

/** Creates the poll of one tenant's score and relations through one Graph client. */
export function createCollector(options: CollectorOptions): PollOnce {
  const { graph, collectors } = options;
  const limits: PageLimits = { maxPages: collectors.maxPages, maxBytes: collectors.maxBytes ?? DEFAULT_MAX_BYTES };
  let expansionRefused = false;

  return async (signal) => {
    const requests: string[] = [];
    // A failed poll still names the tenant when a token did (managed identity before its first success).
    const failed = (error: GraphError): PollResult => {
      const tenantId = options.tenantOfToken();
      return { ok: false, error, requests, ...(tenantId === undefined ? {} : { tenantId }) };
    };
    const get = async (path: string): Promise<GraphResponse> => {
      try {
        const response = await graph.get(path, signal);
        requests.push(String(response.status));
        return response;
      } catch (error) {
        const graphError = error instanceof GraphError ? error : new GraphError('network', errorText(error));
        // A token failure never reached Graph, so it is no Graph request.
        if (graphError.reason !== 'token') requests.push(graphError.status === undefined ? 'none' : String(graphError.status));
        throw graphError;
      }
    };

    const expand = EXPANDABLE.filter((r) => r.enabled(collectors)).map((r) => r.name);
    let response: GraphResponse | undefined;
    let expanded = false;
    try {
      if (expand.length > 0 && !expansionRefused) {
        try {
          response = await get(`${SECURITY_SCORE_PATH}?$expand=${expand.join(',')}`);
          expanded = true;
        } catch (error) {
          if (!(error instanceof GraphError && error.status !== undefined && EXPANSION_REFUSED.has(error.status))) throw error;
          expansionRefused = true;
          options.logger.warn('Graph refused $expand; reading the relations separately from now on', {
            status: error.status,
            code: error.code,
            request_id: error.requestId,
          });
        }
      }
      response ??= await get(SECURITY_SCORE_PATH);
    } catch (error) {
      return failed(error as GraphError);
    }

    let score: SecurityScore;
    try {
      score = parseSecurityScore(response.body);
    } catch (error) {
      const message = error instanceof GraphParseError ? error.message : errorText(error);
      const ids = {
        status: response.status,
        clientRequestId: response.clientRequestId,
        ...(response.requestId === undefined ? {} : { requestId: response.requestId }),
      };
      return failed(new GraphError('invalid_response', `cannot read the answer from Graph: ${message}`, ids));
    }

    const relations: RelationsData = {};
    const relationStatus: Partial<Record<Relation, RelationStatus>> = {};
    const relationErrors: Partial<Record<Relation, string>> = {};
    const truncated: Partial<Record<Relation, RelationTruncation>> = {};
    let retryAfterMs: number | undefined;
    const settle = async (name: Relation, read: () => Promise<RelationsData>) => {
      try {
        Object.assign(relations, await read());
        relationStatus[name] = 'ok';
      } catch (error) {
        const notFound = error instanceof GraphError && error.status === 404;
        relationStatus[name] = notFound ? 'unavailable' : 'failed';
        relationErrors[name] = error instanceof Error ? error.message : String(error);
        // A throttled relation asks the whole exporter to slow down: the next poll waits for it.
        if (error instanceof GraphError && error.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, error.retryAfterMs);
      }
    };

    const entity = scoreEntity(response.body);
    for (const relation of EXPANDABLE) {
      if (!relation.enabled(collectors)) {
        relationStatus[relation.name] = 'disabled';
        continue;
      }
      await settle(relation.name, async () => {
        const accumulator = relation.accumulate(collectors);
        const inline = expanded ? expandedItems(entity, relation.name) : undefined;
        let paging: Paging;
        if (inline === undefined) paging = await readPages(get, `${SECURITY_SCORE_PATH}/${relation.name}`, relation.name, limits, accumulator.add);
        else {
          // An expanded relation may be paged too: its next page link sits beside it on the entity.
          accumulator.add(inline);
          const next = entity[`${relation.name}@odata.nextLink`];
          paging = await readPages(get, typeof next === 'string' ? next : undefined, relation.name, limits, accumulator.add, {
            pages: 1,
            bytes: jsonBytes(inline),
          });
        }
        const { data, seen, kept } = accumulator.done();
        const cap = paging.cut ?? (seen > kept ? 'items' : undefined);
        if (cap !== undefined) truncated[relation.name] = Object.freeze({ cap, seen, kept });
        return data;
      });
    }

    if (collectors.customerInsights) {
      await settle('customerInsights', async () => {
        const { insights, cut } = await readCustomerInsights(get, collectors, limits);
        const cap = cut ?? (insights.seen > insights.customers.length ? 'items' : undefined);
        if (cap !== undefined) truncated.customerInsights = Object.freeze({ cap, seen: insights.seen, kept: insights.customers.length });
        return { customerInsights: insights };
      });
    } else relationStatus.customerInsights = 'disabled';

    const data: PollData = Object.freeze({
      score,
      relations: Object.freeze(relations),
      relationStatus: Object.freeze(relationStatus),
      relationErrors: Object.freeze(relationErrors),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...(Object.keys(truncated).length === 0 ? {} : { truncated: Object.freeze(truncated) }),
    });
    const tenantId = options.tenantOfToken();
    return tenantId === undefined ? { ok: true, data, requests } : { ok: true, data, requests, tenantId };
  };
}

type Get = (path: string) => Promise<GraphResponse>;

/** Reads the whole score history (for backfill), following nextLinks up to maxPages. */
export async function readHistory(graph: GraphClient, maxPages: number, signal: AbortSignal): Promise<readonly HistoryEntry[]> {
  const items: JsonObject[] = [];
  await readPages(
    (path) => graph.get(path, signal),
    `${SECURITY_SCORE_PATH}/history`,
    'securityScoreHistory',
    { maxPages, maxBytes: DEFAULT_MAX_BYTES },
    (page) => items.push(...page),
  );
  return parseHistory(items);
}

/** How far one relation may be paged in one poll. */
interface PageLimits {
  readonly maxPages: number;
  /** Stop before the next page once the pages read add up to this many bytes of JSON. */
  readonly maxBytes: number;
}

interface Paging {
  readonly pages: number;
  /** Set when a bound stopped the paging before the last page. */
  readonly cut?: 'pages' | 'bytes';
}

/**
 * The size of an answer as JSON. The client hands over parsed bodies; serialising one again costs
 * about what parsing it did, and it is done only for pages within the byte budget.
 */
function jsonBytes(body: unknown): number {
  return Buffer.byteLength(JSON.stringify(body) ?? '');
}

/** Follows @odata.nextLink (an opaque URL) within the limits, handing each page's items over as it comes. */
async function readPages(
  get: Get,
  first: string | undefined,
  typeName: string,
  limits: PageLimits,
  onPage: (items: readonly JsonObject[]) => void,
  already: { readonly pages: number; readonly bytes: number } = { pages: 0, bytes: 0 },
): Promise<Paging> {
  let { pages, bytes } = already;
  let next = first;
  while (next !== undefined) {
    if (pages >= Math.max(1, limits.maxPages)) return { pages, cut: 'pages' };
    if (bytes >= limits.maxBytes) return { pages, cut: 'bytes' };
    const response = await get(next);
    pages++;
    bytes += jsonBytes(response.body);
    let items: readonly JsonObject[];
    try {
      const page = parseCollection(response.body, typeName);
      items = page.items;
      next = page.nextLink;
    } catch (error) {
      throw new GraphError('invalid_response', `cannot read ${typeName}: ${errorText(error)}`, {
        status: response.status,
        clientRequestId: response.clientRequestId,
      });
    }
    onPage(items);
  }
  return { pages };
}

async function readCustomerInsights(
  get: Get,
  collectors: CollectorsConfig,
  limits: PageLimits,
): Promise<{ insights: CustomerInsights; cut?: 'pages' | 'bytes' }> {
  const customers: CustomerInsight[] = [];
  const byTenant = new Set<string>();
  const policyEnabled = Object.fromEntries(POLICIES.map((p) => [p, 0])) as Record<Policy, number>;
  const paging = await readPages(get, `${SECURITY_SCORE_PATH}/customerInsights`, 'customerInsight', limits, (items) => {
    for (const item of items) {
      const insight = parseCustomerInsight(item);
      if (insight === undefined || byTenant.has(insight.tenantId)) continue;
      byTenant.add(insight.tenantId);
      for (const policy of POLICIES) if (insight.policies[policy] === true) policyEnabled[policy]++;
      if (customers.length < collectors.maxCustomers) customers.push(insight);
    }
  });
  const insights = Object.freeze({
    customers: Object.freeze(customers),
    seen: byTenant.size,
    policyEnabled: Object.freeze(policyEnabled),
    pages: paging.pages,
    truncated: paging.cut !== undefined || byTenant.size > customers.length,
  });
  return paging.cut === undefined ? { insights } : { insights, cut: paging.cut };
}
