/**
 * Every flag in one table (name, environment variable, default, help), the --help text made from
 * it, and reading argv and the environment into raw values by flag name.
 */

import { formatDuration } from '../lib/duration.js';
import { LOG_FORMATS, LOG_LEVELS } from '../lib/log.js';
import { closest } from '../lib/suggest.js';
import { boundText } from '../lib/text.js';
import {
  DEFAULT_MAX_ALERT_TYPES,
  DEFAULT_MAX_ALERTS,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_HISTORY_ENTRIES,
  DEFAULT_MAX_PAGES,
  DEFAULT_MAX_REQUIREMENTS,
} from './caps.js';

/** The port this exporter listens on by default (see README, "Port"). */
export const DEFAULT_PORT = 10059;
/** Flags map to environment variables as PSS_ + the flag name upper-cased, dots and dashes as "_". */
export const ENV_PREFIX = 'PSS_';
/**
 * Longest value of a flag, of a variable read for one (PSS_*, AZURE_*) or named by the tenants
 * file: paths, URLs, ids and secrets are far shorter. A longer one is a problem named without
 * being quoted, before any pattern sees it.
 */
export const MAX_FLAG_VALUE_CHARS = 4096;
/** The problem of a value over MAX_FLAG_VALUE_CHARS. */
export const TOO_LONG = `longer than ${MAX_FLAG_VALUE_CHARS} characters`;
/** The poll interval demo mode uses unless one is given, so its data visibly moves. */
export const DEMO_POLL_INTERVAL_MS = 15_000;

/**
 * What a flag takes. A boolean is a setting (`--x`, `--no-x`, `--x=false`, its variable `true`/`false`);
 * an action is a switch that asks for something (--help, --version, --config.check, backfill's --force):
 * only `--x`, no value, no `--no-` form, never from the environment.
 */
type FlagKind = 'string' | 'duration' | 'boolean' | 'integer' | 'action';

/** One command-line flag. */
export interface FlagSpec<Name extends string = string> {
  /** Dotted and dashed, without the leading "--". */
  readonly name: Name;
  readonly kind: FlagKind;
  readonly default: string;
  readonly help: string;
  /** False for flags that make no sense in the environment (every action, backfill's --output). */
  readonly env: boolean;
  /** Set for flags of the backfill command only. */
  readonly command?: 'backfill';
  /** May be given more than once; readFlags joins the values with newlines (the variable takes one per line). */
  readonly repeatable?: true;
}

/** Keeps every name of the table a literal, so that FlagName is their union. */
function flagTable<const Name extends string>(flags: readonly FlagSpec<Name>[]): readonly FlagSpec<Name>[] {
  return flags;
}

