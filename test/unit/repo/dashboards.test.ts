/**
 * The Grafana dashboards and their provisioning, without a Grafana: the committed mixin templates are
 * what dashboards/*.ts renders and every query in them names the mixin's selector, every dashboard is
 * well-formed and goes through the datasource variable, and the provisioning files point where
 * deploy/docker-compose.yml mounts things. (That grafana/dashboards/ is what the mixin renders from
 * the templates is test/stack/mixin.test.ts; that every panel query returns data from a real
 * Prometheus is test/stack/e2e.test.ts.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DATASOURCE_UID, SELECTOR } from '../../../dashboards/common.js';
import { DASHBOARDS, DASHBOARDS_DIR, renderDashboards, TEMPLATES_DIR } from '../../../dashboards/generate.js';

/** The datasource variable as Grafana writes it: `${datasource}`. */
const DATASOURCE_VARIABLE = ['$', '{datasource}'].join('');
/** The environment variable the provisioned data source's URL is read from: `${PROMETHEUS_URL}`. */
const PROMETHEUS_URL_VARIABLE = ['$', '{PROMETHEUS_URL}'].join('');
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface PanelJson {
  id?: number;
  type: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: PanelJson[];
}
interface VariableJson {
  name: string;
  type: string;
  query?: unknown;
  multi?: boolean;
  includeAll?: boolean;
  datasource?: { type?: string; uid?: string };
  current?: { value?: unknown };
}
interface DashboardJson {
  uid: string;
  title: string;
  panels: PanelJson[];
  templating: { list: VariableJson[] };
}

const files = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json'));
const dashboards = files.map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as DashboardJson }));

/** Every panel, rows and the panels inside collapsed rows included. */
function allPanels(panels: readonly PanelJson[]): PanelJson[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every value of every `datasource` key anywhere in the JSON, with where it was found. */
function datasourceRefs(value: unknown, path = ''): { path: string; ref: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => datasourceRefs(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => [
    ...(key === 'datasource' ? [{ path: `${path}.${key}`, ref: v }] : []),
    ...datasourceRefs(v, `${path}.${key}`),
  ]);
}

function overlaps(a: NonNullable<PanelJson['gridPos']>, b: NonNullable<PanelJson['gridPos']>): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Every PromQL text of a dashboard: panel queries and variable queries. */
function queries(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(queries);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => [...((key === 'expr' || key === 'definition') && typeof v === 'string' ? [v] : []), ...queries(v)]);
}

describe('generated dashboards', () => {
  it('are committed as mixin templates exactly as dashboards/*.ts renders them (run npm run dashboards after a change)', () => {
    const rendered = renderDashboards();
    expect(
      readdirSync(TEMPLATES_DIR)
        .filter((f) => f.endsWith('.json'))
        .sort(),
    ).toEqual([...rendered.keys()].sort());
    expect(files.sort()).toEqual([...rendered.keys()].sort());
    for (const [file, text] of rendered) expect(readFileSync(join(TEMPLATES_DIR, file), 'utf8'), `${file} differs from its source`).toBe(text);
  });

  it.each(DASHBOARDS.map((d) => d.file))("%s: every series selector of every query names the mixin's selector", (file) => {
    const template = JSON.parse(readFileSync(join(TEMPLATES_DIR, file), 'utf8')) as unknown;
    const exprs = queries(template);
    expect(exprs.length).toBeGreaterThan(10);
    for (const expr of exprs) {
      // Metric names: the exporter's, and the scrape's own up and process_* series.
      for (const m of expr.matchAll(/\b(?:partner_security_[a-z0-9_]+|up|process_[a-z0-9_]+)\b(?![a-z0-9_(])/g)) {
        const rest = expr.slice((m.index ?? 0) + m[0].length);
        const matchers = /^\{([^}]*)\}/.exec(rest)?.[1] ?? '';
        expect(matchers.split(', '), `${m[0]} in ${expr}`).toContain(SELECTOR);
      }
    }
  });

  it('include the overview and the exporter health dashboards, with distinct uids', () => {
    expect(dashboards.map((d) => d.json.title).sort()).toEqual(['Partner security exporter health', 'Partner security score overview']);
    expect(new Set(dashboards.map((d) => d.json.uid)).size).toBe(dashboards.length);
    expect(DASHBOARDS.length).toBe(dashboards.length);
  });
});

