/**
 * What to check when Graph refuses a tenant's token (401) or its app (403), named the way the
 * tenant was configured: AZURE_* variables, or the keys of its entry in the tenants file.
 */
import type { TenantConfig } from './tenants.js';

/** What a valid credential of each kind depends on beyond its ids. */
const CURRENT: Readonly<Record<TenantConfig['credential']['kind'], string>> = {
  clientSecret: 'that the client secret is current',
  clientCertificate: 'that the certificate is current',
  workloadIdentity: 'that the federated token is current',
  managedIdentity: 'that the managed identity is assigned to this host',
};

/** Short human name of a credential kind, for the start-up log and --config.check. */
export function describeCredential(config: TenantConfig['credential']): string {
  return {
    clientSecret: 'client secret',
    clientCertificate: 'client certificate',
    workloadIdentity: 'workload identity',
    managedIdentity: 'managed identity',
  }[config.kind];
}

/** The variables (or tenants-file keys) whose presence picks each credential, in the order they are tried. */
const CHOOSERS = ['AZURE_CLIENT_SECRET', 'AZURE_CLIENT_SECRET_FILE', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_FEDERATED_TOKEN_FILE'] as const;
const FILE_CHOOSERS = ['auth', 'client_secret_file', 'client_secret_env', 'client_certificate_path', 'federated_token_file'] as const;
/** Hosts that give managed identity a local endpoint say so in the environment (App Service, Functions, Container Apps, Arc). */
const MANAGED_IDENTITY_HOST = ['IDENTITY_ENDPOINT', 'MSI_ENDPOINT'] as const;

/** Which credential a tenant got and why, for the start-up log; a warning when that choice is likely wrong. */
export interface CredentialChoice {
  readonly credential: string;
  readonly reason: string;
  readonly warning?: string;
}

/**
 * Why the tenant has the credential it has: the variable or key that chose it, or, for managed
 * identity from an empty environment, that nothing else was set. Managed identity chosen that way
 * with nothing saying this is an Azure host is warned about: on a laptop the first poll would only
 * fail after a long wait for an endpoint that is not there.
 */
export function credentialChoice(tenant: Pick<TenantConfig, 'credential' | 'source'>, env: Readonly<Record<string, string | undefined>>): CredentialChoice {
  const credential = describeCredential(tenant.credential);
  const { source } = tenant;
  if (source.kind === 'file') {
    const keys = source.keys.filter((k) => (FILE_CHOOSERS as readonly string[]).includes(k)).map((k) => `tenants[${source.index}].${k}`);
    return { credential, reason: `${keys.length > 0 ? list(keys) : `tenants[${source.index}]`} in ${source.file}` };
  }
  const set = CHOOSERS.filter((name) => source.variables.includes(name));
  if (set.length > 0) return { credential, reason: `${list(set)} ${set.length === 1 ? 'is' : 'are'} set` };
  const reason = `none of ${CHOOSERS.join(', ')} is set`;
  if (tenant.credential.kind !== 'managedIdentity' || MANAGED_IDENTITY_HOST.some((name) => env[name])) return { credential, reason };
  // The ids of an app registration without its secret: most likely the secret was forgotten.
  const forgotten = source.variables.includes('AZURE_TENANT_ID')
    ? '; AZURE_TENANT_ID is set as for an app registration: is AZURE_CLIENT_SECRET (or AZURE_CLIENT_SECRET_FILE) missing?'
    : '';
  return {
    credential,
    reason,
    warning: `managed identity works only on an Azure host (VM, AKS, App Service, Container Apps, Arc); elsewhere set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or a certificate), or try --demo${forgotten}`,
  };
}

/**
 * The sentence that follows "Graph answered 401 …." (the token was rejected) or "Graph answered
 * 403 …." (the app may not read subject: the score, or a relation), naming where this tenant's ids
 * and secret are set.
 */
export function credentialHint(tenant: Pick<TenantConfig, 'credential' | 'source'>, status: 401 | 403, subject = 'the partner security score'): string {
  const { credential, source } = tenant;
  if (status === 401) {
    const set = places(source, () => true);
    return `The token was rejected: check ${set === undefined ? '' : `${set}, and `}${CURRENT[credential.kind]}`;
  }
  const app = places(source, (name) => /(^|_)client_id$/i.test(name));
  const who = credential.kind === 'managedIdentity' ? "This host's managed identity" : 'The app registration';
  return `${who}${app === undefined ? '' : ` (${app})`} needs the PartnerSecurity.Read.All application permission with admin consent, in a Partner Center partner tenant, to read ${subject}`;
}

/**
 * The variables or keys of source that pass keep, with where they are ("AZURE_CLIENT_ID",
 * "tenants[3].client_id in /etc/tenants.yml"); undefined when the environment sets none of them.
 */
function places(source: TenantConfig['source'], keep: (name: string) => boolean): string | undefined {
  const variables = source.variables.filter(keep);
  if (source.kind === 'environment') return variables.length > 0 ? list(variables) : undefined;
  const entry = `tenants[${source.index}]`;
  const keys = source.keys.filter(keep).map((key) => `${entry}.${key}`);
  const inFile = `${keys.length > 0 ? list(keys) : entry} in ${source.file}`;
  return variables.length > 0 ? `${inFile} and ${list(variables)} in the environment` : inFile;
}

/** "a", "a and b", "a, b and c". */
function list(names: readonly string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}
