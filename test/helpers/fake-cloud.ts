/**
 * One HTTPS server on 127.0.0.1 that plays both Microsoft Entra ID and Microsoft Graph for the
 * integration tests, with the test certificate the exporter trusts through NODE_EXTRA_CA_CERTS.
 *
 * Entra ID: exactly what @azure/identity (MSAL node) calls with a custom AZURE_AUTHORITY_HOST and
 * instance discovery off: GET /{tenant}/v2.0/.well-known/openid-configuration, then
 * POST /{tenant}/oauth2/v2.0/token (client_credentials with client_secret or a JWT client_assertion).
 * Managed identity: the App Service endpoint (GET with X-IDENTITY-HEADER, api-version 2019-08-01).
 * Graph: GET /beta/security/partner/securityScore (any $expand) answered from a queue or a default
 * handler, its relations (/requirements, /history, /customerInsights) from the fixtures by default,
 * and GET /beta/security/partner/securityAlerts: two pages of alerts (securityAlerts.json, then
 * securityAlerts-page2.json with unknown enum members, nulls, a test alert and hostile strings),
 * each alert cut to the properties $select names, as Graph does (or a 400 for $select, refuseSelect).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

const TLS = new URL('../fixtures/tls/', import.meta.url);
const GRAPH_FIXTURES = new URL('../fixtures/graph/', import.meta.url);

/** The path of the partner security score under the Graph root. */
export const SECURITY_SCORE_PATH = '/beta/security/partner/securityScore';
/** The path of the partner security alerts, beside the score. */
export const SECURITY_ALERTS_PATH = '/beta/security/partner/securityAlerts';
/** The $skiptoken of the fake's second page of alerts. */
export const ALERTS_PAGE_2 = 'alerts-page-2';
/** Where the fake's App Service managed identity endpoint lives. */
export const MSI_PATH = '/msi/token';
/** The client assertion type Entra ID requires for certificate and federated credentials. */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Graph's real content type for JSON answers; the exporter must accept its parameters. */
export const GRAPH_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** The reference example body: the entity wrapped as {"value": {...}}, as the Graph docs show it. */
export function wrappedScoreBody(): string {
  return readFileSync(new URL('securityScore.json', GRAPH_FIXTURES), 'utf8');
}

/** A fixture collection's items (requirements.json, history.json, customerInsights.json). */
function fixtureItems(name: string): unknown[] {
  return (JSON.parse(readFileSync(new URL(name, GRAPH_FIXTURES), 'utf8')) as { value: unknown[] }).value;
}

const RELATION_FIXTURES: Readonly<Record<string, string>> = {
  requirements: 'requirements.json',
  history: 'history.json',
  customerInsights: 'customerInsights.json',
};

/**
 * What the fake Graph answers when a reply names no body: the wrapped score (with the relations
 * $expand asks for inlined from the fixtures), a relation's fixture collection, or a 404.
 */
export function defaultGraphAnswer(url: URL): { status: number; body: string } {
  if (url.pathname === SECURITY_ALERTS_PATH) {
    const select = url.searchParams.get('$select');
    const second = url.searchParams.get('$skiptoken') === ALERTS_PAGE_2;
    const page = JSON.parse(readFileSync(new URL(second ? 'securityAlerts-page2.json' : 'securityAlerts.json', GRAPH_FIXTURES), 'utf8')) as {
      value: Record<string, unknown>[];
      '@odata.nextLink'?: string;
    };
    // Graph's next link carries the query options of the first request.
    if (!second) page['@odata.nextLink'] = `${url.origin}${SECURITY_ALERTS_PATH}?${select === null ? '' : `$select=${select}&`}$skiptoken=${ALERTS_PAGE_2}`;
    if (select !== null) page.value = page.value.map((alert) => selected(alert, select.split(',')));
    return { status: 200, body: JSON.stringify(page) };
  }
  if (url.pathname === SECURITY_SCORE_PATH) {
    const expand = (url.searchParams.get('$expand') ?? '').split(',').filter((r) => RELATION_FIXTURES[r] !== undefined);
    if (expand.length === 0) return { status: 200, body: wrappedScoreBody() };
    const wrapped = JSON.parse(wrappedScoreBody()) as { value: Record<string, unknown> };
    for (const relation of expand) wrapped.value[relation] = fixtureItems(RELATION_FIXTURES[relation] ?? '');
    return { status: 200, body: JSON.stringify(wrapped) };
  }
  const relation = url.pathname.slice(SECURITY_SCORE_PATH.length + 1);
  const fixture = RELATION_FIXTURES[relation];
  if (fixture !== undefined) return { status: 200, body: JSON.stringify({ value: fixtureItems(fixture) }) };
  return { status: 404, body: graphErrorBody('ResourceNotFound', `Resource not found for the segment '${relation}'.`, randomUUID(), '') };
}

