/**
 * Basic auth against bcrypt hashes, off the event loop and bounded: bcrypt runs in one worker
 * thread behind a queue of at most MAX_PENDING_VERIFICATIONS; beyond it a request is told to come
 * back later (429) instead of waiting. Verified credentials are cached (and survive a reload that
 * keeps their hash), and checks of the same credentials at the same time share one bcrypt run, so
 * a scrape that already proved its password never waits behind a flood of wrong ones.
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
/**
 * The bcrypt costs a hash may have: what bcrypt users expect (htpasswd -B allows 4 to 17; 10 is
 * usual). One check at cost 14 takes about a second in bcryptjs; each step above doubles it, and a
 * cost of 31 would pin the worker for days. The web config refuses other costs.
 */
export const MIN_BCRYPT_COST = 4;
export const MAX_BCRYPT_COST = 14;
/** The cost of the comparison hash of an unknown user name when no user is configured. */
const DEFAULT_COST = 10;

export type AuthResult = 'ok' | 'unauthorized' | 'busy';

export interface BasicAuth {
  /** Checks an Authorization header against the current users. */
  check(header: string | undefined): Promise<AuthResult>;
  /** Replaces the users (load and reload); forgets the cached credentials of users whose hash changed or went. */
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
  let unknownCost = DEFAULT_COST;
  // Verified credentials by a digest of user, password and hash; the value says whose hash it was.
  const verified = new Map<string, { readonly user: string; readonly hash: string }>();
  // Checks in progress by the same digest: the same credentials at the same time share one run.
  const inFlight = new Map<string, Promise<AuthResult>>();
  const pending = new Map<number, { resolve: (a: WorkerAnswer) => void; reject: (e: Error) => void }>();
  let worker: Worker | undefined;
  let nextId = 0;
  let verifications = 0;
  let work = 0;

  const costs = () => [...new Set(Object.values(users).map(cost))].filter(allowedCost);
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
      // Never run a hash of a cost outside the range, whoever set it: one check must not cost more.
      if (hash !== undefined && !allowedCost(cost(hash))) return Promise.resolve('unauthorized');
      const key = createHash('sha256')
        .update(`${user}\0${password}\0${hash ?? ''}`)
        .digest('base64');
      const known = hash === undefined ? undefined : verified.get(key);
      if (known !== undefined) {
        verified.delete(key);
        verified.set(key, known);
        return Promise.resolve('ok');
      }
      const running = inFlight.get(key);
      if (running !== undefined) return running;
      if (pending.size >= maxPending) return Promise.resolve('busy');
      const id = nextId++;
      const result = new Promise<WorkerAnswer>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        start().postMessage({ id, password, cost: unknownCost, ...(hash === undefined ? {} : { hash }) } satisfies WorkerRequest);
      })
        .then((answer): AuthResult => {
          verifications++;
          work += 2 ** answer.cost;
          if (!answer.ok || hash === undefined) return 'unauthorized';
          // A reload while this was checked: cache only what still holds.
          if (users[user] === hash) {
            verified.set(key, { user, hash });
            if (verified.size > MAX_CACHED_CREDENTIALS) verified.delete(verified.keys().next().value as string);
          }
          return 'ok';
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, result);
      return result;
    },
    setUsers(next) {
      users = next;
      // A reload that keeps a user's hash keeps its verified password: a reload storm must not
      // send every scrape back to bcrypt (and into 429 once the queue is full).
      for (const [key, entry] of verified) if (!Object.hasOwn(users, entry.user) || users[entry.user] !== entry.hash) verified.delete(key);
      const all = costs();
      unknownCost = all.length > 0 ? Math.max(...all) : DEFAULT_COST;
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
export function cost(hash: string): number {
  return Number(hash.split('$')[2]);
}

function allowedCost(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_BCRYPT_COST && n <= MAX_BCRYPT_COST;
}
