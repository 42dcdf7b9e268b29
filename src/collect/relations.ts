/**
 * The relations of the partner security score, one RELATION_TABLE entry each: how it is fetched
 * ($expand on the score, or its own path), capped (its item cap and the flag that names it, beside
 * the page and byte caps every relation has) and parsed. Then, for every relation alike: how one
 * poll reads them, what a snapshot keeps of them and what the log says when they change.
 * A new relation is an entry here plus its parser (src/graph/parse.ts), its part of RelationsData
 * (src/snapshot.ts) and its metrics (src/expose/metrics.ts).
 */

import { DEFAULT_MAX_ALERT_TYPES, DEFAULT_MAX_ALERTS, DEFAULT_MAX_HISTORY_ENTRIES, DEFAULT_MAX_REQUIREMENTS } from '../config/caps.js';
import type { CollectorsConfig } from '../config/parse.js';
import type { BodyReader, GraphResponse } from '../graph/client.js';
import { GraphError } from '../graph/errors.js';
import { type Get, jsonBytes, type PageLimits, type Paging, readPages } from '../graph/paging.js';
import {
  expandedItems,
  parseCustomerInsight,
  parseHistory,
  parseRequirement,
  parseSecurityAlert,
  SECURITY_ALERT_PROPERTIES,
  stringField,
} from '../graph/parse.js';
import type { LogFields } from '../lib/log.js';
import { labelValue, MAX_LABEL_CHARS } from '../lib/text.js';
import {
  type CustomerInsight,
  type CustomerInsights,
  type HistoryEntry,
  POLICIES,
  type Policy,
  RELATIONS,
  type Relation,
  type RelationStatus,
  type RelationsData,
  type RelationTruncation,
  type Requirement,
  type SecurityAlerts,
  type TenantSnapshot,
} from '../snapshot.js';
import { alertAggregator } from './security-alerts.js';

/** The score; the relations under it are read from `<this>/<relation>` or expanded on it. */
export const SECURITY_SCORE_PATH = '/beta/security/partner/securityScore';
/** The partner security alerts: a sibling of the score under partnerSecurity, not one of its relations. */
export const SECURITY_ALERTS_PATH = '/beta/security/partner/securityAlerts';

/** The flags of the caps every relation has, for the log line when one cuts. */
const PAGING_CAP_FLAGS: Readonly<Record<NonNullable<Paging['cut']>, string>> = {
  pages: '--collector.max-pages',
  bytes: '--collector.max-bytes',
};

type JsonObject = Record<string, unknown>;

/** Logs a line about a tenant once: a key already said is not said again (the tenant's poll keeps what was said). */
export type NoteOnce = (key: string, msg: string, fields: LogFields) => void;

/** What an accumulator reads items with in one poll. */
export interface ReadContext {
  /** The poll's clock, Unix seconds: alert dates far ahead of it are absent. */
  readonly nowSeconds: number;
  readonly noteOnce: NoteOnce;
}

// Graph answers a query option it does not take with 400 (or 501): read the relation whole instead.
const QUERY_REFUSED = new Set([400, 501]);

/**
 * Takes a relation's items page by page and keeps at most its cap, so no more than one page of raw
 * JSON is ever held. seen counts what was read, kept what is exported.
 */
interface Accumulator<T> {
  add(items: readonly JsonObject[]): void;
  done(paging: Paging): { readonly value: T; readonly seen: number; readonly kept: number };
}

/** How one relation is fetched, capped and parsed. */
export interface RelationSpec<R extends Relation> {
  /** Its --collector.<relation> switch. */
  readonly enabled: (c: CollectorsConfig) => boolean;
  /** The name to $expand on the score with, when the score can carry the relation inline. */
  readonly expand?: string;
  /** Where it is read on its own: always, or when the expanded score did not carry it. */
  readonly path: string;
  /**
   * The properties asked for with $select on path: exactly those its parser reads. When Graph
   * refuses the parameter, the tenant reads path whole from then on.
   */
  readonly select?: readonly string[];
  /** What its items are called in an error. */
  readonly typeName: string;
  /** The flag that sets its item cap. */
  readonly itemCapFlag: string;
  /** A new accumulator for one poll, within the relation's item cap. */
  readonly accumulate: (c: CollectorsConfig, context: ReadContext) => Accumulator<NonNullable<RelationsData[R]>>;
}

