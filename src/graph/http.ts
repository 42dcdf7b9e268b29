/**
 * What Graph and token requests share: one undici dispatcher (the proxy from the environment, a
 * bound on answer headers) and reading an answer's body up to a cap.
 */
import { type Dispatcher, EnvHttpProxyAgent } from 'undici';

/** Largest body read from Graph or from a token endpoint; a partner security score is a few kilobytes, a token answer two or three. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Largest head of an answer (status line and every header) read from Graph or a token endpoint;
 * a longer one fails the request as a network error before any header is looked at (Node's own
 * default, set here so that --max-http-header-size cannot raise it).
 */
export const MAX_HEADER_BYTES = 16 * 1024;

/** undici's code for an answer head over MAX_HEADER_BYTES. */
const HEADERS_OVERFLOW = 'UND_ERR_HEADERS_OVERFLOW';

/** True when a request failed because the answer's head was over MAX_HEADER_BYTES. */
export function isHeadTooLarge(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === HEADERS_OVERFLOW;
}

/** What an answer head over the bound is called in errors. */
export const HEAD_TOO_LARGE = `the head of the answer (status line and headers) is larger than ${MAX_HEADER_BYTES} bytes`;

/** The dispatcher every Graph and token request goes through: HTTPS_PROXY, HTTP_PROXY and NO_PROXY as undici reads them. */
export function createDispatcher(): EnvHttpProxyAgent {
  return new EnvHttpProxyAgent({ maxHeaderSize: MAX_HEADER_BYTES });
}

/** An answer whose body is over the cap; reading stopped there and the connection was closed. */
export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`larger than ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
  }
}

/** The body, at most maxBytes of it: one byte more destroys the stream and throws a BodyTooLargeError. */
export async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) {
      body.destroy();
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
