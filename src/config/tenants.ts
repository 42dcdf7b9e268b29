/**
 * The partner tenants to poll: the one the AZURE_* environment describes, or the list of the
 * tenants file (--config.file: YAML, strict, every problem reported with its place).
 */
import { labelValue, MAX_LABEL_CHARS } from '../lib/text.js';
import { DEFAULT_PARTNER_PROGRAM, type PartnerProgram } from '../snapshot.js';
import { type CredentialConfig, type CredentialField, type CredentialInput, credentialFromEnv, identifyingFields, parseCredential } from './credential.js';
import type { ConfigIo, ProblemSink } from './files.js';
import { MAX_FLAG_VALUE_CHARS, TOO_LONG } from './flags.js';
import { parsePartnerProgram } from './partner.js';
import { isRecord, parseStrictYaml, problemsIn, unknownKeys } from './yaml.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Where a tenant's credential is configured, so that a hint names what to check: the variables
 * or the tenants-file entry's keys that identify it (ids and the secret, certificate or token
 * file), and for an entry the variables it took from the environment (AZURE_FEDERATED_TOKEN_FILE).
 */
export type CredentialSource =
  | { readonly kind: 'environment'; readonly variables: readonly string[] }
  | { readonly kind: 'file'; readonly file: string; readonly index: number; readonly keys: readonly string[]; readonly variables: readonly string[] };

