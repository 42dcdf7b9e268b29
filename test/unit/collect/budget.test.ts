/**
 * The memory budget, on estimates alone (counts times a cost each, no reading of the heap): the
 * least cut that fits, least important series first (per-customer alerts, then customers, then the
 * tenants' details), never the score; one log line when the cut changes; the data kept from before
 * a cut is cut at once where it is shown; and /metrics says where the budget stands.
 */
import { describe, expect, it } from 'vitest';
import {
  applyCut,
  BUDGET_CUTS,
  type Cut,
  createMemoryBudget,
  customersStep,
  demandOf,
  estimatedBytes,
  leastCut,
  type TenantDemand,
} from '../../../src/collect/budget.js';
import { aggregateAlerts } from '../../../src/collect/security-alerts.js';
import { createMetrics } from '../../../src/expose/metrics.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';
import { type CustomerInsight, initialSnapshot, POLICIES, type SecurityAlert, type TenantSnapshot } from '../../../src/snapshot.js';
import { parseSamples } from '../../helpers/exporter.js';

const NOW = 1_800_000_000_000;

/** A polled tenant with n customers and, for each, an open alert. */
function tenant(id: string, n: number, score = 70): TenantSnapshot {
  const customers: CustomerInsight[] = Array.from({ length: n }, (_, i) => ({
    tenantId: `${id}-c${i}`,
    totalUsers: 10 + i,
    policies: { securityDefaults: true },
  }));
  const alerts: SecurityAlert[] = customers.map((c, i) => ({
    id: `${id}-a${i}`,
    alertType: 't',
    status: 'active',
    severity: 'high',
    customerTenantId: c.tenantId,
    detectedTimestamp: NOW / 1000 - 3600 - i,
    isTest: false,
    open: true,
  }));
  return {
    ...initialSnapshot(id),
    score: { currentScore: score, maxScore: 100 },
    relations: {
      history: [{ createdTimestamp: NOW / 1000 - 86_400, score, compliantRequirements: 4, totalRequirements: 5 }],
      customerInsights: {
        customers,
        seen: n,
        policyEnabled: Object.fromEntries(POLICIES.map((p) => [p, 0])) as Record<(typeof POLICIES)[number], number>,
        pages: 1,
        truncated: false,
      },
      securityAlerts: aggregateAlerts(alerts, 10_000, { maxAlertTypes: 50, maxCustomers: 1000 }),
    },
    relationStatus: { history: 'ok', customerInsights: 'ok', securityAlerts: 'ok' },
    lastSuccessMs: NOW - 1000,
    lastSuccessMonoMs: 0,
    lastPoll: { startedMs: NOW - 2000, durationMs: 1000, ok: true },
    polls: 1,
  };
}

const demand = (customers: number): TenantDemand => ({ historyEntries: 1, customers, customerAlertGroups: customers, alertGroups: 1, datedAlerts: customers });

describe('the least cut that fits', () => {
  const demands = Array.from({ length: 10 }, () => demand(1000));
  const none: Cut = { depth: 0, customersPerTenant: Number.POSITIVE_INFINITY };
  const full = estimatedBytes(demands, none);

  it('cuts nothing while everything fits, to the byte', () => {
    expect(leastCut(demands, full)).toEqual(none);
    expect(leastCut(demands, full - 1).depth).toBe(1);
  });

  it('goes per-customer alerts, then customers beyond a number per tenant, then details, as the budget shrinks; never past it while anything is left to cut', () => {
    let previous: Cut = none;
    const seen = new Set<number>();
    for (let budget = full; budget > 0; budget = Math.floor(budget * 0.97)) {
      const cut = leastCut(demands, budget);
      seen.add(cut.depth);
      // Deeper, or as deep with fewer customers: never back while the budget only shrinks.
      expect(cut.depth > previous.depth || (cut.depth === previous.depth && cut.customersPerTenant <= previous.customersPerTenant)).toBe(true);
      if (cut.depth < 3) expect(estimatedBytes(demands, cut)).toBeLessThanOrEqual(budget);
      if (cut.depth === 2) {
        // The most customers that fit, rounded down to the step (5% of 1,000): one step more would not.
        expect(cut.customersPerTenant % customersStep(1000)).toBe(0);
        expect(estimatedBytes(demands, { depth: 2, customersPerTenant: cut.customersPerTenant + customersStep(1000) })).toBeGreaterThan(budget);
      }
      previous = cut;
    }
    expect([...seen]).toEqual([0, 1, 2, 3]);
  });

  it('counts what a snapshot holds', () => {
    expect(demandOf(tenant('t1', 3))).toEqual({ historyEntries: 1, customers: 3, customerAlertGroups: 3, alertGroups: 1, datedAlerts: 3 });
    expect(demandOf(initialSnapshot('t1'))).toEqual({ historyEntries: 0, customers: 0, customerAlertGroups: 0, alertGroups: 0, datedAlerts: 0 });
  });
});

