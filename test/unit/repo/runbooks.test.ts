/**
 * Every alert rule links to its runbook: a `runbook_url` on the project's home (package.json's
 * `repository`) whose anchor, the alert name in lower case, is a heading of docs/alerts.md (GitHub's
 * anchor rules), plus `summary` and `description`; and the alert table of docs/alerts.md,
 * the one documented place for thresholds and `for:` durations, says what each rule does. Checked
 * for the rule file Prometheus loads and for the PrometheusRule generated from it for Kubernetes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALERTS_FILE, BASE_DIR, loadObjects, renderPrometheusRule } from '../../../scripts/kubernetes.js';
import { projectHome } from '../../../scripts/project-home.js';
import { githubAnchors } from '../../helpers/markdown.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** Where the runbooks are: the alert table and one section per alert. */
const ALERTS_DOC = readFileSync(join(ROOT, 'docs/alerts.md'), 'utf8');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  annotations?: Record<string, string>;
}

const rulesOf = (groups: { rules: Rule[] }[]): Rule[] => groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

/** The rule files that reach a Prometheus: the one for Prometheus itself, and the Kubernetes PrometheusRule (committed and as generated). */
const SOURCES: readonly { name: string; rules: Rule[] }[] = [
  { name: 'deploy/prometheus/alerts.yml', rules: rulesOf((parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: Rule[] }[] }).groups) },
  {
    name: 'deploy/kubernetes/base/prometheusrule.yaml',
    rules: rulesOf((loadObjects(join(BASE_DIR, 'prometheusrule.yaml'))[0]?.spec as { groups?: { rules: Rule[] }[] } | undefined)?.groups ?? []),
  },
  { name: 'renderPrometheusRule()', rules: rulesOf((parse(renderPrometheusRule()) as { spec: { groups: { rules: Rule[] }[] } }).spec.groups) },
];

const anchors = githubAnchors(ALERTS_DOC);

/** The alert table of docs/alerts.md: alert name -> its cells. */
function alertTable(): Map<string, { threshold: string; for: string; runbook: string }> {
  const section = ALERTS_DOC.split('\n## Alert rules\n')[1]?.split('\n## ')[0] ?? '';
  const rows = new Map<string, { threshold: string; for: string; runbook: string }>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`(PartnerSecurity\w+)`$/.exec(cells[1] ?? '')?.[1];
    if (name === undefined || cells.length < 7) continue;
    rows.set(name, { threshold: cells[3] ?? '', for: cells[4] ?? '', runbook: cells[5] ?? '' });
  }
  return rows;
}

describe.each(SOURCES)('alert rules in $name', ({ rules }) => {
  it('are all there', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8);
  });

  it.each(rules.map((r) => [r.alert ?? '', r] as const))('%s links to its runbook section in docs/alerts.md and says what it means', (name, rule) => {
    const url = rule.annotations?.runbook_url ?? '';
    const match = /^(.*)\/blob\/main\/docs\/alerts\.md#([a-z0-9_-]+)$/.exec(url);
    expect(match, `runbook_url ${url}`).not.toBeNull();
    // On the project's home, as package.json's repository names it.
    expect(match?.[1]).toBe(projectHome().url);
    expect(anchors.has(match?.[2] ?? ''), `docs/alerts.md has no heading for #${match?.[2]}`).toBe(true);
    // Its own section, not another alert's.
    expect(match?.[2]).toBe(name.toLowerCase());
    for (const key of ['summary', 'description']) expect(rule.annotations?.[key]?.length ?? 0, key).toBeGreaterThan(20);
  });

  it('all link into the same file', () => {
    const bases = new Set(rules.map((r) => (r.annotations?.runbook_url ?? '').split('#')[0]));
    expect(bases.size).toBe(1);
  });
});

describe('the alert table of docs/alerts.md (thresholds and for: in one place)', () => {
  const rules = SOURCES[0]?.rules ?? [];
  const table = alertTable();

  it('lists exactly the shipped alerts', () => {
    expect([...table.keys()]).toEqual(rules.map((r) => r.alert));
  });

  it.each(rules.map((r) => [r.alert ?? '', r] as const))('%s: the row gives its for: and links to the runbook the rule names', (name, rule) => {
    const row = table.get(name);
    expect(row?.for).toBe(rule.for === undefined ? '-' : `\`${rule.for}\``);
    expect(row?.threshold.length ?? 0).toBeGreaterThan(5);
    const anchor = (rule.annotations?.runbook_url ?? '').split('#')[1];
    expect(row?.runbook).toBe(`[runbook](#${anchor})`);
  });
});
