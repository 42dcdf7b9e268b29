/**
 * `npm run screenshot`: docs/status-page.png (light) and docs/status-page-dark.png of the status
 * page, as the README shows it. Builds dist/ when a source is newer, runs the demo exporter on
 * loopback, waits until the simulated partner has fixed a few requirements (the demo starts at
 * 20 points with a flat history; it reaches 60 about two minutes in), screenshots `/` in Debian's
 * Chromium with scripts off and every request outside the exporter refused, and stops the exporter.
 *
 * Options: --min-score=N (default 60; 0 takes the picture at once), --out=DIR (default docs).
 * Environment: CHROMIUM_PATH (default /usr/bin/chromium).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'dist', 'main.js');
/** The demo moves one step every 20 s; 60 points is six steps in. */
const WAIT_LIMIT_MS = 5 * 60_000;
const VIEWPORT = { width: 1280, height: 900 };

function option(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

function newestMtime(dir: string): number {
  return Math.max(...readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => statSync(join(dir, f)).mtimeMs));
}

function buildIfNeeded(): void {
  let built = 0;
  try {
    built = statSync(MAIN).mtimeMs;
  } catch {
    // not built yet
  }
  if (built >= Math.max(newestMtime(join(ROOT, 'src')), statSync(join(ROOT, 'package.json')).mtimeMs)) return;
  process.stderr.write('screenshot: building dist/\n');
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

/** Starts the demo exporter; resolves with its base URL once it logged "exporter started". */
function startDemo(): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, [MAIN, '--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json', '--poll.interval=1s'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      try {
        const record = JSON.parse(line) as { msg?: string; address?: string };
        if (record.msg === 'exporter started' && record.address) resolve({ child, base: `http://${record.address}` });
      } catch {
        // not a JSON log line
      }
    });
    child.once('exit', (code) => reject(new Error(`the demo exporter exited (${code}) before it started:\n${lines.join('\n')}`)));
  });
}

interface Status {
  tenants: { score: { current: number } | null; history: unknown[] | null; requirements: unknown[] | null }[];
}

async function waitForScore(base: string, minScore: number): Promise<number> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  let reported = -1;
  for (;;) {
    const status = (await (await fetch(`${base}/api/status`, { signal: AbortSignal.timeout(5000) })).json()) as Status;
    const tenant = status.tenants[0];
    const score = tenant?.score?.current;
    if (score !== undefined && tenant?.history?.length && tenant.requirements?.length) {
      if (score >= minScore) return score;
      if (score !== reported) process.stderr.write(`screenshot: the demo score is ${score}, waiting for ${minScore}\n`);
      reported = score;
    }
    if (Date.now() > deadline) throw new Error(`the demo score did not reach ${minScore} within ${WAIT_LIMIT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function screenshot(base: string, outDir: string): Promise<string[]> {
  const browser = await launchChromium();
  const written: string[] = [];
  try {
    for (const [scheme, file] of [
      ['light', 'status-page.png'],
      ['dark', 'status-page-dark.png'],
    ] as const) {
      const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: scheme, javaScriptEnabled: false });
      await context.route('**/*', (route) => (route.request().url().startsWith(`${base}/`) ? route.continue() : route.abort()));
      const page = await context.newPage();
      await page.goto(`${base}/`, { waitUntil: 'load' });
      const path = join(outDir, file);
      await page.screenshot({ path, fullPage: true });
      written.push(path);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return written;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function run(): Promise<void> {
  const minScore = Number(option('min-score', '60'));
  const outDir = resolve(ROOT, option('out', 'docs'));
  buildIfNeeded();
  mkdirSync(outDir, { recursive: true });
  const { child, base } = await startDemo();
  const interrupted = () => child.kill('SIGKILL');
  process.once('SIGINT', interrupted);
  try {
    const score = await waitForScore(base, minScore);
    for (const path of await screenshot(base, outDir)) process.stderr.write(`screenshot: wrote ${path} (demo score ${score})\n`);
  } finally {
    process.off('SIGINT', interrupted);
    await stop(child);
  }
}

await run();
