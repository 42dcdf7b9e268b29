/**
 * Basic auth under a flood of wrong passwords: bcrypt runs in a worker thread behind a bounded
 * queue (429 beyond it), /healthz and scrapes with verified credentials are answered before the
 * flood's bcrypt work drains, unknown user names cost the same bcrypt work as known ones, and the
 * credentials cache holds only verified passwords, within its bound.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createBasicAuth, MAX_CACHED_CREDENTIALS, MAX_PENDING_VERIFICATIONS } from '../../src/web/basic-auth.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, parseSamples, sampleValue, startExporter } from '../helpers/exporter.js';
import { closeFakeClouds, startFakeCloud } from '../helpers/fake-cloud.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

describe('the bcrypt checker', () => {
  it('costs the same bcrypt work for an unknown user name as for a known one, per configured cost', async () => {
    for (const cost of [4, 6]) {
      const auth = createBasicAuth();
      auth.setUsers({ prometheus: bcrypt.hashSync('right', cost) });
      try {
        expect(await auth.check(basic('prometheus', 'wrong'))).toBe('unauthorized');
        const known = auth.stats().work;
        expect(await auth.check(basic('nobody', 'wrong'))).toBe('unauthorized');
        const unknown = auth.stats().work - known;
        expect(known).toBe(2 ** cost);
        expect(unknown).toBe(known);
        expect(auth.stats().verifications).toBe(2);
      } finally {
        await auth.close();
      }
    }
  });

  it('refuses checks beyond the queue limit at once, and answers the queued ones', async () => {
    const auth = createBasicAuth();
    auth.setUsers({ prometheus: bcrypt.hashSync('right', 4) });
    try {
      const results = await Promise.all(Array.from({ length: MAX_PENDING_VERIFICATIONS + 5 }, (_, i) => auth.check(basic('prometheus', `wrong-${i}`))));
      expect(results.filter((r) => r === 'busy')).toHaveLength(5);
      expect(results.filter((r) => r === 'unauthorized')).toHaveLength(MAX_PENDING_VERIFICATIONS);
      expect(auth.stats().verifications).toBe(MAX_PENDING_VERIFICATIONS);
      // The queue drained: there is room again.
      expect(await auth.check(basic('prometheus', 'right'))).toBe('ok');
    } finally {
      await auth.close();
    }
  });

  it('caches only verified credentials, within its bound, and wrong passwords never push them out', async () => {
    const users: Record<string, string> = {};
    const hash = bcrypt.hashSync('right', 4);
    for (let i = 0; i < MAX_CACHED_CREDENTIALS + 20; i++) users[`user${i}`] = hash;
    const auth = createBasicAuth();
    auth.setUsers(users);
    try {
      for (let i = 0; i < MAX_CACHED_CREDENTIALS + 20; i++) expect(await auth.check(basic(`user${i}`, 'right'))).toBe('ok');
      expect(auth.stats().cached).toBe(MAX_CACHED_CREDENTIALS);
      const last = `user${MAX_CACHED_CREDENTIALS + 19}`;
      for (let i = 0; i < 3 * MAX_CACHED_CREDENTIALS; i += MAX_PENDING_VERIFICATIONS) {
        await Promise.all(Array.from({ length: MAX_PENDING_VERIFICATIONS }, (_, j) => auth.check(basic(last, `wrong-${i + j}`))));
      }
      expect(auth.stats().cached).toBe(MAX_CACHED_CREDENTIALS);
      const before = auth.stats().verifications;
      expect(await auth.check(basic(last, 'right'))).toBe('ok');
      expect(auth.stats().verifications).toBe(before);
    } finally {
      await auth.close();
    }
  });
});

interface Answer {
  status: number;
  retryAfter: string | undefined;
}

/** One GET on its own connection; `done` is set when the answer has arrived. */
function send(url: string, authorization?: string): { answer: Promise<Answer>; sent: Promise<void>; done: () => Answer | undefined } {
  let result: Answer | undefined;
  let sentResolve: () => void = () => {};
  const sent = new Promise<void>((resolve) => {
    sentResolve = resolve;
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: authorization ? { authorization } : {} }, (res) => {
      res.resume();
      res.on('end', () => {
        result = { status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] };
        resolve(result);
      });
    });
    req.on('error', reject);
    req.end(() => sentResolve());
  });
  return { answer, sent, done: () => result };
}

describe('the exporter under a flood of wrong passwords', () => {
  it(
    'answers /healthz and a scrape with verified credentials while the flood waits or gets 429 with Retry-After',
    async ({ onTestFinished }) => {
      const dir = mkdtempSync(join(tmpdir(), 'pss-basic-auth-'));
      const file = join(dir, 'web.yml');
      // A cost where one check fits in bcryptjs's 100 ms slice: on the event loop, a whole batch of
      // them would run before the next request is even read.
      writeFileSync(file, `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('s3cret-pass', 8)}\n`);
      const cloud = await startFakeCloud({ onTestFinished });
      const exporter = await startExporter({ cloud, onTestFinished, args: [`--web.config.file=${file}`, '--web.healthz-without-auth'] });
      const good = basic('prometheus', 's3cret-pass');
      expect((await send(`${exporter.url}/metrics`, good).answer).status).toBe(200);

      const flood = Array.from({ length: 50 }, (_, i) => send(`${exporter.url}/metrics`, basic('prometheus', `wrong-${i}`)));
      await Promise.all(flood.map((f) => f.sent));
      const [healthz, scrape] = await Promise.all([send(`${exporter.url}/healthz`).answer, send(`${exporter.url}/metrics`, good).answer]);
      const unanswered = flood.filter((f) => f.done() === undefined).length;
      const refused = flood.filter((f) => f.done()?.status === 429).length;
      expect(healthz.status).toBe(200);
      expect(scrape.status).toBe(200);
      // Causality, not time: when both were answered, the flood had not all been through bcrypt.
      expect(unanswered + refused).toBeGreaterThan(0);

      const answers = await Promise.all(flood.map((f) => f.answer));
      expect(answers.every((a) => a.status === 401 || a.status === 429)).toBe(true);
      const busy = answers.filter((a) => a.status === 429);
      expect(busy.length).toBeGreaterThan(0);
      expect(busy.every((a) => a.retryAfter === '1')).toBe(true);
      const res = await fetch(`${exporter.url}/metrics`, { headers: { authorization: good } });
      const samples = parseSamples(await res.text());
      expect(sampleValue(samples, 'partner_security_web_auth_rejected_total', { reason: 'queue_full' })).toBe(busy.length);
      expect(sampleValue(samples, 'partner_security_web_auth_rejected_total', { reason: 'unauthorized' })).toBe(50 - busy.length);
    },
    INTEGRATION_TIMEOUT_MS,
  );
});
