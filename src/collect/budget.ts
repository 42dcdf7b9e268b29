/**
 * The memory budget: whatever the tenants and caps, the data the exporter keeps (each tenant's
 * relations and the rendered /metrics) stays within a number of bytes, estimated from what it
 * holds (counts times a cost each, not a reading of the heap, so the same data always gives the
 * same answer). Before a poll's data would take the estimate past the budget, the least important
 * series go first, for every tenant alike: the per-customer alert series, then per-customer series
 * beyond a number of customers per tenant (down to none), then the tenants' own details (customer
 * insights' and the alerts' aggregates, the history but its latest entry). The score, the
 * requirements and the poll's health are never cut. One log line says when the cut goes deeper or
 * less deep, at most one a minute when only the customers per tenant change (a figure rounded down to
 * a coarse step, so tenants arriving one by one seldom make a new cut), and partner_security_memory_*
 * say where it stands at every scrape.
 */
import { getHeapStatistics } from 'node:v8';
import { type Clock, systemClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { TenantSnapshot } from '../snapshot.js';

/** What goes, in this order. */
export const BUDGET_CUTS = ['customer_alerts', 'customers', 'tenant_details'] as const;
export type BudgetCut = (typeof BUDGET_CUTS)[number];

/**
 * The estimate's costs, in bytes: what each kept thing takes in the heap (its record) and in the
 * rendered answer (its series, deflated), with room for the renders and polls that pass through.
 * npm run bench measures what a tenant, a customer and an alert really take (BENCHMARKS.md); these
 * stay above those figures.
 */
export const COSTS = {
  /**
   * A tenant: its poller, credential, snapshot, score, requirements and health series. 150 tenants
   * with everything else cut held about 210 KiB of heap each (and 0.55 MiB of peak RSS each):
   * a tenant is most of what is left to keep once the per-customer series are gone.
   */
  tenant: 256 * 1024,
  /** A history entry kept (--collector.history.max-entries). */
  historyEntry: 96,
  /** A customer with per-customer series: its record and six series. */
  customer: 512,
  /** A customer's open alerts of one type and severity: the group and its two series. */
  customerAlertGroup: 320,
  /** An open alert count by status, severity and type (a tenant's own alert series). */
  alertGroup: 192,
  /** A kept alert with a date, for the 30- and 7-day windows. */
  datedAlert: 24,
  /** Once: the answer kept plain while it is small (src/expose/metrics.ts keeps at most 4 MiB). */
  answer: 4 * 1024 * 1024,
} as const;

/**
 * The share of V8's heap limit the budget takes by default: the rest is the code, the polls and
 * renders under way, and the collector's room. Under npm start's --max-old-space-size=192 that is
 * about 69 MiB: 50 tenants of 1,000 customers and 10,000 alerts fit uncut (an estimate of 66 MiB,
 * 223 MiB of peak RSS), and 150 of them are cut to stay under the manifests' 256 MiB (docs/performance.md).
 */
export const DEFAULT_BUDGET_SHARE = 0.35;

/** The budget from the heap limit the process runs with (--max-old-space-size, as npm start and the image set it). */
export function defaultBudgetBytes(heapLimitBytes = getHeapStatistics().heap_size_limit): number {
  return Math.floor(heapLimitBytes * DEFAULT_BUDGET_SHARE);
}

/**
 * Customers per tenant under the customers cut are a multiple of this share of the most customers a
 * tenant has (at least 1): with 1,000, steps of 50. Each new figure is a new cut, which makes every
 * tenant's view and render anew; tenants arriving one by one past the budget lower the exact figure
 * by a few each, the rounded one seldom.
 */
export const CUSTOMERS_STEP_SHARE = 0.05;

/** The step customers per tenant are rounded down to, for tenants of at most `most` customers. */
export function customersStep(most: number): number {
  return Math.max(1, Math.floor(most * CUSTOMERS_STEP_SHARE));
}

/** At most one log line a minute while only the customers per tenant change (a deeper or less deep cut is said at once). */
export const CUSTOMERS_LOG_INTERVAL_MS = 60_000;

/** What one tenant's data holds, counted before any cut. */
export interface TenantDemand {
  readonly historyEntries: number;
  readonly customers: number;
  readonly customerAlertGroups: number;
  readonly alertGroups: number;
  readonly datedAlerts: number;
}

const NO_DEMAND: TenantDemand = { historyEntries: 0, customers: 0, customerAlertGroups: 0, alertGroups: 0, datedAlerts: 0 };

/** The mean of some demands, each count rounded up. */
export function meanDemand(demands: readonly TenantDemand[]): TenantDemand {
  const mean = (pick: (d: TenantDemand) => number) => Math.ceil(demands.reduce((sum, d) => sum + pick(d), 0) / Math.max(1, demands.length));
  return {
    historyEntries: mean((d) => d.historyEntries),
    customers: mean((d) => d.customers),
    customerAlertGroups: mean((d) => d.customerAlertGroups),
    alertGroups: mean((d) => d.alertGroups),
    datedAlerts: mean((d) => d.datedAlerts),
  };
}

/** What a snapshot's relations hold. */
export function demandOf(t: TenantSnapshot): TenantDemand {
  const alerts = t.relations.securityAlerts;
  return {
    historyEntries: t.relations.history?.length ?? 0,
    customers: t.relations.customerInsights?.customers.length ?? 0,
    customerAlertGroups: alerts?.customers.length ?? 0,
    alertGroups: alerts?.open.length ?? 0,
    datedAlerts: alerts?.dated.detectedAt.length ?? 0,
  };
}

/** What is cut: how deep (0: nothing), and how many customers per tenant keep their series at depth 2. */
export interface Cut {
  readonly depth: 0 | 1 | 2 | 3;
  /** At depth 2: per-customer series for at most this many customers per tenant. */
  readonly customersPerTenant: number;
}

const NO_CUT: Cut = { depth: 0, customersPerTenant: Number.POSITIVE_INFINITY };

/** The estimated bytes of one tenant's data under a cut. */
export function tenantBytes(d: TenantDemand, cut: Cut): number {
  let bytes = COSTS.tenant;
  if (cut.depth < 3) {
    bytes += d.historyEntries * COSTS.historyEntry + d.alertGroups * COSTS.alertGroup + d.datedAlerts * COSTS.datedAlert;
    bytes += Math.min(d.customers, cut.depth >= 2 ? cut.customersPerTenant : d.customers) * COSTS.customer;
  } else bytes += COSTS.historyEntry;
  if (cut.depth === 0) bytes += d.customerAlertGroups * COSTS.customerAlertGroup;
  return bytes;
}

/** The estimated bytes of every tenant's data under a cut, and of the answer. */
export function estimatedBytes(demands: readonly TenantDemand[], cut: Cut): number {
  return demands.reduce((sum, d) => sum + tenantBytes(d, cut), COSTS.answer);
}

/**
 * The least cut under which the demands fit the budget (depth 3 when even that is too much: it is the
 * most there is); at depth 2, the most customers per tenant that fit, rounded down to customersStep.
 */
export function leastCut(demands: readonly TenantDemand[], budgetBytes: number): Cut {
  const total = (cut: Cut) => estimatedBytes(demands, cut);
  if (total(NO_CUT) <= budgetBytes) return NO_CUT;
  const alertsCut: Cut = { depth: 1, customersPerTenant: Number.POSITIVE_INFINITY };
  if (total(alertsCut) <= budgetBytes) return alertsCut;
  // The most customers per tenant that fit: the estimate grows with them, so a binary search finds it.
  const most = Math.max(0, ...demands.map((d) => d.customers));
  if (total({ depth: 2, customersPerTenant: 0 }) > budgetBytes) return { depth: 3, customersPerTenant: 0 };
  let low = 0;
  let high = most;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (total({ depth: 2, customersPerTenant: mid }) <= budgetBytes) low = mid;
    else high = mid - 1;
  }
  const step = customersStep(most);
  return { depth: 2, customersPerTenant: Math.floor(low / step) * step };
}

