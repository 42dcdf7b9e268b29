/**
 * Flags, environment and tenants file -> one frozen Config. parseConfig is pure (files are read
 * through ConfigIo) and reports every problem at once.
 */
import { dirname, resolve } from 'node:path';
import { formatDuration, parseDuration } from '../lib/duration.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../lib/log.js';
import { DEFAULT_PARTNER_PROGRAM, type PartnerProgram } from '../snapshot.js';
import { type ConfigIo, diskIo, readConfigText } from './files.js';
import { DEMO_POLL_INTERVAL_MS, envName, type FlagName, flagSpec, readFlags, unknownVariables } from './flags.js';
import { parseHttpsRoot } from './https-root.js';
import { parsePartnerProgram } from './partner.js';
import { parseShard, type Shard, shardOf } from './shard.js';
import { parseTenantsFile, type TenantConfig, tenantFromEnv } from './tenants.js';

/** Which relations to read and how far to page. */
export interface CollectorsConfig {
  readonly requirements: boolean;
  readonly history: boolean;
  readonly customerInsights: boolean;
  /** Pages of one relation in one poll. */
  readonly maxPages: number;
  readonly maxCustomers: number;
  /** JSON bytes of one relation's pages in one poll (default DEFAULT_MAX_BYTES). */
  readonly maxBytes?: number;
  /** Requirements kept per tenant (default DEFAULT_MAX_REQUIREMENTS). */
  readonly maxRequirements?: number;
  /** History entries kept per tenant, the newest (default DEFAULT_MAX_HISTORY_ENTRIES). */
  readonly maxHistoryEntries?: number;
  /** Read the partner security alerts (absent: off; the flag's default is on). */
  readonly securityAlerts?: boolean;
  /** Security alerts kept per tenant (default DEFAULT_MAX_ALERTS). */
  readonly maxAlerts?: number;
  /** alert_type label values per tenant before the rest fold into "other" (default DEFAULT_MAX_ALERT_TYPES). */
  readonly maxAlertTypes?: number;
  /** Per-customer open alert series, within maxCustomers customers. */
  readonly securityAlertsPerCustomer?: boolean;
}

export interface ListenAddress {
  /** Undefined means every interface. */
  readonly host?: string;
  readonly port: number;
}

/** The whole configuration of one exporter process. */
export interface Config {
  /** Every --web.listen-address, in the order given; at least one. */
  readonly listen: readonly ListenAddress[];
  readonly telemetryPath: string;
  readonly webConfigFile?: string;
  readonly healthzWithoutAuth: boolean;
  readonly maxConnections: number;
  /** Connections one client address may hold (the web server caps it at half of maxConnections). */
  readonly maxConnectionsPerAddress: number;
  readonly graphEndpoint: string;
  readonly graphTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** Deadline of one tenant's poll (--poll.timeout): at most, and by default, the longer of pollIntervalMs and graphTimeoutMs. */
  readonly pollTimeoutMs: number;
  readonly maxStalenessMs: number;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** Serve the simulated tenant (src/demo.ts) instead of tenants: main builds it; tenants is empty. */
  readonly demo: boolean;
  /**
   * Every partner tenant to poll: one from the AZURE_* variables, or the tenants file's list (with
   * --tenants.shard, only this shard's); none in demo mode.
   */
  readonly tenants: readonly TenantConfig[];
  /** --partner.type and --partner.validation-month: the single tenant's (already in its TenantConfig) and the demo tenant's. */
  readonly partner: PartnerProgram;
  /** --tenants.shard: which shard this process is, and how many tenants all shards have together. */
  readonly shard?: Shard & { readonly configuredTenants: number };
  readonly collectors: CollectorsConfig;
  readonly pollConcurrency: number;
  /** --memory.budget, bytes; undefined: 35% of the V8 heap limit (src/collect/budget.ts). */
  readonly memoryBudgetBytes?: number;
  readonly configFile?: string;
  /** Set for the backfill command: where to write. */
  readonly output?: string;
  /** Backfill: replace an existing output file. */
  readonly force?: boolean;
}

export type ParseResult =
  | { readonly action: 'run' | 'check' | 'backfill'; readonly config: Config }
  | { readonly action: 'help' }
  | { readonly action: 'version' }
  | { readonly action: 'fail'; readonly errors: readonly string[] };

