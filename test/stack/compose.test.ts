/**
 * deploy/docker-compose.yml without a Docker engine: everything it mounts or builds exists, every
 * configuration it mounts passes the real checker (promtool, amtool), the services find each other
 * by their Compose names, and the exporter's command line really starts demo mode unless
 * credentials are given (checked by the built exporter's own --config.check).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_PORT } from '../../src/config/flags.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const MAIN = join(ROOT, 'dist/main.js');

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(join(DEPLOY, 'docker-compose.yml'), 'utf8')) as Compose;
const service = (name: string): Service => {
  const found = compose.services[name];
  if (!found) throw new Error(`no service ${name}`);
  return found;
};

interface Mount {
  service: string;
  source: string;
  target: string;
  /** Host path for a bind mount, undefined for a named volume. */
  host?: string;
}
const mounts: Mount[] = Object.entries(compose.services).flatMap(([name, s]) =>
  (s.volumes ?? []).map((v) => {
    const [source = '', target = ''] = v.split(':');
    const bind = source.startsWith('.') || source.startsWith('/');
    return { service: name, source, target, ...(bind ? { host: resolve(DEPLOY, source) } : {}) };
  }),
);
const binds = mounts.filter((m): m is Mount & { host: string } => m.host !== undefined);
const mountedFile = (serviceName: string, target: string) => binds.find((m) => m.service === serviceName && m.target === target)?.host;

/**
 * Compose's variable interpolation (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt},
 * ${VAR+alt}, $$), enough to see what a service really gets for a given environment.
 */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}/g, (all, name: string | undefined, op?: string, word = '') => {
    if (all === '$$') return '$';
    const value = env[name ?? ''];
    const set = op?.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
    if (op?.endsWith('+')) return set ? word : '';
    if (op?.endsWith('-')) return set ? (value ?? '') : word;
    return value ?? '';
  });
}

/** Runs a command; resolves with its exit code and output instead of throwing. */
async function exec(command: string, args: string[], env?: Record<string, string>): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd: ROOT, timeout: 30_000, ...(env ? { env } : {}) });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Every file under a directory. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The real checker of each kind of mounted configuration, by where the container reads it. */
const CHECKERS: Record<string, (host: string) => Promise<void>> = {
  'prometheus:/etc/prometheus/prometheus.yml': async (host) => {
    const { code, output } = await exec('promtool', ['check', 'config', host]);
    expect(output).toContain('is valid prometheus config file syntax');
    expect(code).toBe(0);
    // Its rule files are read relative to it inside the container: they must be mounted there too.
    for (const file of (parse(readFileSync(host, 'utf8')) as { rule_files: string[] }).rule_files) {
      expect(mountedFile('prometheus', `/etc/prometheus/${file}`), file).toBeDefined();
    }
  },
  'prometheus:/etc/prometheus/alerts.yml': async (host) => {
    const { code, output } = await exec('promtool', ['check', 'rules', host]);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  },
  'alertmanager:/etc/alertmanager/alertmanager.yml': async (host) => {
    const { code, output } = await exec('amtool', ['check-config', host]);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  },
  'grafana:/etc/grafana/provisioning': async (host) => {
    const files = filesUnder(host);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const doc = parse(readFileSync(file, 'utf8')) as { apiVersion?: number; datasources?: unknown[]; providers?: unknown[] };
      expect(doc.apiVersion, file).toBe(1);
      expect((doc.datasources ?? doc.providers ?? []).length, file).toBeGreaterThan(0);
    }
  },
  'grafana:/etc/grafana/dashboards': async (host) => {
    const files = filesUnder(host);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect((JSON.parse(readFileSync(file, 'utf8')) as { uid?: string }).uid, file).toBeTruthy();
  },
};

