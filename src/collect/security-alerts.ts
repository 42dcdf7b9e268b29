/**
 * What the partner security alerts of one snapshot add up to, for the metrics, the status page and
 * backfill alike: open alerts by label set, the oldest open ones, and the 30-day window Microsoft
 * scores securityAlertsPromptlyResolved over. Alerts are aggregated (counted, or the oldest
 * taken), never written one per series: two alerts with the same labels add up instead of
 * overwriting each other, and no alert id ever becomes a label. Every label taken from an alert is
 * bounded: status and severity by their documented members and a few others, alert_type by
 * --collector.security-alerts.max-alert-types, and every family by MAX_ALERT_SERIES.
 *
 * The alerts are added up as the pages come (alertAggregator), not kept one object each: all but
 * the windows that end at the render (30 days resolved, 7 days detected) is settled when the poll
 * ends; for those, each dated alert keeps a few numbers (SecurityAlerts.dated).
 */
import {
  ALERT_RESOLVED_REASONS,
  ALERT_SEVERITIES,
  ALERT_STATUSES,
  type CustomerOpenAlerts,
  type OpenAlertCount,
  type SecurityAlert,
  type SecurityAlerts,
  UNKNOWN_ALERT_VALUE,
} from '../snapshot.js';

/** The window Microsoft averages the response time over (securityAlertsPromptlyResolved). */
export const ALERT_WINDOW_SECONDS = 30 * 24 * 3600;
/** What the requirement allows as an average response time. */
export const ALERT_RESPONSE_LIMIT_SECONDS = 24 * 3600;
/** The alert_type value alerts of types beyond --collector.security-alerts.max-alert-types are counted under. */
export const OTHER_ALERT_TYPE = 'other';
/** "New this week", as Partner Center's Security Alerts dashboard counts them. */
export const DETECTED_WINDOW_SECONDS = 7 * 24 * 3600;
/** Graph's securityAlertSeverity values counted (at 0 too) in the 7-day detections. */
export const COUNTED_SEVERITIES = ['informational', 'low', 'medium', 'high'] as const;
/** A resolvedReason other than Graph's (ALERT_RESOLVED_REASONS), or none, is counted as this. */
export const OTHER_RESOLVED_REASON = 'other';
/** The status or severity value alerts beyond the documented members and MAX_OTHER_ALERT_VALUES others are counted under. */
export const OTHER_ALERT_VALUE = 'other';
/**
 * Values of status, and of severity, labelled per tenant besides the documented members and
 * "unknown": room for the few members Microsoft may add (they arrive as themselves, see
 * Prefer: include-unknown-enum-members), not for a Graph that sends a new value on every alert.
 */
export const MAX_OTHER_ALERT_VALUES = 5;
/**
 * Series any alert family carries per tenant at most, whatever Graph sends: alert types fold into
 * "other" and per-customer series leave customers out until the family fits.
 */
export const MAX_ALERT_SERIES = 1000;

/** How many of the oldest open alerts are kept by name (the status page lists them). */
export const OLDEST_OPEN_KEPT = 5;

/** The alerts of one snapshot, added up. Test alerts are only in testOpen. */
export interface AlertSummary {
  readonly open: readonly OpenAlertCount[];
  /** Open test alerts (isTest) by severity: counted apart, they never page. */
  readonly testOpen: ReadonlyMap<string, number>;
  /** Detection time of the oldest open non-test alert, by severity. */
  readonly oldestOpenBySeverity: ReadonlyMap<string, number>;
  /** Open non-test alerts with a detection time, oldest first: at most OLDEST_OPEN_KEPT. */
  readonly oldestOpen: readonly SecurityAlert[];
  /** Alert types counted under "other" because of the type cap or the series bound. */
  readonly foldedTypes: number;
  /** Status values of open alerts counted under "other" (beyond the documented ones and MAX_OTHER_ALERT_VALUES). */
  readonly foldedStatuses: number;
  /** Severity values of open alerts counted under "other" (beyond the documented ones and MAX_OTHER_ALERT_VALUES). */
  readonly foldedSeverities: number;
  /** Non-test alerts resolved within the window ending now. */
  readonly resolvedInWindow: number;
  /** Those by resolution reason: legitimate, ignore, fraud and other, every one present (0 too). */
  readonly resolvedByReason: ReadonlyMap<string, number>;
  /** Non-test alerts detected in the 7 days before now, by severity: Graph's four always present (0 too), others as sent. */
  readonly detectedLast7Days: ReadonlyMap<string, number>;
  /** Mean of resolved minus detected over those (absent when none has both dates), seconds. */
  readonly averageResponseSeconds?: number;
  /**
   * Per customer, type and severity, for at most maxCustomers customers (those with the oldest open
   * alerts first), and no more customers than fit in MAX_ALERT_SERIES of these.
   */
  readonly customers: readonly CustomerOpenAlerts[];
  /** Customers in customers. */
  readonly customersKept: number;
  /** Customers with open non-test alerts, beyond the per-customer cap too. */
  readonly customersWithOpenAlerts: number;
}

