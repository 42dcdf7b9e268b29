/**
 * The worker thread of basic-auth.ts: bcrypt (bcryptjs is pure JavaScript) runs here, one check at
 * a time, so a flood of wrong passwords never blocks the event loop that answers scrapes.
 */
import { randomBytes } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

/** A request from basic-auth.ts: compare, or prepare the dummy hashes of these costs. */
export type WorkerRequest =
  | { readonly id: number; readonly password: string; readonly hash?: string; readonly cost: number }
  | { readonly prepare: readonly number[] };
/** The answer to one comparison; `cost` is the cost of the hash bcrypt actually ran. */
export interface WorkerAnswer {
  readonly id: number;
  readonly ok: boolean;
  readonly cost: number;
}

// Hashes of random passwords, one per cost: an unknown user costs a bcrypt run of the same cost
// as a known one, so the time of an answer does not tell whether a user name exists.
const dummies = new Map<number, string>();
const dummy = (cost: number): string => {
  let hash = dummies.get(cost);
  if (hash === undefined) {
    hash = bcrypt.hashSync(randomBytes(18).toString('base64'), cost);
    dummies.set(cost, hash);
  }
  return hash;
};

parentPort?.on('message', (request: WorkerRequest) => {
  if ('prepare' in request) {
    for (const cost of dummies.keys()) if (!request.prepare.includes(cost)) dummies.delete(cost);
    for (const cost of request.prepare) dummy(cost);
    return;
  }
  const hash = request.hash ?? dummy(request.cost);
  const ok = bcrypt.compareSync(request.password, hash) && request.hash !== undefined;
  parentPort?.postMessage({ id: request.id, ok, cost: bcrypt.getRounds(hash) } satisfies WorkerAnswer);
});
