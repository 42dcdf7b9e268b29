/**
 * Every process a test starts is tracked here, so none outlives the suite: each is killed when its
 * test file ends (test/setup-children.ts, an afterAll of every integration and stack file) or, if
 * the test worker exits first, as it exits. Its pid and command also go to the file named by
 * PSS_TEST_PIDS (.ci/run sets it), which scripts/leftover-processes.mjs checks after the suite.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const live = new Set<ChildProcess>();

/** Tracks a process just started; returns it. */
export function track<T extends ChildProcess>(child: T): T {
  if (child.exitCode !== null || child.signalCode !== null) return child;
  live.add(child);
  child.once('exit', () => live.delete(child));
  const file = process.env.PSS_TEST_PIDS;
  if (file && child.pid !== undefined) appendFileSync(file, `${child.pid}\t${child.spawnfile}\n`);
  return child;
}

/** Kills one process (SIGKILL) and resolves once it has exited. */
export function killChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Kills every tracked process still running (the end of a test file). */
export async function killChildren(): Promise<void> {
  await Promise.all([...live].map(killChild));
}

/** How many tracked processes still run (for the test of this helper). */
export function liveChildren(): number {
  return live.size;
}

// The last resort, when a worker ends with children its hooks did not end: exit handlers must be synchronous.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