/** Adds up the alerts as of nowSeconds: the windows end now; the rest was added up when the poll ended. */
export function summarizeAlerts(data: SecurityAlerts, nowSeconds: number): AlertSummary {
  const { detectedAt, resolvedAt, severity, reason, severities } = data.dated;
  // Resolved within the 30 days before now, as Microsoft's window counts them; by reason, so the
  // fraud rate can be read (a reason Microsoft adds, or none, is "other").
  const windowStart = nowSeconds - ALERT_WINDOW_SECONDS;
  const reasons = [...ALERT_RESOLVED_REASONS, OTHER_RESOLVED_REASON];
  const resolvedByReason = new Map<string, number>(reasons.map((r) => [r, 0]));
  let resolvedInWindow = 0;
  let timed = 0;
  let total = 0;
  // Detected in the 7 days before now, open or not: Partner Center's "new this week".
  const detectedCounts = new Map<number, number>();
  const detectedOrder: number[] = [];
  for (let i = 0; i < detectedAt.length; i++) {
    const resolved = resolvedAt[i] ?? Number.NaN;
    const detected = detectedAt[i] ?? Number.NaN;
    if (resolved > windowStart && resolved <= nowSeconds) {
      resolvedInWindow++;
      const by = reasons[reason[i] ?? reasons.length - 1] ?? OTHER_RESOLVED_REASON;
      resolvedByReason.set(by, (resolvedByReason.get(by) ?? 0) + 1);
      if (!Number.isNaN(detected)) {
        timed++;
        total += Math.max(0, resolved - detected);
      }
    }
    if (detected > nowSeconds - DETECTED_WINDOW_SECONDS && detected <= nowSeconds) {
      const s = severity[i] ?? 0;
      if (!detectedCounts.has(s)) detectedOrder.push(s);
      detectedCounts.set(s, (detectedCounts.get(s) ?? 0) + 1);
    }
  }
  // Severities bounded as for the open alerts (the documented ones, "unknown", a few others, "other").
  const detectedSeverityOf = valueLabeller(new Map(detectedOrder.map((s) => [severities[s] ?? '', detectedCounts.get(s) ?? 0])), ALERT_SEVERITIES);
  const detectedLast7Days = new Map<string, number>(COUNTED_SEVERITIES.map((s) => [s, 0]));
  for (const s of detectedOrder) {
    const label = detectedSeverityOf(severities[s] ?? '');
    detectedLast7Days.set(label, (detectedLast7Days.get(label) ?? 0) + (detectedCounts.get(s) ?? 0));
  }
  return {
    open: data.open,
    testOpen: new Map(data.testOpen),
    oldestOpenBySeverity: new Map(data.oldestOpenBySeverity),
    oldestOpen: data.oldestOpen,
    foldedTypes: data.foldedTypes,
    foldedStatuses: data.foldedStatuses,
    foldedSeverities: data.foldedSeverities,
    resolvedInWindow,
    resolvedByReason,
    detectedLast7Days,
    ...(timed === 0 ? {} : { averageResponseSeconds: total / timed }),
    customers: data.customers,
    customersKept: data.customersKept,
    customersWithOpenAlerts: data.customersWithOpenAlerts,
  };
}

/** Adds alerts up one by one, as the pages come, and keeps only what SecurityAlerts holds. */
export interface AlertAggregator {
  add(alert: SecurityAlert): void;
  /** What was added up; seen is how many alerts were read (kept or not). */
  done(seen: number): SecurityAlerts;
}

type Bounds = Pick<SecurityAlerts, 'maxAlertTypes' | 'maxCustomers'>;

/** Counts by key in the order the keys were first seen. */
class Tally<K> extends Map<K, number> {
  add(key: K, n = 1): void {
    this.set(key, (this.get(key) ?? 0) + n);
  }
}

/** A resolved alert until the end picks the newest: when (0 when not said, as it sorts), and what the windows need of it. */
type Resolved = readonly [sortKey: number, resolvedAt: number, detectedAt: number, severity: string, reason: number, isTest: boolean];

