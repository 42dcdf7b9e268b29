/** The configured values redaction starts with: secret for the life of the process. */
import type { TenantConfig } from './tenants.js';

/** Configured values that must never be shown: redacted for the life of the process. */
export function secretsOf(tenant: TenantConfig): string[] {
  const c = tenant.credential;
  if (c.kind === 'clientSecret') return [c.clientSecret];
  if (c.kind === 'clientCertificate' && c.certificatePassword !== undefined) return [c.certificatePassword];
  return [];
}

/**
 * Secrets @azure/identity reads from the environment itself (the managed identity endpoint's
 * header, a certificate password), whether or not the configuration names them.
 */
const SECRET_VARIABLES = ['AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PASSWORD', 'IDENTITY_HEADER', 'MSI_SECRET'] as const;
/** The proxy variables undici reads: a proxy URL may carry a user name and password. */
const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'] as const;
export function environmentSecrets(env: NodeJS.ProcessEnv): string[] {
  return [...SECRET_VARIABLES.flatMap((name) => (env[name] ? [env[name]] : [])), ...PROXY_VARIABLES.flatMap((name) => proxyCredentials(env[name]))];
}

/** The password of a proxy URL, as written and decoded, and its user:password pair; none without a password. */
function proxyCredentials(value: string | undefined): string[] {
  if (!value) return [];
  try {
    const url = new URL(value);
    if (url.password === '') return [];
    return [`${url.username}:${url.password}`, url.password, decodeURIComponent(url.password)];
  } catch {
    return [];
  }
}
