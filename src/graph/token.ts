/** One access token reused until shortly before it expires, plus the tenant it was issued for. */
import type { TokenCredential } from '@azure/identity';
import { type Clock, systemClock } from '../lib/clock.js';
import type { Redactor } from '../lib/log.js';

/** Renew this long before expiry when the credential gives no refresh hint. */
const RENEW_BEFORE_EXPIRY_MS = 5 * 60_000;
/**
 * Longest access token used: Entra ID's are one to a few kilobytes, and a longer one would not
 * fit the request headers Graph accepts. A longer one fails the poll as a token failure.
 */
export const MAX_ACCESS_TOKEN_CHARS = 32 * 1024;

export interface BearerToken {
  readonly token: string;
  /** The token's `tid` claim, when it is a JWT that has one. */
  readonly tenantId?: string;
}

export interface TokenSource {
  /** A valid token, from cache when it is fresh enough. Rejects with the credential's error. */
  get(signal: AbortSignal): Promise<BearerToken>;
  /** Forgets the cached token (after Graph answered 401). */
  invalidate(): void;
  /** The tenant the most recent token was issued for, if it said. */
  lastTenantId(): string | undefined;
}

export interface TokenSourceOptions {
  credential: TokenCredential;
  scope: string;
  redact: Redactor;
  /**
   * A new credential with an empty token cache, used after Graph rejected a token: MSAL keeps
   * handing out a cached token until it expires, and @azure/identity cannot clear that cache.
   */
  renewCredential?: () => TokenCredential;
  /**
   * Why the credential's last token request failed on the network, if it did (src/graph/token-http.ts):
   * MSAL reports every such failure as a bare "network_error".
   */
  takeTransportFailure?: () => string | undefined;
  /** When to renew is kept on the monotonic clock (default: the system's clocks). */
  clock?: Clock;
}

/** Wraps a credential so that one token serves every poll until it is due for renewal. */
export function createTokenSource(options: TokenSourceOptions): TokenSource {
  const clock = options.clock ?? systemClock;
  // renewAt is monotonic: a wall-clock step back must not keep a token past its expiry.
  let cached: { value: BearerToken; renewAt: number } | undefined;
  let credential = options.credential;
  let tenantId: string | undefined;
  // This source's own place in the redactor: its tokens never push a configured secret out.
  const rememberToken = options.redact.tokenSlot();
  return {
    async get(signal) {
      if (cached && clock.monoMs() < cached.renewAt) return cached.value;
      // Not every credential passes abortSignal on to its token request: race it, so that
      // --graph.timeout and shutdown are never held up by an authority that does not answer.
      options.takeTransportFailure?.();
      let access: Awaited<ReturnType<TokenCredential['getToken']>>;
      try {
        access = await abortable(credential.getToken(options.scope, { abortSignal: signal }), signal);
      } catch (error) {
        // MSAL's words for it say nothing of where or why: what the transport saw replaces them.
        const failure = options.takeTransportFailure?.();
        throw failure === undefined || signal.aborted ? error : new Error(failure);
      }
      if (!access) throw new Error('the credential returned no token');
      if (access.token.length > MAX_ACCESS_TOKEN_CHARS) throw new Error(`the access token is longer than ${MAX_ACCESS_TOKEN_CHARS} characters`);
      rememberToken(access.token);
      // The credential's times are on the wall clock (its own receipt time plus expires_in): what
      // counts is how far ahead of now they are.
      const renewAtWall = access.refreshAfterTimestamp ?? access.expiresOnTimestamp - RENEW_BEFORE_EXPIRY_MS;
      const renewAt = clock.monoMs() + (renewAtWall - clock.wallMs());
      tenantId = tenantOf(access.token) ?? tenantId;
      cached = { value: tenantId === undefined ? { token: access.token } : { token: access.token, tenantId }, renewAt };
      return cached.value;
    },
    invalidate() {
      cached = undefined;
      if (options.renewCredential) credential = options.renewCredential();
    },
    lastTenantId() {
      return tenantId;
    },
  };
}

/** Reads the `tid` claim of a JWT without verifying it (Graph verifies; we only label series). */
export function tenantOf(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (claims && typeof claims === 'object' && 'tid' in claims && typeof claims.tid === 'string' && /^[A-Za-z0-9.-]{1,254}$/.test(claims.tid))
      return claims.tid;
  } catch {
    // not a JWT: no tenant to learn
  }
  return undefined;
}

/** Settles with the promise, or rejects as soon as the signal aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
