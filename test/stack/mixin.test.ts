/**
 * The monitoring mixin (mixin/) through Debian's jsonnet and promtool: the files the project ships
 * (deploy/prometheus/alerts.yml and grafana/dashboards/*.json, and through them the PrometheusRule and
 * dashboard ConfigMaps of test/stack/kubernetes.test.ts) are exactly what it renders with its
 * defaults, and its documented entry points render the same; the defaults select the job the shipped
 * scrape configurations give the exporter; a rendering with a partner's own _config
 * (test/fixtures/mixin/custom.libsonnet) passes promtool and its own unit tests, which fail on the
 * defaults; and every threshold and `for:` of _config changes its rule and no other.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadObjects } from '../../scripts/kubernetes.js';
import { ALERTS_FILE, GRAFANA_DASHBOARDS_DIR, MIXIN_DIR, type MixinRendering, renderAlertsFile, renderMixin, renderShipped } from '../../scripts/mixin.js';
import { projectHome } from '../../scripts/project-home.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/mixin/', import.meta.url));
const CUSTOM = join(FIXTURES, 'custom.libsonnet');
const RULE_TESTS = join(ROOT, 'deploy/prometheus/tests/alerts_test.yml');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Dashboard {
  uid: string;
  tags: string[];
  refresh: string;
  links: { type: string; tags: string[] }[];
}

/** Runs a command; resolves with its exit code and output instead of throwing. */
async function exec(command: string, args: string[]): Promise<{ code: number; stdout: string; output: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd: ROOT, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Evaluates jsonnet code with mixin/ on the import path. */
async function jsonnet(code: string): Promise<unknown> {
  const { code: exit, stdout, output } = await exec('jsonnet', ['-J', MIXIN_DIR, '-e', code]);
  expect(exit, output).toBe(0);
  return JSON.parse(stdout);
}

const rulesOf = (rendering: MixinRendering) => rendering.prometheusAlerts.groups.flatMap((g) => g.rules) as unknown as Rule[];
const dashboardsOf = (rendering: MixinRendering) => rendering.grafanaDashboards as Record<string, Dashboard>;

let workDir: string;
let defaults: MixinRendering;
let custom: MixinRendering;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'pss-mixin-'));
  defaults = renderMixin();
  custom = renderMixin(CUSTOM);
});
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

let renderings = 0;
/** Writes a rendering's rule file to a directory of its own, with the given promtool test files beside it (or in tests/). */
function writeRules(rendering: MixinRendering, tests: { file: string; as: string }[]): string {
  const dir = join(workDir, `rendering-${++renderings}`);
  mkdirSync(join(dir, 'tests'), { recursive: true });
  writeFileSync(join(dir, 'alerts.yml'), renderAlertsFile(rendering.prometheusAlerts));
  for (const { file, as } of tests) copyFileSync(file, join(dir, as));
  return dir;
}

