/**
 * The shipped alert rules and Alertmanager configuration, through the real checkers: Debian's
 * promtool (check rules, and the unit tests in deploy/prometheus/tests/) and amtool (check-config,
 * routing). That the rules fire against a live exporter is test/stack/e2e.test.ts.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { THRESHOLDS } from '../../dashboards/common.js';
import { renderDashboards } from '../../dashboards/generate.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULES = join(ROOT, 'deploy/prometheus/alerts.yml');
const RULE_TESTS = join(ROOT, 'deploy/prometheus/tests/alerts_test.yml');
const ALERTMANAGER = join(ROOT, 'deploy/alertmanager/alertmanager.yml');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const ruleTests = parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTests;
/** The mixin's default partnerSecuritySelector: the job deploy/prometheus/prometheus.yml scrapes the exporter as. */
const JOB = 'job="partner-security-score"';
const rule = (name: string) => {
  const found = rules.find((r) => r.alert === name);
  if (!found) throw new Error(`no alert ${name}`);
  return found;
};

/** Runs a command; resolves with its exit code and output (stdout, and both combined) instead of throwing. */
async function exec(command: string, args: string[]): Promise<{ code: number; stdout: string; output: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd: ROOT, timeout: 60_000 });
    return { code: 0, stdout, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('alert rules (deploy/prometheus/alerts.yml)', () => {
  it('pass promtool check rules', async () => {
    const { code, output } = await exec('promtool', ['check', 'rules', RULES]);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(code).toBe(0);
  });

  it('pass their promtool unit tests', async () => {
    const { code, output } = await exec('promtool', ['test', 'rules', RULE_TESTS]);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  it('cover what the issue asks for, under CamelCase names', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'PartnerSecurityAuthorizationAtRisk',
      'PartnerSecurityScoreLow',
      'PartnerSecurityScoreDropped',
      'PartnerSecurityMandatoryRequirementNonCompliant',
      'PartnerSecurityRequirementRegressed',
      'PartnerSecurityScoreDataStale',
      'PartnerSecurityAlertResponseSlow',
      'PartnerSecurityAlertOpenTooLong',
      'PartnerSecurityAlertResponseApproachingLimit',
      'PartnerSecurityExporterPollFailing',
      'PartnerSecurityExporterDown',
      'PartnerSecurityExporterAbsent',
    ]);
    for (const r of rules) expect(r.alert).toMatch(/^PartnerSecurity(?:[A-Z][a-z]+)+$/);
  });

  it.each(rules)('$alert has a severity and runbook-style annotations', (r) => {
    // A template may pick the severity from the series (PartnerSecurityAlertOpenTooLong), among the same words.
    const severity = r.labels?.severity ?? '';
    const words = severity.includes('{{') ? [...severity.replace(/\{\{.*?\}\}/g, ' ').matchAll(/\S+/g)].map((m) => m[0]) : [severity];
    expect(words.length).toBeGreaterThan(0);
    for (const word of words) expect(['critical', 'warning', 'info']).toContain(word);
    for (const key of ['summary', 'description', 'runbook']) expect(r.annotations?.[key]?.length ?? 0, key).toBeGreaterThan(20);
  });

  it.each(rules)('$alert has unit tests where it fires and where it stays silent', (r) => {
    const cases = ruleTests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === r.alert);
    expect(cases.some((c) => (c.exp_alerts ?? []).length > 0)).toBe(true);
    expect(cases.some((c) => (c.exp_alerts ?? []).length === 0)).toBe(true);
  });

  it('use the thresholds docs/alerts.md documents and the dashboards colour by', () => {
    expect(rule('PartnerSecurityScoreLow').expr).toBe(`partner_security_score_current{${JOB}} / partner_security_score_max{${JOB}} < ${THRESHOLDS.scoreRatio}`);
    expect(rule('PartnerSecurityScoreDataStale').expr).toBe(
      `time() - partner_security_score_last_refresh_timestamp{${JOB}} > ${THRESHOLDS.dataAgeSeconds / 3600} * 3600`,
    );
    expect(rule('PartnerSecurityAlertResponseSlow').expr).toBe(
      `partner_security_alert_response_time_average_seconds{${JOB}} > ${THRESHOLDS.alertResponseSeconds / 3600} * 3600`,
    );
    expect(rule('PartnerSecurityAlertOpenTooLong').expr).toBe(
      `time() - partner_security_alerts_oldest_open_detected_timestamp_seconds{${JOB}} > ${THRESHOLDS.openAlertAgeSeconds / 3600} * 3600`,
    );
    expect(rule('PartnerSecurityAlertResponseApproachingLimit').expr).toBe(
      `partner_security_alerts_response_time_30d_average_seconds{${JOB}} > ${THRESHOLDS.alertResponseApproachingSeconds / 3600} * 3600`,
    );
    // Two default poll intervals (--poll.interval=10m).
    expect(rule('PartnerSecurityExporterPollFailing').for).toBe(`${THRESHOLDS.pollFailingSeconds / 60}m`);
  });

  it('take which requirements are mandatory from the exporter (one definition, by partner type), as the dashboards do: no rule or panel lists requirement types', () => {
    // src/snapshot.ts mandatoryRequirements() decides; partner_security_requirement_mandatory and
    // partner_security_authorization_at_risk carry the decision, also to the status page's view.
    expect(rule('PartnerSecurityMandatoryRequirementNonCompliant').expr).toContain(`partner_security_requirement_mandatory{${JOB}} == 1`);
    expect(rule('PartnerSecurityAuthorizationAtRisk').expr).toBe(`partner_security_authorization_at_risk{${JOB}} == 1`);
    expect(rule('PartnerSecurityAuthorizationAtRisk').annotations?.description).toContain(`partner_security_requirement_mandatory{${JOB}, tenant_id=%q} == 1`);
    const panelQueries = [...renderDashboards().values()].flatMap((json) =>
      [...json.matchAll(/"expr": ("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1] ?? '""') as string),
    );
    const queries = [
      ...rules.map((r) => r.expr),
      // The annotations that query Prometheus.
      ...rules.flatMap((r) => Object.values(r.annotations ?? {}).filter((text) => text.includes('query '))),
      ...panelQueries,
    ];
    expect(panelQueries.length).toBeGreaterThan(30);
    for (const text of queries) expect(text).not.toMatch(/requirement_type\s*=~|mfaEnforcedForAdmins|securityContactProvided|securityAlertsPromptlyResolved/);
  });

  it('are loaded by the shipped Prometheus configuration, and select the job it scrapes the exporter as', () => {
    const config = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[];
    };
    expect(config.rule_files).toEqual(['alerts.yml']);
    expect(ruleTests.rule_files).toEqual(['../alerts.yml']);
    const exporterJob = config.scrape_configs.find((j) => j.static_configs?.some((c) => c.targets.some((t) => t.startsWith('exporter:'))));
    expect(JOB).toBe(`job="${exporterJob?.job_name}"`);
  });
});

describe('Alertmanager configuration (deploy/alertmanager/alertmanager.yml)', () => {
  it('passes amtool check-config', async () => {
    const { code, output } = await exec('amtool', ['check-config', ALERTMANAGER]);
    expect(output).toContain('SUCCESS');
    expect(code).toBe(0);
  });

  it.each([
    ['severity=critical', 'alertname=PartnerSecurityMandatoryRequirementNonCompliant'],
    ['severity=warning', 'alertname=PartnerSecurityExporterPollFailing'],
  ])('routes %s alerts to the partner-security receiver', async (...labels) => {
    const args = ['config', 'routes', 'test', `--config.file=${ALERTMANAGER}`, '--verify.receivers=partner-security', ...labels, 'tenant_id=t'];
    const { code, stdout } = await exec('amtool', args);
    expect(stdout.trim()).toBe('partner-security');
    expect(code).toBe(0);
  });
});