/** A snapshot with what a cut takes away taken away (the same object when the cut takes nothing from it). */
export function applyCut(t: TenantSnapshot, cut: Cut): TenantSnapshot {
  if (cut.depth === 0) return t;
  const { securityAlerts, customerInsights, history } = t.relations;
  const relations = { ...t.relations };
  let changed = false;
  if (securityAlerts !== undefined && securityAlerts.customers.length > 0) {
    // customersWithOpenAlerts stays: partner_security_customer_alerts_truncated says customers were left out.
    relations.securityAlerts = Object.freeze({ ...securityAlerts, customers: [], customersKept: 0 });
    changed = true;
  }
  if (cut.depth >= 2 && customerInsights !== undefined && customerInsights.customers.length > cut.customersPerTenant) {
    relations.customerInsights = Object.freeze({
      ...customerInsights,
      customers: customerInsights.customers.slice(0, cut.customersPerTenant),
      truncated: true,
    });
    changed = true;
  }
  if (cut.depth === 3) {
    delete relations.securityAlerts;
    delete relations.customerInsights;
    if (history !== undefined && history.length > 1) relations.history = Object.freeze(history.slice(-1));
    changed = true;
  }
  return changed ? Object.freeze({ ...t, relations: Object.freeze(relations) }) : t;
}