describe('the mixin with its defaults', () => {
  it('renders exactly the committed alerts.yml and grafana/dashboards/*.json (run npm run mixin after a change)', () => {
    const shipped = renderShipped(defaults);
    expect([...shipped.keys()].sort()).toEqual(
      ['deploy/prometheus/alerts.yml', ...readdirSync(GRAFANA_DASHBOARDS_DIR).map((f) => `grafana/dashboards/${f}`)].sort(),
    );
    for (const [file, text] of shipped) expect(readFileSync(join(ROOT, file), 'utf8'), `${file} differs from the mixin`).toBe(text);
  });

  it('passes promtool check rules and the unit tests in deploy/prometheus/tests/', async () => {
    const dir = writeRules(defaults, [{ file: RULE_TESTS, as: 'tests/alerts_test.yml' }]);
    const check = await exec('promtool', ['check', 'rules', join(dir, 'alerts.yml')]);
    expect(check.output).toContain(`SUCCESS: ${rulesOf(defaults).length} rules found`);
    expect(check.code).toBe(0);
    const test = await exec('promtool', ['test', 'rules', join(dir, 'tests/alerts_test.yml')]);
    expect(test.output).toContain('SUCCESS');
    expect(test.code).toBe(0);
  });

  it('renders the same through its documented entry points, alerts.jsonnet and dashboards.jsonnet', async () => {
    const alerts = await exec('jsonnet', ['-J', MIXIN_DIR, '-S', join(MIXIN_DIR, 'alerts.jsonnet')]);
    expect(alerts.code, alerts.output).toBe(0);
    expect(parse(alerts.stdout)).toEqual(parse(readFileSync(ALERTS_FILE, 'utf8')));
    const out = join(workDir, 'dashboards_out');
    mkdirSync(out);
    const dashboards = await exec('jsonnet', ['-J', MIXIN_DIR, '-m', out, join(MIXIN_DIR, 'dashboards.jsonnet')]);
    expect(dashboards.code, dashboards.output).toBe(0);
    const files = readdirSync(GRAFANA_DASHBOARDS_DIR).sort();
    expect(readdirSync(out).sort()).toEqual(files);
    for (const file of files) {
      expect(JSON.parse(readFileSync(join(out, file), 'utf8')), file).toEqual(JSON.parse(readFileSync(join(GRAFANA_DASHBOARDS_DIR, file), 'utf8')));
    }
  });

  it('exposes prometheusAlerts and grafanaDashboards from mixin.libsonnet, and _config from config.libsonnet', async () => {
    const fields = await jsonnet(
      "local m = import 'mixin.libsonnet'; { mixin: std.objectFieldsAll(m), config: std.objectFieldsAll(import 'config.libsonnet') }",
    );
    expect(fields).toEqual({ mixin: ['_config', 'grafanaDashboards', 'prometheusAlerts'], config: ['_config'] });
  });

  it('has a jsonnetfile.json for jb install, with no dependency to vendor', () => {
    const file = JSON.parse(readFileSync(join(MIXIN_DIR, 'jsonnetfile.json'), 'utf8')) as unknown;
    expect(file).toEqual({ version: 1, dependencies: [], legacyImports: true });
  });

  it('selects the job the shipped scrape configurations give the exporter', async () => {
    const selector = await jsonnet("(import 'config.libsonnet')._config.partnerSecuritySelector");
    const prometheus = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[];
    };
    const exporterJob = prometheus.scrape_configs.find((j) => j.static_configs?.some((c) => c.targets.some((t) => t.startsWith('exporter:'))));
    expect(selector).toBe(`job="${exporterJob?.job_name}"`);
    // The Prometheus Operator and Azure Monitor name the job after the Service unless relabelled.
    for (const file of ['deploy/kubernetes/base/servicemonitor.yaml', 'deploy/kubernetes/components/azure-monitor/servicemonitor.yaml']) {
      const [monitor] = loadObjects(join(ROOT, file));
      const spec = monitor?.spec as { endpoints: { relabelings?: { targetLabel?: string; replacement?: string }[] }[] } | undefined;
      const relabelings = (spec?.endpoints ?? []).flatMap((e) => e.relabelings ?? []);
      expect(
        relabelings.filter((r) => r.targetLabel === 'job').map((r) => `job="${r.replacement}"`),
        file,
      ).toEqual([selector]);
    }
  });

  it("links every runbook into docs/alerts.md on the project's home (package.json's repository)", async () => {
    const pattern = await jsonnet("(import 'config.libsonnet')._config.runbookURLPattern");
    expect(pattern).toBe(`${projectHome().url}/blob/main/docs/alerts.md#%s`);
    for (const rule of rulesOf(defaults))
      expect(rule.annotations?.runbook_url).toBe(`${projectHome().url}/blob/main/docs/alerts.md#${rule.alert.toLowerCase()}`);
  });
});

