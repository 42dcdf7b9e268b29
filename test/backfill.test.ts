import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderBackfill } from '../src/backfill.js';
import { startPrometheus } from './helpers/prometheus.js';

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