/** An entity cut to the properties $select names (and its @odata.type), as Graph answers it. */
export function selected(entity: Record<string, unknown>, properties: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entity).filter(([key]) => key === '@odata.type' || properties.includes(key)));
}

/** What an OData service answers to a query option it does not take (ASP.NET OData's words). */
export const SELECT_REFUSED_BODY = JSON.stringify({
  error: {
    code: 'BadRequest',
    message: "Query option 'Select' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.",
    innerError: { date: '2026-12-01T00:00:00', 'request-id': 'b1c2d3e4-0000-4000-8000-000000000400', 'client-request-id': '' },
  },
});

/**
 * The 403 the beta SDK's users report for securityAlerts with an app-only token holding
 * PartnerSecurity.Read.All (msgraph-beta-sdk-dotnet issue 1083): upper-case keys, MFA missing.
 */
export function missingMfaBody(): string {
  return readFileSync(new URL('error-403-missing-mfa.json', GRAPH_FIXTURES), 'utf8');
}

/** The fixture's numbers, as the exporter must export them. */
export const FIXTURE_SCORE = {
  current: 14.29,
  max: 100,
  /** 2024-02-28T00:00:00Z */
  lastRefresh: 1709078400,
  /** 2024-01-17T00:00:00Z */
  updated: 1705449600,
} as const;

/** Standard OData: the entity at the root with @odata.context, numbers as strings (a documented quirk). */
export function topLevelScoreBody(score: { current: string; max: string; lastRefresh: string; updated: string }): string {
  return JSON.stringify({
    '@odata.context': 'https://graph.microsoft.com/beta/$metadata#security/partner/securityScore/$entity',
    '@odata.type': '#microsoft.graph.partner.security.partnerSecurityScore',
    id: '9021efeb-af08-e3dd-9c11-ac69f92e43b8',
    currentScore: score.current,
    maxScore: score.max,
    lastRefreshDateTime: score.lastRefresh,
    updatedDateTime: score.updated,
  });
}

/** Graph's error body: {"error":{"code","message","innerError":{...}}}. */
export function graphErrorBody(code: string, message: string, requestId: string, clientRequestId: string): string {
  return JSON.stringify({
    error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': requestId, 'client-request-id': clientRequestId } },
  });
}

/** One answer of the fake Graph. */
export interface GraphReply {
  status?: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. Default: defaultGraphAnswer (fixtures), with its status. */
  body?: unknown;
  /** Content type; default Graph's JSON content type. */
  contentType?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (the socket stays open until the client gives up or the fake closes). */
  hang?: boolean;
}

/** What the fake Graph saw of one request. */
export interface GraphRequest {
  readonly method: string;
  /** The path without the query, e.g. /beta/security/partner/securityScore. */
  readonly path: string;
  /** The query string with its "?", or "" (e.g. "?$expand=requirements,history"). */
  readonly query: string;
  readonly headers: IncomingMessage['headers'];
  readonly authorization?: string;
  readonly clientRequestId?: string;
  readonly userAgent?: string;
  /** Date.now() when the request arrived. */
  readonly at: number;
  /** Date.now() just before the answer was written (undefined while pending or hanging). */
  answeredAt?: number;
  readonly remotePort: number;
  /** The request-id header the fake answered with. */
  readonly requestId: string;
  status?: number;
}

export type GraphHandler = (request: GraphRequest) => GraphReply | Promise<GraphReply>;

/** A Graph answer held back until the test releases it: a poll in flight for exactly as long as needed. */
export function heldReply(reply: GraphReply = {}): { handler: GraphHandler; release(): void } {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    handler: async () => {
      await released;
      return reply;
    },
    release: () => release(),
  };
}

