/** undici requests to Graph: deadlines, client-request-id, Retry-After, size caps, one GraphError. */
import { randomUUID } from 'node:crypto';
import { type Dispatcher, request } from 'undici';
import { errorText, MAX_QUOTED_CHARS } from '../lib/errors.js';
import { boundText } from '../lib/text.js';
import type { Relation } from '../snapshot.js';
import { GraphError } from './errors.js';
import { forbiddenHint, missingMfaHint, notFoundHint, saysMfaMissing, subjectOf } from './hints.js';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, HEAD_TOO_LARGE, isHeadTooLarge, readCapped } from './http.js';
import { JsonShapeError, jsonShapeProblem } from './json-shape.js';
import { GraphParseError } from './parse.js';
import { parseRetryAfter } from './retry-after.js';
import type { TokenSource } from './token.js';

export { DEFAULT_MAX_BODY_BYTES } from './http.js';

/** Longest content type looked at (Graph's own is under 100 characters); a longer one is not JSON. */
const MAX_CONTENT_TYPE_CHARS = 256;
/** Longest Location of a redirect whose origin is named in the error. */
const MAX_LOCATION_CHARS = 2048;

/** A successful (2xx) Graph answer with its JSON body. */
export interface GraphResponse {
  readonly status: number;
  readonly body: unknown;
  /** Bytes of the body as received (what --collector.max-bytes counts). */
  readonly bytes: number;
  readonly requestId?: string;
  readonly clientRequestId: string;
}

/**
 * Takes a successful answer's text as it arrives, instead of it being parsed whole: body is then
 * what end() returns (src/graph/collection-reader.ts). It throws GraphParseError for a text it
 * refuses, and JsonShapeError for one beyond the bounds of src/graph/json-shape.ts.
 */
export interface BodyReader {
  write(text: string): void;
  end(): unknown;
}

export interface GraphClient {
  /**
   * GETs a path under the Graph root (or an absolute nextLink on the same origin). relation names
   * what the request reads in error texts; without it, the request is about the score. A reader
   * takes a successful answer's text as it arrives.
   */
  get(path: string, signal: AbortSignal, relation?: Relation, reader?: BodyReader): Promise<GraphResponse>;
}

export interface GraphClientOptions {
  endpoint: string;
  timeoutMs: number;
  tokens: TokenSource;
  userAgent: string;
  dispatcher?: Dispatcher;
  maxBodyBytes?: number;
  /** Applied to every message before it is shortened, so a secret is never cut into an unrecognisable half. */
  redact?: (text: string) => string;
  /**
   * What to check after a 401 or 403, in the words the tenant was configured with
   * (src/config/credential-hint.ts); subject is what was refused ("the securityAlerts relation").
   */
  credentialHint?: (status: 401 | 403, subject: string) => string;
  now?: () => number;
}

