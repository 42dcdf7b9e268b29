/**
 * Signals: SIGUSR1 never opens the Node.js inspector (code execution next to the secrets) however
 * the exporter is started, and SIGHUP re-reads the web config instead of killing the process. Each
 * way of starting it is taken from the file that defines it: package.json's start script, the
 * Dockerfile's ENTRYPOINT (which the Kubernetes manifests run), and the bin itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { track } from '../helpers/children.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, type LogRecord, until } from '../helpers/exporter.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEMO_ARGS = ['--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json'];
// Port 0: an inspector that opens anyway says where on standard error, and never collides.
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_OPTIONS: '--inspect-port=0' };
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await killExporters();
});

interface Running {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly logs: () => LogRecord[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(command: string, args: readonly string[]): Running {
  const child = track(spawn(command, args, { cwd: ROOT, env: ENV, stdio: ['ignore', 'ignore', 'pipe'] }));
  children.push(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const logs = () =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogRecord);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stderr: () => stderr, logs, exit };
}

/** The command lines that start the exporter, from the files users run it by. */
function waysToStart(): Record<string, [string, string[]]> {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
    .split(/\s+/)
    // The environment it sets (MALLOC_ARENA_MAX) has no bearing on signals.
    .filter((word) => !/^[A-Z_]+=/.test(word));
  const entrypointLine = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '));
  const entrypoint = JSON.parse((entrypointLine ?? 'ENTRYPOINT []').slice('ENTRYPOINT '.length)) as string[];
  const local = (word: string) => (word === 'node' || word === '/nodejs/bin/node' ? process.execPath : word.replace(/^\/app\//, ''));
  return {
    'npm start (package.json)': [local(start[0] ?? ''), start.slice(1).map(local)],
    'the Docker image (ENTRYPOINT, also what Kubernetes runs)': [local(entrypoint[0] ?? ''), entrypoint.slice(1).map(local)],
    'node dist/main.js, without any flag': [process.execPath, ['dist/main.js']],
  };
}

async function started(exporter: Running): Promise<void> {
  await until(() => exporter.logs().some((l) => l.msg === 'exporter started'), 20_000, 'exporter started');
}

describe('SIGUSR1 never opens the inspector', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('a Node process without the guard does open it here (the check below can fail)', async () => {
    // The script says when node has finished its own start-up (and installed its SIGUSR1 handling).
    const control = run(process.execPath, ['-e', 'setInterval(() => {}, 1000); console.error("ready")']);
    await until(() => control.stderr().includes('ready'), 10_000, 'node to start');
    control.child.kill('SIGUSR1');
    await until(() => control.stderr().includes('Debugger listening on ws://'), 10_000, 'the inspector to open');
  });

  for (const [way, [command, args]] of Object.entries(waysToStart())) {
    it(`started as ${way}`, async () => {
      const exporter = run(command, [...args, ...DEMO_ARGS]);
      await started(exporter);
      for (let i = 0; i < 3; i++) exporter.child.kill('SIGUSR1');
      if (args.includes('--disable-sigusr1')) {
        // Node itself drops the signal: nothing is logged, so no event can end the wait. A bounded
        // negative window: the control above opens its inspector well within this second.
        await new Promise((resolve) => setTimeout(resolve, 1000));
      } else {
        // Without the flag the guard's listener takes the signal: one line, not one per signal.
        await until(() => exporter.logs().some((l) => l.msg?.startsWith('SIGUSR1 ignored')), 10_000, 'the SIGUSR1 log line');
        exporter.child.kill('SIGUSR1');
        // A bounded negative window (a second line must NOT come): the first came within it.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(exporter.logs().filter((l) => l.msg?.startsWith('SIGUSR1 ignored'))).toHaveLength(1);
      }
      expect(exporter.stderr()).not.toContain('Debugger listening');
      expect(exporter.child.exitCode).toBeNull();
      exporter.child.kill('SIGTERM');
      expect(await exporter.exit).toEqual({ code: 0, signal: null });
    });
  }

  it('the Kubernetes manifests run the image ENTRYPOINT (no command of their own)', () => {
    const deployment = parse(readFileSync(join(ROOT, 'deploy/kubernetes/base/deployment.yaml'), 'utf8')) as {
      spec: { template: { spec: { containers: { command?: unknown }[] } } };
    };
    for (const container of deployment.spec.template.spec.containers) expect(container.command).toBeUndefined();
  });

  it('the bin (plain node, so an old Node.js can still say what it needs) loads the guard before any other module', () => {
    const imports = readFileSync(join(ROOT, 'src/main.ts'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('import '));
    expect(imports.slice(0, 2)).toEqual(["import './cli/node-guard.js';", "import './cli/signal-guard.js';"]);
    // The node guard imports nothing, so nothing runs before the signal guard but the version check.
    expect(readFileSync(join(ROOT, 'src/cli/node-guard.ts'), 'utf8')).not.toMatch(/^import /m);
  });
});

describe('SIGHUP', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('does not kill the exporter; it says what it re-reads and keeps serving', async () => {
    const exporter = run(process.execPath, ['dist/main.js', ...DEMO_ARGS]);
    await started(exporter);
    exporter.child.kill('SIGHUP');
    await until(() => exporter.logs().some((l) => l.msg?.startsWith('SIGHUP')), 10_000, 'the SIGHUP log line');
    const address = exporter.logs().find((l) => l.msg === 'exporter started')?.address;
    const health = await fetch(`http://${String(address)}/healthz`);
    expect(health.status).toBe(200);
    exporter.child.kill('SIGTERM');
    expect(await exporter.exit).toEqual({ code: 0, signal: null });
  });

  it('re-reads the web config file at once, even when no file changed (the file watch reloads only on a change)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pss-sighup-'));
    const file = join(dir, 'web.yml');
    const write = (hash: string) => writeFileSync(file, `basic_auth_users:\n  prometheus: ${hash}\n`);
    write(bcrypt.hashSync('first-pass', 4));
    const exporter = run(process.execPath, ['dist/main.js', ...DEMO_ARGS, `--web.config.file=${file}`]);
    await started(exporter);
    const address = String(exporter.logs().find((l) => l.msg === 'exporter started')?.address);
    const status = async (password: string) =>
      (await fetch(`http://${address}/healthz`, { headers: { authorization: `Basic ${Buffer.from(`prometheus:${password}`).toString('base64')}` } })).status;
    expect(await status('first-pass')).toBe(200);
    const reloads = () => exporter.logs().filter((l) => l.msg === 'web config reloaded').length;
    expect(reloads()).toBe(0);
    // Nothing changed: the watch has nothing to see, so only SIGHUP can produce this reload.
    exporter.child.kill('SIGHUP');
    await until(() => reloads() === 1, 10_000, 'the reload SIGHUP forces');
    expect(exporter.logs().some((l) => String(l.msg).startsWith('SIGHUP received: re-reading'))).toBe(true);
    // And a changed file is in force once SIGHUP's reload is logged.
    write(bcrypt.hashSync('other-pass', 4));
    exporter.child.kill('SIGHUP');
    await until(() => reloads() >= 2, 10_000, 'the second reload');
    expect(await status('other-pass')).toBe(200);
    expect(await status('first-pass')).toBe(401);
  });
});
