/** One poll of one tenant: which endpoints to call, $expand and its fallback, paging and caps. */
import type { CollectorsConfig } from './config.js';
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
  type SecurityScore,
} from './snapshot.js';

export const SECURITY_SCORE_PATH = '/beta/security/partner/securityScore';

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
}

/** The result of one poll: data or an error, and the HTTP status of every Graph request made. */
export type PollResult =
  | { readonly ok: true; readonly data: PollData; readonly requests: readonly string[]; readonly tenantId?: string }
  | { readonly ok: false; readonly error: GraphError; readonly requests: readonly string[]; readonly tenantId?: string };

/** A function the poller calls once per poll. It never rejects. */
export type PollOnce = (signal: AbortSignal) => Promise<PollResult>;

/** A relation that is read as a collection, with how to turn its items into snapshot data. */
interface CollectionRelation {
  readonly name: Exclude<Relation, 'customerInsights'>;
  readonly enabled: (c: CollectorsConfig) => boolean;
  readonly read: (items: readonly Record<string, unknown>[]) => RelationsData;
}

const EXPANDABLE: readonly CollectionRelation[] = [
  { name: 'requirements', enabled: (c) => c.requirements, read: (items) => ({ requirements: Object.freeze(items.map(parseRequirement)) }) },
  { name: 'history', enabled: (c) => c.history, read: (items) => ({ history: Object.freeze(parseHistory(items)) }) },
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
        const inline = expanded ? expandedItems(entity, relation.name) : undefined;
        // An expanded relation may be paged too: its next page link sits beside it on the entity.
        const inlineNext = entity[`${relation.name}@odata.nextLink`];
        if (inline === undefined)
          return relation.read((await readPages(get, `${SECURITY_SCORE_PATH}/${relation.name}`, relation.name, collectors.maxPages)).items);
        if (typeof inlineNext !== 'string') return relation.read(inline);
        return relation.read([...inline, ...(await readPages(get, inlineNext, relation.name, collectors.maxPages - 1)).items]);
      });
    }

    if (collectors.customerInsights) {
      await settle('customerInsights', async () => ({ customerInsights: await readCustomerInsights(get, collectors) }));
    } else relationStatus.customerInsights = 'disabled';

    const data: PollData = Object.freeze({
      score,
      relations: Object.freeze(relations),
      relationStatus: Object.freeze(relationStatus),
      relationErrors: Object.freeze(relationErrors),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
    const tenantId = options.tenantOfToken();
    return tenantId === undefined ? { ok: true, data, requests } : { ok: true, data, requests, tenantId };
  };
}

type Get = (path: string) => Promise<GraphResponse>;

/** Reads the whole score history (for backfill), following nextLinks up to maxPages. */
export async function readHistory(graph: GraphClient, maxPages: number, signal: AbortSignal): Promise<readonly HistoryEntry[]> {
  const { items } = await readPages((path) => graph.get(path, signal), `${SECURITY_SCORE_PATH}/history`, 'securityScoreHistory', maxPages);
  return parseHistory(items);
}

interface Pages {
  readonly items: readonly Record<string, unknown>[];
  readonly pages: number;
  /** True when maxPages stopped the paging before the last page. */
  readonly truncated: boolean;
}

/** Follows @odata.nextLink (an opaque URL) up to maxPages pages. */
async function readPages(get: Get, first: string, typeName: string, maxPages: number): Promise<Pages> {
  const items: Record<string, unknown>[] = [];
  let next: string | undefined = first;
  let pages = 0;
  while (next !== undefined && pages < Math.max(1, maxPages)) {
    const response = await get(next);
    pages++;
    try {
      const page = parseCollection(response.body, typeName);
      items.push(...page.items);
      next = page.nextLink;
    } catch (error) {
      throw new GraphError('invalid_response', `cannot read ${typeName}: ${errorText(error)}`, {
        status: response.status,
        clientRequestId: response.clientRequestId,
      });
    }
  }
  return { items, pages, truncated: next !== undefined };
}

async function readCustomerInsights(get: Get, collectors: CollectorsConfig): Promise<CustomerInsights> {
  const { items, pages, truncated } = await readPages(get, `${SECURITY_SCORE_PATH}/customerInsights`, 'customerInsight', collectors.maxPages);
  const customers: CustomerInsight[] = [];
  const byTenant = new Set<string>();
  const policyEnabled = Object.fromEntries(POLICIES.map((p) => [p, 0])) as Record<Policy, number>;
  for (const item of items) {
    const insight = parseCustomerInsight(item);
    if (insight === undefined || byTenant.has(insight.tenantId)) continue;
    byTenant.add(insight.tenantId);
    for (const policy of POLICIES) if (insight.policies[policy] === true) policyEnabled[policy]++;
    if (customers.length < collectors.maxCustomers) customers.push(insight);
  }
  return Object.freeze({
    customers: Object.freeze(customers),
    seen: byTenant.size,
    policyEnabled: Object.freeze(policyEnabled),
    pages,
    truncated: truncated || byTenant.size > customers.length,
  });
}