/** Creates the client; every call has its own deadline covering the token and the whole body. */
export function createGraphClient(options: GraphClientOptions): GraphClient {
  const now = options.now ?? Date.now;
  const origin = new URL(options.endpoint).origin;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const redact = options.redact ?? ((text: string) => text);
  const describe = (error: unknown) => errorText(error, redact);

  return {
    async get(path, outer, relation, reader) {
      const url = new URL(path, `${options.endpoint}/`);
      // A nextLink is opaque but must stay on Graph: the bearer token goes wherever the URL points.
      if (url.origin !== origin) throw new GraphError('invalid_response', `refusing to send the token to ${url.origin}, which is not ${origin}`);
      const deadline = AbortSignal.timeout(options.timeoutMs);
      const signal = AbortSignal.any([outer, deadline]);
      const clientRequestId = randomUUID();
      const aborted = () =>
        deadline.aborted ? new GraphError('timeout', `no complete answer from Graph within ${options.timeoutMs} ms`, { clientRequestId }) : undefined;

      let token: string;
      try {
        token = (await options.tokens.get(signal)).token;
      } catch (error) {
        throw aborted() ?? new GraphError('token', `could not get a token: ${describe(error)}`);
      }

      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          method: 'GET',
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            'client-request-id': clientRequestId,
            'return-client-request-id': 'true',
            // Enum members Microsoft adds later (a new requirementType, alert status or severity)
            // arrive as themselves, not all as "unknownFutureValue".
            prefer: 'include-unknown-enum-members',
            'user-agent': options.userAgent,
          },
          signal,
          ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        });
      } catch (error) {
        if (isHeadTooLarge(error)) throw new GraphError('network', `Graph at ${url.origin} answered, but ${HEAD_TOO_LARGE}`, { clientRequestId });
        throw aborted() ?? new GraphError('network', `could not reach Graph at ${url.origin}: ${describe(error)}`, { clientRequestId });
      }

      const requestId = header(response.headers, 'request-id');
      const ids = { clientRequestId, ...(requestId === undefined ? {} : { requestId }) };
      const status = response.statusCode;
      const notJson = (contentType: string) =>
        contentType.length > MAX_CONTENT_TYPE_CHARS || !/^application\/([\w.+-]*\+)?json\b/i.test(contentType)
          ? new GraphError('invalid_response', `Graph answered ${status} with content type "${contentType || 'none'}", not JSON`, { status, ...ids })
          : undefined;

      if (status >= 200 && status < 300 && reader !== undefined) {
        // Read as it arrives: the answer is never whole, as bytes, text or objects.
        const refused = notJson(header(response.headers, 'content-type') ?? '');
        if (refused) {
          response.body.destroy();
          throw refused;
        }
        try {
          const bytes = await readInto(response.body, maxBodyBytes, reader);
          return { status, body: reader.end(), bytes, ...ids };
        } catch (error) {
          response.body.destroy();
          if (error instanceof GraphParseError) throw new GraphError('invalid_response', error.message, { status, ...ids });
          if (error instanceof JsonShapeError) throw new GraphError('invalid_response', `the answer from Graph is ${error.message}`, { status, ...ids });
          const broken = aborted() ?? (error instanceof GraphError ? error : new GraphError('network', `the answer from Graph broke off: ${describe(error)}`));
          throw withDetails(broken, { status, ...ids });
        }
      }

      let text: string | undefined;
      let bytes = 0;
      let bodyError: GraphError | undefined;
      try {
        ({ text, bytes } = await readBody(response.body, maxBodyBytes));
      } catch (error) {
        bodyError = aborted() ?? (error instanceof GraphError ? error : new GraphError('network', `the answer from Graph broke off: ${describe(error)}`));
      }

      if (status >= 200 && status < 300) {
        if (bodyError || text === undefined) throw withDetails(bodyError ?? new GraphError('invalid_response', 'empty body'), { status, ...ids });
        const refused = notJson(header(response.headers, 'content-type') ?? '');
        if (refused) throw refused;
        try {
          return { status, body: JSON.parse(text), bytes, ...ids };
        } catch (error) {
          throw new GraphError('invalid_response', `Graph answered ${status} with invalid JSON: ${describe(error)}`, { status, ...ids });
        }
      }
      // A rejected token is not reused: the next poll asks the credential for a fresh one.
      if (status === 401) options.tokens.invalidate();
      throw errorFromResponse(
        status,
        text,
        header(response.headers, 'retry-after'),
        header(response.headers, 'location'),
        ids,
        now(),
        redact,
        options.credentialHint,
        relation,
      );
    },
  };
}

