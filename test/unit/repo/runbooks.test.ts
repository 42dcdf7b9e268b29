/**
 * Every alert rule links to its runbook: a `runbook_url` on the project's home (package.json's
 * `repository`) whose anchor, the alert name in lower case, is a heading of docs/alerts.md (GitHub's
 * anchor rules), plus `summary` and `description`; and the README's alert table, the one documented
 * place for thresholds and `for:` durations, says what each rule does. Checked for the rule file
 * Prometheus loads and for the PrometheusRule generated from it for Kubernetes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALERTS_FILE, BASE_DIR, loadObjects, renderPrometheusRule } from '../../../scripts/kubernetes.js';
import { projectHome } from '../../../scripts/project-home.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The document the runbook URLs point into (the mixin's runbookURLPattern). */
const RUNBOOKS = 'docs/alerts.md';

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

/**
 * The anchor GitHub gives a heading: inline markup dropped, lower case, every character that is not a
 * letter, digit, space, hyphen or underscore removed, spaces to hyphens; repeats get -1, -2, ...
 */
function githubAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const text = (heading[1] ?? '')
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/[`*]/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

const anchors = githubAnchors(README);

/** The README's alert table: alert name -> its cells. */
function alertTable(): Map<string, { threshold: string; for: string; runbook: string }> {
  const section = README.split('\n### Alert rules\n')[1]?.split('\n### ')[0] ?? '';
  const rows = new Map<string, { threshold: string; for: string; runbook: string }>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`(PartnerSecurity\w+)`$/.exec(cells[1] ?? '')?.[1];
    if (name === undefined || cells.length < 7) continue;
    rows.set(name, { threshold: cells[3] ?? '', for: cells[4] ?? '', runbook: cells[5] ?? '' });
  }
  return rows;
}

describe('githubAnchors', () => {
  it.each([
    ['## Prometheus, alert rules and Grafana', 'prometheus-alert-rules-and-grafana'],
    ['### 1. Register an application', '1-register-an-application'],
    ['#### `PartnerSecurityScoreLow`', 'partnersecurityscorelow'],
    ['## Flags', 'flags'],
  ])('%s -> #%s', (heading, anchor) => {
    expect([...githubAnchors(`${heading}\n`)]).toEqual([anchor]);
  });

  it('numbers repeated headings and ignores fenced code', () => {
    expect([...githubAnchors('## Usage\n```sh\n# not a heading\n```\n### Usage\n')]).toEqual(['usage', 'usage-1']);
  });
});

describe.each(SOURCES)('alert rules in $name', ({ rules }) => {
  it('are all there', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8);
  });

  it.each(rules.map((r) => [r.alert ?? '', r] as const))('%s links to its runbook section on the project home and says what it means', (name, rule) => {
    const url = rule.annotations?.runbook_url ?? '';
    expect(url).toBe(`${projectHome().url}/blob/main/${RUNBOOKS}#${name.toLowerCase()}`);
    expect(existsSync(join(ROOT, RUNBOOKS)), `${RUNBOOKS} does not exist`).toBe(true);
    const headings = githubAnchors(readFileSync(join(ROOT, RUNBOOKS), 'utf8'));
    expect(headings.has(name.toLowerCase()), `${RUNBOOKS} has no heading for #${name.toLowerCase()}`).toBe(true);
    for (const key of ['summary', 'description']) expect(rule.annotations?.[key]?.length ?? 0, key).toBeGreaterThan(20);
  });

  it('all link into the same document', () => {
    const bases = new Set(rules.map((r) => (r.annotations?.runbook_url ?? '').split('#')[0]));
    expect(bases.size).toBe(1);
  });
});

describe('the README alert table (thresholds and for: in one place)', () => {
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

describe('links into the README from SECURITY.md and the README itself', () => {
  it('point at headings that exist', () => {
    const security = readFileSync(join(ROOT, 'SECURITY.md'), 'utf8');
    const targets = [...[...security.matchAll(/\]\(README\.md#([^)]+)\)/g)].map((m) => m[1]), ...[...README.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1])];
    expect(targets.length).toBeGreaterThan(5);
    expect(targets.filter((t) => !anchors.has(t ?? ''))).toEqual([]);
  });
});