/**
 * At most max alerts count: every open one first (they page someone), in the order read, then the
 * most recently resolved (the 30-day window needs the newest). Open alerts are added up as they
 * come, by their own status, severity and type; those labels are bounded (folded into "other") at
 * the end, when the counts that rank them are known, exactly as summing the kept alerts at once
 * would bound them. Resolved ones are held as a few values each until the end picks the newest.
 */
export function alertAggregator(max: number, bounds: Bounds): AlertAggregator {
  // Graph sends each alert's labels as strings of their own: what is kept shares one of each, and
  // the maps below are keyed by their numbers, not by the labels written out (a hostile Graph's
  // labels are up to the parser's bound each, and may all differ).
  const numbers = new Map<string, number>();
  const strings: string[] = [];
  const numberOf = (text: string) => {
    const known = numbers.get(text);
    if (known !== undefined) return known;
    numbers.set(text, strings.length);
    strings.push(text);
    return strings.length - 1;
  };
  const named = (n: number) => strings[n] as string;
  const intern = (text: string) => named(numberOf(text));
  let openKept = 0;
  /** Open non-test alerts by their own status, severity and type: count, in the order first read. */
  const open = new Map<string, { status: string; severity: string; alertType: string; count: number }>();
  const statusCounts = new Tally<string>();
  /** Severity counts over every open alert (test alerts carry it as a label too). */
  const severityCounts = new Tally<string>();
  const typeCounts = new Tally<string>();
  const testOpen = new Tally<string>();
  const oldestBySeverity = new Map<string, number>();
  const oldestOpen: SecurityAlert[] = [];
  const customersWithOpen = new Set<string>();
  /** Per customer, by their own type and severity: folded and capped at the end. */
  const byCustomer = new Map<string, Map<string, { alertType: string; severity: string; count: number; oldest: number | undefined }>>();
  /** Dated open non-test alerts, as the windows need them. */
  const openDated: { detectedAt: number; severity: string }[] = [];
  let resolved: Resolved[] = [];
  const newestFirst = (a: Resolved, b: Resolved) => b[0] - a[0];

  const addOpen = (alert: SecurityAlert) => {
    severityCounts.add(intern(alert.severity));
    if (alert.isTest) {
      testOpen.add(intern(alert.severity));
      return;
    }
    const [status, severity, alertType] = [numberOf(alert.status), numberOf(alert.severity), numberOf(alert.alertType)];
    const key = `${status} ${severity} ${alertType}`;
    const entry = open.get(key) ?? { status: named(status), severity: named(severity), alertType: named(alertType), count: 0 };
    entry.count++;
    open.set(key, entry);
    statusCounts.add(entry.status);
    typeCounts.add(entry.alertType);
    const detected = alert.detectedTimestamp;
    if (detected !== undefined) {
      openDated.push({ detectedAt: detected, severity: entry.severity });
      const oldest = oldestBySeverity.get(entry.severity);
      if (oldest === undefined || detected < oldest) oldestBySeverity.set(entry.severity, detected);
      // Oldest first, and of two alike the one read first, as a stable sort of them all would put them.
      let at = oldestOpen.length;
      while (at > 0 && (oldestOpen[at - 1]?.detectedTimestamp ?? 0) > detected) at--;
      if (at < OLDEST_OPEN_KEPT) {
        oldestOpen.splice(at, 0, alert);
        oldestOpen.length = Math.min(oldestOpen.length, OLDEST_OPEN_KEPT);
      }
    }
    if (alert.customerTenantId !== undefined) {
      const customer = intern(alert.customerTenantId);
      customersWithOpen.add(customer);
      // The per-customer series are off: only the number of customers is needed.
      if (bounds.maxCustomers === 0) return;
      const groups = byCustomer.get(customer) ?? new Map();
      byCustomer.set(customer, groups);
      const groupKey = `${alertType} ${severity}`;
      const group = groups.get(groupKey) ?? { alertType: entry.alertType, severity: entry.severity, count: 0, oldest: undefined };
      group.count++;
      group.oldest = minDefined(group.oldest, detected);
      groups.set(groupKey, group);
    }
  };

  return {
    add(alert) {
      if (alert.open) {
        if (openKept < max) {
          openKept++;
          addOpen(alert);
        }
        return;
      }
      const reason = ALERT_RESOLVED_REASONS.findIndex((r) => r.toLowerCase() === alert.resolvedReason?.toLowerCase());
      resolved.push([
        alert.resolvedTimestamp ?? 0,
        alert.resolvedTimestamp ?? Number.NaN,
        alert.detectedTimestamp ?? Number.NaN,
        intern(alert.severity),
        reason === -1 ? ALERT_RESOLVED_REASONS.length : reason,
        alert.isTest,
      ]);
      // Trimmed now and then, not on every alert: at most twice the cap is ever held.
      if (resolved.length >= 2 * max) resolved = resolved.sort(newestFirst).slice(0, max);
    },
    done(seen) {
      // Status only labels non-test alerts, severity test alerts too (partner_security_alerts_test_open).
      const statusOf = valueLabeller(statusCounts, ALERT_STATUSES);
      const severityOf = valueLabeller(severityCounts, ALERT_SEVERITIES);
      const label = (status: string, severity: string) => [statusOf(status), severityOf(severity)] as const;
      const typeOf = typeLabeller(
        [...open.values()].map((o) => ({ ...o, labels: label(o.status, o.severity) })),
        typeCounts,
        bounds.maxAlertTypes,
        MAX_ALERT_SERIES,
      );

      const folded = new Map<string, { status: string; severity: string; alertType: string; count: number }>();
      for (const entry of open.values()) {
        const [status, severity] = label(entry.status, entry.severity);
        const alertType = typeOf(entry.alertType);
        const key = JSON.stringify([status, severity, alertType]);
        const into = folded.get(key) ?? { status, severity, alertType, count: 0 };
        into.count += entry.count;
        folded.set(key, into);
      }
      const oldestOpenBySeverity = new Map<string, number>();
      for (const [raw, ts] of oldestBySeverity) {
        const severity = severityOf(raw);
        const oldest = oldestOpenBySeverity.get(severity);
        if (oldest === undefined || ts < oldest) oldestOpenBySeverity.set(severity, ts);
      }
      const tests = new Tally<string>();
      for (const [raw, n] of testOpen) tests.add(severityOf(raw), n);

      const ranked = [...byCustomer].map(([customerTenantId, groups]) => {
        const merged = new Map<string, { customerTenantId: string; alertType: string; severity: string; count: number; oldest: number | undefined }>();
        for (const group of groups.values()) {
          const alertType = typeOf(group.alertType);
          const severity = severityOf(group.severity);
          const key = JSON.stringify([alertType, severity]);
          const into = merged.get(key) ?? { customerTenantId, alertType, severity, count: 0, oldest: undefined };
          into.count += group.count;
          into.oldest = minDefined(into.oldest, group.oldest);
          merged.set(key, into);
        }
        const list = [...merged.values()].map(({ oldest, ...g }): CustomerOpenAlerts => (oldest === undefined ? g : { ...g, oldestDetectedTimestamp: oldest }));
        return { customerTenantId, list, oldest: Math.min(...list.map((g) => g.oldestDetectedTimestamp ?? Number.POSITIVE_INFINITY)) };
      });
      ranked.sort((a, b) => a.oldest - b.oldest || (a.customerTenantId < b.customerTenantId ? -1 : a.customerTenantId > b.customerTenantId ? 1 : 0));
      // Customers in that order while they fit: at most maxCustomers, and at most MAX_ALERT_SERIES groups in all.
      const chosen: (typeof ranked)[number][] = [];
      let series = 0;
      for (const entry of ranked) {
        if (chosen.length >= bounds.maxCustomers || series + entry.list.length > MAX_ALERT_SERIES) break;
        chosen.push(entry);
        series += entry.list.length;
      }

      // The windows: every kept non-test alert with a date, open ones first, then the resolved kept (newest first).
      const keptResolved = resolved.sort(newestFirst).slice(0, Math.max(0, max - openKept));
      const dated = [
        ...openDated.map((o) => [Number.NaN, o.detectedAt, o.severity, ALERT_RESOLVED_REASONS.length] as const),
        ...keptResolved.filter((r) => !r[5] && !(Number.isNaN(r[1]) && Number.isNaN(r[2]))).map((r) => [r[1], r[2], r[3], r[4]] as const),
      ];
      const severityIndex = new Map<string, number>();
      for (const [, , s] of dated) if (!severityIndex.has(s)) severityIndex.set(s, severityIndex.size);

      return Object.freeze({
        seen,
        kept: openKept + keptResolved.length,
        ...bounds,
        open: Object.freeze([...folded.values()].map((o) => Object.freeze({ ...o }))),
        testOpen: Object.freeze([...tests]),
        oldestOpenBySeverity: Object.freeze([...oldestOpenBySeverity]),
        foldedTypes: typeOf.folded,
        foldedStatuses: statusOf.folded,
        foldedSeverities: severityOf.folded,
        oldestOpen: Object.freeze(oldestOpen.map((a) => Object.freeze({ ...a, status: statusOf(a.status), severity: severityOf(a.severity) }))),
        customers: Object.freeze(chosen.flatMap((c) => c.list)),
        customersKept: chosen.length,
        customersWithOpenAlerts: customersWithOpen.size,
        dated: Object.freeze({
          resolvedAt: Float64Array.from(dated, (d) => d[0]),
          detectedAt: Float64Array.from(dated, (d) => d[1]),
          severity: Uint32Array.from(dated, (d) => severityIndex.get(d[2]) ?? 0),
          reason: Uint8Array.from(dated, (d) => d[3]),
          severities: Object.freeze([...severityIndex.keys()]),
        }),
      });
    },
  };
}