describe.each(dashboards)('$file', ({ json }) => {
  const panels = allPanels(json.panels);
  const queryPanels = panels.filter((p) => p.type !== 'row');
  const variable = (name: string) => json.templating.list.find((v) => v.name === name);

  it('gives every panel a unique id', () => {
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lays panels out inside the 24-column grid without overlaps', () => {
    const boxes = panels.map((p) => ({ title: p.title, pos: p.gridPos }));
    for (const { title, pos } of boxes) {
      expect(pos, `${title} has no gridPos`).toBeDefined();
      if (pos) expect(pos.x + pos.w, `${title} is wider than the grid`).toBeLessThanOrEqual(24);
    }
    for (const [i, a] of boxes.entries()) {
      for (const b of boxes.slice(i + 1)) {
        if (a.pos && b.pos) expect(overlaps(a.pos, b.pos), `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
  });

  it('has a Prometheus datasource variable defaulting to the provisioned data source', () => {
    const ds = variable('datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(ds?.current?.value).toBe(DATASOURCE_UID);
  });

  it('has a multi-select tenant_id variable queried through the datasource variable', () => {
    const tenant = variable('tenant_id');
    expect(tenant).toMatchObject({ type: 'query', multi: true, includeAll: true, datasource: { type: 'prometheus', uid: DATASOURCE_VARIABLE } });
    expect(JSON.stringify(tenant?.query)).toContain('label_values(partner_security_up{job=\\"partner-security-score\\"}, tenant_id)');
  });

  it('queries only through the datasource variable, never a fixed data source', () => {
    for (const { path, ref } of datasourceRefs(json)) {
      // The one exception: Grafana's own built-in annotation source.
      if (path.startsWith('.annotations')) expect(ref, path).toEqual({ type: 'grafana', uid: '-- Grafana --' });
      else expect(ref, path).toEqual({ type: 'prometheus', uid: DATASOURCE_VARIABLE });
    }
    for (const panel of queryPanels) expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: DATASOURCE_VARIABLE });
  });

  it('gives every query panel at least one PromQL query with a unique refId', () => {
    for (const panel of queryPanels) {
      const targets = panel.targets ?? [];
      expect(targets.length, panel.title).toBeGreaterThan(0);
      for (const t of targets) expect(t.expr?.trim(), panel.title).toBeTruthy();
      const refIds = targets.map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
    }
  });

  it('filters every per-tenant series by the tenant_id variable', () => {
    for (const panel of queryPanels) {
      for (const { expr = '' } of panel.targets ?? []) {
        // partner_security_build_info is per exporter, not per tenant.
        for (const m of expr.matchAll(/\bpartner_security_(?!build_info\b)[a-z0-9_]+/g)) {
          expect(expr.slice((m.index ?? 0) + m[0].length), `${panel.title}: ${m[0]} in ${expr}`).toMatch(/^\{tenant_id=~"\$tenant_id"/);
        }
      }
    }
  });
});

describe('Grafana provisioning', () => {
  const compose = parse(readFileSync(join(DEPLOY, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { image?: string; volumes?: string[]; environment?: Record<string, string> }>;
  };
  /** Container path -> host path of the Grafana service's bind mounts. */
  const grafanaMounts = new Map(
    (compose.services.grafana?.volumes ?? [])
      .map((v) => v.split(':'))
      .filter(([source]) => source?.startsWith('.'))
      .map(([source, target]) => [target ?? '', resolve(DEPLOY, source ?? '')]),
  );
  /** The host path a container path of the Grafana service resolves to, through its mounts. */
  const onHost = (containerPath: string) => {
    for (const [target, source] of grafanaMounts) {
      if (containerPath === target || containerPath.startsWith(`${target}/`)) return join(source, containerPath.slice(target.length));
    }
    return undefined;
  };
  const provisioning = onHost('/etc/grafana/provisioning');

  it('is mounted where a stock Grafana reads it', () => {
    expect(provisioning).toBe(join(ROOT, 'grafana/provisioning'));
  });

  const sourcesDir = join(ROOT, 'grafana/provisioning/datasources');
  const sources = readdirSync(sourcesDir).flatMap(
    (f) => (parse(readFileSync(join(sourcesDir, f), 'utf8')) as { apiVersion: number; datasources: Record<string, unknown>[] }).datasources,
  );
  const sourceUrl = String(sources[0]?.url ?? '');

  it('creates one Prometheus data source with the uid the dashboards default to', () => {
    expect(sources).toHaveLength(1);
    expect(sources[0]).toMatchObject({ uid: DATASOURCE_UID, type: 'prometheus', access: 'proxy' });
  });

  it('takes the data source URL from the environment, which the compose stack sets to its Prometheus service', () => {
    expect(sourceUrl).toBe(PROMETHEUS_URL_VARIABLE);
    const url = new URL(grafanaInterpolate(sourceUrl, compose.services.grafana?.environment ?? {}));
    expect(url.host).toBe('prometheus:9090');
    expect(Object.keys(compose.services)).toContain(url.hostname);
  });

  describe.each(standaloneGrafanaCommands())('the standalone Grafana command of docs/grafana.md: %s', (command) => {
    const run = dockerRun(command);
    const url = new URL(grafanaInterpolate(sourceUrl, run.env));

    it('mounts the provisioning and the dashboards where the compose stack does, and runs its image', () => {
      expect(run.image).toBe(compose.services.grafana?.image);
      for (const target of ['/etc/grafana/provisioning', '/etc/grafana/dashboards']) {
        const source = run.volumes.find((v) => v.target === target)?.source.replace('$PWD/', '');
        expect(source && join(ROOT, source), target).toBe(onHost(target));
      }
    });

    it('gives Grafana a Prometheus URL its server can reach outside Compose', () => {
      expect(Object.keys(compose.services), 'a Compose service name resolves only inside Compose').not.toContain(url.hostname);
      if (run.network === 'host') {
        expect(['localhost', '127.0.0.1']).toContain(url.hostname);
        expect(run.env.GF_SERVER_HTTP_ADDR, 'with the host network -p does not apply').toBe('127.0.0.1');
      } else {
        expect(url.hostname, 'localhost in a container is the container').toBe('host.docker.internal');
        expect(run.addHosts).toContain('host.docker.internal:host-gateway');
        expect(run.ports.every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
      }
    });
  });

  it('loads the dashboards from the folder the generated JSON is mounted at', () => {
    const dir = join(ROOT, 'grafana/provisioning/dashboards');
    const providers = readdirSync(dir).flatMap(
      (f) => (parse(readFileSync(join(dir, f), 'utf8')) as { apiVersion: number; providers: { type: string; options: { path: string } }[] }).providers,
    );
    expect(providers).toHaveLength(1);
    expect(providers[0]?.type).toBe('file');
    const path = providers[0]?.options.path ?? '';
    expect(onHost(path)).toBe(join(ROOT, 'grafana/dashboards'));
    expect(resolve(DASHBOARDS_DIR)).toBe(join(ROOT, 'grafana/dashboards'));
  });

  it('sets a home dashboard that exists', () => {
    const home = compose.services.grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    const file = onHost(home);
    expect(file).toBeDefined();
    expect((JSON.parse(readFileSync(file ?? '', 'utf8')) as DashboardJson).title).toBe('Partner security score overview');
  });
});

/** Grafana's provisioning interpolation: `$NAME` and `${NAME}` from its environment (unset is empty), `$$` a literal `$`. */
function grafanaInterpolate(text: string, env: Record<string, string>): string {
  return text
    .split('$$')
    .map((part) =>
      part.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_all, braced?: string, bare?: string) => env[braced ?? bare ?? ''] ?? ''),
    )
    .join('$');
}

/** The `docker run` commands of docs/grafana.md that start Grafana, continuation lines joined. */
function standaloneGrafanaCommands(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/grafana.md'), 'utf8');
  return [...doc.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => (m[1] ?? '').replace(/\\\n\s*/g, ' ').trim())
    .filter((c) => c.startsWith('docker run') && c.includes('grafana/grafana'));
}

/** What a `docker run` command line asks for (double-quoted words unquoted). */
function dockerRun(command: string) {
  const words = [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
  const run = {
    env: {} as Record<string, string>,
    volumes: [] as { source: string; target: string }[],
    addHosts: [] as string[],
    ports: [] as string[],
    network: '',
    image: '',
  };
  for (let i = 2; i < words.length; i++) {
    const word = words[i] ?? '';
    const [flag = '', inline] = word.startsWith('--') && word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word];
    const value = () => inline ?? words[++i] ?? '';
    if (flag === '-e' || flag === '--env') {
      const assignment = value();
      run.env[assignment.slice(0, assignment.indexOf('='))] = assignment.slice(assignment.indexOf('=') + 1);
    } else if (flag === '-v' || flag === '--volume') {
      const [source = '', target = ''] = value().split(':');
      run.volumes.push({ source, target });
    } else if (flag === '--add-host') run.addHosts.push(value());
    else if (flag === '-p' || flag === '--publish') run.ports.push(value());
    else if (flag === '--network') run.network = value();
    else if (!flag.startsWith('-')) run.image = flag;
  }
  return run;
}
