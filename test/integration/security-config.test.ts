/**
 * Configuration that cannot be abused: the built exporter, run as a child process with each bad
 * input on real files, exits 2 with one line per problem and no stack trace; duplicates are found
 * the way Entra ID compares tenants; --config.check never prints a secret.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CONFIG_FILE_BYTES, MAX_YAML_ALIAS_COUNT } from '../../src/config/files.js';
import { parseConfig } from '../../src/config/parse.js';
import { INTEGRATION_TIMEOUT_MS, killExporters, runExporter } from '../helpers/exporter.js';

const TENANT = '8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b';
const CLIENT = '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40';

let dir: string;
/** A path in the test's directory. */
const at = (name: string) => join(dir, name);
/** Writes a file in the test's directory and returns its path. */
function file(name: string, content: string | Buffer): string {
  writeFileSync(at(name), content);
  return at(name);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pss-security-config-'));
  mkdirSync(at('a-directory'));
  execFileSync('mkfifo', [at('a-fifo')]);
  symlinkSync(at('loop-b'), at('loop-a'));
  symlinkSync(at('loop-a'), at('loop-b'));
  file('secret', 'file-secret-0123456789\n');
  file('cert.pem', '-----BEGIN CERTIFICATE-----\n');
  file('token', 'eyJhbGciOiJub25lIn0.e30.\n');
  file('big', Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1, 'a'));
  file('latin1', Buffer.from([0x74, 0x65, 0x6e, 0x61, 0x6e, 0x74, 0x73, 0x3a, 0x20, 0xe9, 0x0a]));
});

afterEach(async () => {
  await killExporters();
});

const BASE_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const SECRET_ENV = { ...BASE_ENV, AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT };

/** The lines of the problem list on stderr. */
function problemLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('  - '));
}

/** A YAML "billion laughs": ten levels of ten aliases each. */
function aliasBomb(): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
  lines.push('tenants: *a9', '');
  return lines.join('\n');
}

/** One tenants-file entry with a client secret file. */
function entry(tenantId: string, secretFile = at('secret')): string {
  return `  - { tenant_id: "${tenantId}", client_id: ${CLIENT}, client_secret_file: "${secretFile}" }`;
}

