import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTenantPoll, type PollResult } from '../../../src/collect/poll-tenant.js';
import { SECURITY_ALERTS_PATH, SECURITY_SCORE_PATH } from '../../../src/collect/relations.js';
import type { CollectorsConfig } from '../../../src/config/parse.js';
import { createGraphClient } from '../../../src/graph/client.js';
import { GraphError } from '../../../src/graph/errors.js';
import { SECURITY_ALERT_PROPERTIES } from '../../../src/graph/parse.js';
import type { TokenSource } from '../../../src/graph/token.js';
import { createLogger, createRedactor } from '../../../src/lib/log.js';

const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../../fixtures/graph/${name}`, import.meta.url), 'utf8'));
const SCORE = (fixture('securityScore.json') as { value: Record<string, unknown> }).value;
const REQUIREMENTS = [fixture('adminsMfaRequirement.json'), ...(fixture('requirements.json').value as object[])];
const HISTORY = fixture('history.json').value as object[];

/** The fake Graph's routes for one test: path (with query) -> [status, body], or 'hang' (no answer until the client gives up). */
type Route = (url: URL) => [number, unknown] | 'hang' | undefined;
let route: Route = () => undefined;
let seen: string[] = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer({ cert: readFileSync('test/fixtures/tls/server.pem'), key: readFileSync('test/fixtures/tls/server-key.pem') }, (req, res) => {
    const url = new URL(req.url ?? '/', endpoint);
    seen.push(`${url.pathname}${url.search}`);
    const answer = route(url);
    if (answer === 'hang') return;
    const [status, body] = answer ?? [404, { error: { code: 'ResourceNotFound', message: 'not here' } }];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  seen = [];
});

const ALL: CollectorsConfig = { requirements: true, history: true, customerInsights: false, maxPages: 10, maxCustomers: 1000 };

function tenantPoll(collectors: Partial<CollectorsConfig> = {}) {
  const lines: string[] = [];
  const tokens: TokenSource = { get: async () => ({ token: 'token-xyz' }), invalidate: () => {}, lastTenantId: () => undefined };
  const graph = createGraphClient({ endpoint, timeoutMs: 5000, tokens, userAgent: 'test' });
  const logger = createLogger({ level: 'info', format: 'logfmt', redact: createRedactor(), write: (l) => lines.push(l) });
  const poll = createTenantPoll({ graph, collectors: { ...ALL, ...collectors }, tenantOfToken: () => undefined, logger });
  return { poll: (signal = new AbortController().signal) => poll(signal), lines };
}

function data(result: PollResult) {
  if (!result.ok) throw new Error(`poll failed: ${result.error.message}`);
  return result.data;
}

describe('tenant poll', () => {
  it('reads the score, requirements and history in one expanded request', async () => {
    route = (url) =>
      url.pathname === SECURITY_SCORE_PATH && url.searchParams.get('$expand') === 'requirements,history'
        ? [200, { value: { ...SCORE, requirements: REQUIREMENTS, history: HISTORY } }]
        : undefined;
    const result = await tenantPoll().poll();
    expect(seen).toEqual([`${SECURITY_SCORE_PATH}?$expand=requirements,history`]);
    expect(result.requests).toEqual(['200']);
    const d = data(result);
    expect(d.score.currentScore).toBe(14.29);
    expect(d.relationStatus).toEqual({ requirements: 'ok', history: 'ok', customerInsights: 'disabled', securityAlerts: 'disabled' });
    expect(d.relations.requirements?.map((r) => [r.type, r.compliant])).toEqual([
      ['mfaEnforcedForAdmins', false],
      ['securityContactProvided', true],
    ]);
    expect(d.relations.history).toHaveLength(1);
  });

  it('falls back to the separate endpoints when Graph refuses $expand, and stops asking', async () => {
    route = (url) => {
      if (url.searchParams.has('$expand')) return [400, { error: { code: 'BadRequest', message: 'expand not supported' } }];
      if (url.pathname === SECURITY_SCORE_PATH) return [200, fixture('securityScore.json')];
      if (url.pathname === `${SECURITY_SCORE_PATH}/requirements`) return [200, { value: REQUIREMENTS }];
      if (url.pathname === `${SECURITY_SCORE_PATH}/history`) return [200, { value: HISTORY }];
      return undefined;
    };
    const c = tenantPoll();
    const first = await c.poll();
    expect(first.requests).toEqual(['400', '200', '200', '200']);
    expect(data(first).relationStatus).toMatchObject({ requirements: 'ok', history: 'ok' });
    expect(c.lines.filter((l) => l.includes('Graph refused $expand'))).toHaveLength(1);
    seen = [];
    await c.poll();
    expect(seen).toEqual([SECURITY_SCORE_PATH, `${SECURITY_SCORE_PATH}/requirements`, `${SECURITY_SCORE_PATH}/history`]);
  });

  it('marks a relation that answers 404 unavailable and still exports the score (expanded call 404s too)', async () => {
    route = (url) => {
      if (url.searchParams.has('$expand')) return [404, { error: { code: 'ResourceNotFound', message: 'requirements not found' } }];
      if (url.pathname === SECURITY_SCORE_PATH) return [200, fixture('securityScore.json')];
      if (url.pathname === `${SECURITY_SCORE_PATH}/history`) return [200, { value: HISTORY }];
      return undefined;
    };
    const d = data(await tenantPoll().poll());
    expect(d.score.currentScore).toBe(14.29);
    expect(d.relationStatus).toEqual({ requirements: 'unavailable', history: 'ok', customerInsights: 'disabled', securityAlerts: 'disabled' });
    expect(d.relations.requirements).toBeUndefined();
    expect(d.relationErrors.requirements).toMatch(/^Graph answered 404 ResourceNotFound/);
  });

  it('reads a relation separately when the expanded body does not carry it', async () => {
    route = (url) => {
      if (url.pathname === SECURITY_SCORE_PATH) return [200, { ...SCORE, history: HISTORY }];
      if (url.pathname === `${SECURITY_SCORE_PATH}/requirements`) return [200, { value: REQUIREMENTS }];
      return undefined;
    };
    const result = await tenantPoll().poll();
    expect(seen).toEqual([`${SECURITY_SCORE_PATH}?$expand=requirements,history`, `${SECURITY_SCORE_PATH}/requirements`]);
    expect(data(result).relations.requirements).toHaveLength(2);
  });

  it('expands only what is turned on, and reads only the score when everything is off', async () => {
    route = (url) => (url.pathname === SECURITY_SCORE_PATH ? [200, { ...SCORE, history: HISTORY }] : undefined);
    expect(data(await tenantPoll({ requirements: false }).poll()).relationStatus).toEqual({
      requirements: 'disabled',
      history: 'ok',
      customerInsights: 'disabled',
      securityAlerts: 'disabled',
    });
    expect(seen).toEqual([`${SECURITY_SCORE_PATH}?$expand=history`]);
    seen = [];
    await tenantPoll({ requirements: false, history: false }).poll();
    expect(seen).toEqual([SECURITY_SCORE_PATH]);
  });

  describe('customer insights', () => {
    const customer = (i: number) => ({
      tenantId: `c-${i}`,
      mfa: { compliantAdminsCount: 1, totalUsersCount: i, securityDefaultsStatus: i % 2 ? 'enabled' : 'disabled' },
    });
    beforeEach(() => {
      // Three pages of two customers; the continuation is an opaque token, as Graph's is.
      route = (url) => {
        if (url.pathname === SECURITY_SCORE_PATH) return [200, SCORE];
        if (url.pathname !== `${SECURITY_SCORE_PATH}/customerInsights`) return undefined;
        const page = Number(url.searchParams.get('$skiptoken') ?? '0');
        const next = page < 2 ? { '@odata.nextLink': `${endpoint}${SECURITY_SCORE_PATH}/customerInsights?$skiptoken=${page + 1}` } : {};
        return [200, { value: [customer(page * 2), customer(page * 2 + 1)], ...next }];
      };
    });

    it('follows every next link', async () => {
      const result = await tenantPoll({ requirements: false, history: false, customerInsights: true }).poll();
      expect(result.requests).toEqual(['200', '200', '200', '200']);
      const insights = data(result).relations.customerInsights;
      expect(insights).toMatchObject({
        seen: 6,
        pages: 3,
        truncated: false,
        policyEnabled: { securityDefaults: 3, mfaConditionalAccessPolicy: 0, legacyPerUserMfa: 0 },
      });
      expect(insights?.customers.map((c) => c.tenantId)).toEqual(['c-0', 'c-1', 'c-2', 'c-3', 'c-4', 'c-5']);
    });

    it('stops at the page cap and says so', async () => {
      const insights = data(await tenantPoll({ requirements: false, history: false, customerInsights: true, maxPages: 2 }).poll()).relations.customerInsights;
      expect(insights).toMatchObject({ seen: 4, pages: 2, truncated: true });
    });

    it('exports at most max-customers customers but counts them all', async () => {
      const insights = data(await tenantPoll({ requirements: false, history: false, customerInsights: true, maxCustomers: 3 }).poll()).relations
        .customerInsights;
      expect(insights).toMatchObject({ seen: 6, truncated: true });
      expect(insights?.customers).toHaveLength(3);
    });

    it('never follows a next link to another host (the token would go with it)', async () => {
      route = (url) => {
        if (url.pathname === SECURITY_SCORE_PATH) return [200, SCORE];
        return [200, { value: [customer(1)], '@odata.nextLink': 'https://127.0.0.2:9/steal' }];
      };
      const d = data(await tenantPoll({ requirements: false, history: false, customerInsights: true }).poll());
      expect(d.relationStatus.customerInsights).toBe('failed');
      expect(d.relationErrors.customerInsights).toContain('refusing to send the token to https://127.0.0.2:9');
    });
  });

  describe('at the poll deadline', () => {
    const DEADLINE = new GraphError('timeout', 'the poll did not finish within --poll.timeout (1s); what it had not read by then keeps its last data');

    it('keeps the score and what was read, and reports every relation it had not finished as failed with the reason', async () => {
      // The second page of customer insights never comes; the security alerts are not asked for yet.
      route = (url) => {
        if (url.pathname === SECURITY_SCORE_PATH) return [200, { ...SCORE, requirements: REQUIREMENTS, history: HISTORY }];
        if (url.pathname !== `${SECURITY_SCORE_PATH}/customerInsights`) return undefined;
        if (url.searchParams.has('$skiptoken')) return 'hang';
        return [200, { value: [{ tenantId: 'c-1' }], '@odata.nextLink': `${endpoint}${SECURITY_SCORE_PATH}/customerInsights?$skiptoken=2` }];
      };
      const controller = new AbortController();
      const pending = tenantPoll({ customerInsights: true, securityAlerts: true }).poll(controller.signal);
      while (!seen.some((s) => s.includes('$skiptoken=2'))) await new Promise((resolve) => setTimeout(resolve, 5));
      controller.abort(DEADLINE);
      const result = await pending;
      const d = data(result);
      expect(d.score.currentScore).toBe(14.29);
      expect(d.relationStatus).toEqual({ requirements: 'ok', history: 'ok', customerInsights: 'failed', securityAlerts: 'failed' });
      expect(d.relationErrors).toEqual({ customerInsights: DEADLINE.message, securityAlerts: DEADLINE.message });
      // The page that never came was a request without an answer; nothing was sent after the deadline.
      expect(result.requests).toEqual(['200', '200', 'none']);
      expect(seen.some((s) => s.startsWith(SECURITY_ALERTS_PATH))).toBe(false);
    });

    it('fails the poll with the reason when the score was not read by then', async () => {
      route = () => 'hang';
      const controller = new AbortController();
      const pending = tenantPoll().poll(controller.signal);
      while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      controller.abort(DEADLINE);
      const result = await pending;
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.error.reason).toBe('timeout');
      expect(result.error.message).toBe(DEADLINE.message);
    });
  });

  it('fails the poll when the score itself cannot be read, with the Graph ids', async () => {
    route = (url) => (url.pathname === SECURITY_SCORE_PATH ? [200, { value: { maxScore: 100 } }] : undefined);
    const result = await tenantPoll().poll();
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.reason).toBe('invalid_response');
    expect(result.error.message).toBe('cannot read the answer from Graph: partnerSecurityScore.currentScore is missing, expected a finite number');
    expect(result.error.clientRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.requests).toEqual(['200']);
  });

  describe('$select on the security alerts', () => {
    const ALERTS = '/beta/security/partner/securityAlerts';
    const alertsOnly = { requirements: false, history: false, securityAlerts: true };
    const alert = { id: 'a1', alertType: 'x', status: 'active', severity: 'high' };
    const refused: [number, unknown] = [400, { error: { code: 'BadRequest', message: "Query option 'Select' is not allowed." } }];

    it('falls back to the plain request when the first request is refused, says so once, and keeps the plain request', async () => {
      route = (url) => {
        if (url.pathname === SECURITY_SCORE_PATH) return [200, { value: SCORE }];
        if (url.pathname === ALERTS) return url.searchParams.has('$select') ? refused : [200, { value: [alert] }];
        return undefined;
      };
      const { poll, lines } = tenantPoll(alertsOnly);
      const first = data(await poll());
      const second = data(await poll());
      expect(first.relationStatus.securityAlerts).toBe('ok');
      expect(first.relations.securityAlerts?.seen).toBe(1);
      expect(second.relationStatus.securityAlerts).toBe('ok');
      expect(seen.filter((p) => p.startsWith(ALERTS))).toEqual([`${ALERTS}?$select=${SECURITY_ALERT_PROPERTIES.join(',')}`, ALERTS, ALERTS]);
      expect(lines.filter((l) => l.includes('Graph refused $select'))).toHaveLength(1);
    });

    it('does not fall back when a later page is refused: that is a failure of the relation, and $select stays', async () => {
      route = (url) => {
        if (url.pathname === SECURITY_SCORE_PATH) return [200, { value: SCORE }];
        if (url.pathname !== ALERTS) return undefined;
        if (url.searchParams.get('$skiptoken') === 'p2') return refused;
        return [200, { value: [alert], '@odata.nextLink': `${endpoint}${ALERTS}?$select=id&$skiptoken=p2` }];
      };
      const { poll, lines } = tenantPoll(alertsOnly);
      const first = data(await poll());
      expect(first.relationStatus.securityAlerts).toBe('failed');
      expect(first.relationErrors.securityAlerts).toMatch(/^Graph answered 400 BadRequest/);
      await poll();
      expect(seen.filter((p) => p.startsWith(ALERTS) && !p.includes('skiptoken'))).toEqual([
        `${ALERTS}?$select=${SECURITY_ALERT_PROPERTIES.join(',')}`,
        `${ALERTS}?$select=${SECURITY_ALERT_PROPERTIES.join(',')}`,
      ]);
      expect(lines.filter((l) => l.includes('Graph refused $select'))).toEqual([]);
    });
  });
});
