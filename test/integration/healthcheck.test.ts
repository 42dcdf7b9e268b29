/**
 * The container health check against the real exporter: the Dockerfile's HEALTHCHECK command, run
 * as Docker runs it (a separate node process with the container's environment), must pass with
 * plain HTTP, TLS, TLS with required client certificates, and basic auth with /healthz exempted,
 * and must fail (with one line saying why) when it cannot vouch for the exporter.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exporterArgs, probe, resolveTarget } from '../../src/web/healthcheck.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, startExporter } from '../helpers/exporter.js';
import { closeFakeClouds, type FakeCloud, startFakeCloud } from '../helpers/fake-cloud.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TLS = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
const HASH = bcrypt.hashSync('s3cret-pass', 4);

/** The Dockerfile's HEALTHCHECK CMD (exec form), with the image's paths mapped onto this checkout. */
function healthcheckCommand(): string[] {
  // The instruction with its continuation lines joined, as Docker reads it.
  const instruction = /^HEALTHCHECK\b(?:.*\\\n)*.*$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[0].replace(/\\\n/g, ' ');
  const line = /\bCMD (\[.*\])\s*$/.exec(instruction ?? '')?.[1];
  if (line === undefined) throw new Error('no HEALTHCHECK ... CMD [...] in the Dockerfile');
  const argv = JSON.parse(line) as string[];
  return argv.map((arg) => (arg === '/nodejs/bin/node' ? process.execPath : arg.replaceAll('/app/', ROOT)));
}

/** Runs the health check command with the container's environment; exit code and stderr. */
function runHealthcheck(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const [command = '', ...args] = healthcheckCommand();
  return new Promise((resolve) => {
    execFile(command, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 20_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stderr });
    });
  });
}

