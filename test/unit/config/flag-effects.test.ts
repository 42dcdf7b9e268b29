/**
 * Every flag has a test that sets it away from its default and checks what it does (not only that
 * it parses). A new flag fails this table until its effect test is named here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FLAGS, type FlagName } from '../../../src/config/flags.js';

/** Where a flag's effect is tested: a test file under test/ and the name of the test (as written there). */
type EffectTest = readonly [file: string, test: string];

const EFFECT_TESTS: Readonly<Record<FlagName, readonly EffectTest[]>> = {
  'web.listen-address': [
    ['integration/production-layout.test.ts', 'serves the demo tenant and stops cleanly on SIGTERM'],
    ['integration/flags.test.ts', '--web.listen-address given twice serves both addresses with the same web config, and logs both'],
    ['integration/flags.test.ts', '--web.listen-address: one address that cannot be bound stops start-up, naming it'],
  ],
  'web.telemetry-path': [['integration/flags.test.ts', '--web.telemetry-path=/probe/metrics serves the metrics there and not under /metrics']],
  'web.config.file': [['integration/security-web-reload.test.ts', 're-reads the file on demand with reload(), even when its stamp did not change']],
  'web.healthz-without-auth': [['integration/web.test.ts', 'lets /healthz through without credentials only with --web.healthz-without-auth']],
  'web.max-connections': [
    ['integration/security-connections.test.ts', 'lets a valid TLS scrape in while sockets that never start the handshake fill the limit'],
  ],
  'web.max-connections-per-address': [
    [
      'unit/web/connections.test.ts',
      'lets one address hold exactly that many: at the bound all stay, one beyond closes its oldest idle one, other addresses still get in',
    ],
    ['integration/security-connections.test.ts', 'keeps scraping and polling with more idle connections than file descriptors (plain HTTP, default limit)'],
  ],
  'graph.endpoint': [['integration/serving.test.ts', 'is not ready before the first poll, then serves the score, the landing page and 404s']],
  'graph.timeout': [['integration/failures.test.ts', 'a Graph that never answers: reason timeout after --graph.timeout, and the exporter keeps serving']],
  'poll.interval': [['integration/tokens.test.ts', 'reuses one token across polls while it is fresh']],
  'poll.timeout': [
    [
      'integration/security-poll-deadline.test.ts',
      '4 of 8 tenants paging without end hold the 4 slots only until their deadline: the others get their first poll and /readyz turns ready',
    ],
  ],
  'poll.max-staleness': [
    ['unit/expose/metrics.test.ts', 'drops score and relation series once the last success is older than --poll.max-staleness, keeps health series'],
    ['integration/tenants-e2e.test.ts', 'drops requirements that disappear from Graph at the next poll, and marks a missing relation'],
  ],
  'poll.concurrency': [['integration/flags.test.ts', '--poll.concurrency=2 keeps at most two of five tenants polling at once, and uses both slots']],
  'collector.requirements': [['unit/collect/poll-tenant.test.ts', 'expands only what is turned on, and reads only the score when everything is off']],
  'collector.requirements.max-requirements': [
    ['integration/security-cardinality.test.ts', 'requirements in one expanded answer: 5 with a cap of %i (cut: %s)'],
  ],
  'collector.history': [['unit/collect/poll-tenant.test.ts', 'expands only what is turned on, and reads only the score when everything is off']],
  'collector.history.max-entries': [
    ['integration/security-cardinality.test.ts', 'history entries: 5 over 2 pages with a cap of %i keeps the newest (cut: %s)'],
  ],
  'collector.customer-insights': [
    ['integration/flags.test.ts', '--collector.customer-insights.max-customers=2 exports two of three customers and counts all three'],
  ],
  'collector.security-alerts': [['integration/security-alerts.test.ts', '--no-collector.security-alerts never calls the alerts endpoint']],
  'collector.security-alerts.max-alerts': [
    ['integration/security-alerts-window.test.ts', 'keeps at most --collector.security-alerts.max-alerts alerts, open ones first, and says so once'],
  ],
  'collector.security-alerts.max-alert-types': [
    ['integration/security-alerts-window.test.ts', 'label at most max-alert-types types, those with the most open alerts; the rest fold into "other"'],
  ],
  'collector.security-alerts.customers': [
    ['integration/security-alerts.test.ts', 'exports open alerts per customer by severity when asked, within the customer cap'],
  ],
  'collector.customer-insights.max-pages': [
    ['integration/security-cardinality.test.ts', 'keeps --collector.customer-insights.max-pages working as the old name of --collector.max-pages'],
  ],
  'collector.customer-insights.max-customers': [
    ['integration/flags.test.ts', '--collector.customer-insights.max-customers=2 exports two of three customers and counts all three'],
  ],
  'collector.max-pages': [['integration/security-cardinality.test.ts', 'pages: 4 pages with --collector.max-pages=%i (cut: %s)']],
  'memory.budget': [
    [
      'integration/flags.test.ts',
      '--memory.budget: before the data would take more, per-customer series beyond what fits are cut, said once, shown in /metrics; the score stays',
    ],
  ],
  'collector.max-bytes': [['integration/security-cardinality.test.ts', 'bytes: a budget of the first two pages plus %i byte(s) (cut: %s)']],
  'partner.type': [
    [
      'integration/authorization.test.ts',
      '--partner.type=indirect_reseller leaves securityAlertsPromptlyResolved out of the mandatory set; the default counts it',
    ],
  ],
  'partner.validation-month': [
    [
      'integration/authorization.test.ts',
      '--partner.validation-month=3 exports the start of the next March and puts it on the status page; without it, nothing',
    ],
  ],
  'config.file': [['integration/tenants-e2e.test.ts', "one tenant's throttling or bad secret never delays or hides another's data"]],
  'tenants.shard': [
    ['integration/sharding.test.ts', 'three shards together export exactly the tenants and series of one unsharded exporter, none twice'],
    ['unit/config/shard.test.ts', 'splits the tenants: every one in exactly one of N shards, as shardOf says'],
  ],
  'config.check': [
    ['integration/security-config.test.ts', 'checks the web config file as start-up does: every problem, exit 2, the plain-text password never echoed'],
    ['integration/first-run.test.ts', 'says a forgotten secret means managed identity, and warns that it works only on Azure'],
  ],
  output: [['stack/backfill.test.ts', 'writes the history Graph returns, paged, under the live labels, and promtool turns it into blocks']],
  force: [
    ['integration/security-backfill.test.ts', 'replaces an existing file with --force once the history is read'],
    ['integration/security-backfill.test.ts', 'refuses to overwrite an existing file without --force, before asking Graph anything'],
  ],
  'log.level': [['integration/flags.test.ts', '--log.level=debug logs every poll; at the default level a successful poll logs nothing']],
  'log.format': [['integration/production-layout.test.ts', 'serves the demo tenant and stops cleanly on SIGTERM']],
  demo: [['integration/production-layout.test.ts', 'serves the demo tenant and stops cleanly on SIGTERM']],
  help: [['integration/flags.test.ts', '--help prints every flag and exits 0 without asking for credentials']],
  version: [['integration/production-layout.test.ts', 'prints its version']],
};

