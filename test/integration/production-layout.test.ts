/**
 * The container image's layout without a container engine: dist/ compiled by tsc, package.json and
 * only the production dependencies (npm ci --omit=dev), run with plain node. A module needed at run
 * time but listed only in devDependencies fails here. The Dockerfile checks below keep the image's
 * final stage copying exactly this layout.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shippedStart } from '../../scripts/bench/lib.js';
import { DEFAULT_PORT } from '../../src/config/flags.js';
import { track } from '../helpers/children.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };
const VERSION = PACKAGE.version;
const PACKAGE_SCRIPTS = PACKAGE.scripts;
/** npm ci from the cache takes seconds; a slow disk gets room. */
const INSTALL_TIMEOUT_MS = 120_000;
/** What the container sees: no developer PSS_* or AZURE_* variables, no NODE_PATH or NODE_OPTIONS. */
const RUNTIME_ENV = { PATH: process.env.PATH ?? '', NODE_ENV: 'production' };

describe('production layout (what the Dockerfile ships)', () => {
  // Under the OS temp dir, outside the repository: module resolution cannot fall back to the
  // repository's node_modules and its devDependencies.
  let app = '';
  let exporter: ChildProcess | undefined;

  beforeAll(async () => {
    app = mkdtempSync(join(tmpdir(), 'pss-production-'));
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], { cwd: ROOT });
    for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, file), join(app, file));
    // From the npm cache the project's own `npm ci` filled: tests reach no network (and vitest.config.ts
    // swaps the machine's extra CA bundle for the fake cloud's, so registry TLS would fail and retry for minutes).
    const install = ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--offline'];
    await run('npm', install, { cwd: app, timeout: INSTALL_TIMEOUT_MS });
  }, INSTALL_TIMEOUT_MS + 60_000);

  afterAll(() => {
    exporter?.kill('SIGKILL');
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('installs every dependency and no devDependency', () => {
    // Otherwise the runs below would prove nothing (an npm_config_include=dev in the environment, say).
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    const installed = (name: string) => existsSync(join(app, 'node_modules', name, 'package.json'));
    expect(Object.keys(pkg.dependencies ?? {}).filter((name) => !installed(name))).toEqual([]);
    expect(Object.keys(pkg.devDependencies ?? {}).filter(installed)).toEqual([]);
  });

  it('prints its version', async () => {
    const { stdout } = await run(process.execPath, ['dist/main.js', '--version'], { cwd: app, env: RUNTIME_ENV });
    expect(stdout).toContain(`partner-security-score-exporter ${VERSION} `);
  });

  it('serves the demo tenant and stops cleanly on SIGTERM', async () => {
    const child = track(
      spawn(process.execPath, ['dist/main.js', '--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json'], {
        cwd: app,
        env: RUNTIME_ENV,
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    exporter = child;
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const logs: string[] = [];
    const started = new Promise<string>((resolveAddress, reject) => {
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
        logs.push(line);
        const record = parseJson(line);
        if (record?.msg === 'exporter started' && typeof record.address === 'string') resolveAddress(record.address);
      });
      child.once('exit', (code) => reject(new Error(`exporter exited with ${code} before it started:\n${logs.join('\n')}`)));
    });
    const base = `http://${await started}`;

    await waitForReady(`${base}/readyz`);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^partner_security_score_current\{tenant_id="demo"\} \d/m);
    expect(metrics).toMatch(/^partner_security_up\{tenant_id="demo"\} 1$/m);

    child.kill('SIGTERM');
    const [code, signal] = await exited;
    expect({ code, signal }, logs.join('\n')).toEqual({ code: 0, signal: null });
    exporter = undefined;
  });
});

