/**
 * What a user sees at the command line: -h, a flag given twice, --version with the source
 * revision, and the same revision on partner_security_build_info. Through the built exporter.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { track } from '../helpers/children.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, parseSamples, runExporter, until } from '../helpers/exporter.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

afterEach(killExporters);

/** The commit checked out here, or undefined outside a git checkout. */
function head(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

describe('the command line', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('-h shows the same help as --help', async () => {
    const short = await runExporter(['-h'], ENV);
    const long = await runExporter(['--help'], ENV);
    expect(short.code).toBe(0);
    expect(short.stdout).toBe(long.stdout);
    expect(short.stdout).toContain('-h, --help');
  });

  it('a flag given twice is an error, never a silent override', async () => {
    // --web.listen-address alone may be repeated (one listener per address): see flags.test.ts.
    const run = await runExporter(['--demo', '--web.telemetry-path=/a', '--web.telemetry-path=/b'], ENV);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--web.telemetry-path: given more than once; give it once');
    const env = await runExporter(['--demo', '--web.listen-address=127.0.0.1:0', '--config.check'], { ...ENV, PSS_WEB_LISTEN_ADDRESS: '127.0.0.1:10102' });
    // A flag and its variable are not twice: the flag wins, as documented.
    expect(env.code).toBe(0);
  });

  it('--version and partner_security_build_info name the revision the build was made from', async () => {
    const revision = head() ?? 'unknown';
    const version = await runExporter(['--version'], ENV);
    expect(version.stdout).toMatch(new RegExp(`^partner-security-score-exporter \\S+ \\(revision ${revision}, node v\\d+`));
    const child = spawnSync(process.execPath, ['dist/main.js', '--version'], { cwd: ROOT, env: ENV, encoding: 'utf8' });
    expect(child.stdout).toBe(version.stdout);
  });

  it('the build records $REVISION when given one (the image build), and only a commit id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pss-build-info-'));
    copyFileSync(join(ROOT, 'dist/cli/write-build-info.js'), join(dir, 'write-build-info.js'));
    const write = (revision: string) => {
      execFileSync(process.execPath, [join(dir, 'write-build-info.js')], { cwd: dir, env: { ...ENV, REVISION: revision } });
      return JSON.parse(readFileSync(join(dir, 'build-info.json'), 'utf8')) as { revision: string };
    };
    expect(write('0123abcDEF4567')).toEqual({ revision: '0123abcdef4567' });
    // Not a commit id: ignored (outside a git checkout, nothing else to ask).
    expect(write('main"; rm -rf /').revision).not.toContain('rm');
  });

  it('partner_security_build_info carries the revision label', async () => {
    const { spawn } = await import('node:child_process');
    const child = track(spawn(process.execPath, ['dist/main.js', '--demo', '--web.listen-address=127.0.0.1:0', '--log.format=json'], { cwd: ROOT, env: ENV }));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    try {
      const address = await until(() => /"address":"([^"]+)"/.exec(stderr)?.[1], 20_000, 'exporter started');
      const samples = parseSamples(await (await fetch(`http://${address}/metrics`)).text());
      const info = samples.find((s) => s.name === 'partner_security_build_info');
      expect(info?.labels.revision).toBe(head() ?? 'unknown');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