/** Tenants-file keys added with their effect test; a key named here must have one that exists. */
const TENANT_KEY_EFFECT_TESTS: Readonly<Record<string, readonly EffectTest[]>> = {
  partner_type: [
    ['integration/authorization.test.ts', 'partner_type and validation_month in the tenants file set each tenant its mandatory set and its next validation'],
  ],
  validation_month: [
    ['integration/authorization.test.ts', 'partner_type and validation_month in the tenants file set each tenant its mandatory set and its next validation'],
  ],
};

describe('tenants-file keys whose effect is tested', () => {
  it.each(Object.entries(TENANT_KEY_EFFECT_TESTS))('%s: the named tests exist, and the key is one the tenants file reads', (key, tests) => {
    expect(readFileSync(new URL('../../../src/config/tenants.ts', import.meta.url), 'utf8')).toContain(`'${key}'`);
    for (const [file, test] of tests) {
      const source = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
      expect(source.includes(test), `${file} has no test "${test}"`).toBe(true);
    }
  });
});

describe('flags whose effect is tested', () => {
  it('names an effect test for every flag in FLAGS', () => {
    expect(FLAGS.map((f) => f.name).filter((name) => (EFFECT_TESTS[name] ?? []).length === 0)).toEqual([]);
  });

  it.each(Object.entries(EFFECT_TESTS))('--%s: the named tests exist', (_flag, tests) => {
    for (const [file, test] of tests) {
      const source = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
      expect(source.includes(test), `${file} has no test "${test}"`).toBe(true);
    }
  });
});
