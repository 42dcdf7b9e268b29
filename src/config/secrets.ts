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
export function environmentSecrets(env: NodeJS.ProcessEnv): string[] {
  return SECRET_VARIABLES.flatMap((name) => (env[name] ? [env[name]] : []));
}
