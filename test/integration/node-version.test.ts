/**
 * On a Node.js older than the floor, every way of starting the exporter says so in one line and
 * exits non-zero: the bin (node dist/main.js), npm start and npm run demo (their pre-scripts), and
 * npm ci, the README's first command (its preinstall script). Old Node is simulated in a child
 * process, and run for real where the machine has one.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MIN_NODE_VERSION, nodeVersionProblem } from '../../src/cli/node-guard.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; scripts: Record<string, string> };
/** Makes the child believe it is an old Node.js before any of the exporter's modules run. */
const pretend = (version: string) => `--import=data:text/javascript,Object.defineProperty(process.versions,"node",{value:"${version}"})`;

function run(command: string, args: readonly string[]) {
  const result = spawnSync(command, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function expectOneClearLine(result: { code: number | null; stdout: string; stderr: string }, found: string): void {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`needs Node.js ${MIN_NODE_VERSION.replace(/\.0$/, '')}`);
  expect(lines[0]).toContain(`this is Node.js v${found}`);
  expect(lines[0]).toContain('npm install --prefix "$HOME/.cache/node24" node@24');
}

describe('the Node.js version floor', () => {
  it('is the one package.json states', () => {
    expect(PACKAGE.engines.node).toBe(`>=${MIN_NODE_VERSION.replace(/\.0$/, '')}`);
  });

  it.each([
    ['20.20.2', false],
    ['22.12.0', false],
    ['22.18.9', false],
    ['22.19.0', true],
    ['23.0.0', true],
    ['24.21.0', true],
  ])('Node.js %s can run it: %s', (version, ok) => {
    expect(nodeVersionProblem(version) === undefined).toBe(ok);
  });

  it.each([['--version'], ['--help'], ['--demo']])('node dist/main.js %s on an old Node.js: one line, exit 1', (flag) => {
    expectOneClearLine(run(process.execPath, [pretend('20.20.2'), 'dist/main.js', flag]), '20.20.2');
  });

  it('npm ci, npm start and npm run demo check first, with a script any Node.js can run', () => {
    expect(PACKAGE.scripts.preinstall).toBe('node scripts/check-node.mjs');
    expect(PACKAGE.scripts.prestart).toBe('node scripts/check-node.mjs');
    expect(PACKAGE.scripts.predemo).toBe('node scripts/check-node.mjs');
    expectOneClearLine(run(process.execPath, [pretend('22.18.0'), 'scripts/check-node.mjs']), '22.18.0');
    expect(run(process.execPath, ['scripts/check-node.mjs'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('npm is not told to stop at the engines check (engine-strict), which comes before any script', () => {
    // npm ci checks `engines` while it builds the tree and runs the preinstall script only after
    // installing it: with engine-strict, an old Node.js would only ever see npm's EBADENGINE error.
    expect(readFileSync(join(ROOT, '.npmrc'), 'utf8')).not.toMatch(/^\s*engine-strict\s*=\s*true\s*$/m);
  });

  const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find(
    (path) => existsSync(path) && nodeVersionProblem(execFileSync(path, ['--version'], { encoding: 'utf8' }).trim()) !== undefined,
  );
  it.skipIf(systemNode === undefined)(`a real old Node.js (${systemNode ?? 'none on this machine'}) gets the same line`, () => {
    const version = execFileSync(systemNode ?? '', ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^v/, '');
    expectOneClearLine(run(systemNode ?? '', ['dist/main.js', '--demo']), version);
    expectOneClearLine(run(systemNode ?? '', ['scripts/check-node.mjs']), version);
  });

  /** The npm that comes with the old Node.js (a Debian or nodejs.org layout), run by that Node.js. */
  const systemNpm =
    systemNode &&
    [join(dirname(systemNode), '../lib/node_modules/npm/bin/npm-cli.js'), '/usr/share/nodejs/npm/bin/npm-cli.js'].find((path) => existsSync(path));
  it.skipIf(systemNpm === undefined)(
    `npm ci, the first command of the README, on a real old Node.js (${systemNode ?? 'none'}) ends with the same line`,
    () => {
      const version = execFileSync(systemNode ?? '', ['--version'], { encoding: 'utf8' })
        .trim()
        .replace(/^v/, '');
      // A copy of what npm ci reads, outside the repository, so its node_modules stay untouched.
      const project = mkdtempSync(join(tmpdir(), 'pss-old-node-'));
      try {
        mkdirSync(join(project, 'scripts'));
        for (const file of ['package.json', 'package-lock.json', '.npmrc', 'scripts/check-node.mjs']) copyFileSync(join(ROOT, file), join(project, file));
        // From the npm cache the project's own `npm ci` filled (as production-layout.test.ts): no network.
        const result = spawnSync(systemNode ?? '', [systemNpm ?? '', 'ci', '--offline', '--no-audit', '--no-fund'], {
          cwd: project,
          // The old Node.js first on PATH, as on a machine that has only it: npm runs `node` from there.
          env: { PATH: `${dirname(systemNode ?? '')}:/usr/bin:/bin`, HOME: process.env.HOME ?? '', ...cacheEnv() },
          encoding: 'utf8',
          timeout: NPM_CI_TIMEOUT_MS,
        });
        expect(result.status, result.stderr).toBe(1);
        const ours = result.stderr.split('\n').filter((line) => line.includes('partner-security-score-exporter needs Node.js'));
        expect(ours, result.stderr).toHaveLength(1);
        expect(ours[0]).toContain(`needs Node.js ${MIN_NODE_VERSION.replace(/\.0$/, '')}`);
        expect(ours[0]).toContain(`this is Node.js v${version}`);
        expect(ours[0]).toContain('npm install --prefix "$HOME/.cache/node24" node@24');
        expect(result.stdout).toContain('> node scripts/check-node.mjs');
        // It stopped there: `prepare` (the build) never ran.
        expect(existsSync(join(project, 'dist'))).toBe(false);
      } finally {
        rmSync(project, { recursive: true, force: true });
      }
    },
    NPM_CI_TIMEOUT_MS + 30_000,
  );
});

/** npm ci installs every package from the cache before its preinstall script runs: seconds, more on a busy machine. */
const NPM_CI_TIMEOUT_MS = 180_000;

/** The npm cache the machine's npm uses, when the environment moved it. */
function cacheEnv(): Record<string, string> {
  const cache = process.env.npm_config_cache ?? process.env.NPM_CONFIG_CACHE;
  return cache ? { npm_config_cache: cache } : {};
}