/** Every flag, in the order --help and the README list them. */
export const FLAGS = flagTable([
  {
    name: 'web.listen-address',
    kind: 'string',
    default: `:${DEFAULT_PORT}`,
    env: true,
    repeatable: true,
    help: 'Address to listen on for the metrics, status page and health endpoints ("host:port", ":port" for all interfaces, "[::1]:port"). Repeat the flag to listen on several addresses, each with the same settings (the variable takes one per line).',
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
    help: 'Connections the web server holds at once (1-65536); at the limit an idle one that has not authenticated is closed to let a new one in. Keep it well under the file descriptor limit (ulimit -n).',
  },
  {
    name: 'web.max-connections-per-address',
    kind: 'integer',
    default: '64',
    env: true,
    help: "Connections one client address may hold at once (1-65536, at most half of --web.max-connections); beyond it, that address's oldest idle connection that has not authenticated is closed, or else the new one.",
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
    name: 'poll.timeout',
    kind: 'duration',
    default: '',
    env: true,
    help: 'Deadline for one whole poll of one tenant, counted from when it has a --poll.concurrency slot; then its requests are aborted, what it did not read keeps its last data and its slot is freed. At most, and by default, the poll interval (or --graph.timeout when the interval is shorter).',
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
    name: 'collector.security-alerts',
    kind: 'boolean',
    default: 'true',
    env: true,
    help: 'Read the partner security alerts (/beta/security/partner/securityAlerts, paged; --no-collector.security-alerts turns it off).',
  },
  {
    name: 'collector.security-alerts.max-alerts',
    kind: 'integer',
    default: String(DEFAULT_MAX_ALERTS),
    env: true,
    help: 'Keep at most this many security alerts per tenant, open ones first, then the most recently resolved; the rest are dropped.',
  },
  {
    name: 'collector.security-alerts.max-alert-types',
    kind: 'integer',
    default: String(DEFAULT_MAX_ALERT_TYPES),
    env: true,
    help: 'Label at most this many alert types per tenant in alert_type; alerts of further types are counted under alert_type="other".',
  },
  {
    name: 'collector.security-alerts.customers',
    kind: 'boolean',
    default: 'false',
    env: true,
    help: 'Export open security alerts per customer (customer_tenant_id), for at most --collector.customer-insights.max-customers customers.',
  },
  {
    name: 'collector.max-pages',
    kind: 'integer',
    default: String(DEFAULT_MAX_PAGES),
    env: true,
    help: 'Stop paging a relation (requirements, history, customer insights, security alerts) after this many pages in one poll.',
  },
  {
    name: 'collector.max-bytes',
    kind: 'integer',
    default: String(DEFAULT_MAX_BYTES),
    env: true,
    help: 'Stop paging a relation once the pages read in one poll add up to this many bytes of JSON.',
  },
  {
    name: 'memory.budget',
    kind: 'integer',
    default: '',
    env: true,
    help: "Bytes the data kept (every tenant's relations and the rendered answer, as estimated from what it holds) may take; before a poll would go past it, series are cut, per-customer ones first, never the score. Default: 35% of the V8 heap limit (--max-old-space-size), about 69 MiB under npm start and the image: what keeps the process under the manifests' 256 MiB.",
  },
  {
    name: 'partner.type',
    kind: 'string',
    default: 'direct',
    env: true,
    help: 'The partner type of the tenant of the AZURE_* variables (and the demo): direct, indirect_provider or indirect_reseller. An indirect reseller is exempt from securityAlertsPromptlyResolved. With --config.file, set partner_type per tenant instead.',
  },
  {
    name: 'partner.validation-month',
    kind: 'integer',
    default: '',
    env: true,
    help: 'The anniversary month (1-12) in which Microsoft validates the requirements of that tenant every year: partner_security_next_validation_timestamp_seconds. With --config.file, set validation_month per tenant instead.',
  },
  {
    name: 'config.file',
    kind: 'string',
    default: '',
    env: true,
    help: 'YAML file listing several partner tenants and their credentials (instead of the AZURE_* variables).',
  },
  {
    name: 'tenants.shard',
    kind: 'string',
    default: '',
    env: true,
    help: "Poll only shard K of N (0 <= K < N <= 1000) of the tenants: those whose lower-cased tenant ID hashes to K as Prometheus's hashmod relabelling does (md5, modulus N). Every tenant needs a tenant ID. Empty: every tenant.",
  },
  {
    name: 'config.check',
    kind: 'action',
    default: '',
    env: false,
    help: 'Validate the configuration (and the tenants file), print what a run would use (each tenant, its credential and why, this shard) and warnings, and exit.',
  },
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
    kind: 'action',
    default: '',
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
  { name: 'help', kind: 'action', default: '', env: false, help: 'Show this help and exit.' },
  { name: 'version', kind: 'action', default: '', env: false, help: 'Show the version and exit.' },
]);

/** The name of a flag: a name that is not in FLAGS does not compile. */
export type FlagName = (typeof FLAGS)[number]['name'];

/** The environment variable that sets a flag. */
export function envName(flag: FlagName): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/[.-]/g, '_');
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
    lines.push(`  ${usage(spec)}`);
    const shownDefault = spec.default === '' ? '' : ` Default: ${spec.default}.`;
    lines.push(`      ${spec.help}${shownDefault}${spec.env ? ` Env: ${envName(spec.name)}.` : ''}`);
  }
  lines.push(
    '',
    'A flag given twice on the command line is an error (except --web.listen-address, once per address),',
    'and so is a PSS_ variable that sets no flag.',
    '',
    'Credentials come from the Azure SDK environment: AZURE_TENANT_ID and AZURE_CLIENT_ID with',
    'AZURE_CLIENT_SECRET (or AZURE_CLIENT_SECRET_FILE, a file holding it), AZURE_CLIENT_CERTIFICATE_PATH',
    '(optional AZURE_CLIENT_CERTIFICATE_PASSWORD) or',
    'AZURE_FEDERATED_TOKEN_FILE (workload identity); managed identity when none is set. AZURE_CLIENT_ID is',
    "the app registration's Application (client) ID, a GUID. --config.check says which credential a run would use.",
    'AZURE_AUTHORITY_HOST overrides the authority. HTTPS_PROXY and NO_PROXY are honoured.',
  );
  return `${lines.join('\n')}\n`;
}

/** How --help shows a flag: an action without a value or a "--[no-]" form it does not have. */
function usage(spec: FlagSpec): string {
  if (spec.name === 'help') return '-h, --help';
  switch (spec.kind) {
    case 'action':
      return `--${spec.name}`;
    case 'boolean':
      return `--[no-]${spec.name}`;
    case 'duration':
      return `--${spec.name}=DURATION`;
    case 'integer':
      return `--${spec.name}=N`;
    case 'string':
      return `--${spec.name}=${spec.name === 'tenants.shard' ? 'K/N' : 'VALUE'}`;
  }
}

/** A flag's row in FLAGS. */
export function flagSpec(name: FlagName): FlagSpec {
  const spec = FLAGS.find((f) => f.name === name);
  if (!spec) throw new Error(`unknown flag ${name}`);
  return spec;
}

/**
 * The flags given on the command line (without the command) or in the environment, as text;
 * booleans as "true"/"false". Unknown flags and unreadable values are pushed to errors.
 */
