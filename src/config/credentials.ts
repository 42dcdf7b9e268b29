/** CredentialConfig -> one non-interactive @azure/identity credential. */
import {
  AzureAuthorityHosts,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  type TokenCredential,
  type TokenCredentialOptions,
  WorkloadIdentityCredential,
} from '@azure/identity';
import type { CredentialConfig } from './credential.js';

const KNOWN_AUTHORITY_HOSTS = new Set<string>(Object.values(AzureAuthorityHosts).map((h) => new URL(h).host));

/**
 * True when MSAL may run instance discovery against this authority. Discovery asks a public
 * Microsoft host about the authority, which fails for any authority it does not know (a private
 * or test authority), so it is turned off for those.
 */
export function isKnownAuthorityHost(authorityHost: string | undefined): boolean {
  if (authorityHost === undefined) return true;
  try {
    return KNOWN_AUTHORITY_HOSTS.has(new URL(authorityHost).host);
  } catch {
    return false;
  }
}

/** What a credential's token requests go through: an HTTP client with the Graph client's deadline, cap and proxy (src/graph/token-http.ts). */
export interface CredentialTransport {
  readonly httpClient?: TokenCredentialOptions['httpClient'];
}

/** Creates the credential the config names; its token requests go through transport.httpClient when given. */
export function createCredential(config: CredentialConfig, transport: CredentialTransport = {}): TokenCredential {
  const http = transport.httpClient === undefined ? {} : { httpClient: transport.httpClient };
  if (config.kind === 'managedIdentity') {
    return new ManagedIdentityCredential({ ...(config.clientId === undefined ? {} : { clientId: config.clientId }), ...http });
  }
  const authority = {
    ...(config.authorityHost === undefined ? {} : { authorityHost: config.authorityHost }),
    disableInstanceDiscovery: !isKnownAuthorityHost(config.authorityHost),
    ...http,
  };
  switch (config.kind) {
    case 'clientSecret':
      return new ClientSecretCredential(config.tenantId, config.clientId, config.clientSecret, authority);
    case 'clientCertificate':
      return new ClientCertificateCredential(
        config.tenantId,
        config.clientId,
        config.certificatePassword === undefined
          ? { certificatePath: config.certificatePath }
          : { certificatePath: config.certificatePath, certificatePassword: config.certificatePassword },
        authority,
      );
    case 'workloadIdentity':
      return new WorkloadIdentityCredential({ tenantId: config.tenantId, clientId: config.clientId, tokenFilePath: config.tokenFilePath, ...authority });
  }
}