/** Every relation the exporter reads, in the order a poll reads them. */
export const RELATION_TABLE: { readonly [R in Relation]: RelationSpec<R> } = {
  requirements: {
    enabled: (c) => c.requirements,
    expand: 'requirements',
    path: `${SECURITY_SCORE_PATH}/requirements`,
    typeName: 'requirements',
    itemCapFlag: '--collector.requirements.max-requirements',
    accumulate: (c) => requirementsUpTo(c.maxRequirements ?? DEFAULT_MAX_REQUIREMENTS),
  },
  history: {
    enabled: (c) => c.history,
    expand: 'history',
    path: `${SECURITY_SCORE_PATH}/history`,
    typeName: 'history',
    itemCapFlag: '--collector.history.max-entries',
    accumulate: (c) => historyUpTo(c.maxHistoryEntries ?? DEFAULT_MAX_HISTORY_ENTRIES),
  },
  customerInsights: {
    enabled: (c) => c.customerInsights,
    path: `${SECURITY_SCORE_PATH}/customerInsights`,
    typeName: 'customerInsight',
    itemCapFlag: '--collector.customer-insights.max-customers',
    accumulate: (c) => customerInsightsUpTo(c.maxCustomers),
  },
  securityAlerts: {
    enabled: (c) => c.securityAlerts === true,
    path: SECURITY_ALERTS_PATH,
    select: SECURITY_ALERT_PROPERTIES,
    typeName: 'partnerSecurityAlert',
    itemCapFlag: '--collector.security-alerts.max-alerts',
    accumulate: (c, context) =>
      securityAlertsUpTo(
        c.maxAlerts ?? DEFAULT_MAX_ALERTS,
        { maxAlertTypes: c.maxAlertTypes ?? DEFAULT_MAX_ALERT_TYPES, maxCustomers: c.securityAlertsPerCustomer === true ? c.maxCustomers : 0 },
        context,
      ),
  },
};

function requirementsUpTo(max: number): Accumulator<readonly Requirement[]> {
  const kept: { requirement: Requirement; id: string | undefined }[] = [];
  let seen = 0;
  return {
    add(items) {
      for (const item of items) {
        seen++;
        if (kept.length < max) kept.push({ requirement: parseRequirement(item), id: stringField(item, 'id') });
      }
    },
    done: () => ({ value: Object.freeze(distinctTypes(kept)), seen, kept: kept.length }),
  };
}

/**
 * requirement_type names a series, so two requirements of one type would overwrite each other:
 * that happens when Graph sends two new members as "unknownFutureValue" (without Prefer:
 * include-unknown-enum-members, or from a proxy that drops it). Every requirement of a repeated
 * type is then named "<type>:<id>", or "<type>#<n>" (its place among that type) when its id is
 * missing or repeated too. A type that appears once keeps its plain name.
 */
function distinctTypes(items: readonly { requirement: Requirement; id: string | undefined }[]): Requirement[] {
  const byType = new Map<string, { requirement: Requirement; id: string | undefined }[]>();
  for (const item of items) byType.set(item.requirement.type, [...(byType.get(item.requirement.type) ?? []), item]);
  const renamed = new Map<Requirement, string>();
  for (const [type, group] of byType) {
    if (group.length < 2) continue;
    group.forEach(({ requirement, id }, index) => {
      const idUnique = id !== undefined && id !== '' && group.filter((other) => other.id === id).length === 1;
      renamed.set(requirement, labelValue(idUnique ? `${type}:${id}` : `${type}#${index + 1}`, MAX_LABEL_CHARS));
    });
  }
  return items.map(({ requirement }) => {
    const type = renamed.get(requirement);
    // The type as sent stays: a mandatory requirement sent twice is still mandatory (src/collect/authorization.ts).
    return type === undefined ? requirement : Object.freeze({ ...requirement, type, sentType: requirement.type });
  });
}

function historyUpTo(max: number): Accumulator<readonly HistoryEntry[]> {
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
    done: () => ({ value: Object.freeze(kept), seen, kept: kept.length }),
  };
}

