/**
 * Basic auth against bcrypt hashes, off the event loop and bounded: bcrypt runs in one worker
 * thread behind a queue of at most MAX_PENDING_VERIFICATIONS; beyond it a request is told to come
 * back later (429) instead of waiting. Verified credentials are cached, so a scrape that already
 * proved its password never waits behind a flood of wrong ones.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { WorkerAnswer, WorkerRequest } from './basic-auth-worker.js';

/**
 * bcrypt checks waiting for or running in the worker. A scraper with a cached password never
 * queues; only new credentials do (a restart, a rotation), a handful at a time. At cost 10 a check
 * takes 50-100 ms, so the last in the queue waits a second or two at most.
 */
export const MAX_PENDING_VERIFICATIONS = 16;
/**
 * Verified credentials kept (least recently used goes first). Only correct passwords are cached,
 * so wrong ones cannot grow it or push a good one out; one entry per user is the normal case.
 */
export const MAX_CACHED_CREDENTIALS = 100;
/** Seconds a client refused because the queue is full is asked to wait. */
export const RETRY_AFTER_SECONDS = 1;

export type AuthResult = 'ok' | 'unauthorized' | 'busy';

export interface BasicAuth {
  /** Checks an Authorization header against the current users. */
  check(header: string | undefined): Promise<AuthResult>;
  /** Replaces the users (load and reload); forgets cached credentials. */
  setUsers(users: Readonly<Record<string, string>>): void;
  /** bcrypt runs so far and their work (the sum of 2^cost), to show that unknown users cost the same. */
  stats(): { readonly verifications: number; readonly work: number; readonly cached: number };
  close(): Promise<void>;
}

// Vitest runs the TypeScript sources (Node strips the worker's types); users run dist/*.js.
const WORKER_FILE = new URL(import.meta.url.endsWith('.ts') ? './basic-auth-worker.ts' : './basic-auth-worker.js', import.meta.url);
const HEADER = /^Basic ([A-Za-z0-9+/]+={0,2})$/i;

/** Creates the checker; the worker thread starts with the first check that needs it. */
export function createBasicAuth(options: { onWarning?: (msg: string) => void; maxPending?: number } = {}): BasicAuth {
  const maxPending = options.maxPending ?? MAX_PENDING_VERIFICATIONS;
  let users: Readonly<Record<string, string>> = {};
  let unknownCost = 10;
  const verified = new Map<string, true>();
  const pending = new Map<number, { resolve: (a: WorkerAnswer) => void; reject: (e: Error) => void }>();
  let worker: Worker | undefined;
  let nextId = 0;
  let verifications = 0;
  let work = 0;

  const costs = () => [...new Set(Object.values(users).map(cost))];
  const start = (): Worker => {
    if (worker) return worker;
    const w = new Worker(WORKER_FILE);
    // The worker must not keep a stopping exporter alive.
    w.unref();
    w.on('message', (answer: WorkerAnswer) => {
      const entry = pending.get(answer.id);
      pending.delete(answer.id);
      entry?.resolve(answer);
    });
    const fail = (error: Error) => {
      if (worker === w) worker = undefined;
      for (const entry of pending.values()) entry.reject(error);
      pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the bcrypt worker exited (${code})`)));
    w.postMessage({ prepare: costs() } satisfies WorkerRequest);
    worker = w;
    return w;
  };

  return {
    check(header) {
      const match = HEADER.exec((header ?? '').trim());
      if (!match?.[1]) return Promise.resolve('unauthorized');
      const decoded = Buffer.from(match[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return Promise.resolve('unauthorized');
      const user = decoded.slice(0, colon);
      const password = decoded.slice(colon + 1);
      const hash = Object.hasOwn(users, user) ? users[user] : undefined;
      const key = createHash('sha256')
        .update(`${user}\0${password}\0${hash ?? ''}`)
        .digest('base64');
      if (hash !== undefined && verified.has(key)) {
        verified.delete(key);
        verified.set(key, true);
        return Promise.resolve('ok');
      }
      if (pending.size >= maxPending) return Promise.resolve('busy');
      const id = nextId++;
      const current = users;
      return new Promise<WorkerAnswer>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        start().postMessage({ id, password, cost: unknownCost, ...(hash === undefined ? {} : { hash }) } satisfies WorkerRequest);
      }).then((answer) => {
        verifications++;
        work += 2 ** answer.cost;
        if (!answer.ok) return 'unauthorized';
        // A reload while this was checked: the hash may be gone; cache only what still holds.
        if (current === users) {
          verified.set(key, true);
          if (verified.size > MAX_CACHED_CREDENTIALS) verified.delete(verified.keys().next().value as string);
        }
        return 'ok';
      });
    },
    setUsers(next) {
      users = next;
      verified.clear();
      const all = costs();
      unknownCost = all.length > 0 ? Math.max(...all) : 10;
      if (all.length > 1)
        options.onWarning?.(
          `basic_auth_users hashes use different bcrypt costs (${all.sort((a, b) => a - b).join(', ')}): the time of an answer tells which cost a user name has; use one cost`,
        );
      worker?.postMessage({ prepare: all } satisfies WorkerRequest);
    },
    stats: () => ({ verifications, work, cached: verified.size }),
    async close() {
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}

/** The cost of a bcrypt hash ($2b$10$... -> 10). */
function cost(hash: string): number {
  return Number(hash.split('$')[2]);
}
