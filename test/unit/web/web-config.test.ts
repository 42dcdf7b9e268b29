/**
 * The web config's bounds and rules that a reload depends on: bcrypt costs 4..14 (at and beyond
 * each bound), `client_allowed_sans: []` refused, the files a failed config named (missing ones
 * too) reported for watching, and which client_auth_type changes a reload may make.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWebConfig, reloadRefusal, WebConfigError } from '../../../src/web/web-config.js';

const TLS = resolve('test/fixtures/tls');
const HASH = bcrypt.hashSync('s3cret-pass', 4);
/** A well-formed hash of the given cost: the loader checks the form and the cost, never runs it. */
const withCost = (cost: number) => HASH.replace(/^\$2b\$04\$/, `$2b$${String(cost).padStart(2, '0')}$`);
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pss-web-config-'));
  for (const f of ['server.pem', 'server-key.pem', 'ca.pem']) copyFileSync(join(TLS, f), join(dir, f));
});

function write(name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

function problemsOf(file: string): string[] {
  try {
    loadWebConfig(file);
  } catch (error) {
    if (error instanceof WebConfigError) return error.problems.map((p) => p.replace(`${file}: `, ''));
    throw error;
  }
  return [];
}

const TLS_CONFIG = 'tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n';
const CLIENT_CA = `${TLS_CONFIG}  client_ca_file: ca.pem\n`;

describe('bcrypt costs in basic_auth_users', () => {
  it.each([
    [4, true],
    [14, true],
    [3, false],
    [15, false],
    [31, false],
  ])('cost %i accepted: %s', (cost, accepted) => {
    const file = write(`cost-${cost}.yml`, `basic_auth_users:\n  prometheus: ${withCost(cost)}\n`);
    expect(problemsOf(file)).toEqual(
      accepted ? [] : [`basic_auth_users.prometheus: bcrypt cost ${cost} is outside 4 to 14 (create a hash with: htpasswd -nBC 10 "" | tr -d ':\\n')`],
    );
  });
});

describe('client_allowed_sans', () => {
  it('refuses an empty list (ambiguous), accepts a list of names and the key left out', () => {
    expect(problemsOf(write('sans-empty.yml', `${CLIENT_CA}  client_allowed_sans: []\n`))).toEqual([
      'tls_server_config.client_allowed_sans: an empty list is ambiguous; list the allowed names, or leave the key out to accept any certificate of the client CA',
    ]);
    expect(problemsOf(write('sans-one.yml', `${CLIENT_CA}  client_allowed_sans: [prometheus]\n`))).toEqual([]);
    expect(problemsOf(write('sans-none.yml', CLIENT_CA))).toEqual([]);
  });
});

describe('the files a config names', () => {
  it('are reported with its problems, missing ones included, so a failed reload can watch them', () => {
    const file = write('missing-files.yml', 'tls_server_config:\n  cert_file: tls-2.crt\n  key_file: tls-2.key\n');
    let error: unknown;
    try {
      loadWebConfig(file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WebConfigError);
    expect((error as WebConfigError).files).toEqual([file, join(dir, 'tls-2.crt'), join(dir, 'tls-2.key')]);
  });

  it('are those of a good config too', () => {
    const file = write('good-files.yml', CLIENT_CA);
    expect(loadWebConfig(file).files).toEqual([file, join(dir, 'server.pem'), join(dir, 'server-key.pem'), join(dir, 'ca.pem')]);
  });

  it('include the client CA certificates, parsed for checking open connections again', () => {
    const settings = loadWebConfig(write('ca-certs.yml', CLIENT_CA));
    expect(settings.tls?.clientCaCertificates?.map((c) => c.subject)).toEqual(['CN=partner-security-score-exporter test CA']);
  });
});

describe('a reload of client_auth_type', () => {
  const load = (type: string) => loadWebConfig(write(`auth-${type}.yml`, `${CLIENT_CA}  client_auth_type: ${type}\n`));

  it.each([
    ['NoClientCert', 'RequireAndVerifyClientCert', ['raising client_auth_type to RequireAndVerifyClientCert needs a restart']],
    ['NoClientCert', 'RequestClientCert', ['raising client_auth_type to RequestClientCert needs a restart']],
    ['RequestClientCert', 'RequireAndVerifyClientCert', []],
    ['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert', []],
    ['RequireAnyClientCert', 'VerifyClientCertIfGiven', []],
    ['RequireAndVerifyClientCert', 'VerifyClientCertIfGiven', ['it would lower client_auth_type from RequireAndVerifyClientCert to VerifyClientCertIfGiven']],
  ])('from %s to %s: refused for %j', (from, to, reasons) => {
    expect(reloadRefusal(load(from), load(to))).toEqual(reasons);
  });
});