/** Customers counted once each (by tenant id) over all pages; per-customer data for at most max of them. */
function customerInsightsUpTo(max: number): Accumulator<CustomerInsights> {
  const customers: CustomerInsight[] = [];
  const byTenant = new Set<string>();
  const policyEnabled = Object.fromEntries(POLICIES.map((p) => [p, 0])) as Record<Policy, number>;
  return {
    add(items) {
      for (const item of items) {
        const insight = parseCustomerInsight(item);
        if (insight === undefined || byTenant.has(insight.tenantId)) continue;
        byTenant.add(insight.tenantId);
        for (const policy of POLICIES) if (insight.policies[policy] === true) policyEnabled[policy]++;
        if (customers.length < max) customers.push(insight);
      }
    },
    done: (paging) => ({
      value: Object.freeze({
        customers: Object.freeze(customers),
        seen: byTenant.size,
        policyEnabled: Object.freeze(policyEnabled),
        pages: paging.pages,
        truncated: paging.cut !== undefined || byTenant.size > customers.length,
      }),
      seen: byTenant.size,
      kept: customers.length,
    }),
  };
}

/**
 * Alerts counted once each (by id) over all pages and added up as they come (alertAggregator):
 * open ones first, then the most recently resolved, at most max of them.
 */
function securityAlertsUpTo(
  max: number,
  bounds: Pick<SecurityAlerts, 'maxAlertTypes' | 'maxCustomers'>,
  { nowSeconds, noteOnce }: ReadContext,
): Accumulator<SecurityAlerts> {
  const aggregator = alertAggregator(max, bounds);
  const ids = new Set<string>();
  let seen = 0;
  // Said once per tenant, not per alert or poll: the value is read the same way every time.
  const quirk = (property: string, held: string) =>
    noteOnce(`securityAlerts.${property}`, `an alert's ${property} is unreadable; counting it as a real alert`, {
      relation: 'securityAlerts',
      property,
      value: held,
    });
  return {
    add(items) {
      for (const item of items) {
        const alert = parseSecurityAlert(item, nowSeconds, quirk);
        if (alert.id !== undefined) {
          if (ids.has(alert.id)) continue;
          ids.add(alert.id);
        }
        seen++;
        aggregator.add(alert);
      }
    },
    done: () => {
      const value = aggregator.done(seen);
      return { value, seen, kept: value.kept };
    },
  };
}

/** The relations to $expand on the score with, in table order. */
export function expandableRelations(collectors: CollectorsConfig): string[] {
  return RELATIONS.flatMap((name) => {
    const spec = RELATION_TABLE[name];
    return spec.expand !== undefined && spec.enabled(collectors) ? [spec.expand] : [];
  });
}

/** How the relations fared in one poll. */
export interface RelationsRead {
  /** Data of the relations read successfully in this poll. */
  readonly relations: RelationsData;
  readonly relationStatus: Readonly<Partial<Record<Relation, RelationStatus>>>;
  /** Why a relation is not "ok", for the log. */
  readonly relationErrors: Readonly<Partial<Record<Relation, string>>>;
  /** What Graph said of a relation that is not "ok" (reason, status, code, request ids), for the same log line. */
  readonly relationErrorFields?: Readonly<Partial<Record<Relation, LogFields>>>;
  /** The longest Retry-After a relation's answer asked for: the next poll waits at least this long. */
  readonly retryAfterMs?: number;
  /** The relations read in this poll that a cap cut short. */
  readonly truncated?: Readonly<Partial<Record<Relation, RelationTruncation>>>;
}