/** One partner tenant to poll. */
export interface TenantConfig {
  /** The tenant_id label, lower-cased and without a trailing dot; undefined means "learn it from the token" (managed identity). */
  readonly tenantId?: string;
  readonly credential: CredentialConfig;
  /** Where the credential is configured, so that errors name it (credentialHint). */
  readonly source: CredentialSource;
  /** Constant labels added to every series of this tenant. */
  readonly labels: Readonly<Record<string, string>>;
  /** Partner type and validation month (partner_type, validation_month; --partner.* for the single tenant). */
  readonly partner: PartnerProgram;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Labels the exporter sets itself; a constant label must not shadow them. */
export const RESERVED_LABELS = new Set([
  'tenant_id',
  'requirement_type',
  'state',
  'action_url',
  'help_url',
  'policy',
  'reason',
  'code',
  'relation',
  'customer_tenant_id',
  'version',
  'nodejs_version',
  'job',
  'instance',
]);
const TENANT_KEYS = [
  'tenant_id',
  'client_id',
  'auth',
  'client_secret_file',
  'client_secret_env',
  'client_certificate_path',
  'client_certificate_password_env',
  'federated_token_file',
  'authority_host',
  'labels',
  'partner_type',
  'validation_month',
] as const;

/** The tenant the AZURE_* variables describe (managed identity when none is set); undefined after a problem (every one reported). */
export function tenantFromEnv(env: Env, io: ConfigIo, report: ProblemSink): TenantConfig | undefined {
  const input = credentialFromEnv(env);
  const credential = parseCredential(input, io, report);
  if (credential === undefined) return undefined;
  const { tenantId } = credential;
  return {
    ...(tenantId ? { tenantId } : {}),
    credential,
    source: { kind: 'environment', variables: identifyingFields(input).own },
    labels: {},
    partner: DEFAULT_PARTNER_PROGRAM,
  };
}

/**
 * Parses the text of a tenants file. Problems are pushed to errors as "file: place: problem"; the
 * variables its entries name for secrets (client_secret_env, client_certificate_password_env) are
 * added to namedVariables.
 */
export function parseTenantsFile(
  text: string,
  file: string,
  env: Env,
  io: ConfigIo,
  errors: string[],
  namedVariables: Set<string> = new Set(),
): TenantConfig[] {
  const parsed = parseStrictYaml(text, file);
  if ('problems' in parsed) {
    errors.push(...parsed.problems);
    return [];
  }
  const root = parsed.value;
  const problem = problemsIn(file, errors);
  if (!isRecord(root)) {
    problem('top level', 'expected a mapping with a "tenants" list');
    return [];
  }
  unknownKeys(root, ['tenants'], 'top level', problem, { suggest: true });
  if (!Array.isArray(root.tenants) || root.tenants.length === 0) {
    problem('tenants', 'expected a non-empty list of tenants');
    return [];
  }
  const tenants: TenantConfig[] = [];
  // Entra ID compares tenants case-insensitively (normalizeTenantId): one tenant, one entry.
  const seen = new Map<string, { where: string; tenantId: string }>();
  let firstManagedIdentity: string | undefined;
  root.tenants.forEach((entry: unknown, i: number) => {
    const where = `tenants[${i}]`;
    if (!isRecord(entry)) {
      problem(where, 'expected a mapping');
      return;
    }
    unknownKeys(entry, TENANT_KEYS, where, problem, { suggest: true });
    const tenant = parseTenant(entry, { file, index: i }, env, io, errors, namedVariables);
    const rawTenantId = typeof entry.tenant_id === 'string' ? entry.tenant_id.trim() : undefined;
    if (tenant?.tenantId !== undefined && rawTenantId !== undefined) {
      const first = seen.get(tenant.tenantId);
      if (first)
        problem(`${where}.tenant_id`, `"${rawTenantId}" is the same tenant as ${first.where} ("${first.tenantId}"): list each tenant once, with one identity`);
      else seen.set(tenant.tenantId, { where, tenantId: rawTenantId });
    }
    if (tenant?.credential.kind === 'managedIdentity') {
      // Managed identities cannot be assigned across tenants: every one this host has signs in to its tenant.
      if (firstManagedIdentity !== undefined)
        problem(
          where,
          `a second managed identity (${firstManagedIdentity} is one): every managed identity of this host is in the same tenant, so list only one`,
        );
      firstManagedIdentity ??= where;
    }
    if (tenant) tenants.push(tenant);
  });
  return tenants;
}

/** One entry of the file -> the shared credential parser's input -> TenantConfig. */
function parseTenant(
  entry: Record<string, unknown>,
  at: { readonly file: string; readonly index: number },
  env: Env,
  io: ConfigIo,
  errors: string[],
  namedVariables: Set<string>,
): TenantConfig | undefined {
  const place = `${at.file}: tenants[${at.index}].`;
  const field = (key: string): CredentialField => {
    const value = entry[key];
    if (value === undefined || value === null) return { name: key };
    if (typeof value !== 'string' || value.trim() === '') return { name: key, problem: 'expected a non-empty string' };
    return { name: key, value: value.trim() };
  };
  // client_secret_env and client_certificate_password_env name a variable that holds the secret.
  const fromVariable = (key: string): CredentialField => {
    const named = field(key);
    if (named.value === undefined) return named;
    namedVariables.add(named.value);
    const secret = env[named.value];
    if (secret !== undefined && secret.length > MAX_FLAG_VALUE_CHARS) return { name: key, problem: `${named.value} is ${TOO_LONG}` };
    return secret ? { name: key, value: secret } : { name: key, problem: `environment variable ${named.value} is not set` };
  };
  // Defaults from the environment, for the key of the same meaning (the AKS workload identity webhook sets both).
  const inherited = (key: string, variable: string): CredentialField => {
    const own = field(key);
    if (own.value !== undefined || own.problem !== undefined) return own;
    if ((env[variable]?.length ?? 0) > MAX_FLAG_VALUE_CHARS) return { name: key, where: variable, problem: TOO_LONG };
    const value = env[variable]?.trim();
    return value ? { name: key, where: variable, value } : own;
  };
  const auth = field('auth');
  const input: CredentialInput = {
    place,
    implicitManagedIdentity: false,
    fields: {
      tenantId: field('tenant_id'),
      clientId: field('client_id'),
      auth,
      clientSecret: fromVariable('client_secret_env'),
      clientSecretFile: field('client_secret_file'),
      certificatePath: field('client_certificate_path'),
      certificatePassword: fromVariable('client_certificate_password_env'),
      // Only for workload identity: in a pod where the webhook sets the variable, other entries may still use secrets.
      federatedTokenFile: auth.value === 'workload_identity' ? inherited('federated_token_file', 'AZURE_FEDERATED_TOKEN_FILE') : field('federated_token_file'),
      authorityHost: inherited('authority_host', 'AZURE_AUTHORITY_HOST'),
    },
  };
  const report = (where: string, what: string) => errors.push(`${where}: ${what}`);
  const credential = parseCredential(input, io, report);
  const labels = parseLabels(entry.labels, `${place}labels`, report);
  const partner = parsePartnerProgram(
    { type: entry.partner_type, validationMonth: entry.validation_month },
    { type: `${place}partner_type`, validationMonth: `${place}validation_month` },
    report,
  );
  if (!credential || !labels || !partner) return undefined;
  const { tenantId } = credential;
  const named = identifyingFields(input);
  return { ...(tenantId ? { tenantId } : {}), credential, source: { kind: 'file', ...at, keys: named.own, variables: named.inherited }, labels, partner };
}

function parseLabels(raw: unknown, where: string, problem: ProblemSink): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) {
    problem(where, 'expected a mapping of label names to values');
    return undefined;
  }
  const labels: Record<string, string> = {};
  let ok = true;
  for (const [name, value] of Object.entries(raw)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      problem(`${where}.${name}`, 'is not a valid Prometheus label name');
      ok = false;
    } else if (RESERVED_LABELS.has(name)) {
      problem(`${where}.${name}`, 'is a label the exporter sets itself');
      ok = false;
    } else if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      problem(`${where}.${name}`, 'expected a string value');
      ok = false;
    } else if (labelValue(String(value), MAX_LABEL_CHARS) !== String(value)) {
      // Strict at start-up: the value would be changed to become a label, so say so now.
      problem(`${where}.${name}`, `must be at most ${MAX_LABEL_CHARS} characters without control, bidi or invisible characters`);
      ok = false;
    } else labels[name] = String(value);
  }
  return ok ? labels : undefined;
}
