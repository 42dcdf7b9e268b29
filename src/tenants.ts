/** The tenants file (--config.file): YAML, strict, every problem reported with its place. */
import { parseDocument } from 'yaml';
import type { CredentialConfig } from './config.js';

/** One partner tenant to poll. */
export interface TenantConfig {
  /** The tenant_id label; undefined means "learn it from the token" (managed identity). */
  readonly tenantId?: string;
  readonly credential: CredentialConfig;
  /** Constant labels added to every series of this tenant. */
  readonly labels: Readonly<Record<string, string>>;
}

/** Reading files is the only side effect config parsing needs; tests pass their own. */
export interface ConfigIo {
  readable(path: string): boolean;
  readText(path: string): string;
  /** Something (a file, a directory, a dangling link) is at the path; checks are skipped without it. */
  exists?(path: string): boolean;
  /** A directory new files can be created in; checks are skipped without it. */
  writableDirectory?(path: string): boolean;
}

/** A tenant GUID or verified domain. */
export const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$/;
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
const AUTH_KINDS = ['client_secret', 'client_certificate', 'workload_identity', 'managed_identity'] as const;
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
] as const;

/** Defaults the tenants file inherits from the environment (AZURE_AUTHORITY_HOST, AZURE_FEDERATED_TOKEN_FILE). */
export interface TenantDefaults {
  readonly authorityHost?: string;
  readonly federatedTokenFile?: string;
}

/** Parses the text of a tenants file. Problems are pushed to errors as "file: place: problem". */
export function parseTenantsFile(
  text: string,
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  defaults: TenantDefaults,
  io: ConfigIo,
  errors: string[],
): TenantConfig[] {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) errors.push(`${file}: ${(e.message.split('\n')[0] ?? '').replace(/:$/, '')}`);
    return [];
  }
  const root: unknown = doc.toJS();
  const problem = (where: string, what: string) => errors.push(`${file}: ${where}: ${what}`);
  if (!isRecord(root)) {
    problem('top level', 'expected a mapping with a "tenants" list');
    return [];
  }
  unknownKeys(root, ['tenants'], 'top level', problem);
  if (!Array.isArray(root.tenants) || root.tenants.length === 0) {
    problem('tenants', 'expected a non-empty list of tenants');
    return [];
  }
  const tenants: TenantConfig[] = [];
  const seen = new Set<string>();
  root.tenants.forEach((entry: unknown, i: number) => {
    const where = `tenants[${i}]`;
    if (!isRecord(entry)) {
      problem(where, 'expected a mapping');
      return;
    }
    unknownKeys(entry, TENANT_KEYS, where, problem);
    const tenant = parseTenant(entry, where, env, defaults, io, problem);
    if (!tenant) return;
    const key = tenant.tenantId ?? `managed identity ${JSON.stringify(tenant.credential)}`;
    if (seen.has(key)) problem(`${where}.tenant_id`, `${tenant.tenantId ?? 'this managed identity'} is listed twice`);
    seen.add(key);
    tenants.push(tenant);
  });
  return tenants;
}

