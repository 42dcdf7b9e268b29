/**
 * A Graph that keeps a poll busy for ever: every page of security alerts answers just inside
 * --graph.timeout with another next link. Without a deadline on the whole poll such tenants hold
 * every --poll.concurrency slot and no other tenant is ever polled (issue 19, item 4).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_ID, INTEGRATION_TIMEOUT_MS, startExporter, until, WITH_SECURITY_ALERTS } from '../helpers/exporter.js';
import { type FakeCloud, type GraphRequest, SECURITY_ALERTS_PATH, startFakeCloud } from '../helpers/fake-cloud.js';

const tenant = (i: number) => `${String(i).repeat(8)}-0000-4000-8000-00000000000${i}`;
/** Listed first, so they take every slot before the healthy ones are due. */
const ENDLESS = [1, 2, 3, 4].map(tenant);
const HEALTHY = [5, 6, 7, 8].map(tenant);

/** The configured tenant a Graph request is for: the one its bearer token was issued to. */
function tenantOf(cloud: FakeCloud, request: GraphRequest): string | undefined {
  const token = (request.authorization ?? '').replace(/^Bearer /, '');
  return cloud.tokenRequests.find((t) => t.accessToken === token)?.tenant;
}

describe('a deadline on every poll (--poll.timeout)', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('4 of 8 tenants paging without end hold the 4 slots only until their deadline: the others get their first poll and /readyz turns ready', async ({
    onTestFinished,
  }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    let endlessPages = 0;
    cloud.alertsDefault = (request) => {
      if (!ENDLESS.includes(tenantOf(cloud, request) ?? '')) return {};
      endlessPages += 1;
      // Just inside --graph.timeout (2s), and never the last page.
      return { delayMs: 1200, body: { value: [], '@odata.nextLink': `${cloud.url}${SECURITY_ALERTS_PATH}?$skiptoken=${endlessPages}` } };
    };
    const file = join(mkdtempSync(join(tmpdir(), 'pss-deadline-')), 'tenants.yml');
    writeFileSync(
      file,
      [
        'tenants:',
        ...[...ENDLESS, ...HEALTHY].map((t) => `  - { tenant_id: ${t}, client_id: ${CLIENT_ID}, client_secret_env: SECRET, authority_host: "${cloud.url}" }`),
        '',
      ].join('\n'),
    );
    const exporter = await startExporter({
      cloud,
      onTestFinished,
      args: [
        `--config.file=${file}`,
        WITH_SECURITY_ALERTS,
        '--poll.concurrency=4',
        '--poll.interval=1h',
        '--poll.timeout=5s',
        '--graph.timeout=2s',
        '--collector.max-pages=10000',
        '--no-collector.requirements',
        '--no-collector.history',
      ],
      env: { SECRET: 'secret-0123456789' },
    });

    // The endless tenants never reach a last page: only their deadline can free a slot.
    await until(async () => (await exporter.get('/readyz')).status === 200, 45_000, '/readyz to turn ready');
    const samples = await exporter.samples();
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    for (const t of HEALTHY) {
      expect(value('partner_security_up', { tenant_id: t })).toBe(1);
      expect(value('partner_security_relation_up', { tenant_id: t, relation: 'securityAlerts' })).toBe(1);
    }
    // Each endless tenant: its score was read and is exported; its alerts, cut off at the deadline, are reported failed.
    for (const t of ENDLESS) {
      expect(value('partner_security_up', { tenant_id: t })).toBe(1);
      expect(value('partner_security_score_current', { tenant_id: t })).toBeDefined();
      expect(value('partner_security_relation_up', { tenant_id: t, relation: 'securityAlerts' })).toBe(0);
      const line = exporter.logs().find((l) => l.tenant_id === t && l.msg === 'reading a relation failed; keeping its last data');
      expect(line).toMatchObject({ level: 'warn', relation: 'securityAlerts' });
      expect(String(line?.err)).toContain('the poll did not finish within --poll.timeout (5s)');
    }
    // The check means something: every endless tenant was paged past its first page, and never reached a last one.
    const endlessAlerts = cloud.graphRequests.filter((r) => r.path === SECURITY_ALERTS_PATH && ENDLESS.includes(tenantOf(cloud, r) ?? ''));
    for (const t of ENDLESS) expect(endlessAlerts.filter((r) => tenantOf(cloud, r) === t && r.query.includes('$skiptoken=')).length).toBeGreaterThan(0);
  });
});