/** What one poll reads the relations with. */
export interface RelationsSource {
  /** A GET within this poll (its answer counted with the poll's requests). */
  readonly get: (path: string, relation?: Relation, reader?: BodyReader) => Promise<GraphResponse>;
  readonly collectors: CollectorsConfig;
  readonly limits: PageLimits;
  /** The score entity when it was read with $expand: the relations it carries inline are not read again. */
  readonly expanded?: JsonObject;
  /** The poll's clock, Unix milliseconds. */
  readonly nowMs: number;
  /** The relations whose $select Graph refused for this tenant; readRelations adds to it (the tenant's poll keeps it). */
  readonly selectRefused: Set<Relation>;
  readonly noteOnce: NoteOnce;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Reads every relation turned on, one after the other. A relation that fails is a status and an
 * error of its own, never a failed poll: the score is exported without it.
 */
export async function readRelations(source: RelationsSource): Promise<RelationsRead> {
  const { expanded } = source;
  const relations: Mutable<RelationsData> = {};
  const relationStatus: Partial<Record<Relation, RelationStatus>> = {};
  const relationErrors: Partial<Record<Relation, string>> = {};
  const relationErrorFields: Partial<Record<Relation, LogFields>> = {};
  const truncated: Partial<Record<Relation, RelationTruncation>> = {};
  let retryAfterMs: number | undefined;

  const read = async <R extends Relation>(name: R): Promise<void> => {
    const spec: RelationSpec<R> = RELATION_TABLE[name];
    if (!spec.enabled(source.collectors)) {
      relationStatus[name] = 'disabled';
      return;
    }
    // Every request of the relation names it, so a 403 or 404 says which relation it is about.
    let requests = 0;
    const get: Get = (path, reader) => {
      requests++;
      return source.get(path, name, reader);
    };
    try {
      const accumulator = spec.accumulate(source.collectors, { nowSeconds: source.nowMs / 1000, noteOnce: source.noteOnce });
      const inline = expanded !== undefined && spec.expand !== undefined ? expandedItems(expanded, spec.expand) : undefined;
      let paging: Paging;
      if (inline === undefined) paging = await readSelected(name, spec, get, () => requests, accumulator, source);
      else {
        // An expanded relation may be paged too: its next page link sits beside it on the entity.
        accumulator.add(inline);
        const next = expanded?.[`${spec.expand}@odata.nextLink`];
        paging = await readPages(get, typeof next === 'string' ? next : undefined, spec.typeName, source.limits, accumulator.add, {
          pages: 1,
          bytes: jsonBytes(inline),
        });
      }
      const { value, seen, kept } = accumulator.done(paging);
      const cap = paging.cut ?? (seen > kept ? 'items' : undefined);
      if (cap !== undefined) truncated[name] = Object.freeze({ cap, seen, kept });
      relations[name] = value;
      relationStatus[name] = 'ok';
    } catch (error) {
      const notFound = error instanceof GraphError && error.status === 404;
      relationStatus[name] = notFound ? 'unavailable' : 'failed';
      relationErrors[name] = error instanceof Error ? error.message : String(error);
      if (error instanceof GraphError)
        relationErrorFields[name] = {
          reason: error.reason,
          status: error.status,
          code: error.code,
          request_id: error.requestId,
          client_request_id: error.clientRequestId,
        };
      // A throttled relation asks the whole exporter to slow down: the next poll waits for it.
      if (error instanceof GraphError && error.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, error.retryAfterMs);
    }
  };
  for (const name of RELATIONS) await read(name);

  return {
    relations: Object.freeze(relations),
    relationStatus: Object.freeze(relationStatus),
    relationErrors: Object.freeze(relationErrors),
    ...(Object.keys(relationErrorFields).length === 0 ? {} : { relationErrorFields: Object.freeze(relationErrorFields) }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(Object.keys(truncated).length === 0 ? {} : { truncated: Object.freeze(truncated) }),
  };
}

/**
 * Reads a relation from its own path, with $select when it has one and Graph has not refused it
 * for this tenant. A refusal of the first request is said once and the relation read whole, now
 * and from then on; a failure of any later page is the relation's failure as usual.
 */
async function readSelected<R extends Relation>(
  name: R,
  spec: RelationSpec<R>,
  get: Get,
  requests: () => number,
  accumulator: Accumulator<NonNullable<RelationsData[R]>>,
  source: RelationsSource,
): Promise<Paging> {
  if (spec.select === undefined || source.selectRefused.has(name)) return readPages(get, spec.path, spec.typeName, source.limits, accumulator.add);
  try {
    return await readPages(get, `${spec.path}?$select=${spec.select.join(',')}`, spec.typeName, source.limits, accumulator.add);
  } catch (error) {
    if (!(requests() === 1 && error instanceof GraphError && error.status !== undefined && QUERY_REFUSED.has(error.status))) throw error;
    source.selectRefused.add(name);
    source.noteOnce(`${name}.$select`, 'Graph refused $select; reading the relation whole from now on', {
      relation: name,
      status: error.status,
      code: error.code,
      request_id: error.requestId,
    });
    return readPages(get, spec.path, spec.typeName, source.limits, accumulator.add);
  }
}

/**
 * What a snapshot keeps of the relations after a successful poll at nowMs: a relation read now
 * replaces its data; one that failed keeps its last data; one that is unavailable or turned off has
 * none, so its series vanish. How a cap cut the data and when it was read go with the data.
 */
export function keptRelations(
  previous: Pick<TenantSnapshot, 'relations' | 'truncated' | 'relationsReadMs' | 'relationsReadMonoMs'>,
  read: RelationsRead,
  nowMs: number,
  monoMs: number,
): {
  readonly relations: RelationsData;
  readonly truncated: Readonly<Partial<Record<Relation, RelationTruncation>>>;
  readonly relationsReadMs: Readonly<Partial<Record<Relation, number>>>;
  readonly relationsReadMonoMs: Readonly<Partial<Record<Relation, number>>>;
} {
  const relations: Record<string, unknown> = {};
  const truncated: Partial<Record<Relation, RelationTruncation>> = {};
  const readMs: Partial<Record<Relation, number>> = {};
  const readMonoMs: Partial<Record<Relation, number>> = {};
  for (const relation of RELATIONS) {
    const status = read.relationStatus[relation];
    const data = status === 'ok' ? read.relations[relation] : status === 'failed' ? previous.relations[relation] : undefined;
    if (data !== undefined) relations[relation] = data;
    const cut = status === 'ok' ? read.truncated?.[relation] : status === 'failed' ? previous.truncated?.[relation] : undefined;
    if (cut !== undefined) truncated[relation] = cut;
    const at = status === 'ok' ? nowMs : status === 'failed' ? previous.relationsReadMs?.[relation] : undefined;
    if (data !== undefined && at !== undefined) readMs[relation] = at;
    const atMono = status === 'ok' ? monoMs : status === 'failed' ? previous.relationsReadMonoMs?.[relation] : undefined;
    if (data !== undefined && atMono !== undefined) readMonoMs[relation] = atMono;
  }
  return {
    relations: Object.freeze(relations) as RelationsData,
    truncated: Object.freeze(truncated),
    relationsReadMs: Object.freeze(readMs),
    relationsReadMonoMs: Object.freeze(readMonoMs),
  };
}

/** One line for the log. */
export interface RelationLogLine {
  readonly level: 'info' | 'warn';
  readonly msg: string;
  readonly fields: LogFields;
}

/**
 * What to log about the relations after a successful poll: one line when a relation stops (or
 * starts) being readable and one when a cap starts cutting it short, not one every poll.
 */
export function relationLogLines(previous: Pick<TenantSnapshot, 'relationStatus' | 'truncated'>, read: RelationsRead): RelationLogLine[] {
  const lines: RelationLogLine[] = [];
  for (const relation of RELATIONS) {
    const before = previous.relationStatus[relation];
    const after = read.relationStatus[relation];
    if (after === before || after === 'disabled') continue;
    if (after === 'ok') {
      if (before !== undefined) lines.push({ level: 'info', msg: 'relation readable again', fields: { relation } });
    } else
      lines.push({
        level: 'warn',
        msg:
          after === 'unavailable'
            ? 'relation not available for this tenant; exporting the score without it'
            : 'reading a relation failed; keeping its last data',
        fields: { relation, ...read.relationErrorFields?.[relation], err: read.relationErrors[relation] },
      });
  }
  // While a cap goes on cutting, nothing more is said.
  for (const relation of RELATIONS) {
    const cut = read.truncated?.[relation];
    if (cut === undefined || previous.truncated?.[relation] !== undefined) continue;
    lines.push({
      level: 'warn',
      msg: 'a cap cut a relation short; the rest of it is not exported',
      fields: {
        relation,
        cap: cut.cap,
        flag: cut.cap === 'items' ? RELATION_TABLE[relation].itemCapFlag : PAGING_CAP_FLAGS[cut.cap],
        items_seen: cut.seen,
        items_kept: cut.kept,
      },
    });
  }
  return lines;
}