describe('a cut applied to a snapshot', () => {
  const t = tenant('t1', 5);

  it('takes the per-customer alert groups, then customers beyond the number, then the details; the score, history latest and health stay', () => {
    expect(applyCut(t, { depth: 0, customersPerTenant: 0 })).toBe(t);
    const alertsCut = applyCut(t, { depth: 1, customersPerTenant: Number.POSITIVE_INFINITY });
    expect(alertsCut.relations.securityAlerts?.customers).toEqual([]);
    expect(alertsCut.relations.securityAlerts?.customersWithOpenAlerts).toBe(5);
    expect(alertsCut.relations.customerInsights?.customers).toHaveLength(5);
    const customersCut = applyCut(t, { depth: 2, customersPerTenant: 2 });
    expect(customersCut.relations.customerInsights?.customers.map((c) => c.tenantId)).toEqual(['t1-c0', 't1-c1']);
    expect(customersCut.relations.customerInsights?.truncated).toBe(true);
    expect(customersCut.relations.customerInsights?.seen).toBe(5);
    const details = applyCut(t, { depth: 3, customersPerTenant: 0 });
    expect(details.relations).toEqual({ history: t.relations.history });
    for (const cut of [alertsCut, customersCut, details]) {
      expect(cut.score).toEqual(t.score);
      expect(cut.lastPoll).toEqual(t.lastPoll);
    }
  });
});

describe('the budget of a running exporter', () => {
  it('says so in one log line when it cuts and when it cuts less, cuts what was kept before at once, and /metrics shows where it stands', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', format: 'json', redact: createRedactor(), write: (line) => lines.push(JSON.parse(line)) });
    // Room for a tenant of 10 customers with everything, one without customers and a third just short of 10 (a poller costs too).
    const full = demandOf(tenant('x', 10));
    const twoFull = estimatedBytes([full, demandOf(tenant('x', 0)), full], { depth: 0, customersPerTenant: Number.POSITIVE_INFINITY }) - 1;
    const budget = createMemoryBudget({ budgetBytes: twoFull, logger });
    const slots = [budget.tenant(), budget.tenant(), budget.tenant()];
    slots[0]?.admit(tenant('t1', 0));
    // The third, not polled yet, counts as the mean of the first two: that fits.
    const first = slots[1]?.admit(tenant('t2', 10));
    expect(budget.state().cut.depth).toBe(0);
    // Every scrape asks: the same object while the budget stands still.
    const standing = budget.state();
    expect(budget.state()).toBe(standing);
    expect(lines).toEqual([]);
    // The third tenant's data does not fit: per-customer alerts go, for every tenant alike.
    const third = slots[2]?.admit(tenant('t3', 10)) as TenantSnapshot;
    expect(budget.state().cut.depth).toBeGreaterThan(0);
    expect(standing.cut.depth).toBe(0);
    expect(budget.state().estimatedBytes).toBeLessThanOrEqual(twoFull);
    expect(third.relations.securityAlerts?.customers).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: expect.stringMatching(/^memory budget reached: series cut/), budget_bytes: twoFull });
    // t2's snapshot was kept whole before the cut: shown cut at once, the same object each time.
    const shown = slots[1]?.view(first as TenantSnapshot);
    expect(shown?.relations.securityAlerts?.customers).toEqual([]);
    expect(slots[1]?.view(first as TenantSnapshot)).toBe(shown);

    const metrics = createMetrics({
      snapshots: () => [slots[1]?.view(first as TenantSnapshot) as TenantSnapshot, third],
      build: { version: 'v', nodeVersion: 'n' },
      maxStalenessMs: 0,
      now: () => NOW,
      processMetrics: false,
      memoryBudget: budget.state,
    });
    const samples = parseSamples(await metrics.render());
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value('partner_security_memory_budget_bytes')).toBe(twoFull);
    expect(value('partner_security_memory_estimated_bytes')).toBe(budget.state().estimatedBytes);
    expect(BUDGET_CUTS.map((series) => value('partner_security_memory_budget_cut', { series }))).toEqual(
      BUDGET_CUTS.map((_, i) => (budget.state().cut.depth > i ? 1 : 0)),
    );
    // Never the score; no per-customer alert series left.
    expect(value('partner_security_score_current', { tenant_id: 't3' })).toBe(70);
    expect(samples.filter((s) => s.name.startsWith('partner_security_customer_alerts_open'))).toEqual([]);
    expect(value('partner_security_customer_alerts_truncated', { tenant_id: 't3' })).toBe(1);

    // A tenant whose data shrinks makes room again: one line, and the cut is gone.
    slots[2]?.admit(tenant('t3', 0));
    expect(budget.state().cut.depth).toBe(0);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: 'info', msg: 'memory budget: series cut less', cut: 'none' });
  });
});

