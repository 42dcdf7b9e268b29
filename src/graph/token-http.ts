/**
 * The HTTP client @azure/identity sends token requests through (its `httpClient` option): undici
 * on the dispatcher Graph requests use, so the same proxy, TLS and header bound apply, with the
 * Graph client's deadline and body cap. What went wrong is kept for the token source to tell:
 * MSAL replaces any network failure with a bare "network_error".
 */
import type { TokenCredentialOptions } from '@azure/identity';
import { type Dispatcher, request } from 'undici';
import { errorText } from '../lib/errors.js';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, HEAD_TOO_LARGE, isHeadTooLarge, readCapped } from './http.js';
import { jsonShapeProblem } from './json-shape.js';
import { describeProxy } from './proxy.js';

/** The client interface of @azure/core-rest-pipeline, as @azure/identity takes it. */
export type HttpClient = NonNullable<TokenCredentialOptions['httpClient']>;
type PipelineRequest = Parameters<HttpClient['sendRequest']>[0];
type PipelineResponse = Awaited<ReturnType<HttpClient['sendRequest']>>;
type HttpHeaders = PipelineResponse['headers'];

/**
 * Headers whose delay @azure/core-rest-pipeline waits out before retrying, unbounded. They are
 * dropped from token answers: a throttled token request fails the poll, whose backoff waits.
 */
const RETRY_DELAY_HEADERS = ['retry-after', 'retry-after-ms', 'x-ms-retry-after-ms'];

export interface TokenTransportOptions {
  readonly dispatcher: Dispatcher;
  /** Deadline of one request, answer included (--graph.timeout). */
  readonly timeoutMs: number;
  readonly maxBodyBytes?: number;
  /** What the endpoint is called in errors: "the authority", "the managed identity endpoint". */
  readonly endpointName: string;
  /** The environment the dispatcher took its proxy from, to say which proxy was used. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** One credential's way to its token endpoint. */
export interface TokenTransport {
  readonly httpClient: HttpClient;
  /** Why the last request failed, if it did and nothing was asked since (undefined otherwise); never a credential. */
  takeFailure(): string | undefined;
}

/** A transport whose requests each end within timeoutMs and read at most maxBodyBytes. */
export function createTokenTransport(options: TokenTransportOptions): TokenTransport {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let failure: string | undefined;
  const fail = (url: URL, why: string): Error => {
    failure = `${why} (${options.endpointName} at ${url.origin}, ${describeProxy(url, options.env)})`;
    return new Error(failure);
  };

  const sendRequest = async (pipelineRequest: PipelineRequest): Promise<PipelineResponse> => {
    // Only the last request's failure explains the credential's error: an earlier one MSAL got over
    // (instance discovery falls back to what it knows) must not take the place of what came after.
    failure = undefined;
    const url = new URL(pipelineRequest.url);
    const deadline = AbortSignal.timeout(options.timeoutMs);
    const signal = AbortSignal.any([deadline, ...callerSignal(pipelineRequest)]);
    const headers = pipelineRequest.headers.toJSON();
    // Asked for uncompressed: a compressed answer could unpack far beyond the cap.
    delete headers['accept-encoding'];
    const body = pipelineRequest.body;
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array))
      throw fail(url, 'a token request body that is neither text nor bytes');
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: pipelineRequest.method,
        headers,
        ...(body === undefined || body === null ? {} : { body }),
        signal,
        dispatcher: options.dispatcher,
      });
    } catch (error) {
      if (isHeadTooLarge(error)) throw fail(url, HEAD_TOO_LARGE);
      throw fail(url, deadline.aborted ? `no answer within ${options.timeoutMs} ms` : `cannot connect: ${errorText(error)}`);
    }
    let bytes: Buffer;
    try {
      bytes = await readCapped(response.body, maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw fail(url, `the answer is larger than ${maxBodyBytes} bytes`);
      throw fail(url, deadline.aborted ? `no complete answer within ${options.timeoutMs} ms` : `the answer broke off: ${errorText(error)}`);
    }
    // @azure/identity and MSAL parse every answer as JSON: its shape is bounded as Graph's is.
    const shape = jsonShapeProblem(bytes);
    if (shape !== undefined) throw fail(url, `the answer is ${shape}`);
    const text = bytes.toString('utf8');
    return { request: pipelineRequest, status: response.statusCode, headers: answerHeaders(response.headers), bodyAsText: text };
  };

  return {
    httpClient: { sendRequest },
    takeFailure() {
      const taken = failure;
      failure = undefined;
      return taken;
    },
  };
}

/** The pipeline's abort signal, when it is one AbortSignal.any can follow. */
function callerSignal(request: PipelineRequest): AbortSignal[] {
  return request.abortSignal instanceof AbortSignal ? [request.abortSignal] : [];
}

/** The answer's headers as the pipeline reads them (lower-case names), without the retry delays. */
function answerHeaders(raw: Record<string, string | string[] | undefined>): HttpHeaders {
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    const key = name.toLowerCase();
    if (value === undefined || RETRY_DELAY_HEADERS.includes(key)) continue;
    map.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const headers: HttpHeaders = {
    get: (name) => map.get(name.toLowerCase()),
    has: (name) => map.has(name.toLowerCase()),
    set: (name, value) => {
      map.set(name.toLowerCase(), String(value));
    },
    delete: (name) => {
      map.delete(name.toLowerCase());
    },
    toJSON: () => Object.fromEntries(map),
    [Symbol.iterator]: () => map.entries(),
  };
  return headers;
}
