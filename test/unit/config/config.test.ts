import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT, envName, FLAGS, flagSpec, helpText, MAX_FLAG_VALUE_CHARS } from '../../../src/config/flags.js';
import { type Config, parseConfig } from '../../../src/config/parse.js';

const CLIENT = '3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40';
const SECRET_ENV = { AZURE_TENANT_ID: '11111111-2222-3333-4444-555555555555', AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'shh-very-secret' };
const io = { readable: (path: string) => path.startsWith('/exists'), readText: () => '' };

function run(argv: string[], env: Record<string, string> = SECRET_ENV): Config {
  const result = parseConfig(argv, env, io);
  if (result.action !== 'run') throw new Error(`expected a config, got ${JSON.stringify(result)}`);
  return result.config;
}

function errors(argv: string[], env: Record<string, string> = SECRET_ENV): readonly string[] {
  const result = parseConfig(argv, env, io);
  if (result.action !== 'fail') throw new Error(`expected errors, got ${JSON.stringify(result)}`);
  return result.errors;
}

describe('parseConfig', () => {
  it('has documented defaults', () => {
    const config = run([]);
    expect(config).toEqual({
      listen: [{ port: DEFAULT_PORT }],
      telemetryPath: '/metrics',
      healthzWithoutAuth: false,
      maxConnections: 512,
      maxConnectionsPerAddress: 64,
      graphEndpoint: 'https://graph.microsoft.com',
      graphTimeoutMs: 30_000,
      pollIntervalMs: 600_000,
      pollTimeoutMs: 600_000,
      maxStalenessMs: 3 * 3600_000,
      logLevel: 'info',
      logFormat: 'logfmt',
      demo: false,
      tenants: [
        {
          tenantId: SECRET_ENV.AZURE_TENANT_ID,
          labels: {},
          credential: { kind: 'clientSecret', tenantId: SECRET_ENV.AZURE_TENANT_ID, clientId: CLIENT, clientSecret: 'shh-very-secret' },
          source: { kind: 'environment', variables: ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'] },
          partner: { type: 'direct' },
        },
      ],
      partner: { type: 'direct' },
      collectors: {
        requirements: true,
        history: true,
        customerInsights: false,
        maxPages: 50,
        maxCustomers: 1000,
        maxBytes: 32 * 1024 * 1024,
        maxRequirements: 1000,
        maxHistoryEntries: 1000,
        securityAlerts: true,
        maxAlerts: 10_000,
        maxAlertTypes: 50,
        securityAlertsPerCustomer: false,
      },
      pollConcurrency: 4,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [['--web.listen-address=127.0.0.1:9999'], { listen: [{ host: '127.0.0.1', port: 9999 }] }],
    [['--web.listen-address', '[::1]:0'], { listen: [{ host: '::1', port: 0 }] }],
    [['--web.listen-address=:8080'], { listen: [{ port: 8080 }] }],
    [
      ['--web.listen-address=127.0.0.1:9100', '--web.listen-address', '[::1]:9100', '--web.listen-address=:9101'],
      { listen: [{ host: '127.0.0.1', port: 9100 }, { host: '::1', port: 9100 }, { port: 9101 }] },
    ],
    [['--web.max-connections-per-address=8'], { maxConnectionsPerAddress: 8 }],
    [['--web.telemetry-path=/probe/metrics'], { telemetryPath: '/probe/metrics' }],
    [['--graph.endpoint=https://graph.example.test/'], { graphEndpoint: 'https://graph.example.test' }],
    [['--graph.timeout=1m30s'], { graphTimeoutMs: 90_000 }],
    [['--poll.interval', '90s'], { pollIntervalMs: 90_000, pollTimeoutMs: 90_000 }],
    [['--poll.timeout=2m'], { pollIntervalMs: 600_000, pollTimeoutMs: 120_000 }],
    [['--poll.interval=5m', '--poll.timeout=5m'], { pollIntervalMs: 300_000, pollTimeoutMs: 300_000 }],
    // An interval shorter than one request's deadline: the poll may still take that long.
    [['--poll.interval=1s'], { pollIntervalMs: 1000, pollTimeoutMs: 30_000 }],
    [['--poll.interval=1s', '--graph.timeout=5s'], { pollIntervalMs: 1000, pollTimeoutMs: 5000 }],
    [['--poll.interval=10s', '--poll.timeout=20s'], { pollIntervalMs: 10_000, pollTimeoutMs: 20_000 }],
    [['--poll.max-staleness=0'], { maxStalenessMs: 0 }],
    [['--log.level=debug', '--log.format=json'], { logLevel: 'debug', logFormat: 'json' }],
  ])('reads %j', (argv, expected) => {
    expect(run(argv)).toMatchObject(expected);
  });

  it('reads every flag from its environment variable, and a flag wins', () => {
    const env = { ...SECRET_ENV, PSS_POLL_INTERVAL: '5m', PSS_POLL_TIMEOUT: '90s', PSS_LOG_FORMAT: 'json', PSS_WEB_LISTEN_ADDRESS: ':1234' };
    expect(run([], env)).toMatchObject({ pollIntervalMs: 300_000, pollTimeoutMs: 90_000, logFormat: 'json', listen: [{ port: 1234 }] });
    // Several addresses in the variable, one per line; flags replace the variable's addresses.
    expect(run([], { ...env, PSS_WEB_LISTEN_ADDRESS: '127.0.0.1:1\n127.0.0.2:2' }).listen).toEqual([
      { host: '127.0.0.1', port: 1 },
      { host: '127.0.0.2', port: 2 },
    ]);
    expect(run(['--web.listen-address=:3', '--web.listen-address=:4'], env).listen).toEqual([{ port: 3 }, { port: 4 }]);
    expect(run(['--poll.interval=2m'], env).pollIntervalMs).toBe(120_000);
  });

  it('knows flags by name: a misspelt one does not compile', () => {
    expect(flagSpec('collector.history')).toMatchObject({ kind: 'boolean', default: 'true' });
    // @ts-expect-error "colector.history" is not a flag name (tsc fails if FlagName widens to string)
    expect(() => flagSpec('colector.history')).toThrow('unknown flag colector.history');
  });

  it('names env variables PSS_ + flag', () => {
    expect(envName('web.listen-address')).toBe('PSS_WEB_LISTEN_ADDRESS');
    expect(envName('poll.max-staleness')).toBe('PSS_POLL_MAX_STALENESS');
  });

  it('runs demo mode without credentials, polling faster unless told', () => {
    // No configured tenant: main serves the simulated one. Credentials in the environment are not read.
    expect(run(['--demo'], SECRET_ENV)).toMatchObject({
      demo: true,
      tenants: [],
      pollIntervalMs: 15_000,
      collectors: { customerInsights: true },
    });
    expect(run(['--demo'], {}).tenants).toEqual([]);
    expect(run(['--demo', '--no-collector.customer-insights'], {}).collectors.customerInsights).toBe(false);
    expect(run(['--demo', '--poll.interval=1m'], {}).pollIntervalMs).toBe(60_000);
    expect(run([], { PSS_DEMO: 'true' }).demo).toBe(true);
    expect(run(['--no-demo'], { ...SECRET_ENV, PSS_DEMO: 'true' }).demo).toBe(false);
  });

  it.each([
    [
      'certificate',
      { AZURE_TENANT_ID: 't.example', AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_CERTIFICATE_PATH: '/exists/cert.pem' },
      { kind: 'clientCertificate', tenantId: 't.example', clientId: CLIENT, certificatePath: '/exists/cert.pem' },
    ],
    [
      'workload identity',
      { AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: CLIENT, AZURE_FEDERATED_TOKEN_FILE: '/exists/token' },
      { kind: 'workloadIdentity', tenantId: 't', clientId: CLIENT, tokenFilePath: '/exists/token' },
    ],
    ['system managed identity', {}, { kind: 'managedIdentity' }],
    ['user managed identity', { AZURE_CLIENT_ID: CLIENT }, { kind: 'managedIdentity', clientId: CLIENT }],
    [
      'custom authority',
      { ...SECRET_ENV, AZURE_AUTHORITY_HOST: 'https://login.example.test/' },
      { kind: 'clientSecret', authorityHost: 'https://login.example.test' },
    ],
  ])('picks the %s credential', (_name, env, expected) => {
    expect(run([], env).tenants[0]?.credential).toEqual(expect.objectContaining(expected));
  });

  it.each([
    [['--poll.interval=soon'], {}, ['--poll.interval: "soon" is not a duration (use e.g. 90s, 5m, 1h30m)']],
    [['--poll.interval=500ms'], {}, ['--poll.interval: must be at least 1s (Graph throttles eager clients)']],
    [['--graph.timeout=0'], {}, ['--graph.timeout: must be greater than 0']],
    [['--poll.max-staleness=5m'], {}, ['--poll.max-staleness: 5m is shorter than the poll interval 10m: every score would vanish between polls']],
    [['--poll.timeout=11m'], {}, ['--poll.timeout: 11m is longer than the poll interval 10m: a poll must end before the next is due']],
    [['--poll.interval=1m', '--poll.timeout=90s'], {}, ['--poll.timeout: 90s is longer than the poll interval 1m: a poll must end before the next is due']],
    [['--poll.interval=10s', '--poll.timeout=31s'], {}, ['--poll.timeout: 31s is longer than --graph.timeout 30s: a poll must end before the next is due']],
    [[], { PSS_POLL_TIMEOUT: '1h' }, ['PSS_POLL_TIMEOUT: 1h is longer than the poll interval 10m: a poll must end before the next is due']],
    [['--poll.timeout=0'], {}, ['--poll.timeout: must be greater than 0']],
    [['--poll.timeout=later'], {}, ['--poll.timeout: "later" is not a duration (use e.g. 90s, 5m, 1h30m)']],
    // Given twice is an error for every kind of flag, booleans and their --no- form included.
    [['--demo', '--demo'], {}, ['--demo: given more than once; give it once']],
    [['--collector.history', '--no-collector.history'], {}, ['--collector.history: given more than once; give it once']],
    [['--collector.history=false', '--collector.history=false'], {}, ['--collector.history: given more than once; give it once']],
    [['--log.level=verbose'], {}, ['--log.level: "verbose" is not one of debug, info, warn, error']],
    [[], { PSS_LOG_FORMAT: 'xml' }, ['PSS_LOG_FORMAT: "xml" is not one of logfmt, json']],
    [['--web.listen-address=localhost'], {}, ['--web.listen-address: "localhost" is not host:port, :port or [ipv6]:port']],
    [['--web.listen-address=:70000'], {}, ['--web.listen-address: port 70000 is out of range (0-65535)']],
    [['--web.listen-address=:1', '--web.listen-address=:70000'], {}, ['--web.listen-address: port 70000 is out of range (0-65535)']],
    [['--web.listen-address=:1', '--web.listen-address=:2', '--web.listen-address=:1'], {}, ['--web.listen-address: ":1" is given more than once']],
    [['--web.telemetry-path=/a', '--web.telemetry-path=/b'], {}, ['--web.telemetry-path: given more than once; give it once']],
    [['--web.max-connections-per-address=0'], {}, ['--web.max-connections-per-address: "0" is not a whole number from 1 to 65536']],
    [['--web.telemetry-path=metrics'], {}, ['--web.telemetry-path: "metrics" must be a path starting with "/" (no spaces, "?" or "#")']],
    [['--web.telemetry-path=/healthz'], {}, ['--web.telemetry-path: "/healthz" is taken by the status page or a health endpoint']],
    [['--web.telemetry-path=/api/status'], {}, ['--web.telemetry-path: "/api/status" is taken by the status page or a health endpoint']],
    [['--graph.endpoint=http://graph.microsoft.com'], {}, ['--graph.endpoint: "http://graph.microsoft.com" must use https']],
    [['--graph.endpoint=nope'], {}, ['--graph.endpoint: "nope" is not a URL']],
    [['--frobnicate'], {}, ['unknown flag --frobnicate']],
    [['--no-poll.interval'], {}, ['unknown flag --no-poll.interval']],
    [['stray'], {}, ['unexpected argument "stray" (flags start with --)']],
    [['--poll.interval'], {}, ['--poll.interval: needs a value']],
    [['--demo=maybe'], {}, ['--demo: "maybe" is not a boolean (true or false)']],
    [[], { PSS_DEMO: 'maybe' }, ['PSS_DEMO: "maybe" is not a boolean (true or false)']],
    [[], { AZURE_CLIENT_SECRET: 's3cr3t-value' }, ['AZURE_TENANT_ID: required with AZURE_CLIENT_SECRET', 'AZURE_CLIENT_ID: required with AZURE_CLIENT_SECRET']],
    [
      [],
      { AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_CERTIFICATE_PATH: '/missing.pem' },
      ['AZURE_CLIENT_CERTIFICATE_PATH: cannot read "/missing.pem"'],
    ],
    [
      [],
      { AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'x', AZURE_FEDERATED_TOKEN_FILE: '/exists/t' },
      ['AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE: set only one way to authenticate'],
    ],
    [
      [],
      { AZURE_TENANT_ID: 'bad tenant!', AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'x' },
      ['AZURE_TENANT_ID: "bad tenant!" is not a tenant ID (a GUID or a domain)'],
    ],
    [[], { ...SECRET_ENV, AZURE_AUTHORITY_HOST: 'http://login.example.test' }, ['AZURE_AUTHORITY_HOST: "http://login.example.test" must use https']],
  ])('rejects %j %j', (argv, env, expected) => {
    expect(errors(argv, { ...(Object.keys(env).some((k) => k.startsWith('AZURE_')) ? {} : SECRET_ENV), ...env })).toEqual(expected);
  });

  it('reads the partner type and validation month of the single tenant and the demo from --partner.* or PSS_PARTNER_*', () => {
    const tenant = run(['--partner.type=indirect_reseller', '--partner.validation-month=11']).tenants[0];
    expect(tenant?.partner).toEqual({ type: 'indirect_reseller', validationMonth: 11 });
    expect(run([], { ...SECRET_ENV, PSS_PARTNER_TYPE: 'indirect_provider', PSS_PARTNER_VALIDATION_MONTH: '1' }).tenants[0]?.partner).toEqual({
      type: 'indirect_provider',
      validationMonth: 1,
    });
    expect(run(['--demo', '--partner.validation-month=12'], {}).partner).toEqual({ type: 'direct', validationMonth: 12 });
  });

  it('refuses an unknown partner type or month, and the flags beside a tenants file, listing every problem', () => {
    expect(errors(['--partner.type=reseller', '--partner.validation-month=13', '--log.level=loud'])).toEqual([
      '--log.level: "loud" is not one of debug, info, warn, error',
      '--partner.type: "reseller" is not one of direct, indirect_provider, indirect_reseller',
      '--partner.validation-month: "13" is not a month from 1 to 12 (the anniversary month of the partner\'s onboarding)',
    ]);
    expect(errors([], { ...SECRET_ENV, PSS_PARTNER_VALIDATION_MONTH: 'March' })).toEqual([
      'PSS_PARTNER_VALIDATION_MONTH: "March" is not a month from 1 to 12 (the anniversary month of the partner\'s onboarding)',
    ]);
    expect(errors(['--config.file=/exists/tenants.yml', '--partner.type=direct'], {})).toContain(
      '--partner.type: not used with --config.file; set partner_type per tenant in the file',
    );
  });

  it('reports every problem at once', () => {
    expect(errors(['--poll.interval=soon', '--log.format=xml', '--graph.endpoint=http://x', '--bogus'], {})).toEqual([
      'unknown flag --bogus',
      '--graph.endpoint: "http://x" must use https',
      '--poll.interval: "soon" is not a duration (use e.g. 90s, 5m, 1h30m)',
      '--log.format: "xml" is not one of logfmt, json',
    ]);
  });

  it('never echoes a secret in an error, not even in the problems about the secret', () => {
    const env = {
      ...SECRET_ENV,
      AZURE_CLIENT_SECRET: 'super-secret-value-123',
      AZURE_CLIENT_SECRET_FILE: '/exists/secret',
      AZURE_CLIENT_CERTIFICATE_PATH: '/exists/cert.pem',
    };
    const problems = errors(['--log.level=loud'], env);
    expect(problems.filter((p) => p.startsWith('AZURE_CLIENT_SECRET,'))).toHaveLength(2);
    expect(problems.join('\n')).not.toContain('super-secret-value-123');
  });

  it('answers --help and --version before validating anything else', () => {
    expect(parseConfig(['--help', '--bogus=1'], {}).action).toBe('help');
    expect(parseConfig(['--version'], {}).action).toBe('version');
  });

  it('documents every flag and its environment variable in --help', () => {
    const help = helpText();
    const usage = (name: string) => help.split('\n').find((line) => line.startsWith('  -') && line.endsWith(name === 'help' ? '--help' : `--${name}`));
    for (const flag of FLAGS) {
      if (flag.kind === 'action') expect(usage(flag.name), flag.name).toBe(flag.name === 'help' ? '  -h, --help' : `  --${flag.name}`);
      else expect(help).toContain(flag.kind === 'boolean' ? `--[no-]${flag.name}` : `--${flag.name}=`);
      if (flag.env) expect(help).toContain(envName(flag.name));
    }
    expect(help).toContain('--tenants.shard=K/N');
  });

  it('shows no "--[no-]" form for action flags, and has none: they take no value and no negation', () => {
    const help = helpText();
    for (const action of ['help', 'version', 'config.check', 'force']) {
      expect(flagSpec(action as 'help').kind).toBe('action');
      expect(help).not.toContain(`--[no-]${action}`);
    }
    // Settings keep theirs.
    expect(help).toContain('--[no-]demo');
    expect(errors(['--no-config.check'])).toEqual(['unknown flag --no-config.check']);
    expect(errors(['--config.check=false'])).toEqual(['--config.check: takes no value (give --config.check alone)']);
    expect(errors(['--version=true'])).toEqual(['--version: takes no value (give --version alone)']);
    expect(parseConfig(['--config.check'], SECRET_ENV, io).action).toBe('check');
  });
});

describe('the length of flags and variables', () => {
  const LONG = 'a'.repeat(MAX_FLAG_VALUE_CHARS + 1);
  const path = (chars: number) => `/${'p'.repeat(chars - 1)}`;

  it(`takes a value of ${MAX_FLAG_VALUE_CHARS} characters, flag or variable`, () => {
    expect(run([`--web.telemetry-path=${path(MAX_FLAG_VALUE_CHARS)}`]).telemetryPath).toHaveLength(MAX_FLAG_VALUE_CHARS);
    expect(run(['--web.telemetry-path', path(MAX_FLAG_VALUE_CHARS)]).telemetryPath).toHaveLength(MAX_FLAG_VALUE_CHARS);
    expect(run([], { ...SECRET_ENV, PSS_WEB_TELEMETRY_PATH: path(MAX_FLAG_VALUE_CHARS) }).telemetryPath).toHaveLength(MAX_FLAG_VALUE_CHARS);
  });

  it('refuses a longer one, naming it without quoting it', () => {
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const problems = errors([`--web.telemetry-path=${path(MAX_FLAG_VALUE_CHARS + 1)}`, '--graph.endpoint', `https://${LONG}`, `--${huge}`], {
      ...SECRET_ENV,
      PSS_LOG_LEVEL: huge,
      AZURE_CLIENT_SECRET: LONG,
    });
    expect(problems).toEqual([
      `PSS_LOG_LEVEL: longer than ${MAX_FLAG_VALUE_CHARS} characters`,
      `--web.telemetry-path: longer than ${MAX_FLAG_VALUE_CHARS} characters`,
      `--graph.endpoint: longer than ${MAX_FLAG_VALUE_CHARS} characters`,
      `argument 4: longer than ${MAX_FLAG_VALUE_CHARS} characters`,
      `AZURE_CLIENT_SECRET: longer than ${MAX_FLAG_VALUE_CHARS} characters`,
    ]);
  });

  it('refuses a client_secret_env variable of the tenants file that is longer', () => {
    const file = `tenants:\n  - tenant_id: 11111111-2222-3333-4444-555555555555\n    client_id: 3c9e7a15-2b4d-4f68-8e1a-5d7c9b3f2e40\n    client_secret_env: TENANT_SECRET\n`;
    const result = parseConfig(['--config.file=/exists/tenants.yml'], { TENANT_SECRET: LONG }, { ...io, readText: () => file });
    expect(result).toEqual({
      action: 'fail',
      errors: [`/exists/tenants.yml: tenants[0].client_secret_env: TENANT_SECRET is longer than ${MAX_FLAG_VALUE_CHARS} characters`],
    });
  });
});
