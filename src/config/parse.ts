/**
 * Flags and environment -> one frozen Config. Every flag has one row in FLAGS (name, environment
 * variable, default, help); parseConfig is pure and reports every problem at once.
 */
import { dirname, resolve } from 'node:path';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_HISTORY_ENTRIES, DEFAULT_MAX_PAGES, DEFAULT_MAX_REQUIREMENTS } from '../collect.js';
import { formatDuration, parseDuration } from '../duration.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../log.js';
import { credentialFromEnv, parseCredential } from './credential.js';
import { type ConfigIo, diskIo, readConfigText } from './files.js';
import { parseHttpsRoot } from './https-root.js';
import { parseTenantsFile, type TenantConfig } from './tenants.js';

export { diskIo } from './files.js';

/** The port this exporter listens on by default (see README, "Port"). */
export const DEFAULT_PORT = 10059;
/** Flags map to environment variables as PSS_ + the flag name upper-cased, dots and dashes as "_". */
export const ENV_PREFIX = 'PSS_';
/** The poll interval demo mode uses unless one is given, so its data visibly moves. */
export const DEMO_POLL_INTERVAL_MS = 15_000;

type FlagKind = 'string' | 'duration' | 'boolean' | 'integer';

/** One command-line flag. */
export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly default: string;
  readonly help: string;
  /** False for flags that make no sense in the environment (--help, --version). */
  readonly env: boolean;
  /** Set for flags of the backfill command only. */
  readonly command?: 'backfill';
}

