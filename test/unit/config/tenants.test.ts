import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';

const FILES: Record<string, string> = {
  '/run/secrets/a': 'secret-a-value\n',
  '/run/secrets/empty': '\n',
  '/certs/c.pem': 'PEM',
  '/var/run/token': 'jwt',
};

function withFile(yaml: string, env: Record<string, string> = {}, argv: string[] = []) {
  const io = { readable: (p: string) => p === '/etc/tenants.yml' || p in FILES, readText: (p: string) => (p === '/etc/tenants.yml' ? yaml : (FILES[p] ?? '')) };
  return parseConfig(['--config.file=/etc/tenants.yml', ...argv], env, io);
}

function tenants(yaml: string, env: Record<string, string> = {}) {
  const result = withFile(yaml, env);
  if (result.action !== 'run') throw new Error(JSON.stringify(result));
  return result.config.tenants;
}

function errors(yaml: string, env: Record<string, string> = {}) {
  const result = withFile(yaml, env);
  if (result.action !== 'fail') throw new Error(`expected errors, got ${JSON.stringify(result)}`);
  return result.errors;
}

describe('tenants file', () => {
  it('reads every way to authenticate, with labels and defaults from the environment', () => {
    const yaml = `
tenants:
  - tenant_id: 11111111-2222-3333-4444-555555555555
    client_id: 770eb9fc-2394-4c87-89f1-71ac487a8bb9
    client_secret_file: /run/secrets/a
    labels: { partner: contoso, tier: 1 }
    partner_type: indirect_reseller
    validation_month: 3
  - tenant_id: b.onmicrosoft.com
    client_id: acd33a7c-4184-4b71-8198-fc8f7580fd87
    client_secret_env: SECRET_B
    partner_type: indirect_provider
  - tenant_id: c
    client_id: 1dc2ce1f-f1a4-4416-87d8-c834a6609d9b
    client_certificate_path: /certs/c.pem
    client_certificate_password_env: PASS_C
  - tenant_id: d
    client_id: 6c2b94ba-01d9-40cb-8510-c029b228858d
    auth: workload_identity
  - auth: managed_identity
    client_id: a121cca6-8c0c-46bb-816d-19d74e7428a2
`;
    expect(
      tenants(yaml, {
        SECRET_B: 'secret-b-value',
        PASS_C: 'pass-c',
        AZURE_FEDERATED_TOKEN_FILE: '/var/run/token',
        AZURE_AUTHORITY_HOST: 'https://login.example.test',
      }),
    ).toEqual([
      {
        tenantId: '11111111-2222-3333-4444-555555555555',
        labels: { partner: 'contoso', tier: '1' },
        credential: {
          kind: 'clientSecret',
          tenantId: '11111111-2222-3333-4444-555555555555',
          clientId: '770eb9fc-2394-4c87-89f1-71ac487a8bb9',
          clientSecret: 'secret-a-value',
          authorityHost: 'https://login.example.test',
        },
        source: { kind: 'file', file: '/etc/tenants.yml', index: 0, keys: ['tenant_id', 'client_id', 'client_secret_file'], variables: [] },
        partner: { type: 'indirect_reseller', validationMonth: 3 },
      },
      {
        tenantId: 'b.onmicrosoft.com',
        labels: {},
        credential: {
          kind: 'clientSecret',
          tenantId: 'b.onmicrosoft.com',
          clientId: 'acd33a7c-4184-4b71-8198-fc8f7580fd87',
          clientSecret: 'secret-b-value',
          authorityHost: 'https://login.example.test',
        },
        source: { kind: 'file', file: '/etc/tenants.yml', index: 1, keys: ['tenant_id', 'client_id', 'client_secret_env'], variables: [] },
        partner: { type: 'indirect_provider' },
      },
      {
        tenantId: 'c',
        labels: {},
        credential: {
          kind: 'clientCertificate',
          tenantId: 'c',
          clientId: '1dc2ce1f-f1a4-4416-87d8-c834a6609d9b',
          certificatePath: '/certs/c.pem',
          certificatePassword: 'pass-c',
          authorityHost: 'https://login.example.test',
        },
        source: { kind: 'file', file: '/etc/tenants.yml', index: 2, keys: ['tenant_id', 'client_id', 'client_certificate_path'], variables: [] },
        partner: { type: 'direct' },
      },
      {
        tenantId: 'd',
        labels: {},
        credential: {
          kind: 'workloadIdentity',
          tenantId: 'd',
          clientId: '6c2b94ba-01d9-40cb-8510-c029b228858d',
          tokenFilePath: '/var/run/token',
          authorityHost: 'https://login.example.test',
        },
        // The token file comes from the environment the workload identity webhook sets.
        source: { kind: 'file', file: '/etc/tenants.yml', index: 3, keys: ['tenant_id', 'client_id'], variables: ['AZURE_FEDERATED_TOKEN_FILE'] },
        partner: { type: 'direct' },
      },
      {
        labels: {},
        credential: { kind: 'managedIdentity', clientId: 'a121cca6-8c0c-46bb-816d-19d74e7428a2' },
        source: { kind: 'file', file: '/etc/tenants.yml', index: 4, keys: ['client_id'], variables: [] },
        partner: { type: 'direct' },
      },
    ]);
  });

  it('refuses constant label values that would have to change to become labels', () => {
    const yaml = `
tenants:
  - tenant_id: a
    client_id: d2a57dc1-d883-4d21-8b99-51699df71cc7
    client_secret_file: /run/secrets/a
    labels: { bidi: "ab\\u202Ecd", newline: "a\\nb", zero_width: "a\\u200Bb", long: "${'x'.repeat(257)}", fine: "Contoso – EU", longest: "${'y'.repeat(256)}" }
`;
    const rule = 'must be at most 256 characters without control, bidi or invisible characters';
    expect(errors(yaml)).toEqual(['bidi', 'newline', 'zero_width', 'long'].map((name) => `/etc/tenants.yml: tenants[0].labels.${name}: ${rule}`));
  });

  it('reports every problem with its place, at once', () => {
    const yaml = `
tenants:
  - tenant_id: a
    client_id: d2a57dc1-d883-4d21-8b99-51699df71cc7
    client_scret_file: /run/secrets/a
  - tenant_id: "bad tenant"
    client_id: d2a57dc1-d883-4d21-8b99-51699df71cc7
    client_secret_file: /run/secrets/missing
    labels: { tenant_id: x, "bad-name": y, ok: [1] }
  - tenant_id: c
    client_id: d2a57dc1-d883-4d21-8b99-51699df71cc7
    client_secret_env: NOT_SET
  - tenant_id: d
    auth: telepathy
  - tenant_id: e
    client_id: d2a57dc1-d883-4d21-8b99-51699df71cc7
    client_secret_file: /run/secrets/empty
  - tenant_id: f
    client_id: d2a57dc1-d883-4d21-8b99-51699df71cc7
    auth: workload_identity
  - tenant_id: g
    client_secret_file: /run/secrets/a
    client_certificate_path: /certs/c.pem
extra: true
`;
    expect(errors(yaml)).toEqual([
      '/etc/tenants.yml: top level: unknown key "extra"',
      '/etc/tenants.yml: tenants[0]: unknown key "client_scret_file" (did you mean "client_secret_file"?)',
      '/etc/tenants.yml: tenants[0].auth: say how to authenticate: client_secret_file, client_secret_env, client_certificate_path, or auth: workload_identity | managed_identity',
      '/etc/tenants.yml: tenants[1].tenant_id: "bad tenant" is not a tenant ID (a GUID or a domain)',
      '/etc/tenants.yml: tenants[1].client_secret_file: cannot read "/run/secrets/missing"',
      '/etc/tenants.yml: tenants[1].labels.tenant_id: is a label the exporter sets itself',
      '/etc/tenants.yml: tenants[1].labels.bad-name: is not a valid Prometheus label name',
      '/etc/tenants.yml: tenants[1].labels.ok: expected a string value',
      '/etc/tenants.yml: tenants[2].client_secret_env: environment variable NOT_SET is not set',
      '/etc/tenants.yml: tenants[3].auth: "telepathy" is not one of client_secret, client_certificate, workload_identity, managed_identity',
      '/etc/tenants.yml: tenants[4].client_secret_file: "/run/secrets/empty" is empty',
      '/etc/tenants.yml: tenants[5].federated_token_file: required with auth workload_identity (or set AZURE_FEDERATED_TOKEN_FILE)',
      '/etc/tenants.yml: tenants[6].client_secret_file, client_certificate_path: set only one way to authenticate',
    ]);
  });

  it('refuses an unknown partner_type or validation_month with its place, beside every other problem', () => {
    const yaml = `
tenants:
  - { tenant_id: a, client_id: 770eb9fc-2394-4c87-89f1-71ac487a8bb9, client_secret_file: /run/secrets/a, partner_type: reseller }
  - { tenant_id: b, client_id: 770eb9fc-2394-4c87-89f1-71ac487a8bb9, client_secret_file: /run/secrets/a, validation_month: 0 }
  - { tenant_id: c, client_id: 770eb9fc-2394-4c87-89f1-71ac487a8bb9, client_secret_file: /run/secrets/a, validation_month: "1.5", partner_type: [direct] }
  - { tenant_id: d, client_id: 770eb9fc-2394-4c87-89f1-71ac487a8bb9, client_secret_file: /run/secrets/a, partner_typ: direct, validation_month: "12" }
`;
    const month = "is not a month from 1 to 12 (the anniversary month of the partner's onboarding)";
    expect(errors(yaml)).toEqual([
      '/etc/tenants.yml: tenants[0].partner_type: "reseller" is not one of direct, indirect_provider, indirect_reseller',
      `/etc/tenants.yml: tenants[1].validation_month: "0" ${month}`,
      '/etc/tenants.yml: tenants[2].partner_type: "["direct"]" is not one of direct, indirect_provider, indirect_reseller',
      `/etc/tenants.yml: tenants[2].validation_month: "1.5" ${month}`,
      '/etc/tenants.yml: tenants[3]: unknown key "partner_typ" (did you mean "partner_type"?)',
    ]);
  });

  it.each([
    ['tenants: [', /^\/etc\/tenants\.yml: Flow sequence .* at line 1, column 11$/],
    ['a: 1\na: 2\n', /Map keys must be unique/],
    ['just text', /top level: expected a mapping with a "tenants" list/],
    ['tenants: []', /tenants: expected a non-empty list of tenants/],
  ])('rejects malformed YAML %j', (yaml, message) => {
    expect(errors(yaml).join('\n')).toMatch(message);
  });

  it('rejects a tenant listed twice', () => {
    const yaml =
      'tenants:\n  - { tenant_id: a, client_id: 9dd4e461-268c-4034-85c8-564e155c67a6, client_secret_file: /run/secrets/a }\n  - { tenant_id: a, client_id: 41529076-9594-460e-8e48-5922904f345d, client_secret_file: /run/secrets/a }\n';
    expect(errors(yaml)).toEqual([
      '/etc/tenants.yml: tenants[1].tenant_id: "a" is the same tenant as tenants[0] ("a"): list each tenant once, with one identity',
    ]);
  });

  it('reports a bad default from the environment once, not once per entry', () => {
    const yaml =
      'tenants:\n  - { tenant_id: a, client_id: 9dd4e461-268c-4034-85c8-564e155c67a6, client_secret_file: /run/secrets/a }\n  - { tenant_id: b, client_id: 41529076-9594-460e-8e48-5922904f345d, client_secret_file: /run/secrets/a }\n';
    expect(errors(yaml, { AZURE_AUTHORITY_HOST: 'http://login.example.test' })).toEqual(['AZURE_AUTHORITY_HOST: "http://login.example.test" must use https']);
  });

  it('takes a secret with workload identity as the mistake it is, as the environment does', () => {
    const yaml = 'tenants:\n  - { tenant_id: a, client_id: 9dd4e461-268c-4034-85c8-564e155c67a6, auth: workload_identity, client_secret_env: S }\n';
    expect(errors(yaml, { S: 'shh', AZURE_FEDERATED_TOKEN_FILE: '/var/run/token' })).toEqual([
      '/etc/tenants.yml: tenants[0].client_secret_env: not used with auth workload_identity',
    ]);
  });

  it('never echoes a secret value in an error', () => {
    const yaml = 'tenants:\n  - { tenant_id: "bad id", client_id: 9dd4e461-268c-4034-85c8-564e155c67a6, client_secret_env: S }\n';
    expect(errors(yaml, { S: 'very-secret-value' }).join('\n')).not.toContain('very-secret-value');
  });

  it('says when the file cannot be read, and that --demo does not take one', () => {
    const io = { readable: () => false, readText: () => '' };
    expect(parseConfig(['--config.file=/nope.yml'], {}, io)).toEqual({ action: 'fail', errors: ['--config.file: cannot read "/nope.yml"'] });
    expect(parseConfig(['--config.file=/nope.yml', '--demo'], {}, io)).toEqual({
      action: 'fail',
      errors: ['--config.file: not used with --demo (the demo tenant needs no credentials)'],
    });
  });

  it('validates and stops with --config.check, and takes backfill --output', () => {
    const yaml = 'tenants:\n  - { tenant_id: a, client_id: 9dd4e461-268c-4034-85c8-564e155c67a6, client_secret_file: /run/secrets/a }\n';
    expect(withFile(yaml, {}, ['--config.check']).action).toBe('check');
    const backfill = parseConfig(
      ['backfill', '--output=/tmp/h.om', '--config.file=/etc/tenants.yml'],
      {},
      { readable: () => true, readText: (p) => (p === '/etc/tenants.yml' ? yaml : 'secret') },
    );
    expect(backfill).toMatchObject({ action: 'backfill', config: { output: '/tmp/h.om' } });
    expect(parseConfig(['backfill'], {}, { readable: () => true, readText: () => '' })).toMatchObject({
      action: 'fail',
      errors: ['backfill: --output is required (a file, or "-" for standard output)'],
    });
    expect(parseConfig(['--output=x', '--demo'], {})).toEqual({ action: 'fail', errors: ['unknown flag --output'] });
  });
});