/** Where the budget stands, for partner_security_memory_*. */
export interface BudgetState {
  readonly budgetBytes: number;
  /** The estimate of what is kept under the cut in force. */
  readonly estimatedBytes: number;
  readonly cut: Cut;
}

/** One tenant's place in the budget. */
export interface TenantBudget {
  /** A poll's fresh data: counted, and what the cut takes away taken away (kept so by the poller, to free it). */
  admit(snapshot: TenantSnapshot): TenantSnapshot;
  /** Any snapshot of this tenant as the cut in force shows it (for the data kept since before a cut). */
  view(snapshot: TenantSnapshot): TenantSnapshot;
}

export interface MemoryBudget {
  /** A slot for one tenant (each poller has its own). */
  tenant(): TenantBudget;
  state(): BudgetState;
}

export interface MemoryBudgetOptions {
  readonly budgetBytes: number;
  readonly logger: Logger;
  /** The monotonic clock the log rate is kept on (default: the system's, performance.now). */
  readonly clock?: Pick<Clock, 'monoMs'>;
}

/** Creates the budget; nothing is cut until a poll's data does not fit. */
export function createMemoryBudget(options: MemoryBudgetOptions): MemoryBudget {
  const { budgetBytes, logger } = options;
  const clock = options.clock ?? systemClock;
  const demands: TenantDemand[] = [];
  let cut: Cut = NO_CUT;
  // The cut the last log line said, and when (monotonic ms).
  let said: Cut = NO_CUT;
  let saidAtMs = Number.NEGATIVE_INFINITY;
  // A view per snapshot and cut, so that a render's key (the snapshot objects) only changes with either.
  const views = new WeakMap<TenantSnapshot, { cut: Cut; view: TenantSnapshot }>();
  // Counted again only when a tenant is added or admitted: every scrape reads it.
  let estimated: number | undefined;
  const estimate = () => {
    estimated ??= estimatedBytes(demands, cut);
    return estimated;
  };
  let state: BudgetState | undefined;

  /** Says the cut in force when it differs from the one last said: at once when deeper or less deep, else once the minute is up. */
  const say = () => {
    if (cut.depth === said.depth && cut.customersPerTenant === said.customersPerTenant) return;
    const now = clock.monoMs();
    if (cut.depth === said.depth && now - saidAtMs < CUSTOMERS_LOG_INTERVAL_MS) return;
    const fields = {
      budget_bytes: budgetBytes,
      estimated_bytes: estimate(),
      cut: cut.depth === 0 ? 'none' : BUDGET_CUTS.slice(0, cut.depth).join(','),
      ...(cut.depth === 2 ? { customers_per_tenant: cut.customersPerTenant } : {}),
    };
    if (cut.depth > said.depth || (cut.depth === 2 && cut.customersPerTenant < said.customersPerTenant))
      logger.warn('memory budget reached: series cut, least important first (per-customer before per-tenant, never the score)', fields);
    else logger.info('memory budget: series cut less', fields);
    said = cut;
    saidAtMs = now;
  };

  // Tenants not polled yet count as the mean of those that were: the first poll of a round already
  // decides the cut for the whole round, instead of every arriving tenant cutting a little more
  // (and the tenants polled before a cut holding their whole data until their next poll).
  const admitted: boolean[] = [];
  const projected = (): TenantDemand[] => {
    const polled = demands.filter((_, i) => admitted[i]);
    if (polled.length === demands.length || polled.length === 0) return demands;
    const mean = meanDemand(polled);
    return demands.map((d, i) => (admitted[i] ? d : mean));
  };

  const recompute = () => {
    const next = leastCut(projected(), budgetBytes);
    if (next.depth !== cut.depth || next.customersPerTenant !== cut.customersPerTenant) cut = next;
    say();
  };

  return {
    tenant() {
      const index = demands.length;
      demands.push(NO_DEMAND);
      admitted.push(false);
      estimated = undefined;
      const view = (snapshot: TenantSnapshot) => {
        if (cut.depth === 0) return snapshot;
        const known = views.get(snapshot);
        if (known?.cut === cut) return known.view;
        const shown = applyCut(snapshot, cut);
        views.set(snapshot, { cut, view: shown });
        return shown;
      };
      return {
        admit(snapshot) {
          demands[index] = demandOf(snapshot);
          admitted[index] = true;
          estimated = undefined;
          recompute();
          return view(snapshot);
        },
        view,
      };
    },
    state: () => {
      // The same object while nothing changed: every scrape asks.
      const estimatedBytes = estimate();
      if (state?.estimatedBytes !== estimatedBytes || state.cut !== cut) state = { budgetBytes, estimatedBytes, cut };
      return state;
    },
  };
}