/** SecurityAlerts of a list of alerts, as a poll that read them in this order would keep them. */
export function aggregateAlerts(alerts: readonly SecurityAlert[], max: number, bounds: Bounds): SecurityAlerts {
  const aggregator = alertAggregator(max, bounds);
  for (const alert of alerts) aggregator.add(alert);
  return aggregator.done(alerts.length);
}

type Labeller = ((value: string) => string) & { readonly folded: number };

/** Values ranked by how many alerts carry them, then by name, so the choice does not depend on Graph's order. */
function rankedValues(counts: ReadonlyMap<string, number>): string[] {
  return [...counts.entries()].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)).map(([value]) => value);
}

/**
 * status and severity: the documented members and "unknown" keep their name, and so do at most
 * MAX_OTHER_ALERT_VALUES others (those on the most open alerts); the rest are counted as "other".
 */
function valueLabeller(counts: ReadonlyMap<string, number>, documented: readonly string[]): Labeller {
  const known = new Set([...documented, UNKNOWN_ALERT_VALUE]);
  const others = rankedValues(counts).filter((v) => !known.has(v));
  const kept = new Set(others.slice(0, MAX_OTHER_ALERT_VALUES));
  const label = (value: string) => (known.has(value) || kept.has(value) ? value : OTHER_ALERT_VALUE);
  return Object.assign(label, { folded: others.length - kept.size });
}