/** What the fake Entra ID saw of one token request. */
export interface TokenRequest {
  readonly tenant: string;
  readonly at: number;
  readonly remotePort: number;
  readonly headers: IncomingMessage['headers'];
  readonly form: Readonly<Record<string, string>>;
  readonly grantType?: string;
  readonly clientId?: string;
  readonly scopes: readonly string[];
  /** How the client authenticated. */
  readonly auth: 'secret' | 'assertion' | 'none';
  readonly clientSecret?: string;
  readonly clientAssertion?: string;
  readonly clientAssertionType?: string;
  /** The access token issued, or undefined when the request was refused. */
  accessToken?: string;
  status?: number;
}

/** A raw answer of the fake token endpoint. */
export interface TokenAnswer {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

/**
 * A token answer of `length` bytes sent in chunks as fast as the client reads it: `head`, then
 * `filler` repeated. Sending stops when the client closes the connection; what got out is counted
 * in FakeCloud.streamedTokenBytes.
 */
export interface StreamedTokenAnswer {
  status: number;
  contentType: string;
  head: string;
  filler: string;
  length: number;
}

/** What the fake App Service managed identity endpoint saw. */
export interface MsiRequest {
  readonly at: number;
  readonly headers: IncomingMessage['headers'];
  readonly query: Readonly<Record<string, string>>;
  accessToken?: string;
  status?: number;
}

/** An Entra ID refusal, as the token endpoint sends it. */
export interface TokenRefusal {
  status: 400 | 401;
  error: string;
  /** The AADSTS number, e.g. 7000215. */
  code: number;
  description: string;
}

/** AADSTS7000215, what Entra ID says about a wrong client secret. */
export const INVALID_CLIENT_SECRET: TokenRefusal = {
  status: 401,
  error: 'invalid_client',
  code: 7000215,
  description:
    'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.',
};

export interface FakeCloudOptions {
  /** The `tid` claim of every access token. */
  tenantClaim?: string;
  /** expires_in of issued tokens, in seconds. */
  tokenLifetimeSeconds?: number;
  /** When set, a token request with another client_secret is refused with AADSTS7000215. */
  expectedClientSecret?: string;
  /** The value the managed identity endpoint requires in X-IDENTITY-HEADER. */
  identityHeader?: string;
  /** 'untrusted' serves a self-signed certificate nobody trusts (default: the one signed by the test CA). */
  certificate?: 'trusted' | 'untrusted';
  /** The test context's onTestFinished: the fake closes when the (possibly concurrent) test ends. */
  onTestFinished?: (fn: () => Promise<void>) => void;
}

export interface FakeCloud {
  /** https://127.0.0.1:<port>, for AZURE_AUTHORITY_HOST and --graph.endpoint. */
  readonly url: string;
  /** 127.0.0.1:<port>, what a CONNECT proxy is asked to reach. */
  readonly hostPort: string;
  readonly port: number;
  readonly tenantClaim: string;
  readonly identityHeader: string;
  readonly discoveryRequests: { tenant: string; at: number; remotePort: number }[];
  readonly tokenRequests: TokenRequest[];
  readonly msiRequests: MsiRequest[];
  readonly graphRequests: GraphRequest[];
  /** Every access token issued (token endpoint and managed identity). */
  readonly issuedTokens: string[];
  /** Requests to paths the fake does not know (a test failure: something unexpected was called). */
  readonly unexpected: string[];
  tokenLifetimeSeconds: number;
  /** When set, every token request is refused with this error. */
  refuseTokens: TokenRefusal | undefined;
  /** When true, token requests are recorded but never answered. */
  hangTokens: boolean;
  /**
   * When set, every token request gets this raw answer (a malformed or broken token response); a
   * function answers each request on its own (undefined: the usual answer), e.g. to echo what it was sent.
   */
  tokenAnswer: TokenAnswer | ((request: TokenRequest) => TokenAnswer | undefined) | undefined;
  /** When set (and tokenAnswer is not), every token request gets this long answer. */
  tokenStream: StreamedTokenAnswer | undefined;
  /** Bytes of streamed token answers handed to the network (each write the socket accepted). */
  streamedTokenBytes: number;
  /** Answers to GET securityScore (with or without $expand), used one by one before graphDefault. */
  readonly graphQueue: (GraphReply | GraphHandler)[];
  /** Answers GET securityScore once the queue is empty (default: the fixtures, see defaultGraphAnswer). */
  graphDefault: GraphReply | GraphHandler;
  /** Answers the relations under securityScore (/requirements, /history, /customerInsights, nextLinks). */
  relationDefault: GraphReply | GraphHandler;
  /** Answers GET securityAlerts and its next pages (default: the two fixture pages). */
  alertsDefault: GraphReply | GraphHandler;
  /** When true, every Graph request with $select is answered 400 (SELECT_REFUSED_BODY), as a service that does not take it. */
  refuseSelect: boolean;
  close(): Promise<void>;
}

/** An unsigned JWT-shaped token (alg none) with a tid claim and a random, distinctive signature part. */
export function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ typ: 'JWT', alg: 'none' })}.${part(claims)}.${randomBytes(24).toString('base64url')}`;
}

/** Decodes one base64url JSON part of a JWT. */
export function jwtPart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

const started = new Set<FakeCloud>();

/** Writes a StreamedTokenAnswer, keeping no more than one chunk in flight beyond what the socket takes. */
function streamTokenAnswer(res: ServerResponse, answer: StreamedTokenAnswer, counted: (bytes: number) => void): void {
  res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': answer.length });
  const chunk = Buffer.from(answer.filler.repeat(Math.ceil((64 * 1024) / answer.filler.length)));
  let left = answer.length;
  const send = (data: Buffer) => {
    left -= data.length;
    return res.write(data, (error) => {
      if (!error) counted(data.length);
    });
  };
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      if (!send(chunk.subarray(0, Math.min(chunk.length, left)))) return;
    }
    if (left <= 0) res.end();
  };
  res.on('drain', pump);
  send(Buffer.from(answer.head));
  pump();
}

/** Closes every fake cloud a test started (afterEach / afterAll). */
export async function closeFakeClouds(): Promise<void> {
  const clouds = [...started];
  started.clear();
  await Promise.all(clouds.map((cloud) => cloud.close()));
}

/** Starts the fake cloud on an ephemeral loopback port. */
export async function startFakeCloud(options: FakeCloudOptions = {}): Promise<FakeCloud> {
  const [cert, key] = options.certificate === 'untrusted' ? ['untrusted.pem', 'untrusted-key.pem'] : ['server.pem', 'server-key.pem'];
  const server: Server = createServer({ cert: readFileSync(new URL(cert, TLS)), key: readFileSync(new URL(key, TLS)) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `https://127.0.0.1:${port}`;
  let tokenCounter = 0;

  const cloud: FakeCloud = {
    url,
    hostPort: `127.0.0.1:${port}`,
    port,
    tenantClaim: options.tenantClaim ?? '2f0a4c61-7b3e-4d2a-9c5f-1e8d6b4a3c21',
    identityHeader: options.identityHeader ?? randomUUID(),
    discoveryRequests: [],
    tokenRequests: [],
    msiRequests: [],
    graphRequests: [],
    issuedTokens: [],
    unexpected: [],
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3599,
    refuseTokens: undefined,
    hangTokens: false,
    tokenAnswer: undefined,
    tokenStream: undefined,
    streamedTokenBytes: 0,
    graphQueue: [],
    graphDefault: {},
    relationDefault: {},
    alertsDefault: {},
    refuseSelect: false,
    async close() {
      started.delete(cloud);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  started.add(cloud);
  options.onTestFinished?.(() => cloud.close());

  const issueToken = (audience: string) => {
    tokenCounter += 1;
    const nowS = Math.floor(Date.now() / 1000);
    const token = unsignedJwt({
      aud: audience,
      iss: `${url}/${cloud.tenantClaim}/`,
      iat: nowS,
      exp: nowS + cloud.tokenLifetimeSeconds,
      tid: cloud.tenantClaim,
      n: tokenCounter,
    });
    cloud.issuedTokens.push(token);
    return token;
  };

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  const aadError = (res: ServerResponse, refusal: TokenRefusal) => {
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date().toISOString().replace('T', ' ');
    sendJson(res, refusal.status, {
      error: refusal.error,
      error_description: `AADSTS${refusal.code}: ${refusal.description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [refusal.code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${url}/error?code=${refusal.code}`,
    });
  };

  const openIdConfiguration = (tenant: string) => ({
    token_endpoint: `${url}/${tenant}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${url}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${url}/${tenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${url}/oidc/userinfo`,
    authorization_endpoint: `${url}/${tenant}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${url}/${tenant}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${url}/${tenant}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid'],
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: '127.0.0.1',
  });

  const handleToken = (req: IncomingMessage, res: ServerResponse, tenant: string, text: string) => {
    const form = Object.fromEntries(new URLSearchParams(text));
    const auth = form.client_secret !== undefined ? 'secret' : form.client_assertion !== undefined ? 'assertion' : 'none';
    const record: TokenRequest = {
      tenant,
      at: Date.now(),
      remotePort: req.socket.remotePort ?? 0,
      headers: req.headers,
      form,
      scopes: (form.scope ?? '').split(' ').filter((s) => s !== ''),
      auth,
      ...(form.grant_type === undefined ? {} : { grantType: form.grant_type }),
      ...(form.client_id === undefined ? {} : { clientId: form.client_id }),
      ...(form.client_secret === undefined ? {} : { clientSecret: form.client_secret }),
      ...(form.client_assertion === undefined ? {} : { clientAssertion: form.client_assertion }),
      ...(form.client_assertion_type === undefined ? {} : { clientAssertionType: form.client_assertion_type }),
    };
    cloud.tokenRequests.push(record);
    const refuse = (refusal: TokenRefusal) => {
      record.status = refusal.status;
      aadError(res, refusal);
    };
    if (cloud.hangTokens) return;
    const answer = typeof cloud.tokenAnswer === 'function' ? cloud.tokenAnswer(record) : cloud.tokenAnswer;
    if (answer) {
      record.status = answer.status;
      res.writeHead(answer.status, { 'content-type': answer.contentType, ...answer.headers });
      res.end(answer.body);
      return;
    }
    if (cloud.tokenStream) {
      record.status = cloud.tokenStream.status;
      streamTokenAnswer(res, cloud.tokenStream, (bytes) => {
        cloud.streamedTokenBytes += bytes;
      });
      return;
    }
    if (cloud.refuseTokens) return refuse(cloud.refuseTokens);
    if (form.grant_type !== 'client_credentials') {
      return refuse({
        status: 400,
        error: 'unsupported_grant_type',
        code: 70003,
        description: `The app requested an unsupported grant type '${form.grant_type}'.`,
      });
    }
    if (!form.client_id)
      return refuse({
        status: 400,
        error: 'invalid_request',
        code: 900144,
        description: "The request body must contain the following parameter: 'client_id'.",
      });
    if (auth === 'none')
      return refuse({
        status: 401,
        error: 'invalid_client',
        code: 7000218,
        description: "The request body must contain 'client_assertion' or 'client_secret'.",
      });
    if (auth === 'assertion') {
      if (form.client_assertion_type !== JWT_BEARER) {
        return refuse({ status: 400, error: 'invalid_request', code: 50027, description: `Invalid client_assertion_type '${form.client_assertion_type}'.` });
      }
      if ((form.client_assertion ?? '').split('.').length !== 3) {
        return refuse({ status: 400, error: 'invalid_client', code: 50027, description: 'JWT token is invalid or malformed.' });
      }
    }
    if (auth === 'secret' && options.expectedClientSecret !== undefined && form.client_secret !== options.expectedClientSecret) {
      return refuse(INVALID_CLIENT_SECRET);
    }
    const scope = record.scopes[0] ?? '';
    const accessToken = issueToken(scope.replace(/\/\.default$/, ''));
    record.accessToken = accessToken;
    record.status = 200;
    sendJson(res, 200, { token_type: 'Bearer', expires_in: cloud.tokenLifetimeSeconds, ext_expires_in: cloud.tokenLifetimeSeconds, access_token: accessToken });
  };

  const handleMsi = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => {
    const record: MsiRequest = { at: Date.now(), headers: req.headers, query: Object.fromEntries(query) };
    cloud.msiRequests.push(record);
    const fail = (status: number, message: string) => {
      record.status = status;
      sendJson(res, status, { statusCode: status, message, correlationId: randomUUID() });
    };
    if (req.headers['x-identity-header'] !== cloud.identityHeader) return fail(401, 'X-IDENTITY-HEADER is missing or wrong');
    if (query.get('api-version') !== '2019-08-01') return fail(400, `unsupported api-version ${query.get('api-version')}`);
    const resource = query.get('resource');
    if (!resource) return fail(400, 'resource is required');
    const accessToken = issueToken(resource);
    record.accessToken = accessToken;
    record.status = 200;
    // App Service answers expires_on as a string of Unix seconds.
    sendJson(res, 200, {
      access_token: accessToken,
      expires_on: String(Math.floor(Date.now() / 1000) + cloud.tokenLifetimeSeconds),
      resource,
      token_type: 'Bearer',
      client_id: randomUUID(),
    });
  };

  const handleGraph = async (req: IncomingMessage, res: ServerResponse, requestUrl: URL) => {
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const authorization = header('authorization');
    const clientRequestId = header('client-request-id');
    const userAgent = header('user-agent');
    const record: GraphRequest = {
      method: req.method ?? '',
      path: requestUrl.pathname,
      query: requestUrl.search,
      headers: req.headers,
      at: Date.now(),
      remotePort: req.socket.remotePort ?? 0,
      requestId: randomUUID(),
      ...(authorization === undefined ? {} : { authorization }),
      ...(clientRequestId === undefined ? {} : { clientRequestId }),
      ...(userAgent === undefined ? {} : { userAgent }),
    };
    cloud.graphRequests.push(record);
    if (cloud.refuseSelect && requestUrl.searchParams.has('$select')) {
      record.status = 400;
      record.answeredAt = Date.now();
      res.writeHead(400, { 'content-type': GRAPH_JSON, 'request-id': record.requestId });
      res.end(SELECT_REFUSED_BODY);
      return;
    }
    const next =
      requestUrl.pathname === SECURITY_SCORE_PATH
        ? (cloud.graphQueue.shift() ?? cloud.graphDefault)
        : requestUrl.pathname === SECURITY_ALERTS_PATH
          ? cloud.alertsDefault
          : cloud.relationDefault;
    const reply = typeof next === 'function' ? await next(record) : next;
    if (reply.hang) return;
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    if (res.destroyed || req.socket.destroyed) return;
    const fallback = reply.body === undefined ? defaultGraphAnswer(requestUrl) : undefined;
    const status = reply.status ?? fallback?.status ?? 200;
    const body = fallback?.body ?? (typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    record.status = status;
    record.answeredAt = Date.now();
    res.writeHead(status, {
      'content-type': reply.contentType ?? GRAPH_JSON,
      'request-id': record.requestId,
      ...(clientRequestId === undefined ? {} : { 'client-request-id': clientRequestId }),
      ...reply.headers,
    });
    res.end(body);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const requestUrl = new URL(req.url ?? '/', url);
      const path = requestUrl.pathname;
      const text = Buffer.concat(chunks).toString('utf8');
      const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
      if (req.method === 'GET' && discovery) {
        const tenant = decodeURIComponent(discovery[1] ?? '');
        cloud.discoveryRequests.push({ tenant, at: Date.now(), remotePort: req.socket.remotePort ?? 0 });
        return sendJson(res, 200, openIdConfiguration(tenant));
      }
      const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
      if (req.method === 'POST' && token) return handleToken(req, res, decodeURIComponent(token[1] ?? ''), text);
      if (req.method === 'GET' && path === MSI_PATH) return handleMsi(req, res, requestUrl.searchParams);
      if (req.method === 'GET' && (path === SECURITY_SCORE_PATH || path.startsWith(`${SECURITY_SCORE_PATH}/`) || path === SECURITY_ALERTS_PATH)) {
        handleGraph(req, res, requestUrl).catch((error: unknown) => {
          if (!res.headersSent) sendJson(res, 500, { error: { code: 'fakeCloudBroken', message: String(error) } });
        });
        return;
      }
      cloud.unexpected.push(`${req.method} ${req.url}`);
      sendJson(res, 404, { error: { code: 'ResourceNotFound', message: `the fake cloud does not serve ${req.method} ${path}` } });
    });
  });

  return cloud;
}