describe('deploy/docker-compose.yml', () => {
  it('runs the exporter, Prometheus, Alertmanager and Grafana', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['alertmanager', 'exporter', 'grafana', 'prometheus']);
  });

  it('builds the exporter from the repository Dockerfile', () => {
    const build = service('exporter').build;
    expect(resolve(DEPLOY, build?.context ?? '')).toBe(resolve(ROOT));
    expect(existsSync(join(resolve(DEPLOY, build?.context ?? ''), build?.dockerfile ?? ''))).toBe(true);
  });

  it('mounts only files and folders that exist, and declares its named volumes', () => {
    expect(binds.length).toBeGreaterThan(0);
    for (const m of mounts) {
      if (m.host) expect(existsSync(m.host), `${m.service}: ${m.source}`).toBe(true);
      else expect(Object.keys(compose.volumes ?? {}), `${m.service}: ${m.source}`).toContain(m.source);
    }
    // Files stay files and folders stay folders (a missing source would make Docker create a folder).
    expect(statSync(mountedFile('prometheus', '/etc/prometheus/prometheus.yml') ?? '').isFile()).toBe(true);
    expect(statSync(mountedFile('grafana', '/etc/grafana/dashboards') ?? '').isDirectory()).toBe(true);
  });

  it.each(binds.map((m) => [`${m.service}:${m.target}`, m.host] as const))('mounts %s, which passes its checker', async (key, host) => {
    const check = CHECKERS[key];
    expect(check, `no checker for ${key}`).toBeDefined();
    await check?.(host);
  });

  it('points each server at the configuration it mounts', () => {
    expect(service('prometheus').command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    expect(service('alertmanager').command).toContain('--config.file=/etc/alertmanager/alertmanager.yml');
    for (const [name, flag] of [
      ['prometheus', '--config.file=/etc/prometheus/prometheus.yml'],
      ['alertmanager', '--config.file=/etc/alertmanager/alertmanager.yml'],
    ] as const) {
      expect(mountedFile(name, flag.split('=')[1] ?? ''), name).toBeDefined();
    }
  });

  it('lets the services find each other by their Compose names', () => {
    const prometheus = parse(readFileSync(join(DEPLOY, 'prometheus/prometheus.yml'), 'utf8')) as {
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const exporterJob = prometheus.scrape_configs.find((j) => j.job_name === 'partner-security-score');
    expect(exporterJob?.static_configs.flatMap((c) => c.targets)).toEqual([`exporter:${DEFAULT_PORT}`]);
    expect(prometheus.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((c) => c.targets))).toEqual(['alertmanager:9093']);
    // The data source's URL is ${PROMETHEUS_URL}, which Grafana reads from the environment Compose gives it.
    const datasources = parse(readFileSync(join(ROOT, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources: { url: string }[] };
    const grafanaEnv = Object.fromEntries(Object.entries(service('grafana').environment ?? {}).map(([k, v]) => [k, interpolate(v, {})]));
    expect(new URL(interpolate(datasources.datasources[0]?.url ?? '', grafanaEnv)).host).toBe('prometheus:9090');
    for (const host of ['exporter', 'alertmanager', 'prometheus']) expect(Object.keys(compose.services)).toContain(host);
  });

  it('publishes ports on the loopback interface only', () => {
    for (const [name, s] of Object.entries(compose.services)) for (const port of s.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(service('exporter').ports).toEqual([`127.0.0.1:${DEFAULT_PORT}:${DEFAULT_PORT}`]);
  });

  it.each([
    ['no credentials', {}, /^ {2}- demo: demo \(static token\)$/m],
    [
      'AZURE_* credentials',
      { AZURE_TENANT_ID: 'contoso.onmicrosoft.com', AZURE_CLIENT_ID: 'c0ffee00-0000-4000-8000-000000000000', AZURE_CLIENT_SECRET: 's3cret' },
      /^ {2}- contoso\.onmicrosoft\.com: client secret \(AZURE_CLIENT_SECRET is set\)$/m,
    ],
  ])('starts the exporter as configured with %s (checked by its --config.check)', async (_what, shell: Record<string, string>, expected) => {
    const exporter = service('exporter');
    const args = (exporter.command ?? []).map((a) => interpolate(a, shell));
    const env = Object.fromEntries(Object.entries(exporter.environment ?? {}).map(([k, v]) => [k, interpolate(v, shell)]));
    expect(args).toEqual([Object.keys(shell).length === 0 ? '--demo' : '--no-demo']);
    const { code, output } = await exec(process.execPath, [MAIN, ...args, '--config.check'], { PATH: process.env.PATH ?? '', ...env });
    expect(output).toMatch(expected);
    expect(code).toBe(0);
  });
});

describe('interpolate (the Compose variable syntax the test reads the file with)', () => {
  // biome-ignore-start lint/suspicious/noTemplateCurlyInString: Compose's ${VAR} syntax, not JavaScript templates.
  it.each([
    ['--${A:+no-}demo', {}, '--demo'],
    ['--${A:+no-}demo', { A: '' }, '--demo'],
    ['--${A:+no-}demo', { A: 'x' }, '--no-demo'],
    ['${A:-}', {}, ''],
    ['${A:-d}', { A: '' }, 'd'],
    ['${A-d}', { A: '' }, ''],
    ['${A}', { A: 'v' }, 'v'],
    ['$${A}', { A: 'v' }, '${A}'],
  ])('%s with %j is %s', (text, env: Record<string, string>, expected) => {
    expect(interpolate(text, env)).toBe(expected);
  });
  // biome-ignore-end lint/suspicious/noTemplateCurlyInString: (end)
});