/** A loopback port nothing listens on (just released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let dir: string;
let cloud: FakeCloud;
const webConfig = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const tlsConfig = (extra = '') => `tls_server_config:\n  cert_file: ${TLS('server.pem')}\n  key_file: ${TLS('server-key.pem')}\n${extra}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pss-healthcheck-'));
  cloud = await startFakeCloud();
});
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Dockerfile HEALTHCHECK command', () => {
  it.each([
    { name: 'plain HTTP', config: undefined, args: [] },
    { name: 'TLS', config: tlsConfig(), args: [] },
    { name: 'TLS requiring a client certificate', config: tlsConfig('  client_auth_type: RequireAnyClientCert\n'), args: [] },
    {
      name: 'basic auth with --web.healthz-without-auth',
      config: `${tlsConfig()}basic_auth_users:\n  prometheus: ${HASH}\n`,
      args: ['--web.healthz-without-auth'],
    },
  ])(
    'passes against an exporter with $name',
    async ({ name, config, args }) => {
      const file = config === undefined ? undefined : webConfig(`${name.replace(/\W+/g, '-')}.yml`, config);
      const exporter = await startExporter({ cloud, args: [...args, ...(file ? [`--web.config.file=${file}`] : [])] });
      const env = { PSS_WEB_LISTEN_ADDRESS: exporter.address, ...(file ? { PSS_WEB_CONFIG_FILE: file } : {}) };
      const result = await runHealthcheck(args.length > 0 ? { ...env, PSS_WEB_HEALTHZ_WITHOUT_AUTH: 'true' } : env);
      expect(result).toEqual({ code: 0, stderr: '' });
      await exporter.stop('SIGKILL');
      const gone = await runHealthcheck(env);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/^healthcheck: http.*\/healthz: ECONNREFUSED\n$/);
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it(
    'fails with basic auth on /healthz, and says which flag lets it through',
    async () => {
      const file = webConfig('auth.yml', `${tlsConfig()}basic_auth_users:\n  prometheus: ${HASH}\n`);
      const exporter = await startExporter({ cloud, args: [`--web.config.file=${file}`] });
      const result = await runHealthcheck({ PSS_WEB_LISTEN_ADDRESS: exporter.address, PSS_WEB_CONFIG_FILE: file });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `healthcheck: https://${exporter.address}/healthz: 401: the web config requires basic auth; set --web.healthz-without-auth (PSS_WEB_HEALTHZ_WITHOUT_AUTH=true) so health checks can probe /healthz\n`,
      );
      expect(result.stderr).not.toContain(HASH);
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it(
    'accepts only the certificate of the web config, not another server on the port',
    async () => {
      const file = webConfig('served.yml', tlsConfig());
      const exporter = await startExporter({ cloud, args: [`--web.config.file=${file}`] });
      const other = webConfig('other.yml', `tls_server_config:\n  cert_file: ${TLS('untrusted.pem')}\n  key_file: ${TLS('untrusted-key.pem')}\n`);
      const result = await runHealthcheck({ PSS_WEB_LISTEN_ADDRESS: exporter.address, PSS_WEB_CONFIG_FILE: other });
      expect(result).toEqual({
        code: 1,
        stderr: `healthcheck: https://${exporter.address}/healthz: the server's certificate is not the one in the web config's cert_file\n`,
      });
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it('fails with one line when the configuration cannot be read', async () => {
    const missing = join(dir, 'missing.yml');
    const result = await runHealthcheck({ PSS_WEB_LISTEN_ADDRESS: `127.0.0.1:${await freePort()}`, PSS_WEB_CONFIG_FILE: missing });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^healthcheck: ENOENT.*missing\.yml'\n$/);
    const bad = await runHealthcheck({ PSS_WEB_LISTEN_ADDRESS: '127.0.0.1:0' });
    expect(bad).toEqual({ code: 1, stderr: 'healthcheck: web.listen-address "127.0.0.1:0" is not host:port with a port from 1 to 65535\n' });
  });
});

describe('resolveTarget', () => {
  it(
    "takes the listen address and web config from the exporter's own command line, where the image starts it with flags",
    async () => {
      const port = await freePort();
      const file = webConfig('flags.yml', tlsConfig());
      const exporter = await startExporter({ cloud, args: [`--web.listen-address=127.0.0.1:${port}`, '--web.config.file', file] });
      const target = resolveTarget([], { PSS_WEB_LISTEN_ADDRESS: ':1' }, exporterArgs(`/proc/${exporter.child.pid}/cmdline`), dir);
      expect(target).toMatchObject({ host: '127.0.0.1', port, basicAuth: false });
      expect(target.tls?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      expect(await probe(target)).toEqual({ healthy: true, message: `https://127.0.0.1:${port}/healthz: 200` });
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it.each([
    [[], {}, { host: '127.0.0.1', port: 10059 }],
    [[], { PSS_WEB_LISTEN_ADDRESS: ':9100' }, { host: '127.0.0.1', port: 9100 }],
    [['--web.listen-address=[::]:9101'], { PSS_WEB_LISTEN_ADDRESS: ':9100' }, { host: '::1', port: 9101 }],
    [['--web.listen-address', '10.1.2.3:9102'], {}, { host: '10.1.2.3', port: 9102 }],
    // Several addresses (the flag repeated, the variable one per line): the first is probed.
    [['--web.listen-address', '127.0.0.1:9103', '--web.listen-address=[::1]:9104'], {}, { host: '127.0.0.1', port: 9103 }],
    [[], { PSS_WEB_LISTEN_ADDRESS: '127.0.0.1:9105\n[::1]:9106' }, { host: '127.0.0.1', port: 9105 }],
    [['--web.healthz-without-auth'], {}, { healthzWithoutAuth: true }],
    [['--no-web.healthz-without-auth'], { PSS_WEB_HEALTHZ_WITHOUT_AUTH: 'true' }, { healthzWithoutAuth: false }],
  ])('%j with %j -> %j', (argv, env, expected) => {
    expect(resolveTarget(argv, env, [])).toMatchObject(expected);
  });

  it('ignores a PID 1 that is not the exporter', () => {
    const file = webConfig('cmdline', ['/sbin/init', '--web.listen-address=:1'].join('\0'));
    expect(exporterArgs(file)).toEqual([]);
    expect(exporterArgs(join(dir, 'no-such-cmdline'))).toEqual([]);
    const exporter = webConfig('cmdline2', ['/nodejs/bin/node', '/app/dist/main.js', '--web.listen-address=:1', ''].join('\0'));
    expect(exporterArgs(exporter)).toEqual(['--web.listen-address=:1']);
  });
});