describe('bad configuration files exit 2 with one line per problem and no stack trace', () => {
  const cases: { what: string; args: () => string[]; env: () => Record<string, string>; problems: () => RegExp[] }[] = [
    {
      what: 'a directory as the tenants file',
      args: () => [`--config.file=${at('a-directory')}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- --config\.file: cannot read ".*a-directory": is a directory$/],
    },
    {
      what: 'a FIFO as the tenants file',
      args: () => [`--config.file=${at('a-fifo')}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- --config\.file: cannot read ".*a-fifo": is not a regular file/],
    },
    {
      what: 'a tenants file that cannot be opened (a symbolic link loop)',
      args: () => [`--config.file=${at('loop-a')}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- --config\.file: cannot read ".*loop-a": too many symbolic links$/],
    },
    {
      what: 'a tenants file over 1 MiB',
      args: () => [`--config.file=${at('big')}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- --config\.file: cannot read ".*big": larger than 1 MiB \(1048577 bytes\)$/],
    },
    {
      what: 'a tenants file that is not UTF-8',
      args: () => [`--config.file=${at('latin1')}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- --config\.file: cannot read ".*latin1": not UTF-8 text$/],
    },
    {
      what: 'a YAML alias bomb',
      args: () => [`--config.file=${file('bomb.yml', aliasBomb())}`],
      env: () => BASE_ENV,
      problems: () => [new RegExp(`^ {2}- .*bomb\\.yml: more than ${MAX_YAML_ALIAS_COUNT} YAML alias expansions`)],
    },
    {
      what: 'YAML nested too deeply',
      args: () => [`--config.file=${file('deep.yml', `tenants: ${'['.repeat(200_000)}`)}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- .*deep\.yml: nested too deeply to read$/],
    },
    {
      what: 'a directory as the web config file',
      args: () => ['--demo', '--web.listen-address=127.0.0.1:0', `--web.config.file=${at('a-directory')}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- .*a-directory: cannot read it: is a directory$/],
    },
    {
      what: 'a FIFO as the web config file',
      args: () => ['--demo', '--web.listen-address=127.0.0.1:0', `--web.config.file=${at('a-fifo')}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- .*a-fifo: cannot read it: is not a regular file/],
    },
    {
      what: 'a web config file over 1 MiB',
      args: () => ['--demo', '--web.listen-address=127.0.0.1:0', `--web.config.file=${at('big')}`],
      env: () => BASE_ENV,
      problems: () => [/^ {2}- .*big: cannot read it: larger than 1 MiB \(1048577 bytes\)$/],
    },
    {
      what: 'a YAML alias bomb as the web config file',
      args: () => ['--demo', '--web.listen-address=127.0.0.1:0', `--web.config.file=${file('web-bomb.yml', aliasBomb())}`],
      env: () => BASE_ENV,
      problems: () => [new RegExp(`^ {2}- .*web-bomb\\.yml: more than ${MAX_YAML_ALIAS_COUNT} YAML alias expansions`)],
    },
    {
      what: 'a FIFO as the certificate the web config names',
      args: () => [
        '--demo',
        '--web.listen-address=127.0.0.1:0',
        `--web.config.file=${file('web-fifo-cert.yml', `tls_server_config:\n  cert_file: ${at('a-fifo')}\n  key_file: ${at('a-fifo')}\n`)}`,
      ],
      env: () => BASE_ENV,
      problems: () => [
        /^ {2}- .*tls_server_config\.cert_file: cannot read ".*a-fifo": is not a regular file/,
        /^ {2}- .*tls_server_config\.key_file: cannot read ".*a-fifo": is not a regular file/,
      ],
    },
    {
      what: 'a directory as AZURE_CLIENT_SECRET_FILE',
      args: () => [],
      env: () => ({ ...SECRET_ENV, AZURE_CLIENT_SECRET_FILE: at('a-directory') }),
      problems: () => [/^ {2}- AZURE_CLIENT_SECRET_FILE: cannot read ".*a-directory": is a directory$/],
    },
    {
      what: 'a FIFO as AZURE_CLIENT_SECRET_FILE',
      args: () => [],
      env: () => ({ ...SECRET_ENV, AZURE_CLIENT_SECRET_FILE: at('a-fifo') }),
      problems: () => [/^ {2}- AZURE_CLIENT_SECRET_FILE: cannot read ".*a-fifo": is not a regular file/],
    },
    {
      what: 'an AZURE_CLIENT_SECRET_FILE over 1 MiB',
      args: () => [],
      env: () => ({ ...SECRET_ENV, AZURE_CLIENT_SECRET_FILE: at('big') }),
      problems: () => [/^ {2}- AZURE_CLIENT_SECRET_FILE: cannot read ".*big": larger than 1 MiB/],
    },
    {
      what: 'an AZURE_CLIENT_SECRET_FILE that is not UTF-8',
      args: () => [],
      env: () => ({ ...SECRET_ENV, AZURE_CLIENT_SECRET_FILE: at('latin1') }),
      problems: () => [/^ {2}- AZURE_CLIENT_SECRET_FILE: cannot read ".*latin1": not UTF-8 text$/],
    },
    {
      what: 'a directory as the certificate',
      args: () => [],
      env: () => ({ ...SECRET_ENV, AZURE_CLIENT_CERTIFICATE_PATH: at('a-directory') }),
      problems: () => [/^ {2}- AZURE_CLIENT_CERTIFICATE_PATH: cannot read ".*a-directory": is a directory$/],
    },
    {
      what: 'a directory as AZURE_FEDERATED_TOKEN_FILE',
      args: () => [],
      env: () => ({ ...SECRET_ENV, AZURE_FEDERATED_TOKEN_FILE: at('a-directory') }),
      problems: () => [/^ {2}- AZURE_FEDERATED_TOKEN_FILE: cannot read ".*a-directory": is a directory$/],
    },
    {
      what: 'every bad file of a tenants file at once',
      args: () => [
        `--config.file=${file(
          'bad-files.yml',
          [
            'tenants:',
            entry('a.example.com', at('a-directory')),
            `  - { tenant_id: b.example.com, client_id: ${CLIENT}, client_certificate_path: "${at('a-fifo')}" }`,
            `  - { tenant_id: c.example.com, client_id: ${CLIENT}, auth: workload_identity, federated_token_file: "${at('a-directory')}" }`,
            '',
          ].join('\n'),
        )}`,
      ],
      env: () => BASE_ENV,
      problems: () => [
        /^ {2}- .*bad-files\.yml: tenants\[0\]\.client_secret_file: cannot read ".*a-directory": is a directory$/,
        /^ {2}- .*bad-files\.yml: tenants\[1\]\.client_certificate_path: cannot read ".*a-fifo": is not a regular file/,
        /^ {2}- .*bad-files\.yml: tenants\[2\]\.federated_token_file: cannot read ".*a-directory": is a directory$/,
      ],
    },
    {
      what: 'one tenant listed twice, in other case and with a trailing dot',
      args: () => [
        `--config.file=${file(
          'twice.yml',
          ['tenants:', entry(TENANT), entry(TENANT.toUpperCase()), entry('Contoso.onmicrosoft.com'), entry('contoso.ONMICROSOFT.com.'), ''].join('\n'),
        )}`,
      ],
      env: () => BASE_ENV,
      problems: () => [
        /^ {2}- .*twice\.yml: tenants\[1\]\.tenant_id: "8B1F4E2A-5C3D-4E6F-9A7B-0C1D2E3F4A5B" is the same tenant as tenants\[0\] \("8b1f4e2a-5c3d-4e6f-9a7b-0c1d2e3f4a5b"\)/,
        /^ {2}- .*twice\.yml: tenants\[3\]\.tenant_id: "contoso\.ONMICROSOFT\.com\." is the same tenant as tenants\[2\] \("Contoso\.onmicrosoft\.com"\)/,
      ],
    },
  ];

  it.for(cases)('$what', { timeout: INTEGRATION_TIMEOUT_MS }, async ({ args, env, problems }) => {
    const result = await runExporter(['--log.format=json', ...args()], env());
    const lines = problemLines(result.stderr);
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: '' });
    expect(result.stderr).not.toMatch(/^\s+at /m);
    const expected = problems();
    expect(lines, result.stderr).toHaveLength(expected.length);
    expected.forEach((pattern, i) => {
      expect(lines[i]).toMatch(pattern);
    });
  });

  it(
    'accepts a tenants file and a secret file of exactly 1 MiB',
    async () => {
      const head = `tenants:\n${entry(TENANT, file('secret-1mib', 's'.repeat(MAX_CONFIG_FILE_BYTES)))}\n`;
      const tenants = file('tenants-1mib.yml', `${head}#${'x'.repeat(MAX_CONFIG_FILE_BYTES - head.length - 2)}\n`);
      const result = await runExporter([`--config.file=${tenants}`, '--config.check'], BASE_ENV);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      expect(result.stdout).toContain(`configuration OK: 1 tenant(s)\n  - ${TENANT}: client secret`);
    },
    INTEGRATION_TIMEOUT_MS,
  );
});