type Env = Readonly<Record<string, string | undefined>>;

const RESERVED_PATHS = new Set(['/', '/api/status', '/healthz', '/readyz']);
const MIN_POLL_INTERVAL_MS = 1000;

/** Builds the configuration from argv (without node and script) and the environment. */
export function parseConfig(allArgv: readonly string[], env: Env, io: ConfigIo = diskIo): ParseResult {
  const errors: string[] = [];
  const backfill = allArgv[0] === 'backfill';
  const argv = backfill ? allArgv.slice(1) : allArgv;
  const raw = readFlags(argv, env, errors, backfill);
  if (raw.get('help') === 'true') return { action: 'help' };
  if (raw.get('version') === 'true') return { action: 'version' };

  const value = (name: FlagName): string => raw.get(name) ?? flagSpec(name).default;
  const source = (name: FlagName) =>
    argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`)) ? `--${name}` : raw.has(name) ? envName(name) : `--${name}`;
  const duration = (name: FlagName): number => {
    const parsed = parseDuration(value(name));
    if (parsed === undefined) errors.push(`${source(name)}: "${value(name)}" is not a duration (use e.g. 90s, 5m, 1h30m)`);
    return parsed ?? 0;
  };

  const demo = value('demo') === 'true';
  // Repeatable, as in exporter-toolkit: one listener per address, each with the same settings.
  const listenTexts = value('web.listen-address').split('\n');
  const listen: ListenAddress[] = [];
  for (const [i, text] of listenTexts.entries()) {
    const address = listenTexts.indexOf(text) < i ? `"${text}" is given more than once` : parseListenAddress(text);
    if (typeof address === 'string') errors.push(`${source('web.listen-address')}: ${address}`);
    else listen.push(Object.freeze(address));
  }

  const telemetryPath = value('web.telemetry-path');
  if (!telemetryPath.startsWith('/') || /[\s?#]/.test(telemetryPath)) {
    errors.push(`${source('web.telemetry-path')}: "${telemetryPath}" must be a path starting with "/" (no spaces, "?" or "#")`);
  } else if (RESERVED_PATHS.has(telemetryPath)) {
    errors.push(`${source('web.telemetry-path')}: "${telemetryPath}" is taken by the status page or a health endpoint`);
  }

  const webConfigFile = value('web.config.file') || undefined;
  if (webConfigFile !== undefined && !io.readable(webConfigFile)) errors.push(`${source('web.config.file')}: cannot read "${webConfigFile}"`);

  const graphEndpoint = parseHttpsRoot(value('graph.endpoint'));
  if (graphEndpoint.error) errors.push(`${source('graph.endpoint')}: ${graphEndpoint.error}`);

  const graphTimeoutMs = duration('graph.timeout');
  if (parseDuration(value('graph.timeout')) === 0) errors.push(`${source('graph.timeout')}: must be greater than 0`);
  let pollIntervalMs = duration('poll.interval');
  if (demo && !raw.has('poll.interval')) pollIntervalMs = DEMO_POLL_INTERVAL_MS;
  else if ((parseDuration(value('poll.interval')) ?? MIN_POLL_INTERVAL_MS) < MIN_POLL_INTERVAL_MS) {
    errors.push(`${source('poll.interval')}: must be at least 1s (Graph throttles eager clients)`);
  }
  // A poll may run until the next one is due, no longer; but always as long as one request may
  // take (with an interval shorter than --graph.timeout). That bound is the default too.
  const longestPollMs = Math.max(pollIntervalMs, graphTimeoutMs);
  const pollTimeoutMs = raw.has('poll.timeout') ? duration('poll.timeout') : longestPollMs;
  if (raw.has('poll.timeout') && parseDuration(value('poll.timeout')) === 0) errors.push(`${source('poll.timeout')}: must be greater than 0`);
  else if (pollTimeoutMs > longestPollMs) {
    const bound =
      pollIntervalMs >= graphTimeoutMs ? `the poll interval ${formatDuration(pollIntervalMs)}` : `--graph.timeout ${formatDuration(graphTimeoutMs)}`;
    errors.push(`${source('poll.timeout')}: ${value('poll.timeout')} is longer than ${bound}: a poll must end before the next is due`);
  }
  const maxStalenessMs = duration('poll.max-staleness');
  if (maxStalenessMs > 0 && maxStalenessMs < pollIntervalMs) {
    errors.push(
      `${source('poll.max-staleness')}: ${value('poll.max-staleness')} is shorter than the poll interval ${formatDuration(pollIntervalMs)}: every score would vanish between polls`,
    );
  }

  const logLevel = value('log.level');
  if (!isOneOf(LOG_LEVELS, logLevel)) errors.push(`${source('log.level')}: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  const logFormat = value('log.format');
  if (!isOneOf(LOG_FORMATS, logFormat)) errors.push(`${source('log.format')}: "${logFormat}" is not one of ${LOG_FORMATS.join(', ')}`);

  const integer = (name: FlagName, min: number, max: number): number => {
    const text = value(name);
    const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(n >= min && n <= max)) errors.push(`${source(name)}: "${text}" is not a whole number from ${min} to ${max}`);
    return n;
  };
  const pollConcurrency = integer('poll.concurrency', 1, 64);
  const memoryBudgetBytes = raw.has('memory.budget') ? integer('memory.budget', 1024 * 1024, 1024 ** 4) : undefined;
  // --collector.customer-insights.max-pages is the old name of --collector.max-pages: it bounded
  // the requirements and history pages too. It still works, alone.
  const maxPages = () => {
    const old = 'collector.customer-insights.max-pages';
    if (!raw.has(old)) return integer('collector.max-pages', 1, 10_000);
    if (raw.has('collector.max-pages'))
      errors.push(`${source(old)}, ${source('collector.max-pages')}: set only one of them (the first is the old name of the second)`);
    return integer(old, 1, 10_000);
  };
  const maxConnections = integer('web.max-connections', 1, 65_536);
  const maxConnectionsPerAddress = integer('web.max-connections-per-address', 1, 65_536);
  const collectors = Object.freeze({
    requirements: value('collector.requirements') === 'true',
    history: value('collector.history') === 'true',
    // Demo mode shows every metric: its customers are simulated, so insights are on unless turned off.
    customerInsights: value('collector.customer-insights') === 'true' || (demo && !raw.has('collector.customer-insights')),
    maxPages: maxPages(),
    maxCustomers: integer('collector.customer-insights.max-customers', 0, 1_000_000),
    maxBytes: integer('collector.max-bytes', 1024, 1024 ** 3),
    maxRequirements: integer('collector.requirements.max-requirements', 1, 1_000_000),
    maxHistoryEntries: integer('collector.history.max-entries', 1, 1_000_000),
    securityAlerts: value('collector.security-alerts') === 'true',
    maxAlerts: integer('collector.security-alerts.max-alerts', 1, 1_000_000),
    maxAlertTypes: integer('collector.security-alerts.max-alert-types', 1, 10_000),
    // Like customer insights: demo customers are simulated, so their series are on unless turned off.
    securityAlertsPerCustomer: value('collector.security-alerts.customers') === 'true' || (demo && !raw.has('collector.security-alerts.customers')),
  });

  const configFile = value('config.file') || undefined;
  if (demo && configFile) errors.push(`${source('config.file')}: not used with --demo (the demo tenant needs no credentials)`);
  // The single tenant's (and the demo's) partner program; a tenants file sets it per entry.
  const partner = parsePartnerProgram(
    { type: raw.get('partner.type'), validationMonth: raw.get('partner.validation-month') },
    { type: source('partner.type'), validationMonth: source('partner.validation-month') },
    (where, what) => errors.push(`${where}: ${what}`),
  );
  if (configFile !== undefined)
    for (const name of ['partner.type', 'partner.validation-month'] as const)
      if (raw.has(name))
        errors.push(
          `${source(name)}: not used with --config.file; set ${name === 'partner.type' ? 'partner_type' : 'validation_month'} per tenant in the file`,
        );
  // Demo mode configures no tenant: main serves the simulated one, which needs no credentials.
  const tenants: TenantConfig[] = [];
  const namedVariables = new Set<string>();
  if (!demo && configFile !== undefined) {
    const read = readConfigText(io, configFile);
    if ('problem' in read) errors.push(`${source('config.file')}: ${read.problem}`);
    else tenants.push(...parseTenantsFile(read.text, configFile, env, io, errors, namedVariables));
  } else if (!demo) {
    const tenant = tenantFromEnv(env, io, (where, what) => errors.push(`${where}: ${what}`));
    if (tenant && partner) tenants.push({ ...tenant, partner });
  }
  const shard = tenantsShard(value('tenants.shard'), tenants, demo, (what) => errors.push(`${source('tenants.shard')}: ${what}`));

  const output = value('output') || undefined;
  if (backfill && output === undefined) errors.push('backfill: --output is required (a file, or "-" for standard output)');
  if (backfill && demo) errors.push('backfill: not available with --demo');
  const force = value('force') === 'true';
  if (backfill && output !== undefined && output !== '-') {
    // Checked again when the file is put in place; this only spares a run that could not write.
    if (io.exists?.(output) && !force) errors.push(`--output: "${output}" exists; add --force to replace it`);
    if (io.writableDirectory?.(dirname(resolve(output))) === false) errors.push(`--output: cannot write to the directory of "${output}"`);
  }

  errors.push(...unknownVariables(env, namedVariables));

  // A default every tenants-file entry inherits (AZURE_AUTHORITY_HOST) is reported once, not once per entry.
  if (errors.length > 0 || graphEndpoint.url === undefined) return { action: 'fail', errors: [...new Set(errors)] };
  return {
    action: backfill ? 'backfill' : raw.get('config.check') === 'true' ? 'check' : 'run',
    config: Object.freeze({
      listen: Object.freeze(listen),
      telemetryPath,
      ...(webConfigFile === undefined ? {} : { webConfigFile }),
      healthzWithoutAuth: value('web.healthz-without-auth') === 'true',
      maxConnections,
      maxConnectionsPerAddress,
      graphEndpoint: graphEndpoint.url,
      graphTimeoutMs,
      pollIntervalMs,
      pollTimeoutMs,
      maxStalenessMs,
      logLevel: logLevel as LogLevel,
      logFormat: logFormat as LogFormat,
      demo,
      tenants: Object.freeze(
        (shard === undefined ? tenants : tenants.filter((t) => t.tenantId !== undefined && shardOf(t.tenantId, shard.count) === shard.index)).map((t) =>
          Object.freeze({ ...t, credential: Object.freeze(t.credential), source: Object.freeze(t.source), labels: Object.freeze(t.labels) }),
        ),
      ),
      partner: partner ?? DEFAULT_PARTNER_PROGRAM,
      ...(shard === undefined ? {} : { shard: Object.freeze({ ...shard, configuredTenants: tenants.length }) }),
      collectors,
      pollConcurrency,
      ...(memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes }),
      ...(configFile === undefined ? {} : { configFile }),
      ...(output === undefined ? {} : { output, force }),
    }),
  };
}