/** Every flag, in the order --help and the README list them. */
export const FLAGS: readonly FlagSpec[] = [
  {
    name: 'web.listen-address',
    kind: 'string',
    default: `:${DEFAULT_PORT}`,
    env: true,
    help: 'Address to listen on for the metrics, status page and health endpoints ("host:port", ":port" for all interfaces, "[::1]:port").',
  },
  { name: 'web.telemetry-path', kind: 'string', default: '/metrics', env: true, help: 'Path under which to expose metrics.' },
  {
    name: 'web.config.file',
    kind: 'string',
    default: '',
    env: true,
    help: 'Web config file (TLS, client certificates, basic auth, headers) in the Prometheus exporter-toolkit format; re-read when it changes.',
  },
  {
    name: 'web.healthz-without-auth',
    kind: 'boolean',
    default: 'false',
    env: true,
    help: 'Let /healthz answer without basic auth when the web config requires it (for probes that cannot authenticate).',
  },
  {
    name: 'web.max-connections',
    kind: 'integer',
    default: '512',
    env: true,
    help: 'Connections the web server holds at once (1-65536); at the limit the oldest idle one is closed. Keep it well under the file descriptor limit (ulimit -n).',
  },
  {
    name: 'graph.endpoint',
    kind: 'string',
    default: 'https://graph.microsoft.com',
    env: true,
    help: 'Microsoft Graph root (https). The exporter calls <endpoint>/beta/security/partner/securityScore with token scope <endpoint>/.default.',
  },
  { name: 'graph.timeout', kind: 'duration', default: '30s', env: true, help: 'Deadline for one whole Graph request (token, connection, headers and body).' },
  {
    name: 'poll.interval',
    kind: 'duration',
    default: '10m',
    env: true,
    help: `How often to poll Graph (at least 1s). Demo mode uses ${formatDuration(DEMO_POLL_INTERVAL_MS)} unless set.`,
  },
  {
    name: 'poll.max-staleness',
    kind: 'duration',
    default: '3h',
    env: true,
    help: 'After this long without a successful poll the cached score series are dropped (0 keeps them forever).',
  },
  { name: 'poll.concurrency', kind: 'integer', default: '4', env: true, help: 'How many tenants may be polled at the same time (1-64).' },
  {
    name: 'collector.requirements',
    kind: 'boolean',
    default: 'true',
    env: true,
    help: 'Read the security requirements (expanded with the score; --no-collector.requirements turns it off).',
  },
  {
    name: 'collector.requirements.max-requirements',
    kind: 'integer',
    default: String(DEFAULT_MAX_REQUIREMENTS),
    env: true,
    help: 'Keep at most this many requirements per tenant (Microsoft has five types); the rest are dropped.',
  },
  {
    name: 'collector.history',
    kind: 'boolean',
    default: 'true',
    env: true,
    help: 'Read the score history (expanded with the score; --no-collector.history turns it off).',
  },
  {
    name: 'collector.history.max-entries',
    kind: 'integer',
    default: String(DEFAULT_MAX_HISTORY_ENTRIES),
    env: true,
    help: 'Keep at most this many score history entries per tenant, the newest (the history is daily).',
  },
  {
    name: 'collector.customer-insights',
    kind: 'boolean',
    default: 'false',
    env: true,
    help: 'Read the per-customer MFA insights (paged; one series set per customer).',
  },
  {
    name: 'collector.customer-insights.max-pages',
    kind: 'integer',
    default: '',
    env: true,
    help: 'Deprecated name of --collector.max-pages (which bounds the pages of every relation).',
  },
  {
    name: 'collector.customer-insights.max-customers',
    kind: 'integer',
    default: '1000',
    env: true,
    help: 'Export per-customer series for at most this many customers (aggregates count all customers read).',
  },
  {
    name: 'collector.max-pages',
    kind: 'integer',
    default: String(DEFAULT_MAX_PAGES),
    env: true,
    help: 'Stop paging a relation (requirements, history, customer insights) after this many pages in one poll.',
  },
  {
    name: 'collector.max-bytes',
    kind: 'integer',
    default: String(DEFAULT_MAX_BYTES),
    env: true,
    help: 'Stop paging a relation once the pages read in one poll add up to this many bytes of JSON.',
  },
  {
    name: 'config.file',
    kind: 'string',
    default: '',
    env: true,
    help: 'YAML file listing several partner tenants and their credentials (instead of the AZURE_* variables).',
  },
  { name: 'config.check', kind: 'boolean', default: 'false', env: false, help: 'Validate the configuration (and the tenants file), print a summary and exit.' },
  {
    name: 'output',
    kind: 'string',
    default: '',
    env: false,
    command: 'backfill',
    help: 'backfill only: file to write the OpenMetrics history to ("-" for standard output). Written whole or not at all.',
  },
  {
    name: 'force',
    kind: 'boolean',
    default: 'false',
    env: false,
    command: 'backfill',
    help: 'backfill only: replace the --output file when it exists (without it, an existing file is an error).',
  },
  { name: 'log.level', kind: 'string', default: 'info', env: true, help: `Only log messages with the given severity or above: ${LOG_LEVELS.join(', ')}.` },
  { name: 'log.format', kind: 'string', default: 'logfmt', env: true, help: `Output format of log messages: ${LOG_FORMATS.join(', ')}.` },
  {
    name: 'demo',
    kind: 'boolean',
    default: 'false',
    env: true,
    help: 'Serve a simulated partner tenant (tenant_id="demo") instead of calling Graph. Needs no credentials.',
  },
  { name: 'help', kind: 'boolean', default: 'false', env: false, help: 'Show this help and exit.' },
  { name: 'version', kind: 'boolean', default: 'false', env: false, help: 'Show the version and exit.' },
];

/** The environment variable that sets a flag. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/[.-]/g, '_');
}

/** Azure SDK environment variables the credential is built from. */
export const AZURE_ENV = [
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_SECRET_FILE',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_AUTHORITY_HOST',
] as const;

/** How the exporter authenticates to Graph. */
export type CredentialConfig =
  | { readonly kind: 'demo' }
  | { readonly kind: 'clientSecret'; readonly tenantId: string; readonly clientId: string; readonly clientSecret: string; readonly authorityHost?: string }
  | {
      readonly kind: 'clientCertificate';
      readonly tenantId: string;
      readonly clientId: string;
      readonly certificatePath: string;
      readonly certificatePassword?: string;
      readonly authorityHost?: string;
    }
  | { readonly kind: 'workloadIdentity'; readonly tenantId: string; readonly clientId: string; readonly tokenFilePath: string; readonly authorityHost?: string }
  | { readonly kind: 'managedIdentity'; readonly clientId?: string; readonly tenantId?: string };

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
}