describe('the budget while tenants arrive one by one', () => {
  it('says the cut once when it goes deeper; lower customers per tenant at the same depth at most once a minute, the metric always showing the figure in force', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', format: 'json', redact: createRedactor(), write: (line) => lines.push(JSON.parse(line)) });
    let mono = 5_000;
    // Room for 30 tenants of 100 to 390 customers (and as many alerts) with 30 customers each: as the bigger ones arrive, the figure goes down.
    const tenants = Array.from({ length: 30 }, (_, i) => tenant(`t${i}`, 100 + 10 * i));
    const budgetBytes = estimatedBytes(tenants.map(demandOf), { depth: 2, customersPerTenant: 30 });
    const budget = createMemoryBudget({ budgetBytes, logger, clock: { monoMs: () => mono } });
    const slots = tenants.map(() => budget.tenant());
    const figures: number[] = [];
    tenants.forEach((t, i) => {
      slots[i]?.admit(t);
      mono += 1000;
      if (budget.state().cut.depth === 2) figures.push(budget.state().cut.customersPerTenant);
    });
    // The figure went down many times as tenants came, and is in force: the metric's figure fits, the next step would not.
    expect(new Set(figures).size).toBeGreaterThan(3);
    const inForce = budget.state().cut;
    expect(inForce.depth).toBe(2);
    expect(estimatedBytes(tenants.map(demandOf), inForce)).toBeLessThanOrEqual(budgetBytes);
    // The first tenant, counted for all 30, cut customers at once; said once, not once per arriving tenant.
    expect(lines.map((l) => [l.level, l.cut])).toEqual([['warn', 'customer_alerts,customers']]);
    // A minute after that line, the next poll's admit says the figure in force, once.
    mono += 60_000;
    slots[0]?.admit(tenants[0] as TenantSnapshot);
    slots[1]?.admit(tenants[1] as TenantSnapshot);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: 'warn', cut: 'customer_alerts,customers', customers_per_tenant: inForce.customersPerTenant });
  });

  it('counts the tenants not polled yet as the mean of those polled: the first poll of a round decides the cut, and no tenant is kept whole before it', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', format: 'json', redact: createRedactor(), write: (line) => lines.push(JSON.parse(line)) });
    const tenants = Array.from({ length: 10 }, (_, i) => tenant(`t${i}`, 40));
    // Room for the ten with 20 customers each and no per-customer alerts.
    const budgetBytes = estimatedBytes(tenants.map(demandOf), { depth: 2, customersPerTenant: 20 });
    const budget = createMemoryBudget({ budgetBytes, logger });
    const slots = tenants.map(() => budget.tenant());
    const admitted = tenants.map((t, i) => slots[i]?.admit(t));
    const cut = budget.state().cut;
    expect(cut).toEqual({ depth: 2, customersPerTenant: 20 });
    // The very first admit was already cut as the last: nothing kept whole, one line only.
    expect(admitted.map((t) => [t?.relations.customerInsights?.customers.length, t?.relations.securityAlerts?.customers.length])).toEqual(
      Array(10).fill([20, 0]),
    );
    expect(lines).toHaveLength(1);
  });

  it('rounds customers per tenant down to a step of 5% of the most customers (at least 1), so arriving tenants seldom make a new cut', () => {
    const demands = Array.from({ length: 80 }, () => demand(1000));
    const none: Cut = { depth: 0, customersPerTenant: Number.POSITIVE_INFINITY };
    const changes = new Set<number>();
    let arrivedPastCustomers = 0;
    const budgetBytes = estimatedBytes(demands.slice(0, 25), none);
    for (let n = 1; n <= demands.length; n++) {
      const cut = leastCut(demands.slice(0, n), budgetBytes);
      if (cut.depth === 2) {
        expect(cut.customersPerTenant % 50).toBe(0);
        expect(cut.customersPerTenant).toBeGreaterThan(0);
        changes.add(cut.customersPerTenant);
        arrivedPastCustomers++;
      }
    }
    // Each of these tenants lowers the exact figure; rounded to steps of 50 customers, fewer than one new cut in two.
    expect(arrivedPastCustomers).toBeGreaterThan(10);
    expect(changes.size).toBeGreaterThan(1);
    expect(changes.size).toBeLessThan(arrivedPastCustomers / 2);
    // Few customers: a step of 1.
    const few = [demand(3), demand(3)];
    const cut = leastCut(few, estimatedBytes(few, { depth: 2, customersPerTenant: 2 }));
    expect(cut).toEqual({ depth: 2, customersPerTenant: 2 });
  });
});