/**
 * --tenants.shard, checked against the tenants: every one needs a configured tenant ID, since the
 * shard is chosen from it before any token is asked for. undefined when not sharding or wrong.
 */
function tenantsShard(text: string, tenants: readonly TenantConfig[], demo: boolean, problem: (what: string) => void): Shard | undefined {
  if (text === '') return undefined;
  const shard = parseShard(text);
  if ('problem' in shard) {
    problem(shard.problem);
    return undefined;
  }
  if (demo) {
    problem('not used with --demo (the demo has one simulated tenant)');
    return undefined;
  }
  const unnamed = tenants.filter((t) => t.tenantId === undefined);
  for (const t of unnamed) {
    const which = t.source.kind === 'file' ? `${t.source.file}: tenants[${t.source.index}]` : 'the tenant of the environment (no AZURE_TENANT_ID)';
    problem(`${which} has no tenant ID (managed identity would learn it from its token): sharding needs every tenant's ID; set it`);
  }
  return unnamed.length > 0 ? undefined : shard;
}

function parseListenAddress(text: string): ListenAddress | string {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!match) return `"${text}" is not host:port, :port or [ipv6]:port`;
  const port = Number(match[3]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  const host = match[1] ?? match[2];
  return host ? { host, port } : { port };
}

function isOneOf<T extends string>(options: readonly T[], value: string): value is T {
  return (options as readonly string[]).includes(value);
}