describe('tenant ids', () => {
  it(
    'are labelled the way Entra ID compares them: lower case, without a trailing dot',
    async () => {
      const tenants = file('case.yml', ['tenants:', entry(TENANT.toUpperCase()), entry('Contoso.OnMicrosoft.com.'), ''].join('\n'));
      const check = await runExporter([`--config.file=${tenants}`, '--config.check'], BASE_ENV);
      const chosen = (i: number) => `client secret (tenants[${i}].client_secret_file in ${tenants})`;
      expect(check.stdout).toBe(`configuration OK: 2 tenant(s)\n  - ${TENANT}: ${chosen(0)}\n  - contoso.onmicrosoft.com: ${chosen(1)}\n`);
      const fromEnv = await runExporter(['--config.check'], { ...SECRET_ENV, AZURE_TENANT_ID: 'Contoso.OnMicrosoft.com.', AZURE_CLIENT_SECRET: 'x' });
      expect(fromEnv.stdout).toBe('configuration OK: 1 tenant(s)\n  - contoso.onmicrosoft.com: client secret (AZURE_CLIENT_SECRET is set)\n');
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it('a second identity for a tenant is an error naming both entries, also for managed identities', () => {
    const yaml = [
      'tenants:',
      '  - { tenant_id: a.example.com, client_id: 5d24f638-6526-4abd-8e56-d1e2b430162a, client_secret_env: S }',
      '  - { tenant_id: A.EXAMPLE.COM., client_id: 8d1ca363-2ec4-439e-834e-b4ea0a086435, client_secret_env: S }',
      '  - { auth: managed_identity }',
      '  - { auth: managed_identity, client_id: a121cca6-8c0c-46bb-816d-19d74e7428a2 }',
      '',
    ].join('\n');
    const io = { readable: (p: string) => p === '/t.yml', readText: () => yaml };
    expect(parseConfig(['--config.file=/t.yml'], { S: 'secret' }, io)).toEqual({
      action: 'fail',
      errors: [
        '/t.yml: tenants[1].tenant_id: "A.EXAMPLE.COM." is the same tenant as tenants[0] ("a.example.com"): list each tenant once, with one identity',
        '/t.yml: tenants[3]: a second managed identity (tenants[2] is one): every managed identity of this host is in the same tenant, so list only one',
      ],
    });
  });
});

describe('--config.check', () => {
  it(
    'refuses a bcrypt cost outside 4 to 14 as start-up does (a $2b$31$ hash would pin the bcrypt worker for days)',
    async () => {
      // Well-formed, never computed: the check looks at the cost only.
      const slow = `$2b$31$${'a'.repeat(53)}`;
      const web = file('web-cost.yml', `basic_auth_users:\n  prometheus: ${slow}\n`);
      const problem = `  - ${web}: basic_auth_users.prometheus: bcrypt cost 31 is outside 4 to 14 (create a hash with: htpasswd -nBC 10 "" | tr -d ':\\n')`;
      const check = await runExporter(['--config.check', '--demo', `--web.config.file=${web}`], BASE_ENV);
      expect({ code: check.code, problems: problemLines(check.stderr) }).toEqual({ code: 2, problems: [problem] });
      const start = await runExporter(['--demo', '--web.listen-address=127.0.0.1:0', `--web.config.file=${web}`], BASE_ENV);
      expect({ code: start.code, problems: problemLines(start.stderr) }).toEqual({ code: 2, problems: [problem] });
      const fine = file('web-cost-14.yml', `basic_auth_users:\n  prometheus: $2b$14$${'a'.repeat(53)}\n`);
      expect((await runExporter(['--config.check', '--demo', `--web.config.file=${fine}`], BASE_ENV)).code).toBe(0);
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it(
    'checks the web config file as start-up does: every problem, exit 2, the plain-text password never echoed',
    async () => {
      const web = file(
        'web-check.yml',
        'tls_server_config:\n  cert_file: missing.pem\n  key_file: missing-key.pem\nbasic_auth_users:\n  eve: plain-text-password-0123\n',
      );
      const result = await runExporter(['--config.check', '--demo', `--web.config.file=${web}`], BASE_ENV);
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: '' });
      expect(problemLines(result.stderr)).toEqual([
        `  - ${web}: tls_server_config.cert_file: cannot read "missing.pem": no such file`,
        `  - ${web}: tls_server_config.key_file: cannot read "missing-key.pem": no such file`,
        `  - ${web}: basic_auth_users.eve: is not a bcrypt hash (create one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
      ]);
      expect(result.stderr).not.toContain('plain-text-password-0123');
      const good = file('web-check-good.yml', 'http_server_config:\n  headers:\n    X-Frame-Options: deny\n');
      const ok = await runExporter(['--config.check', '--demo', `--web.config.file=${good}`], BASE_ENV);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain(`web config ${good}: OK`);
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it(
    'never prints a secret, wherever it is configured',
    async () => {
      const secrets = {
        env: 'env-secret-0123456789',
        file: 'file-secret-0123456789',
        fileEnv: 'file-env-secret-0123456789',
        password: 'cert-password-0123456789',
        fileCertPassword: 'file-cert-password-0123456789',
      };
      const fromEnv = await runExporter(['--config.check'], { ...SECRET_ENV, AZURE_CLIENT_SECRET: secrets.env });
      const fromSecretFile = await runExporter(['--config.check'], { ...SECRET_ENV, AZURE_CLIENT_SECRET_FILE: at('secret') });
      const fromCertificate = await runExporter(['--config.check'], {
        ...SECRET_ENV,
        AZURE_CLIENT_CERTIFICATE_PATH: at('cert.pem'),
        AZURE_CLIENT_CERTIFICATE_PASSWORD: secrets.password,
      });
      const tenants = file(
        'secrets.yml',
        [
          'tenants:',
          entry('a.example.com'),
          `  - { tenant_id: b.example.com, client_id: ${CLIENT}, client_secret_env: SECRET_B, labels: { partner: beta } }`,
          `  - { tenant_id: c.example.com, client_id: ${CLIENT}, client_certificate_path: "${at('cert.pem')}", client_certificate_password_env: PASS_C }`,
          '',
        ].join('\n'),
      );
      const fromFile = await runExporter([`--config.file=${tenants}`, '--config.check'], {
        ...BASE_ENV,
        SECRET_B: secrets.fileEnv,
        PASS_C: secrets.fileCertPassword,
      });
      for (const run of [fromEnv, fromSecretFile, fromCertificate, fromFile]) {
        expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
        expect(run.stdout).toMatch(/^configuration OK: /);
        for (const secret of Object.values(secrets)) expect(run.stdout).not.toContain(secret);
      }
      expect(fromFile.stdout).toBe(
        [
          'configuration OK: 3 tenant(s)',
          `  - a.example.com: client secret (tenants[0].client_secret_file in ${tenants})`,
          `  - b.example.com: client secret (tenants[1].client_secret_env in ${tenants}) {"partner":"beta"}`,
          `  - c.example.com: client certificate (tenants[2].client_certificate_path in ${tenants})`,
          '',
        ].join('\n'),
      );
    },
    INTEGRATION_TIMEOUT_MS,
  );

  it(
    'never prints a secret in a problem either',
    async () => {
      const result = await runExporter(['--config.check'], {
        ...BASE_ENV,
        AZURE_TENANT_ID: 'not a tenant',
        AZURE_CLIENT_SECRET: 'env-secret-0123456789',
        AZURE_AUTHORITY_HOST: 'https://user:authority-password-0123@login.example.test',
      });
      expect(result.code).toBe(2);
      expect(problemLines(result.stderr)).toHaveLength(3);
      expect(result.stderr).not.toContain('env-secret-0123456789');
      expect(result.stderr).not.toContain('authority-password-0123');
    },
    INTEGRATION_TIMEOUT_MS,
  );
});

describe('one credential parser for the environment and the tenants file', () => {
  /** The same credential, once as AZURE_* variables and once as a tenants-file entry. */
  interface Fields {
    tenant?: string;
    client?: string;
    secret?: string;
    secretFile?: string;
    certificate?: string;
    password?: string;
    tokenFile?: string;
    authority?: string;
  }
  const ENV_TO_KEY: Record<string, string> = {
    AZURE_TENANT_ID: 'tenant_id',
    AZURE_CLIENT_ID: 'client_id',
    AZURE_CLIENT_SECRET_FILE: 'client_secret_file',
    AZURE_CLIENT_SECRET: 'client_secret_env',
    AZURE_CLIENT_CERTIFICATE_PATH: 'client_certificate_path',
    AZURE_CLIENT_CERTIFICATE_PASSWORD: 'client_certificate_password_env',
    AZURE_FEDERATED_TOKEN_FILE: 'federated_token_file',
    AZURE_AUTHORITY_HOST: 'authority_host',
  };
  const FILES: Record<string, string> = { '/s': 'file-secret\n', '/empty': '\n', '/cert.pem': 'PEM', '/token': 'jwt' };
  const io = (yaml: string) => ({
    readable: (p: string) => p === '/t.yml' || p in FILES,
    readText: (p: string) => (p === '/t.yml' ? yaml : (FILES[p] ?? '')),
  });

  function viaEnv(f: Fields) {
    const env: Record<string, string> = {};
    const set = (name: string, value: string | undefined) => {
      if (value !== undefined) env[name] = value;
    };
    set('AZURE_TENANT_ID', f.tenant);
    set('AZURE_CLIENT_ID', f.client);
    set('AZURE_CLIENT_SECRET', f.secret);
    set('AZURE_CLIENT_SECRET_FILE', f.secretFile);
    set('AZURE_CLIENT_CERTIFICATE_PATH', f.certificate);
    set('AZURE_CLIENT_CERTIFICATE_PASSWORD', f.password);
    set('AZURE_FEDERATED_TOKEN_FILE', f.tokenFile);
    set('AZURE_AUTHORITY_HOST', f.authority);
    const result = parseConfig([], env, io(''));
    return result.action === 'fail'
      ? { problems: result.errors.map((e) => e.replace(/AZURE_[A-Z_]+/g, (name) => ENV_TO_KEY[name] ?? name)) }
      : { credential: result.action === 'run' ? result.config.tenants[0]?.credential : undefined };
  }

  function viaFile(f: Fields) {
    const keys: string[] = [];
    const env: Record<string, string> = {};
    const set = (key: string, value: string | undefined) => {
      if (value !== undefined) keys.push(`${key}: ${JSON.stringify(value)}`);
    };
    set('tenant_id', f.tenant);
    set('client_id', f.client);
    set('client_secret_file', f.secretFile);
    set('client_certificate_path', f.certificate);
    set('federated_token_file', f.tokenFile);
    set('authority_host', f.authority);
    if (f.secret !== undefined) {
      keys.push('client_secret_env: S');
      env.S = f.secret;
    }
    if (f.password !== undefined) {
      keys.push('client_certificate_password_env: P');
      env.P = f.password;
    }
    const result = parseConfig(['--config.file=/t.yml'], env, io(`tenants:\n  - { ${keys.join(', ')} }\n`));
    return result.action === 'fail'
      ? { problems: result.errors.map((e) => e.replace('/t.yml: tenants[0].', '')) }
      : { credential: result.action === 'run' ? result.config.tenants[0]?.credential : undefined };
  }

  const ids = { tenant: 'Contoso.OnMicrosoft.com.', client: CLIENT };
  it.each<[string, Fields]>([
    ['a client secret', { ...ids, secret: 'shh' }],
    ['a client secret file', { ...ids, secretFile: '/s' }],
    ['an empty secret file', { ...ids, secretFile: '/empty' }],
    ['a missing secret file', { ...ids, secretFile: '/missing' }],
    ['a secret and a secret file', { ...ids, secret: 'shh', secretFile: '/s' }],
    ['a certificate with a password', { ...ids, certificate: '/cert.pem', password: 'pw' }],
    ['a missing certificate', { ...ids, certificate: '/missing.pem' }],
    ['a certificate password without a certificate', { ...ids, secret: 'shh', password: 'pw' }],
    ['a federated token file', { ...ids, tokenFile: '/token' }],
    ['a secret with workload identity', { ...ids, secret: 'shh', tokenFile: '/token' }],
    ['a certificate and a secret file', { ...ids, certificate: '/cert.pem', secretFile: '/s' }],
    ['no tenant', { client: CLIENT, secret: 'shh' }],
    ['no client', { tenant: 't', tokenFile: '/token' }],
    ['a bad tenant', { tenant: 'bad tenant!', client: CLIENT, secret: 'shh' }],
    ['a placeholder tenant and client', { tenant: '<partner tenant id>', client: '<application id>', secret: 'shh' }],
    ['a client that is not a GUID', { ...ids, client: 'app', secret: 'shh' }],
    ['the nil GUID as client', { ...ids, client: '00000000-0000-0000-0000-000000000000', tokenFile: '/token' }],
    ['an authority host', { ...ids, secret: 'shh', authority: 'https://login.example.test/' }],
    ['an http authority', { ...ids, secret: 'shh', authority: 'http://login.example.test' }],
    ['an authority with a path', { ...ids, secret: 'shh', authority: 'https://login.example.test/tenant' }],
    ['an authority with a password', { ...ids, secret: 'shh', authority: 'https://u:authority-pw@login.example.test' }],
    ['an authority with a query', { ...ids, secret: 'shh', authority: 'https://login.example.test?x=1' }],
  ])('%s gives the same credential or the same problems both ways', (_what, fields) => {
    const env = viaEnv(fields);
    expect(viaFile(fields)).toEqual(env);
    expect(JSON.stringify(env)).not.toContain('authority-pw');
  });
});