export interface ListenAddress {
  /** Undefined means every interface. */
  readonly host?: string;
  readonly port: number;
}

/** The whole configuration of one exporter process. */
export interface Config {
  readonly listen: ListenAddress;
  readonly telemetryPath: string;
  readonly webConfigFile?: string;
  readonly healthzWithoutAuth: boolean;
  readonly maxConnections: number;
  readonly graphEndpoint: string;
  readonly graphTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly maxStalenessMs: number;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly demo: boolean;
  /** Every partner tenant to poll: one from the AZURE_* variables, or the tenants file's list. */
  readonly tenants: readonly TenantConfig[];
  readonly collectors: CollectorsConfig;
  readonly pollConcurrency: number;
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

  const value = (name: string) => raw.get(name) ?? flag(name).default;
  const source = (name: string) =>
    argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`)) ? `--${name}` : raw.has(name) ? envName(name) : `--${name}`;
  const duration = (name: string): number => {
    const parsed = parseDuration(value(name));
    if (parsed === undefined) errors.push(`${source(name)}: "${value(name)}" is not a duration (use e.g. 90s, 5m, 1h30m)`);
    return parsed ?? 0;
  };

  const demo = value('demo') === 'true';
  const listen = parseListenAddress(value('web.listen-address'));
  if (typeof listen === 'string') errors.push(`${source('web.listen-address')}: ${listen}`);

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

  const integer = (name: string, min: number, max: number): number => {
    const text = value(name);
    const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(n >= min && n <= max)) errors.push(`${source(name)}: "${text}" is not a whole number from ${min} to ${max}`);
    return n;
  };
  const pollConcurrency = integer('poll.concurrency', 1, 64);
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
  });

  const configFile = value('config.file') || undefined;
  if (demo && configFile) errors.push(`${source('config.file')}: not used with --demo (the demo tenant needs no credentials)`);
  let tenants: TenantConfig[];
  if (demo) tenants = [{ tenantId: 'demo', credential: { kind: 'demo' }, labels: {} }];
  else if (configFile !== undefined) {
    const read = readConfigText(io, configFile);
    if ('problem' in read) {
      errors.push(`${source('config.file')}: ${read.problem}`);
      tenants = [];
    } else tenants = parseTenantsFile(read.text, configFile, env, io, errors);
  } else {
    const credential = parseCredential(credentialFromEnv(env), io, (where, what) => errors.push(`${where}: ${what}`));
    const tenantId = credential === undefined || credential.kind === 'demo' ? undefined : credential.tenantId;
    tenants = credential === undefined ? [] : [{ ...(tenantId ? { tenantId } : {}), credential, labels: {} }];
  }

  const output = value('output') || undefined;
  if (backfill && output === undefined) errors.push('backfill: --output is required (a file, or "-" for standard output)');
  if (backfill && demo) errors.push('backfill: not available with --demo');
  const force = value('force') === 'true';
  if (backfill && output !== undefined && output !== '-') {
    // Checked again when the file is put in place; this only spares a run that could not write.
    if (io.exists?.(output) && !force) errors.push(`--output: "${output}" exists; add --force to replace it`);
    if (io.writableDirectory?.(dirname(resolve(output))) === false) errors.push(`--output: cannot write to the directory of "${output}"`);
  }

  // A default every tenants-file entry inherits (AZURE_AUTHORITY_HOST) is reported once, not once per entry.
  if (errors.length > 0 || typeof listen === 'string' || graphEndpoint.url === undefined) return { action: 'fail', errors: [...new Set(errors)] };
  return {
    action: backfill ? 'backfill' : raw.get('config.check') === 'true' ? 'check' : 'run',
    config: Object.freeze({
      listen: Object.freeze(listen),
      telemetryPath,
      ...(webConfigFile === undefined ? {} : { webConfigFile }),
      healthzWithoutAuth: value('web.healthz-without-auth') === 'true',
      maxConnections,
      graphEndpoint: graphEndpoint.url,
      graphTimeoutMs,
      pollIntervalMs,
      maxStalenessMs,
      logLevel: logLevel as LogLevel,
      logFormat: logFormat as LogFormat,
      demo,
      tenants: Object.freeze(tenants.map((t) => Object.freeze({ ...t, credential: Object.freeze(t.credential), labels: Object.freeze(t.labels) }))),
      collectors,
      pollConcurrency,
      ...(configFile === undefined ? {} : { configFile }),
      ...(output === undefined ? {} : { output, force }),
    }),
  };
}

/** The text --help prints. */
export function helpText(): string {
  const lines = [
    'usage: partner-security-score-exporter [<flags>]',
    '       partner-security-score-exporter backfill --output=FILE [<flags>]',
    '',
    'Prometheus exporter for the Microsoft Graph partner security score.',
    '',
    'Flags (each also read from the environment variable shown; a flag wins over its variable):',
  ];
  for (const spec of FLAGS) {
    const shown =
      spec.kind === 'boolean' ? `--[no-]${spec.name}` : `--${spec.name}=${spec.kind === 'duration' ? 'DURATION' : spec.kind === 'integer' ? 'N' : 'VALUE'}`;
    lines.push(`  ${shown}`);
    const shownDefault = spec.default === '' || (spec.kind === 'boolean' && !spec.env) ? '' : ` Default: ${spec.default}.`;
    lines.push(`      ${spec.help}${shownDefault}${spec.env ? ` Env: ${envName(spec.name)}.` : ''}`);
  }
  lines.push(
    '',
    'Credentials come from the Azure SDK environment: AZURE_TENANT_ID and AZURE_CLIENT_ID with',
    'AZURE_CLIENT_SECRET (or AZURE_CLIENT_SECRET_FILE, a file holding it), AZURE_CLIENT_CERTIFICATE_PATH',
    '(optional AZURE_CLIENT_CERTIFICATE_PASSWORD) or',
    'AZURE_FEDERATED_TOKEN_FILE (workload identity); managed identity when none is set.',
    'AZURE_AUTHORITY_HOST overrides the authority. HTTPS_PROXY and NO_PROXY are honoured.',
  );
  return `${lines.join('\n')}\n`;
}

function flag(name: string): FlagSpec {
  const spec = FLAGS.find((f) => f.name === name);
  if (!spec) throw new Error(`unknown flag ${name}`);
  return spec;
}

/** Flag values given on the command line or in the environment; booleans as "true"/"false". */
function readFlags(argv: readonly string[], env: Env, errors: string[], backfill: boolean): Map<string, string> {
  const values = new Map<string, string>();
  for (const spec of FLAGS) {
    const fromEnv = spec.env ? env[envName(spec.name)] : undefined;
    if (fromEnv === undefined || fromEnv === '') continue;
    if (spec.kind === 'boolean') {
      const normalized = fromEnv.toLowerCase();
      if (['true', '1', 'yes'].includes(normalized)) values.set(spec.name, 'true');
      else if (['false', '0', 'no'].includes(normalized)) values.set(spec.name, 'false');
      else errors.push(`${envName(spec.name)}: "${fromEnv}" is not a boolean (true or false)`);
    } else values.set(spec.name, fromEnv);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--(no-)?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!match) {
      errors.push(`unexpected argument "${arg}" (flags start with --)`);
      continue;
    }
    const [, negated, name = '', inline] = match;
    const spec = FLAGS.find((f) => f.name === name && (f.command === undefined || (f.command === 'backfill') === backfill));
    if (!spec || (negated && spec.kind !== 'boolean')) {
      errors.push(`unknown flag --${negated ?? ''}${name}`);
      continue;
    }
    if (spec.kind === 'boolean') {
      if (inline === undefined) values.set(name, negated ? 'false' : 'true');
      else if (!negated && ['true', 'false'].includes(inline)) values.set(name, inline);
      else errors.push(`--${negated ?? ''}${name}: "${inline}" is not a boolean (true or false)`);
      continue;
    }
    if (inline !== undefined) values.set(name, inline);
    else if (i + 1 < argv.length) values.set(name, argv[++i] ?? '');
    else errors.push(`--${name}: needs a value`);
  }
  return values;
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
