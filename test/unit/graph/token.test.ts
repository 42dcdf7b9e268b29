import type { AccessToken, TokenCredential } from '@azure/identity';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTokenSource } from '../../../src/graph/token.js';
import { createRedactor } from '../../../src/lib/log.js';

/** A credential that issues a new one-hour token on every call, as Entra ID does (expiresOn from its own clock at receipt). */
function hourTokens() {
  let issued = 0;
  const credential: TokenCredential = {
    getToken: async (): Promise<AccessToken> => {
      issued += 1;
      return { token: `token-${issued}`, expiresOnTimestamp: Date.now() + 3600_000, tokenType: 'Bearer' };
    },
  };
  return { credential, issued: () => issued };
}

describe('token source', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-29T12:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('renews five minutes before expiry by the time that passed, whatever the wall clock does', async () => {
    for (const stepMs of [-3600_000, 3600_000]) {
      const { credential, issued } = hourTokens();
      const tokens = createTokenSource({ credential, scope: 's', redact: createRedactor() });
      const signal = new AbortController().signal;
      expect((await tokens.get(signal)).token).toBe('token-1');
      // The wall clock steps by an hour; timers and the monotonic clock do not.
      vi.setSystemTime(Date.now() + stepMs);
      await vi.advanceTimersByTimeAsync(54 * 60_000);
      expect((await tokens.get(signal)).token).toBe('token-1');
      await vi.advanceTimersByTimeAsync(60_000);
      expect((await tokens.get(signal)).token).toBe('token-2');
      expect(issued()).toBe(2);
    }
  });
});
