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

/**
 * The sentence that follows "Graph answered 401 …." (the token was rejected) or "Graph answered
 * 403 …." (the app may not read the score), naming where this tenant's ids and secret are set.
 */
export function credentialHint(tenant: Pick<TenantConfig, 'credential' | 'source'>, status: 401 | 403): string {
  const { credential, source } = tenant;
  if (status === 401) {
    const set = places(source, () => true);
    return `The token was rejected: check ${set === undefined ? '' : `${set}, and `}${CURRENT[credential.kind]}`;
  }
  const app = places(source, (name) => /(^|_)client_id$/i.test(name));
  const who = credential.kind === 'managedIdentity' ? "This host's managed identity" : 'The app registration';
  return `${who}${app === undefined ? '' : ` (${app})`} needs the PartnerSecurity.Read.All application permission with admin consent, in a Partner Center partner tenant`;
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