describe('AZURE_CLIENT_SECRET_FILE', () => {
  const io = { readable: (p: string) => p in FILES, readText: (p: string) => FILES[p] ?? '' };
  const env = { AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: '9dd4e461-268c-4034-85c8-564e155c67a6' };

  it('reads the client secret from a file, without its trailing newline', () => {
    const result = parseConfig([], { ...env, AZURE_CLIENT_SECRET_FILE: '/run/secrets/a' }, io);
    expect(result).toMatchObject({
      action: 'run',
      config: {
        tenants: [
          {
            credential: { kind: 'clientSecret', clientSecret: 'secret-a-value' },
            source: { kind: 'environment', variables: ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET_FILE'] },
          },
        ],
      },
    });
  });

  it.each([
    [{ AZURE_CLIENT_SECRET_FILE: '/run/secrets/missing' }, 'AZURE_CLIENT_SECRET_FILE: cannot read "/run/secrets/missing"'],
    [{ AZURE_CLIENT_SECRET_FILE: '/run/secrets/empty' }, 'AZURE_CLIENT_SECRET_FILE: "/run/secrets/empty" is empty'],
    [{ AZURE_CLIENT_SECRET_FILE: '/run/secrets/a', AZURE_CLIENT_SECRET: 'x' }, 'AZURE_CLIENT_SECRET, AZURE_CLIENT_SECRET_FILE: set only one of them'],
  ])('rejects %j', (extra, message) => {
    expect(parseConfig([], { ...env, ...extra }, io)).toMatchObject({ action: 'fail', errors: [message] });
  });
});
