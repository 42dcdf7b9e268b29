/** The tenants to poll, each with its credential, and what talks to Graph for one of them. */
import type { TokenCredential } from '@azure/identity';
import type { Dispatcher } from 'undici';
import { credentialHint, describeCredential } from '../config/credential-hint.js';
import type { Config } from '../config/parse.js';
import type { TenantConfig } from '../config/tenants.js';
import { createGraphClient, type GraphClient } from '../graph/client.js';
import { createTokenSource, type TokenSource } from '../graph/token.js';
import { createTokenTransport, type TokenTransport } from '../graph/token-http.js';
import type { Redactor } from '../lib/log.js';
import { NAME } from '../lib/name.js';
import type { PartnerProgram } from '../snapshot.js';

/** One tenant to poll and how its tokens are had and its Graph reached: a configured tenant on Graph, or the demo's. */
export interface Target {
  readonly tenantId?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Partner type and validation month: which requirements are mandatory, and when they are validated. */
  readonly partner: PartnerProgram;
  /** How the credential is named in the start-up log. */
  readonly credentialName: string;
  /** The Graph root. */
  readonly endpoint: string;
  readonly credential: TokenCredential;
  readonly scope: string;
  /** A credential with an empty token cache, after Graph rejected a token (the demo's static token needs none). */
  readonly renewCredential?: () => TokenCredential;
  /** What to check after a 401 or 403, named as the tenant was configured. */
  readonly credentialHint?: (status: 401 | 403, subject: string) => string;
  /** Why the last token request failed on the network, in words MSAL does not keep (src/graph/token-http.ts). */
  readonly takeTransportFailure?: () => string | undefined;
}

/** Builds @azure/identity credentials (src/config/credentials.ts). */
export type CreateCredential = typeof import('../config/credentials.js')['createCredential'];

/**
 * The credential code, loaded only when a configured tenant needs it: @azure/identity takes about
 * 0.4 s and 37 MiB to load, which demo mode (its static credential is in demo.ts), --version and
 * --config.check never use.
 */
export async function loadCreateCredential(): Promise<CreateCredential> {
  return (await import('../config/credentials.js')).createCredential;
}

/** What the Graph and token requests of the configured tenants share. */
export interface Network {
  /** The dispatcher of every request (src/graph/http.ts). */
  readonly dispatcher: Dispatcher;
  /** The environment its proxy comes from, named in token errors. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * A tenant's way to its token endpoint: the Graph requests' dispatcher, deadline (--graph.timeout)
 * and body cap, instead of @azure/identity's own HTTP client, which reads any answer whole.
 */
export function tokenTransport(config: Config, tenant: TenantConfig, network: Network): TokenTransport {
  return createTokenTransport({
    dispatcher: network.dispatcher,
    timeoutMs: config.graphTimeoutMs,
    endpointName: tenant.credential.kind === 'managedIdentity' ? 'the managed identity endpoint' : 'the authority',
    env: network.env,
  });
}

/** A configured tenant with its own credential, on the configured Graph root. */
export function graphTarget(config: Config, tenant: TenantConfig, createCredential: CreateCredential, network: Network): Target {
  const transport = tokenTransport(config, tenant, network);
  return {
    ...(tenant.tenantId === undefined ? {} : { tenantId: tenant.tenantId }),
    labels: tenant.labels,
    partner: tenant.partner,
    credentialName: describeCredential(tenant.credential),
    endpoint: config.graphEndpoint,
    credential: createCredential(tenant.credential, transport),
    // The token's scope is the Graph root the exporter talks to.
    scope: `${config.graphEndpoint}/.default`,
    renewCredential: () => createCredential(tenant.credential, transport),
    credentialHint: (status, subject) => credentialHint(tenant, status, subject),
    takeTransportFailure: () => transport.takeFailure(),
  };
}

/** Every configured tenant as a target, with the credential code loaded once for all. */
export async function graphTargets(config: Config, network: Network): Promise<Target[]> {
  const createCredential = await loadCreateCredential();
  return config.tenants.map((tenant) => graphTarget(config, tenant, createCredential, network));
}

/** What talks to Graph for one tenant. */
export interface TenantClient {
  readonly tokens: TokenSource;
  readonly graph: GraphClient;
}

export function connect(config: Config, target: Target, version: string, redact: Redactor, dispatcher: Dispatcher): TenantClient {
  const renew = target.renewCredential === undefined ? {} : { renewCredential: target.renewCredential };
  const failure = target.takeTransportFailure === undefined ? {} : { takeTransportFailure: target.takeTransportFailure };
  const tokens = createTokenSource({ credential: target.credential, scope: target.scope, redact, ...renew, ...failure });
  const graph = createGraphClient({
    endpoint: target.endpoint,
    timeoutMs: config.graphTimeoutMs,
    tokens,
    userAgent: `${NAME}/${version} (node ${process.version})`,
    dispatcher,
    redact,
    ...(target.credentialHint === undefined ? {} : { credentialHint: target.credentialHint }),
  });
  return { tokens, graph };
}
