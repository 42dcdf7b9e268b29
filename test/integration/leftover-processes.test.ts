/**
 * No process started by the suite may outlive it: .ci/run notes the processes running before
 * `npm test` and, after it, names, kills and fails on any newcomer that works in the checkout or
 * that a test helper recorded (scripts/leftover-processes.mjs). Each test here plays a checkout of
 * its own (a temporary directory), so the checks never touch anything else on the machine.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { track } from '../helpers/children.js';
import { INTEGRATION_TIMEOUT_MS } from '../helpers/exporter.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/leftover-processes.mjs');

function script(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { timeout: 20_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

/** A process that runs until killed, in cwd, with a marker on its command line. */
async function idle(cwd: string, marker: string): Promise<ChildProcess> {
  const child = track(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { cwd, stdio: 'ignore' }));
  await once(child, 'spawn');
  return child;
}

const tempDir = (prefix: string) => realpathSync(mkdtempSync(join(tmpdir(), prefix)));

describe('scripts/leftover-processes.mjs', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('names and kills a process started after the snapshot that works in the checkout, and exits 1', async () => {
    const checkout = tempDir('pss-checkout-');
    const before = join(tempDir('pss-before-'), 'before');
    expect((await script(['snapshot', before])).code).toBe(0);
    const left = await idle(checkout, 'left-behind-by-a-test');
    const exited = once(left, 'exit');

    const result = await script(['check', before, `--root=${checkout}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`leftover process ${left.pid} (working in ${checkout}): ${process.execPath} -e setInterval`);
    expect(result.stderr).toContain('left-behind-by-a-test');
    expect(result.stderr).toContain('1 process(es) started by the tests outlived them');
    expect(await exited).toEqual([null, 'SIGKILL']);
  });

  it('names a process whose pid a test helper recorded, wherever it works', async () => {
    const checkout = tempDir('pss-checkout-');
    const dir = tempDir('pss-before-');
    const before = join(dir, 'before');
    await script(['snapshot', before]);
    const left = await idle(tmpdir(), 'recorded-by-a-helper');
    const pids = join(dir, 'pids');
    writeFileSync(pids, `${left.pid}\t${process.execPath}\n`);

    const result = await script(['check', before, pids, `--root=${checkout}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`leftover process ${left.pid} `);
    expect(result.stderr).toContain('recorded-by-a-helper');
  });

  it('passes when nothing new is left: what ran before the snapshot and what works elsewhere are no concern of it', async () => {
    const checkout = tempDir('pss-checkout-');
    const before = join(tempDir('pss-before-'), 'before');
    const older = await idle(checkout, 'running-before-the-tests');
    await script(['snapshot', before]);
    const elsewhere = await idle(tmpdir(), 'another-checkout');

    const result = await script(['check', before, `--root=${checkout}`]);
    expect(result).toEqual({ code: 0, stderr: '' });
    expect(older.exitCode === null && older.signalCode === null).toBe(true);
    expect(elsewhere.exitCode === null && elsewhere.signalCode === null).toBe(true);
  });

  it('is what .ci/run does around npm test, and what fails the run', () => {
    const run = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    const snapshot = run.indexOf('node scripts/leftover-processes.mjs snapshot "$processes_before"');
    const test = run.indexOf('\nnpm test || status=$?');
    const check = run.indexOf('if ! node scripts/leftover-processes.mjs check "$processes_before" "$PSS_TEST_PIDS"; then');
    expect(snapshot).toBeGreaterThan(0);
    expect(test).toBeGreaterThan(snapshot);
    expect(check).toBeGreaterThan(test);
    expect(run.slice(check)).toMatch(/^\s+\[ "\$status" -ne 0 \] \|\| status=1$/m);
    expect(run).toContain('export PSS_TEST_PIDS');
  });
});