function parseTenant(
  entry: Record<string, unknown>,
  where: string,
  env: Readonly<Record<string, string | undefined>>,
  defaults: TenantDefaults,
  io: ConfigIo,
  problem: (where: string, what: string) => void,
): TenantConfig | undefined {
  const str = (key: string): string | undefined => {
    const value = entry[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      problem(`${where}.${key}`, 'expected a non-empty string');
      return undefined;
    }
    return value.trim();
  };
  const tenantId = str('tenant_id');
  const clientId = str('client_id');
  const secretFile = str('client_secret_file');
  const secretEnv = str('client_secret_env');
  const certificatePath = str('client_certificate_path');
  const certificatePasswordEnv = str('client_certificate_password_env');
  const tokenFile = str('federated_token_file') ?? defaults.federatedTokenFile;
  const authorityHost = str('authority_host') ?? defaults.authorityHost;
  const authRaw = str('auth');
  let ok = true;
  const fail = (key: string, what: string) => {
    problem(`${where}.${key}`, what);
    ok = false;
  };

  if (tenantId !== undefined && !TENANT_ID.test(tenantId)) fail('tenant_id', `"${tenantId}" is not a tenant ID (a GUID or a domain)`);
  if (authorityHost !== undefined && !/^https:\/\/[^/?#\s]+\/?$/.test(authorityHost))
    fail('authority_host', `"${authorityHost}" must be an https URL without a path`);
  const given = [secretFile && 'client_secret_file', secretEnv && 'client_secret_env', certificatePath && 'client_certificate_path'].filter(
    (k): k is string => typeof k === 'string',
  );
  if (given.length > 1) fail(given.join(', '), 'set only one way to authenticate');
  if (authRaw !== undefined && !(AUTH_KINDS as readonly string[]).includes(authRaw)) fail('auth', `"${authRaw}" is not one of ${AUTH_KINDS.join(', ')}`);
  const auth = authRaw ?? (secretFile || secretEnv ? 'client_secret' : certificatePath ? 'client_certificate' : undefined);
  if (auth === undefined) {
    fail('auth', 'say how to authenticate: client_secret_file, client_secret_env, client_certificate_path, or auth: workload_identity | managed_identity');
    return undefined;
  }
  const needs = (key: string, value: string | undefined) => {
    if (value === undefined) fail(key, `required with auth ${auth}`);
  };
  const authority = authorityHost === undefined ? {} : { authorityHost: authorityHost.replace(/\/$/, '') };
  let credential: CredentialConfig | undefined;
  switch (auth) {
    case 'client_secret': {
      needs('tenant_id', tenantId);
      needs('client_id', clientId);
      let secret: string | undefined;
      if (secretFile !== undefined) {
        if (!io.readable(secretFile)) fail('client_secret_file', `cannot read "${secretFile}"`);
        else secret = io.readText(secretFile).trim();
        if (secret === '') fail('client_secret_file', `"${secretFile}" is empty`);
      } else if (secretEnv !== undefined) {
        secret = env[secretEnv];
        if (secret === undefined || secret === '') fail('client_secret_env', `environment variable ${secretEnv} is not set`);
      } else fail('client_secret_file', 'required with auth client_secret (or client_secret_env)');
      if (ok && secret) credential = { kind: 'clientSecret', tenantId: tenantId ?? '', clientId: clientId ?? '', clientSecret: secret, ...authority };
      break;
    }
    case 'client_certificate': {
      needs('tenant_id', tenantId);
      needs('client_id', clientId);
      needs('client_certificate_path', certificatePath);
      if (certificatePath !== undefined && !io.readable(certificatePath)) fail('client_certificate_path', `cannot read "${certificatePath}"`);
      const password = certificatePasswordEnv === undefined ? undefined : env[certificatePasswordEnv];
      if (certificatePasswordEnv !== undefined && !password)
        fail('client_certificate_password_env', `environment variable ${certificatePasswordEnv} is not set`);
      if (ok && certificatePath)
        credential = {
          kind: 'clientCertificate',
          tenantId: tenantId ?? '',
          clientId: clientId ?? '',
          certificatePath,
          ...(password ? { certificatePassword: password } : {}),
          ...authority,
        };
      break;
    }
    case 'workload_identity':
      needs('tenant_id', tenantId);
      needs('client_id', clientId);
      if (tokenFile === undefined) fail('federated_token_file', 'required with auth workload_identity (or set AZURE_FEDERATED_TOKEN_FILE)');
      else if (!io.readable(tokenFile)) fail('federated_token_file', `cannot read "${tokenFile}"`);
      if (ok && tokenFile)
        credential = { kind: 'workloadIdentity', tenantId: tenantId ?? '', clientId: clientId ?? '', tokenFilePath: tokenFile, ...authority };
      break;
    case 'managed_identity':
      if (given.length > 0) fail(given.join(', '), 'not used with auth managed_identity');
      credential = { kind: 'managedIdentity', ...(clientId ? { clientId } : {}), ...(tenantId ? { tenantId } : {}) };
      break;
  }
  const labels = parseLabels(entry.labels, `${where}.labels`, problem);
  if (!ok || !credential || !labels) return undefined;
  return { ...(tenantId ? { tenantId } : {}), credential, labels };
}

function parseLabels(raw: unknown, where: string, problem: (where: string, what: string) => void): Record<string, string> | undefined {
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
    } else labels[name] = String(value);
  }
  return ok ? labels : undefined;
}

function unknownKeys(entry: Record<string, unknown>, known: readonly string[], where: string, problem: (where: string, what: string) => void): void {
  for (const key of Object.keys(entry)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => closeTo(k, key));
    problem(where, `unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
  }
}

/** Edit distance at most 2: enough to catch a typo in a key. */
function closeTo(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(current + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = current;
    }
  }
  return (row[b.length] ?? 99) <= 2;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
