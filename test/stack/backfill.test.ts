import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backfill, renderBackfill } from '../../src/cli/backfill.js';
import type { GraphClient } from '../../src/graph/client.js';
import { createLogger, createRedactor } from '../../src/lib/log.js';
import { baseEnv, CLIENT_SECRET, clientSecretEnv, runExporter, TENANT_ID } from '../helpers/exporter.js';
import { closeFakeClouds, INVALID_CLIENT_SECRET, startFakeCloud } from '../helpers/fake-cloud.js';
import { startPrometheus } from '../helpers/prometheus.js';

const DAY = 86_400;
const T0 = Math.floor(Date.parse('2026-09-01T00:00:00Z') / 1000);

describe('backfill', () => {
  it('renders OpenMetrics with timestamps under the live names and labels', () => {
    const text = renderBackfill([
      {
        labels: { tenant_id: 't1', partner: 'a"b' },
        history: [
          { createdTimestamp: T0 + DAY, score: 40, compliantRequirements: 2, totalRequirements: 5 },
          { createdTimestamp: T0, score: 20 },
          { createdTimestamp: T0, score: 99 },
        ],
      },
    ]);
    expect(text).toBe(
      [
        '# HELP partner_security_score_current Partner security score reported by Graph (backfilled from the score history).',
        '# TYPE partner_security_score_current gauge',
        `partner_security_score_current{tenant_id="t1",partner="a\\"b"} 20 ${T0}`,
        `partner_security_score_current{tenant_id="t1",partner="a\\"b"} 40 ${T0 + DAY}`,
        '# HELP partner_security_history_compliant_requirements Compliant requirements in the score history entry (backfilled).',
        '# TYPE partner_security_history_compliant_requirements gauge',
        `partner_security_history_compliant_requirements{tenant_id="t1",partner="a\\"b"} 2 ${T0 + DAY}`,
        '# HELP partner_security_history_requirements Requirements evaluated in the score history entry (backfilled).',
        '# TYPE partner_security_history_requirements gauge',
        `partner_security_history_requirements{tenant_id="t1",partner="a\\"b"} 5 ${T0 + DAY}`,
        '# EOF',
        '',
      ].join('\n'),
    );
  });

  it('is accepted by promtool tsdb create-blocks-from openmetrics and queried back from a real Prometheus', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pss-backfill-'));
    const history = Array.from({ length: 90 }, (_, i) => ({
      createdTimestamp: T0 + i * DAY,
      score: 10 + i,
      compliantRequirements: i % 6,
      totalRequirements: 5,
    }));
    const file = join(dir, 'history.om');
    writeFileSync(
      file,
      renderBackfill([
        { labels: { tenant_id: 't1' }, history },
        { labels: { tenant_id: 't2' }, history: history.slice(0, 3) },
      ]),
    );
    const data = join(dir, 'data');
    execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', file, data], { stdio: 'pipe' });
    expect(readdirSync(data).length).toBeGreaterThan(0);

    const prometheus = await startPrometheus({ dataDir: data });
    try {
      const at = (i: number) => T0 + i * DAY;
      expect(await prometheus.query('partner_security_score_current{tenant_id="t1"}', at(0))).toEqual([
        { metric: { __name__: 'partner_security_score_current', tenant_id: 't1' }, value: [at(0), '10'] },
      ]);
      expect((await prometheus.query('partner_security_score_current{tenant_id="t1"}', at(89)))[0]?.value[1]).toBe('99');
      expect((await prometheus.query('partner_security_history_compliant_requirements', at(2))).map((r) => [r.metric.tenant_id, r.value[1]])).toEqual([
        ['t1', '2'],
        ['t2', '2'],
      ]);
      expect(await prometheus.query('count(count_over_time(partner_security_score_current{tenant_id="t1"}[100d]))', at(89))).toEqual([
        { metric: {}, value: [at(89), '1'] },
      ]);
      expect((await prometheus.query('count_over_time(partner_security_score_current{tenant_id="t1"}[100d])', at(89)))[0]?.value[1]).toBe('90');
    } finally {
      await prometheus.stop();
    }
  });
});