/**
 * alertType is free text: at most max types keep their name (the ones with the most open alerts,
 * then by name), and fewer when partner_security_alerts_open would carry more than maxSeries
 * series (status x severity x type); the rest are counted as "other". Folding every type leaves
 * at most (statuses x severities) series, far below maxSeries once those two are bounded.
 */
function typeLabeller(
  groups: readonly { readonly alertType: string; readonly labels: readonly [string, string] }[],
  counts: ReadonlyMap<string, number>,
  max: number,
  maxSeries: number,
): Labeller {
  const ranked = rankedValues(counts);
  const pairs = new Map<string, Set<string>>();
  for (const g of groups) {
    const set = pairs.get(g.alertType) ?? new Set<string>();
    set.add(JSON.stringify(g.labels));
    pairs.set(g.alertType, set);
  }
  const kept = typesKept(ranked, pairs, max, maxSeries);
  const label = (type: string) => (kept.has(type) ? type : OTHER_ALERT_TYPE);
  return Object.assign(label, { folded: ranked.length - kept.size });
}

/**
 * The types that keep their name: the first of ranked, at most max, and no more than keep the
 * series (each type's (status, severity) pairs, plus those of the "other" type the rest fold into)
 * within maxSeries.
 */
export function typesKept(ranked: readonly string[], pairs: ReadonlyMap<string, ReadonlySet<string>>, max: number, maxSeries: number): Set<string> {
  // Series with the first k types named: theirs, plus the "other" type's (the pairs of all the rest).
  const restPairs: number[] = new Array(ranked.length + 1).fill(0);
  const rest = new Set<string>();
  for (let k = ranked.length - 1; k >= 0; k--) {
    for (const pair of pairs.get(ranked[k] ?? '') ?? []) rest.add(pair);
    restPairs[k] = rest.size;
  }
  const namedPairs: number[] = [0];
  for (const type of ranked) namedPairs.push((namedPairs.at(-1) ?? 0) + (pairs.get(type)?.size ?? 0));
  let keep = Math.min(max, ranked.length);
  while (keep > 0 && (namedPairs[keep] ?? 0) + (restPairs[keep] ?? 0) > maxSeries) keep--;
  return new Set(ranked.slice(0, keep));
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