export function readFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  errors: string[],
  backfill: boolean,
): Map<FlagName, string> {
  const values = new Map<FlagName, string>();
  for (const spec of FLAGS) {
    const fromEnv = spec.env ? env[envName(spec.name)] : undefined;
    if (fromEnv === undefined || fromEnv === '') continue;
    if (fromEnv.length > MAX_FLAG_VALUE_CHARS) {
      errors.push(`${envName(spec.name)}: ${TOO_LONG}`);
      continue;
    }
    if (spec.kind === 'boolean') {
      const normalized = fromEnv.toLowerCase();
      if (['true', '1', 'yes'].includes(normalized)) values.set(spec.name, 'true');
      else if (['false', '0', 'no'].includes(normalized)) values.set(spec.name, 'false');
      else errors.push(`${envName(spec.name)}: "${fromEnv}" is not a boolean (true or false)`);
    } else values.set(spec.name, fromEnv);
  }
  // Given twice on the command line is an error (as kingpin says for Prometheus' own flags), never
  // a silent override; a repeatable flag (--web.listen-address) collects its values instead.
  const given = new Set<FlagName>();
  for (let i = 0; i < argv.length; i++) {
    // -h is --help, as in every Prometheus exporter.
    const arg = argv[i] === '-h' ? '--help' : (argv[i] ?? '');
    // Room for the longest flag name and "=" beside the value.
    if (arg.length > MAX_FLAG_VALUE_CHARS + 64) {
      const name = arg.startsWith('--') ? arg.slice(0, arg.indexOf('=')) : '';
      errors.push(`${FLAGS.some((f) => `--${f.name}` === name) ? name : `argument ${i + 1}`}: ${TOO_LONG}`);
      continue;
    }
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
    const again = given.has(spec.name);
    if (again && !spec.repeatable) errors.push(`--${spec.name}: given more than once; give it once`);
    given.add(spec.name);
    if (spec.kind === 'action') {
      if (inline === undefined) values.set(spec.name, 'true');
      else errors.push(`--${name}: takes no value (give --${name} alone)`);
      continue;
    }
    if (spec.kind === 'boolean') {
      if (inline === undefined) values.set(spec.name, negated ? 'false' : 'true');
      else if (!negated && ['true', 'false'].includes(inline)) values.set(spec.name, inline);
      else errors.push(`--${negated ?? ''}${name}: "${inline}" is not a boolean (true or false)`);
      continue;
    }
    const text = inline ?? (i + 1 < argv.length ? (argv[++i] ?? '') : undefined);
    if (text === undefined) errors.push(`--${name}: needs a value`);
    else if (text.length > MAX_FLAG_VALUE_CHARS) errors.push(`--${name}: ${TOO_LONG}`);
    // The command line replaces the variable; a repeated flag adds to its own earlier values.
    else values.set(spec.name, again && spec.repeatable ? `${values.get(spec.name) ?? ''}\n${text}` : text);
  }
  return values;
}

/** Unknown PSS_ variables reported one by one at most; the rest are counted, so a flood of them costs little. */
export const MAX_REPORTED_VARIABLES = 20;
/** Characters of an unknown variable's name shown in its problem. */
const MAX_SHOWN_NAME_CHARS = 64;

/**
 * A variable that starts with PSS_ but sets no flag is a mistake (a misspelt or an old name) that
 * would otherwise be ignored: one problem per variable, naming the nearest flag variable when it is
 * a slip (within a third of its length in edits). Empty variables set nothing, as for flags; those in
 * used (the ones the tenants file names for its secrets) are not flags and are fine.
 */
export function unknownVariables(env: Readonly<Record<string, string | undefined>>, used: ReadonlySet<string>): string[] {
  const read = FLAGS.filter((f) => f.env).map((f) => envName(f.name));
  const notRead = new Map(FLAGS.filter((f) => !f.env).map((f) => [envName(f.name), f.name]));
  const problems: string[] = [];
  let more = 0;
  for (const name of Object.keys(env)) {
    if (!name.startsWith(ENV_PREFIX) || !env[name] || used.has(name) || read.includes(name)) continue;
    if (problems.length >= MAX_REPORTED_VARIABLES) {
      more++;
      continue;
    }
    const shown = boundText(name, MAX_SHOWN_NAME_CHARS);
    const flag = notRead.get(name);
    if (flag !== undefined) {
      problems.push(`${shown}: --${flag} is not read from the environment; give it on the command line`);
      continue;
    }
    const near = closest(name, read, (known) => Math.max(2, Math.floor((known.length - ENV_PREFIX.length) / 3)));
    problems.push(
      `${shown}: no flag is set by this variable${near ? ` (did you mean ${near}?)` : ''}; every ${ENV_PREFIX} variable must name a flag (see --help)`,
    );
  }
  if (more > 0) problems.push(`${more} more ${ENV_PREFIX} variable(s) that set no flag`);
  return problems;
}