describe('Dockerfile', () => {
  const stages = parseStages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const final = stages.at(-1) ?? { name: undefined, instructions: [] };
  const args = (keyword: string) => final.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

  it('copies only package.json, dist and production node_modules from earlier stages into the final one', () => {
    const copies = args('COPY').map((line) => {
      const from = /--from=(\S+)/.exec(line)?.[1];
      const [source = ''] = line.replace(/--\S+/g, '').trim().split(/\s+/);
      return { from, source: source.replace(/^\/app\//, '').replace(/\/$/, '') };
    });
    expect(copies.map((c) => c.source).sort()).toEqual(['dist', 'node_modules', 'package.json']);
    const earlier = stages.slice(0, -1).map((s) => s.name);
    for (const copy of copies) expect(earlier).toContain(copy.from);
    // node_modules must come from the stage that installs what this test installs.
    const deps = stages.find((s) => s.name === copies.find((c) => c.source === 'node_modules')?.from);
    expect(deps?.instructions.find((i) => i.keyword === 'RUN')?.args).toMatch(/npm ci --omit=dev --ignore-scripts/);
  });

  it('runs no install script of any dependency: every npm ci has --ignore-scripts, and the build stage builds dist/ itself', () => {
    const runs = stages.flatMap((stage) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => ({ stage: stage.name, args: i.args })));
    const installs = runs.filter((r) => /\bnpm (ci|install|i)\b/.test(r.args));
    expect(installs.map((r) => r.stage)).toEqual(['build', 'prod-deps']);
    for (const install of installs) expect(install.args).toMatch(/\bnpm ci\b.* --ignore-scripts\b/);
    // Without `prepare` run by npm ci, the build stage compiles dist/ with npm run build, after installing.
    const build =
      stages
        .find((s) => s.name === 'build')
        ?.instructions.filter((i) => i.keyword === 'RUN')
        .map((i) => i.args) ?? [];
    const buildIndex = build.findIndex((args) => /\bnpm run build\b/.test(args));
    expect(buildIndex).toBeGreaterThan(build.findIndex((args) => /\bnpm ci\b/.test(args)));
    expect(build[buildIndex]).toMatch(/^REVISION=\$\{REVISION\} npm run build$/);
  });

  it('runs the Node.js check of the preinstall script (which npm ci --ignore-scripts skips) before installing, from the build context', () => {
    const script = /node (\S+)/.exec(PACKAGE_SCRIPTS.preinstall ?? '')?.[1] ?? '';
    expect(script).toBe('scripts/check-node.mjs');
    const build = stages.find((s) => s.name === 'build');
    const install = build?.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args)) ?? -1;
    const copy = build?.instructions.findIndex((i) => i.keyword === 'COPY' && i.args.split(' ').includes(script)) ?? -1;
    expect(install).toBeGreaterThan(-1);
    expect(build?.instructions[install]?.args).toContain(`node ${script} && npm ci --ignore-scripts`);
    expect(copy).toBeGreaterThan(-1);
    expect(copy).toBeLessThan(install);
    expect(dockerIgnored(readFileSync(join(ROOT, '.dockerignore'), 'utf8'), script)).toBe(false);
    expect(dockerIgnored(readFileSync(join(ROOT, '.dockerignore'), 'utf8'), 'scripts/bench.ts')).toBe(true);
  });

  it('runs as a fixed non-root UID, exposes the default port and checks its health', () => {
    const [user = ''] = args('USER');
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(args('EXPOSE')).toEqual([String(DEFAULT_PORT)]);
    expect(args('HEALTHCHECK')[0]).toMatch(/CMD \[".*node", "\/app\/dist\/web\/healthcheck\.js"\]$/);
    expect(args('ENTRYPOINT')[0]).toMatch(/dist\/main\.js"\]$/);
  });

  it('runs node as npm start does: the same flags and the same environment (glibc malloc settings)', () => {
    const start = shippedStart(join(ROOT, 'package.json'));
    const entrypoint = JSON.parse(args('ENTRYPOINT')[0] ?? '[]') as string[];
    expect(entrypoint.filter((word) => word.startsWith('--'))).toEqual(start.flags);
    expect(start.env).toEqual({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' });
    const env = args('ENV').join(' ');
    for (const [name, value] of Object.entries(start.env)) expect(env).toMatch(new RegExp(`(^|\\s)${name}=${value}(\\s|$)`));
  });
});

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

async function waitForReady(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = 'no response';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (error) {
      last = String(error);
    }
    // Demo mode polls at start-up; readiness follows within milliseconds.
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} not ready after 20s: ${last}`);
}

interface Stage {
  name: string | undefined;
  instructions: { keyword: string; args: string }[];
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
function parseStages(text: string): Stage[] {
  const lines = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n');
  const stages: Stage[] = [];
  for (const line of lines) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const keyword = (match[1] ?? '').toUpperCase();
    const args = (match[2] ?? '').trim().replace(/\s+/g, ' ');
    if (keyword === 'FROM') stages.push({ name: /\bAS\s+(\S+)$/i.exec(args)?.[1], instructions: [] });
    else stages.at(-1)?.instructions.push({ keyword, args });
  }
  return stages;
}

/**
 * Whether .dockerignore keeps a path (from the context root) out of the build context: the last
 * pattern that matches it decides, `!` patterns let it back in. Patterns match the path or a folder
 * above it; `*` and `?` stay within one path segment, `**` spans any number.
 */
function dockerIgnored(dockerignore: string, path: string): boolean {
  let ignored = false;
  for (const raw of dockerignore.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    // `**/` any folders (none included), `**` anything, `*` and `?` within one segment, the rest literally.
    const source = [...pattern.matchAll(/\*\*\/|\*\*|\*|\?|[^*?]+/g)]
      .map(([token]) => {
        if (token === '**/') return '(?:.*/)?';
        if (token === '**') return '.*';
        if (token === '*') return '[^/]*';
        if (token === '?') return '[^/]';
        return token.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
    if (new RegExp(`^${source}(?:/.*)?$`).test(path)) ignored = !negated;
  }
  return ignored;
}
