/**
 * The bcrypt checker's bounds: no check runs a hash of a cost outside 4..14, unknown user names
 * cost a fixed cost within that range, a reload that keeps a user's hash keeps its verified
 * password, and the same credentials checked at the same time share one bcrypt run.
 */
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { createBasicAuth, MAX_BCRYPT_COST, MAX_PENDING_VERIFICATIONS, MIN_BCRYPT_COST } from '../../../src/web/basic-auth.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const HASH = bcrypt.hashSync('right', 4);
const OTHER = bcrypt.hashSync('other', 4);
/** A well-formed hash of another cost: never computed (a $2b$31$ run would take days), only carried. */
const withCost = (cost: number) => HASH.replace(/^\$2b\$04\$/, `$2b$${String(cost).padStart(2, '0')}$`);

describe('bcrypt costs', () => {
  it('are bounded to 4..14', () => {
    expect([MIN_BCRYPT_COST, MAX_BCRYPT_COST]).toEqual([4, 14]);
  });

  it('never runs a hash of a cost above the range, even when one was set directly, and checks unknown names at a cost within it', async () => {
    const auth = createBasicAuth();
    try {
      auth.setUsers({ slow: withCost(31), prometheus: HASH });
      expect(await auth.check(basic('slow', 'anything'))).toBe('unauthorized');
      expect(auth.stats()).toMatchObject({ verifications: 0, work: 0 });
      // The unknown name is compared at the highest allowed cost present (4), not at 31.
      expect(await auth.check(basic('nobody', 'anything'))).toBe('unauthorized');
      expect(auth.stats()).toMatchObject({ verifications: 1, work: 2 ** 4 });
      expect(await auth.check(basic('prometheus', 'right'))).toBe('ok');
    } finally {
      await auth.close();
    }
  });

  it('never runs a hash of a cost below the range either', async () => {
    const auth = createBasicAuth();
    try {
      auth.setUsers({ weak: withCost(3) });
      expect(await auth.check(basic('weak', 'right'))).toBe('unauthorized');
      expect(auth.stats().verifications).toBe(0);
    } finally {
      await auth.close();
    }
  });
});

describe('the verified credentials', () => {
  it('survive a reload that keeps the user and its hash, and are forgotten when the hash changes or the user goes', async () => {
    const auth = createBasicAuth();
    try {
      auth.setUsers({ prometheus: HASH, grafana: OTHER });
      expect(await auth.check(basic('prometheus', 'right'))).toBe('ok');
      expect(await auth.check(basic('grafana', 'other'))).toBe('ok');
      expect(auth.stats()).toMatchObject({ verifications: 2, cached: 2 });
      // The same users in a new object, as every reload makes them.
      auth.setUsers({ prometheus: HASH, grafana: OTHER });
      expect(await auth.check(basic('prometheus', 'right'))).toBe('ok');
      expect(auth.stats()).toMatchObject({ verifications: 2, cached: 2 });
      // grafana removed, prometheus given a new hash (of the same password): both forgotten.
      auth.setUsers({ prometheus: bcrypt.hashSync('right', 4) });
      expect(auth.stats().cached).toBe(0);
      expect(await auth.check(basic('prometheus', 'right'))).toBe('ok');
      expect(await auth.check(basic('grafana', 'other'))).toBe('unauthorized');
      expect(auth.stats().verifications).toBe(4);
    } finally {
      await auth.close();
    }
  });

  it('share one bcrypt run among concurrent checks of the same credentials, beyond the queue limit', async () => {
    const auth = createBasicAuth();
    try {
      auth.setUsers({ prometheus: HASH });
      const results = await Promise.all(Array.from({ length: MAX_PENDING_VERIFICATIONS * 2 }, () => auth.check(basic('prometheus', 'right'))));
      expect(new Set(results)).toEqual(new Set(['ok']));
      expect(auth.stats().verifications).toBe(1);
      // Wrong passwords too: one run for the same wrong pair.
      const wrong = await Promise.all(Array.from({ length: 5 }, () => auth.check(basic('prometheus', 'wrong'))));
      expect(new Set(wrong)).toEqual(new Set(['unauthorized']));
      expect(auth.stats().verifications).toBe(2);
    } finally {
      await auth.close();
    }
  });

  it('are not cached when a reload changed the hash while the check ran', async () => {
    const auth = createBasicAuth();
    try {
      auth.setUsers({ prometheus: HASH });
      const check = auth.check(basic('prometheus', 'right'));
      auth.setUsers({ prometheus: OTHER });
      expect(await check).toBe('ok');
      expect(auth.stats().cached).toBe(0);
    } finally {
      await auth.close();
    }
  });
});
