/** --config.check and the web config's problems, as the command line shows them. */

import { DEFAULT_BUDGET_SHARE, defaultBudgetBytes, estimatedBytes, leastCut, type TenantDemand } from '../collect/budget.js';
import { MAX_ALERT_SERIES } from '../collect/security-alerts.js';
import { DEFAULT_MAX_ALERTS, DEFAULT_MAX_HISTORY_ENTRIES } from '../config/caps.js';
import { credentialChoice } from '../config/credential-hint.js';
import type { Config } from '../config/parse.js';
import { DEMO_CREDENTIAL_NAME, DEMO_TENANT_ID } from '../demo.js';
import type { Logger } from '../lib/log.js';
import { NAME } from '../lib/name.js';
import type { PartnerProgram } from '../snapshot.js';
import { loadWebConfig, WebConfigError } from '../web/web-config.js';

type Env = Readonly<Record<string, string | undefined>>;

/** What --config.check prints: the summary for standard output, warnings for standard error. */
export interface CheckReport {
  readonly summary: string;
  readonly warnings: readonly string[];
}

/**
 * What a run with this configuration would do: each tenant it polls with the credential it would
 * choose and why (credentialChoice, as the start-up log says it), the shard, and what is likely
 * wrong although valid (managed identity where nothing says this is an Azure host, an empty shard).
 */
export function describeConfiguration(config: Config, env: Env): CheckReport {
  const warnings: string[] = [];
  const lines = config.demo
    ? [`  - ${DEMO_TENANT_ID}: ${DEMO_CREDENTIAL_NAME}${partnerText(config.partner)}`]
    : config.tenants.map((t) => {
        const id = t.tenantId ?? '(from the token)';
        const choice = credentialChoice(t, env);
        if (choice.warning !== undefined) warnings.push(`${id}: ${choice.warning}`);
        return `  - ${id}: ${choice.credential} (${choice.reason})${Object.keys(t.labels).length ? ` ${JSON.stringify(t.labels)}` : ''}${partnerText(t.partner)}`;
      });
  const budget = budgetWarning(config);
  if (budget !== undefined) warnings.push(budget);
  const { shard } = config;
  let header = `${lines.length} tenant(s)`;
  if (shard !== undefined) {
    header += `, shard ${shard.index}/${shard.count} (0-based) of ${shard.configuredTenants} configured`;
    if (config.tenants.length === 0)
      warnings.push(
        `shard ${shard.index}/${shard.count} takes none of the ${shard.configuredTenants} configured tenant(s): this exporter would serve no tenant's data`,
      );
  }
  return { summary: `configuration OK: ${header}\n${lines.map((line) => `${line}\n`).join('')}`, warnings };
}

/** --config.check: what start-up would use, checked as start-up checks it; 0 (warnings or not), or 2 with every problem. */
export function checkConfiguration(config: Config, env: Env): number {
  const report = describeConfiguration(config, env);
  let summary = report.summary;
  // The web config is checked as start-up checks it: a check that passes means start-up will.
  if (config.webConfigFile !== undefined) {
    try {
      loadWebConfig(config.webConfigFile);
    } catch (error) {
      if (!(error instanceof WebConfigError)) throw error;
      process.stderr.write(invalidWebConfig(error));
      return 2;
    }
    summary += `web config ${config.webConfigFile}: OK\n`;
  }
  process.stdout.write(summary);
  for (const warning of report.warnings) process.stderr.write(`${NAME}: warning: ${warning}\n`);
  return 0;
}

/**
 * What the memory budget would cut with every tenant at the caps (the most each may hold): a
 * warning, since real tenants seldom reach them; undefined when all of it fits.
 */
export function budgetWarning(config: Config, heapLimitBytes?: number): string | undefined {
  const c = config.collectors;
  const alerts = c.securityAlerts === true ? (c.maxAlerts ?? DEFAULT_MAX_ALERTS) : 0;
  const demand: TenantDemand = {
    historyEntries: c.history ? (c.maxHistoryEntries ?? DEFAULT_MAX_HISTORY_ENTRIES) : 0,
    customers: c.customerInsights ? c.maxCustomers : 0,
    customerAlertGroups: c.securityAlertsPerCustomer === true && c.maxCustomers > 0 ? Math.min(alerts, MAX_ALERT_SERIES) : 0,
    alertGroups: Math.min(alerts, MAX_ALERT_SERIES),
    datedAlerts: alerts,
  };
  const tenants = config.demo ? 1 : config.tenants.length;
  const budgetBytes = config.memoryBudgetBytes ?? defaultBudgetBytes(heapLimitBytes);
  const demands = Array.from({ length: tenants }, () => demand);
  const cut = leastCut(demands, budgetBytes);
  if (cut.depth === 0) return undefined;
  const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
  const what = [
    'the per-customer alert series',
    `per-customer series beyond ${cut.customersPerTenant} customer(s) per tenant`,
    "every per-customer series and the tenants' details (customer insights and alert aggregates, history but its latest entry)",
  ][cut.depth - 1];
  return (
    `memory budget: ${tenants} tenant(s) at the caps would take an estimated ${mib(estimatedBytes(demands, { depth: 0, customersPerTenant: Number.POSITIVE_INFINITY }))} ` +
    `of the ${mib(budgetBytes)} budget${config.memoryBudgetBytes === undefined ? ` (${Math.round(DEFAULT_BUDGET_SHARE * 100)}% of the V8 heap limit of this process)` : ''}; ` +
    `then the exporter cuts ${what} (docs/performance.md). Raise --memory.budget (with the heap, --max-old-space-size), lower the caps, or shard the tenants (--tenants.shard).`
  );
}

/** ", indirect_reseller, validation month 3" when a tenant is not a direct partner or has a month; nothing otherwise. */
function partnerText(partner: PartnerProgram): string {
  if (partner.type === 'direct' && partner.validationMonth === undefined) return '';
  return `, ${partner.type}${partner.validationMonth === undefined ? '' : `, validation month ${partner.validationMonth}`}`;
}

/**
 * Which credential each tenant got and why, one log line each: with no AZURE_* variable managed
 * identity is chosen silently otherwise, and on a laptop its first poll only fails after a long wait.
 */
export function logCredentialChoices(config: Config, env: Env, logger: Logger): void {
  for (const tenant of config.tenants) {
    const choice = credentialChoice(tenant, env);
    const log = logger.with({ tenant_id: tenant.tenantId ?? 'unknown' });
    log.info('credential chosen', { credential: choice.credential, reason: choice.reason });
    if (choice.warning !== undefined) log.warn(choice.warning);
  }
}

export function invalidWebConfig(error: WebConfigError): string {
  return `${NAME}: invalid web config:\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n`;
}
