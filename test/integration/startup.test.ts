/**
 * Start-up pays only for what it uses: demo mode and --version never load @azure/identity (about
 * 0.4 s and 37 MiB, BENCHMARKS.md); express and yaml wait for a page or a file that needs them. A module hook in the real process reports every module the
 * exporter resolves; no timing is asserted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { track } from '../helpers/children.js';
import { CLIENT_ID, CLIENT_SECRET, INTEGRATION_TIMEOUT_MS, TENANT_ID, until } from '../helpers/exporter.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
/** Writes "resolved <specifier>" to stderr for every bare package specifier resolved. */
const TRACE = `data:text/javascript,${encodeURIComponent(
  `import { registerHooks } from 'node:module';
registerHooks({ resolve(specifier, context, next) {
  if (/^[@a-z]/.test(specifier) && !specifier.includes(':')) process.stderr.write('resolved ' + specifier + '\\n');
  return next(specifier, context);
} });`,
)}`;
const IDENTITY = /^resolved @azure\/identity$/m;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Runs the exporter with the trace hook; resolves with its stderr once `done` says so or it exits. */
function traced(args: readonly string[], env: Record<string, string>, done: (stderr: string) => boolean = () => false): Promise<string> {
  return tracedChild(args, env, done).then(({ stderr }) => stderr);
}

/** The same, with the stderr written since (`later()`), for what requests load once the exporter runs. */
function tracedChild(
  args: readonly string[],
  env: Record<string, string>,
  done: (stderr: string) => boolean,
): Promise<{ stderr: string; later: () => string }> {
  const child = track(
    spawn(process.execPath, ['--import', TRACE, MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  children.push(child);
  let stderr = '';
  const later = () => stderr;
  return new Promise((resolve) => {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (done(stderr)) resolve({ stderr, later });
    });
    child.once('close', () => resolve({ stderr, later }));
  });
}

describe('start-up', () => {
  it('--version does not load @azure/identity', { timeout: INTEGRATION_TIMEOUT_MS }, async () => {
    const stderr = await traced(['--version'], {});
    expect(stderr).toMatch(/^resolved prom-client$|^resolved express$|^resolved undici$/m);
    expect(stderr).not.toMatch(IDENTITY);
  });

  it('demo mode serves its first good /metrics without loading @azure/identity', { timeout: INTEGRATION_TIMEOUT_MS }, async () => {
    const started = await traced(['--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json'], {}, (s) => s.includes('"exporter started"'));
    const address = /"msg":"exporter started".*?"address":"([^"]+)"/.exec(started)?.[1];
    expect(address).toBeDefined();
    await until(async () => (await (await fetch(`http://${address}/metrics`)).text()).includes('partner_security_score_current{'), 30_000, 'the score');
    expect(started).toMatch(/^resolved prom-client$/m);
    expect(started).not.toMatch(IDENTITY);
  });

  it('an exporter only scraped and probed loads neither express nor yaml; the status page loads express', { timeout: INTEGRATION_TIMEOUT_MS }, async () => {
    const run = await tracedChild(['--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json'], {}, (s) => s.includes('"exporter started"'));
    const address = /"msg":"exporter started".*?"address":"([^"]+)"/.exec(run.stderr)?.[1];
    await until(async () => (await (await fetch(`http://${address}/metrics`)).text()).includes('partner_security_score_current{'), 30_000, 'the score');
    const gzip = await fetch(`http://${address}/metrics`, { headers: { 'Accept-Encoding': 'gzip' } });
    const probes = [gzip.status, (await fetch(`http://${address}/healthz`)).status, (await fetch(`http://${address}/readyz`)).status];
    expect(probes).toEqual([200, 200, 200]);
    const scraped = run.later();
    expect(scraped).toMatch(/^resolved prom-client$/m);
    expect(scraped).not.toMatch(/^resolved (express|yaml)$/m);
    expect((await fetch(`http://${address}/`)).status).toBe(200);
    await until(async () => (/^resolved express$/m.test(run.later()) ? true : undefined), 10_000, 'express to load');
  });

  it('--config.check does not load it either, even for a client secret', { timeout: INTEGRATION_TIMEOUT_MS }, async () => {
    const stderr = await traced(['--config.check'], { AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID, AZURE_CLIENT_SECRET: CLIENT_SECRET });
    expect(stderr).toMatch(/^resolved prom-client$/m);
    expect(stderr).not.toMatch(IDENTITY);
  });

  it('a client secret tenant being served loads it (the check can fail)', { timeout: INTEGRATION_TIMEOUT_MS }, async () => {
    // Loopback only: the authority and Graph are unreachable ports; the credential is built before any request.
    const env = { AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID, AZURE_CLIENT_SECRET: CLIENT_SECRET, AZURE_AUTHORITY_HOST: 'https://127.0.0.1:9' };
    const stderr = await traced(['--web.listen-address=127.0.0.1:0', '--log.format=json', '--graph.endpoint=https://127.0.0.1:9'], env, (s) =>
      s.includes('"exporter started"'),
    );
    expect(stderr).toMatch(IDENTITY);
  });
});
