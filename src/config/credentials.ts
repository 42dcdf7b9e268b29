/** CredentialConfig -> one non-interactive @azure/identity credential. */
import {
  AzureAuthorityHosts,
  ClientAssertionCredential,
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  type TokenCredential,
  type TokenCredentialOptions,
} from '@azure/identity';
import type { CredentialConfig } from './credential.js';
import { diskIo, readConfigText } from './files.js';

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
    case 'workloadIdentity': {
      // What WorkloadIdentityCredential does, but the file is read with the configuration files'
      // bound: the kubelet replaces it while the exporter runs, and the SDK would read any size.
      const path = config.tokenFilePath;
      return new ClientAssertionCredential(config.tenantId, config.clientId, async () => federatedToken(path), authority);
    }
  }
}

/**
 * The federated token, read again for every token request (the kubelet renews the file): at most
 * MAX_CONFIG_FILE_BYTES, a regular file of UTF-8 text, not empty. The error names the file, never its content.
 */
function federatedToken(path: string): string {
  const shown = `the federated token file "${path}"`;
  const read = readConfigText(diskIo, path, shown);
  if ('problem' in read) throw new Error(read.problem);
  const token = read.text.trim();
  if (token === '') throw new Error(`${shown} is empty`);
  return token;
}
