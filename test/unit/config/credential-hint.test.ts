import { describe, expect, it } from 'vitest';
import { credentialHint } from '../../../src/config/credential-hint.js';
import { parseConfig } from '../../../src/config/parse.js';
import type { TenantConfig } from '../../../src/config/tenants.js';

const FILES: Record<string, string> = { '/run/secrets/a': 'secret-a', '/certs/c.pem': 'PEM', '/var/run/token': 'jwt' };

/** The tenants parseConfig makes of argv and env, with the tenants file at /etc/tenants.yml. */
function tenants(env: Record<string, string>, yaml?: string): readonly TenantConfig[] {
  const io = {
    readable: (p: string) => p in FILES || p === '/etc/tenants.yml',
    readText: (p: string) => (p === '/etc/tenants.yml' ? (yaml ?? '') : (FILES[p] ?? '')),
  };
  const result = parseConfig(yaml === undefined ? [] : ['--config.file=/etc/tenants.yml'], env, io);
  if (result.action !== 'run') throw new Error(JSON.stringify(result));
  return result.config.tenants;
}

function only(list: readonly TenantConfig[]): TenantConfig {
  const [tenant] = list;
  if (tenant === undefined || list.length !== 1) throw new Error(`expected one tenant, got ${list.length}`);
  return tenant;
}

const IDS = { AZURE_TENANT_ID: 'contoso.onmicrosoft.com', AZURE_CLIENT_ID: '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40' };

describe('credentialHint', () => {
  it.each([
    [
      'a client secret',
      { ...IDS, AZURE_CLIENT_SECRET: 's3cret' },
      'The token was rejected: check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, and that the client secret is current',
      'The app registration (AZURE_CLIENT_ID) needs',
    ],
    [
      'a client secret file',
      { ...IDS, AZURE_CLIENT_SECRET_FILE: '/run/secrets/a' },
      'The token was rejected: check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET_FILE, and that the client secret is current',
      'The app registration (AZURE_CLIENT_ID) needs',
    ],
    [
      'a certificate',
      { ...IDS, AZURE_CLIENT_CERTIFICATE_PATH: '/certs/c.pem' },
      'The token was rejected: check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH, and that the certificate is current',
      'The app registration (AZURE_CLIENT_ID) needs',
    ],
    [
      'workload identity',
      { ...IDS, AZURE_FEDERATED_TOKEN_FILE: '/var/run/token' },
      'The token was rejected: check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE, and that the federated token is current',
      'The app registration (AZURE_CLIENT_ID) needs',
    ],
    [
      'a user-assigned managed identity',
      { AZURE_CLIENT_ID: IDS.AZURE_CLIENT_ID },
      'The token was rejected: check AZURE_CLIENT_ID, and that the managed identity is assigned to this host',
      "This host's managed identity (AZURE_CLIENT_ID) needs",
    ],
    [
      'the system-assigned managed identity',
      {},
      'The token was rejected: check that the managed identity is assigned to this host',
      "This host's managed identity needs",
    ],
  ])('names the AZURE_* variables of %s', (_name, env, unauthorized, forbidden) => {
    const tenant = only(tenants(env));
    expect(credentialHint(tenant, 401)).toBe(unauthorized);
    expect(credentialHint(tenant, 403)).toBe(
      `${forbidden} the PartnerSecurity.Read.All application permission with admin consent, in a Partner Center partner tenant, to read the partner security score`,
    );
  });

  it('names what Graph refused: the score, or the relation it is about', () => {
    const tenant = only(tenants({ ...IDS, AZURE_CLIENT_SECRET: 's3cret' }));
    expect(credentialHint(tenant, 403, 'the securityAlerts relation')).toBe(
      'The app registration (AZURE_CLIENT_ID) needs the PartnerSecurity.Read.All application permission with admin consent, in a Partner Center partner tenant, to read the securityAlerts relation',
    );
  });

  it("names the keys of the tenant's entry in the tenants file, and the variables it took from the environment", () => {
    const yaml = `
tenants:
  - { tenant_id: a.example.com, client_id: aaaaaaaa-0000-4000-8000-00000000000a, client_secret_file: /run/secrets/a }
  - { tenant_id: b.example.com, client_id: bbbbbbbb-0000-4000-8000-00000000000b, client_secret_env: SECRET_B }
  - { tenant_id: c.example.com, client_id: cccccccc-0000-4000-8000-00000000000c, client_certificate_path: /certs/c.pem }
  - { tenant_id: d.example.com, client_id: dddddddd-0000-4000-8000-00000000000d, auth: workload_identity }
  - { auth: managed_identity }
`;
    // The AZURE_* ids of the environment are not this tenant's: only the inherited token file is named.
    const list = tenants({ ...IDS, SECRET_B: 'b', AZURE_FEDERATED_TOKEN_FILE: '/var/run/token' }, yaml);
    expect(list.map((t) => credentialHint(t, 401))).toEqual([
      'The token was rejected: check tenants[0].tenant_id, tenants[0].client_id and tenants[0].client_secret_file in /etc/tenants.yml, and that the client secret is current',
      'The token was rejected: check tenants[1].tenant_id, tenants[1].client_id and tenants[1].client_secret_env in /etc/tenants.yml, and that the client secret is current',
      'The token was rejected: check tenants[2].tenant_id, tenants[2].client_id and tenants[2].client_certificate_path in /etc/tenants.yml, and that the certificate is current',
      'The token was rejected: check tenants[3].tenant_id and tenants[3].client_id in /etc/tenants.yml and AZURE_FEDERATED_TOKEN_FILE in the environment, and that the federated token is current',
      'The token was rejected: check tenants[4] in /etc/tenants.yml, and that the managed identity is assigned to this host',
    ]);
    expect(list.map((t) => credentialHint(t, 403).replace(/ needs .*/, ''))).toEqual([
      'The app registration (tenants[0].client_id in /etc/tenants.yml)',
      'The app registration (tenants[1].client_id in /etc/tenants.yml)',
      'The app registration (tenants[2].client_id in /etc/tenants.yml)',
      'The app registration (tenants[3].client_id in /etc/tenants.yml)',
      "This host's managed identity (tenants[4] in /etc/tenants.yml)",
    ]);
  });

  it('never quotes a secret, a tenant id or a path the credential reads', () => {
    const [file] = tenants(
      { S: 'shh-secret-value' },
      'tenants:\n  - { tenant_id: t.example.com, client_id: eeeeeeee-0000-4000-8000-00000000000e, client_secret_env: S }\n',
    );
    const [env] = tenants({ ...IDS, AZURE_CLIENT_SECRET: 'shh-secret-value' });
    for (const tenant of [file, env]) {
      if (tenant === undefined) throw new Error('no tenant');
      const text = `${credentialHint(tenant, 401)} ${credentialHint(tenant, 403)}`;
      for (const value of ['shh-secret-value', 'eeeeeeee-0000-4000-8000-00000000000e', 't.example.com', 'contoso.onmicrosoft.com'])
        expect(text).not.toContain(value);
    }
  });
});