function errorFromResponse(
  status: number,
  text: string | undefined,
  retryAfter: string | undefined,
  location: string | undefined,
  ids: { clientRequestId: string; requestId?: string },
  nowMs: number,
  redact: (text: string) => string,
  credentialHint: ((status: 401 | 403, subject: string) => string) | undefined,
  relation: Relation | undefined,
): GraphError {
  const graph = graphErrorBody(text);
  const requestId = ids.requestId ?? graph.requestId;
  const retryAfterMs = parseRetryAfter(retryAfter, nowMs);
  const details = {
    status,
    clientRequestId: ids.clientRequestId,
    ...(graph.code === undefined ? {} : { code: graph.code }),
    ...(requestId === undefined ? {} : { requestId }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
  const said = graph.message === undefined ? '' : `: ${truncate(redact(graph.message))}`;
  const codeText = graph.code === undefined ? '' : ` ${graph.code}`;
  const base = `Graph answered ${status}${codeText}${said}`;
  const subject = subjectOf(relation);
  if (status >= 300 && status < 400) {
    // Following a redirect would hand the bearer token to wherever it points.
    return new GraphError('http_error', `${base} (a redirect${location ? ` to ${safeOrigin(location)}` : ''}; not followed)`, details);
  }
  switch (status) {
    case 401:
      return new GraphError(
        'unauthorized',
        `${base}. ${credentialHint?.(401, subject) ?? 'The token was rejected: check AZURE_TENANT_ID, AZURE_CLIENT_ID and that the credential is current'}`,
        details,
      );
    case 403:
      // The permission is not what is missing when Graph says the token lacks MFA: that is its own reason.
      if (graph.codes.some(saysMfaMissing)) return new GraphError('mfa_required', `${base}. ${missingMfaHint(relation)}`, details);
      return new GraphError('forbidden', `${base}. ${credentialHint?.(403, subject) ?? forbiddenHint(relation)}`, details);
    case 404:
      return new GraphError('not_found', `${base}. ${notFoundHint(relation)}`, details);
    case 429:
      return new GraphError('throttled', `${base}. Throttled by Graph`, details);
    case 503:
    case 504:
      return new GraphError('unavailable', `${base}. Graph is unavailable`, details);
    default:
      return new GraphError('http_error', base, details);
  }
}

/** How deep inner errors (innerError.innerError...) are read for their code and request-id. */
const MAX_INNER_ERRORS = 4;

/** What an error body says: the outer code first, then those of its inner errors. */
interface GraphErrorBody {
  readonly code?: string;
  readonly codes: readonly string[];
  readonly message?: string;
  readonly requestId?: string;
}

/**
 * Graph's error body, {"error":{"code","message","innerError":{"request-id"}}}, read in any key
 * case: beta endpoints also answer {"Error":{"Code","Message"}} (msgraph-beta-sdk-dotnet issue
 * 1083), and innerError comes as innererror, InnerError and nested.
 */
function graphErrorBody(text: string | undefined): GraphErrorBody {
  const none: GraphErrorBody = { codes: [] };
  if (text === undefined) return none;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return none;
  }
  const error = member(parsed, 'error');
  if (!isRecord(error)) return none;
  const codes: string[] = [];
  let requestId: string | undefined;
  let level: unknown = error;
  for (let depth = 0; depth < MAX_INNER_ERRORS && isRecord(level); depth++) {
    const code = member(level, 'code');
    if (typeof code === 'string' && code.length <= 100 && /^[\w.-]{1,100}$/.test(code)) codes.push(code);
    const id = member(level, 'request-id') ?? member(level, 'requestId');
    if (requestId === undefined && typeof id === 'string') requestId = id;
    level = member(level, 'innerError') ?? member(level, 'inner_error');
  }
  const message = member(error, 'message');
  return {
    codes,
    ...(codes[0] === undefined ? {} : { code: codes[0] }),
    ...(typeof message === 'string' ? { message } : {}),
    ...(requestId === undefined ? {} : { requestId }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A property of a JSON object by name in any case: the exact spelling first, then the first other match. */
function member(value: unknown, name: string): unknown {
  if (!isRecord(value)) return undefined;
  if (Object.hasOwn(value, name)) return value[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(value)) if (key.toLowerCase() === lower) return value[key];
  return undefined;
}

/** Reads the body up to a cap and decodes it as strict UTF-8. */
async function readBody(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<{ text: string; bytes: number }> {
  let bytes: Buffer;
  try {
    bytes = await readCapped(body, maxBytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new GraphError('invalid_response', `the answer from Graph is larger than ${maxBytes} bytes`);
    throw error;
  }
  // Before JSON.parse ever sees it: a shape that would cost seconds or more heap than there is.
  const shape = jsonShapeProblem(bytes);
  if (shape !== undefined) throw new GraphError('invalid_response', `the answer from Graph is ${shape}`);
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), bytes: bytes.length };
  } catch {
    throw new GraphError('invalid_response', 'the answer from Graph is not valid UTF-8');
  }
}

/**
 * Reads the body up to the cap into a reader, decoded as strict UTF-8 piece by piece as it
 * arrives: the body is never one buffer, nor one string. Resolves with its size in bytes.
 */
async function readInto(body: Dispatcher.ResponseData['body'], maxBytes: number, reader: BodyReader): Promise<number> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let bytes = 0;
  const decode = (chunk?: Buffer) => {
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch {
      throw new GraphError('invalid_response', 'the answer from Graph is not valid UTF-8');
    }
  };
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    bytes += buffer.length;
    if (bytes > maxBytes) {
      body.destroy();
      throw new GraphError('invalid_response', `the answer from Graph is larger than ${maxBytes} bytes`);
    }
    const text = decode(buffer);
    if (text !== '') reader.write(text);
  }
  const rest = decode();
  if (rest !== '') reader.write(rest);
  return bytes;
}

function withDetails(error: GraphError, details: { status: number; clientRequestId: string; requestId?: string }): GraphError {
  return new GraphError(error.reason, error.message, { ...details, ...(error.code === undefined ? {} : { code: error.code }) });
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function safeOrigin(location: string): string {
  if (location.length > MAX_LOCATION_CHARS) return 'an overlong location';
  try {
    return new URL(location).origin;
  } catch {
    return 'an invalid location';
  }
}

/** Quoted text on one line, visible characters only, at most MAX_QUOTED_CHARS (redact it first). */
function truncate(text: string): string {
  return boundText(text, MAX_QUOTED_CHARS);
}