describe("the mixin with a partner's own _config (test/fixtures/mixin/custom.libsonnet)", () => {
  it('passes promtool check rules and its own unit tests (one-hour target, selector, runbook pattern)', async () => {
    const dir = writeRules(custom, [{ file: join(FIXTURES, 'custom_alerts_test.yml'), as: 'custom_alerts_test.yml' }]);
    const check = await exec('promtool', ['check', 'rules', join(dir, 'alerts.yml')]);
    expect(check.output).toContain(`SUCCESS: ${rulesOf(custom).length} rules found`);
    expect(check.code).toBe(0);
    const test = await exec('promtool', ['test', 'rules', join(dir, 'custom_alerts_test.yml')]);
    expect(test.output).toContain('SUCCESS');
    expect(test.code).toBe(0);
  });

  it('has unit tests that fail on the defaults (they prove the settings took effect)', async () => {
    const dir = writeRules(defaults, [{ file: join(FIXTURES, 'custom_alerts_test.yml'), as: 'custom_alerts_test.yml' }]);
    const test = await exec('promtool', ['test', 'rules', join(dir, 'custom_alerts_test.yml')]);
    for (const alert of ['PartnerSecurityAlertResponseSlow', 'PartnerSecurityAlertOpenTooLong', 'PartnerSecurityExporterAbsent']) {
      expect(test.output).toContain(`alertname: ${alert}`);
    }
    expect(test.code).toBe(1);
  });

  it('puts its selector, and only its selector, in every series selector of every rule and dashboard query', () => {
    const exprs = [
      ...rulesOf(custom).map((r) => r.expr),
      ...(JSON.stringify(custom.grafanaDashboards)
        .match(/"(?:expr|definition)":"(?:[^"\\]|\\.)*"/g)
        ?.map((m) => JSON.parse(`{${m}}`) as { expr?: string; definition?: string })
        .map((o) => o.expr ?? o.definition ?? '') ?? []),
    ];
    expect(exprs.length).toBeGreaterThan(50);
    for (const expr of exprs) {
      expect(expr).not.toContain('partner-security-score');
      for (const m of expr.matchAll(/\b(?:partner_security_[a-z0-9_]+|up|process_[a-z0-9_]+)\b(?![a-z0-9_(])/g)) {
        const matchers = /^\{([^}]*)\}/.exec(expr.slice((m.index ?? 0) + m[0].length))?.[1] ?? '';
        expect(matchers, `${m[0]} in ${expr}`).toContain('job="pss", env="prod"');
      }
    }
  });

  it('gives the dashboards its uid prefix, tags and refresh', () => {
    const dashboards = dashboardsOf(custom);
    expect(Object.keys(dashboards).sort()).toEqual(Object.keys(dashboardsOf(defaults)).sort());
    const overview = dashboards['partner-security-overview.json'];
    const health = dashboards['partner-security-exporter-health.json'];
    expect([overview?.uid, overview?.refresh, health?.uid, health?.refresh]).toEqual(['acme-pss-overview', '15m', 'acme-pss-exporter-health', '30s']);
    for (const dashboard of [overview, health]) {
      expect(dashboard?.tags).toEqual(['acme', 'security']);
      expect(dashboard?.links.filter((l) => l.type === 'dashboards').map((l) => l.tags)).toEqual([['acme', 'security']]);
    }
  });
});