describe('backfill of several tenants', () => {
  it('labels each as the live exporter does: tenant_id (from the token when not configured), then the constant labels it has', async () => {
    const graph = (score: number): GraphClient => ({
      // A client that answers every page alike, through the reader as the real client does.
      get: async (_path, _signal, _relation, reader) => {
        const text = JSON.stringify({ value: [{ createdDateTime: new Date(T0 * 1000).toISOString(), score }] });
        reader?.write(text);
        return { status: 200, clientRequestId: 'c', bytes: text.length, body: reader ? reader.end() : JSON.parse(text) };
      },
    });
    const output = join(mkdtempSync(join(tmpdir(), 'pss-backfill-labels-')), 'history.om');
    const lines: string[] = [];
    const code = await backfill({
      tenants: [{ tenantId: 't1', labels: { partner: 'a', region: 'eu' } }, { labels: { region: 'us' } }],
      connect: (tenant) => ({ graph: graph(tenant.tenantId === undefined ? 2 : 1), tenantOfToken: () => 't2' }),
      maxPages: 1,
      output,
      force: false,
      logger: createLogger({ level: 'info', format: 'logfmt', redact: createRedactor(), write: (l) => lines.push(l) }),
    });
    expect(code).toBe(0);
    expect(
      readFileSync(output, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('partner_security_score_current{')),
    ).toEqual([
      `partner_security_score_current{tenant_id="t1",partner="a",region="eu"} 1 ${T0}`,
      `partner_security_score_current{tenant_id="t2",region="us"} 2 ${T0}`,
    ]);
    expect(lines.filter((l) => l.includes('history read'))).toHaveLength(2);
  });
});

describe('backfill command', () => {
  afterEach(async () => {
    await closeFakeClouds();
  });

  it('writes the history Graph returns, paged, under the live labels, and promtool turns it into blocks', async () => {
    const cloud = await startFakeCloud();
    const day = (i: number) => new Date(Date.UTC(2026, 8, 1 + i)).toISOString();
    // Two pages of history; the second is reached through an opaque next link.
    cloud.relationDefault = (request) => {
      if (!request.path.endsWith('/history')) return { status: 404, body: { error: { code: 'ResourceNotFound', message: 'no' } } };
      const second = request.query.includes('page=2');
      const value = (second ? [3, 4] : [0, 1, 2]).map((i) => ({
        createdDateTime: day(i),
        score: 10 * i,
        compliantRequirementsCount: i,
        totalRequirementsCount: 5,
      }));
      return { body: { value, ...(second ? {} : { '@odata.nextLink': `${cloud.url}/beta/security/partner/securityScore/history?page=2` }) } };
    };
    const dir = mkdtempSync(join(tmpdir(), 'pss-backfill-cli-'));
    const output = join(dir, 'history.om');
    const run = await runExporter(['backfill', `--output=${output}`, `--graph.endpoint=${cloud.url}`, '--log.format=json'], {
      ...baseEnv(cloud),
      ...clientSecretEnv(),
    });
    expect(run.code).toBe(0);
    const text = readFileSync(output, 'utf8');
    const scores = text.split('\n').filter((l) => l.startsWith('partner_security_score_current{'));
    expect(scores).toEqual([0, 1, 2, 3, 4].map((i) => `partner_security_score_current{tenant_id="${TENANT_ID}"} ${10 * i} ${Date.parse(day(i)) / 1000}`));
    expect(text.endsWith('# EOF\n')).toBe(true);
    expect(run.stderr).not.toContain(CLIENT_SECRET);
    // Progress on standard error: one line per page, per tenant.
    const progress = run.stderr
      .split('\n')
      .filter((l) => l.includes('"history page read"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(progress.map((p) => [p.tenant, p.pages, p.entries])).toEqual([
      ['1/1', 1, 3],
      ['1/1', 2, 5],
    ]);
    execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', output, join(dir, 'data')], { stdio: 'pipe' });
    expect(readdirSync(join(dir, 'data')).length).toBeGreaterThan(0);
  });

  it('exits 1 and writes no file when its only tenant fails', async () => {
    const cloud = await startFakeCloud();
    cloud.refuseTokens = INVALID_CLIENT_SECRET;
    const output = join(mkdtempSync(join(tmpdir(), 'pss-backfill-cli-')), 'history.om');
    const run = await runExporter(['backfill', `--output=${output}`, `--graph.endpoint=${cloud.url}`, '--log.format=json'], {
      ...baseEnv(cloud),
      ...clientSecretEnv(),
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('reading the history failed');
    expect(existsSync(output)).toBe(false);
  });
});