/** Each threshold or `for:` of _config, a value to set it to, the rule it belongs to and what that rule then says. */
const SETTINGS: readonly { key: string; value: unknown; alert: string; field: 'expr' | 'for'; expected: string }[] = [
  { key: 'scoreLowRatio', value: 0.55, alert: 'PartnerSecurityScoreLow', field: 'expr', expected: '< 0.55' },
  { key: 'scoreLowFor', value: '17m', alert: 'PartnerSecurityScoreLow', field: 'for', expected: '17m' },
  { key: 'scoreDroppedFor', value: '17m', alert: 'PartnerSecurityScoreDropped', field: 'for', expected: '17m' },
  { key: 'mandatoryRequirementFor', value: '17m', alert: 'PartnerSecurityMandatoryRequirementNonCompliant', field: 'for', expected: '17m' },
  { key: 'authorizationAtRiskFor', value: '17m', alert: 'PartnerSecurityAuthorizationAtRisk', field: 'for', expected: '17m' },
  { key: 'requirementRegressedWindow', value: '3d', alert: 'PartnerSecurityRequirementRegressed', field: 'expr', expected: '[3d]) == 1' },
  { key: 'requirementRegressedFor', value: '17m', alert: 'PartnerSecurityRequirementRegressed', field: 'for', expected: '17m' },
  { key: 'dataStaleHours', value: 36, alert: 'PartnerSecurityScoreDataStale', field: 'expr', expected: '> 36 * 3600' },
  { key: 'dataStaleFor', value: '17m', alert: 'PartnerSecurityScoreDataStale', field: 'for', expected: '17m' },
  { key: 'alertResponseTargetHours', value: 2, alert: 'PartnerSecurityAlertResponseSlow', field: 'expr', expected: '> 2 * 3600' },
  { key: 'alertResponseSlowFor', value: '17m', alert: 'PartnerSecurityAlertResponseSlow', field: 'for', expected: '17m' },
  { key: 'alertOpenHours', value: 3, alert: 'PartnerSecurityAlertOpenTooLong', field: 'expr', expected: '> 3 * 3600' },
  { key: 'alertOpenFor', value: '17m', alert: 'PartnerSecurityAlertOpenTooLong', field: 'for', expected: '17m' },
  { key: 'alertResponseApproachingHours', value: 5, alert: 'PartnerSecurityAlertResponseApproachingLimit', field: 'expr', expected: '> 5 * 3600' },
  { key: 'alertResponseApproachingFor', value: '17m', alert: 'PartnerSecurityAlertResponseApproachingLimit', field: 'for', expected: '17m' },
  { key: 'pollFailingFor', value: '17m', alert: 'PartnerSecurityExporterPollFailing', field: 'for', expected: '17m' },
  { key: 'exporterDownFor', value: '17m', alert: 'PartnerSecurityExporterDown', field: 'for', expected: '17m' },
  { key: 'exporterAbsentFor', value: '17m', alert: 'PartnerSecurityExporterAbsent', field: 'for', expected: '17m' },
];
/** The settings that are not one rule's: each has a test of its own above. */
const OTHER_SETTINGS = ['partnerSecuritySelector', 'runbookURLPattern', 'dashboardUIDPrefix', 'dashboardTags', 'dashboardRefresh'];

describe('every threshold and for: of _config', () => {
  let changed: Record<string, { groups: { rules: Rule[] }[] }>;
  beforeAll(async () => {
    // One jsonnet run renders the rules once per setting changed.
    const overrides = Object.fromEntries(SETTINGS.map((s) => [s.key, s.value]));
    changed = (await jsonnet(
      `local overrides = ${JSON.stringify(overrides)}; { [k]: ((import 'mixin.libsonnet') + { _config+:: { [k]: overrides[k] } }).prometheusAlerts for k in std.objectFields(overrides) }`,
    )) as typeof changed;
  });

  it('is in this table (a new setting needs a row)', async () => {
    const keys = (await jsonnet("std.objectFields((import 'config.libsonnet')._config)")) as string[];
    expect(keys.sort()).toEqual([...SETTINGS.map((s) => s.key), ...OTHER_SETTINGS].sort());
  });

  it.each(SETTINGS)('$key changes $alert ($field) and no other rule', ({ key, alert, field, expected }) => {
    const before = rulesOf(defaults);
    const after = changed[key]?.groups.flatMap((g) => g.rules) ?? [];
    expect(after.map((r) => r.alert)).toEqual(before.map((r) => r.alert));
    const rule = after.find((r) => r.alert === alert);
    if (field === 'for') expect(rule?.for).toBe(expected);
    else expect(rule?.expr).toContain(expected);
    expect(rule?.[field]).not.toBe(before.find((r) => r.alert === alert)?.[field]);
    expect(after.filter((r) => r.alert !== alert)).toEqual(before.filter((r) => r.alert !== alert));
  });
});
