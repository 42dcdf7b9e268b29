/**
 * The exporter through real boundaries, the serving side: the built dist/main.js against the TLS
 * fake of Entra ID and Graph, scraped over HTTP, its output checked by the real promtool.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  INTEGRATION_TIMEOUT_MS,
  killExporters,
  parseSamples,
  sampleValue,
  startExporter,
  TENANT_ID,
  tenantIds,
  until,
} from '../helpers/exporter.js';
import { closeFakeClouds, FIXTURE_SCORE, heldReply, startFakeCloud, topLevelScoreBody, wrappedScoreBody } from '../helpers/fake-cloud.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const GUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const tenant = { tenant_id: TENANT_ID };

// Tests run concurrently and clean up after themselves (onTestFinished); this is the safety net.
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
});

// One concurrent suite per file: every test below may run at the same time as any other.
describe.concurrent('the exporter serving metrics', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  describe('exporter with a client secret credential', () => {
    it('is not ready before the first poll, then serves the score, the landing page and 404s', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const first = heldReply();
      cloud.graphQueue.push(first.handler);
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });

      expect((await exporter.get('/readyz')).status).toBe(503);
      await until(() => cloud.graphRequests.length === 1, 10_000, 'the first Graph request');
      // The first answer is held back: the poll is in flight, nothing is known yet.
      const waiting = await exporter.get('/readyz');
      expect(waiting.status).toBe(503);
      expect(waiting.body).toBe('waiting for the first poll\n');
      const early = await exporter.samples();
      expect(sampleValue(early, 'partner_security_up', tenant)).toBeUndefined();
      expect(sampleValue(early, 'partner_security_score_current', tenant)).toBeUndefined();

      first.release();
      await until(async () => (await exporter.get('/readyz')).status === 200, 10_000, '/readyz 200');
      const samples = await exporter.samples();
      expect(sampleValue(samples, 'partner_security_score_current', tenant)).toBe(FIXTURE_SCORE.current);
      expect(sampleValue(samples, 'partner_security_score_max', tenant)).toBe(FIXTURE_SCORE.max);
      expect(sampleValue(samples, 'partner_security_score_last_refresh_timestamp', tenant)).toBe(FIXTURE_SCORE.lastRefresh);
      expect(sampleValue(samples, 'partner_security_score_updated_timestamp', tenant)).toBe(FIXTURE_SCORE.updated);
      expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(1);
      expect(sampleValue(samples, 'partner_security_polls_total', tenant)).toBe(1);
      expect(sampleValue(samples, 'partner_security_graph_requests_total', { ...tenant, code: '200' })).toBe(1);
      // Every exporter series names the configured tenant, nothing else.
      expect(tenantIds(samples)).toEqual([TENANT_ID]);
      expect(sampleValue(samples, 'partner_security_build_info', { version: VERSION, nodejs_version: process.version })).toBe(1);

      // The token came from the configured tenant and app, with the configured secret.
      expect(cloud.tokenRequests).toHaveLength(1);
      expect(cloud.tokenRequests[0]).toMatchObject({
        tenant: TENANT_ID,
        clientId: CLIENT_ID,
        grantType: 'client_credentials',
        auth: 'secret',
        clientSecret: CLIENT_SECRET,
      });
      expect(cloud.discoveryRequests.map((d) => d.tenant)).toEqual([TENANT_ID]);
      expect(cloud.unexpected).toEqual([]);

      const landing = await exporter.get('/');
      expect(landing.status).toBe(200);
      expect(landing.contentType).toMatch(/^text\/html/);
      expect(landing.body).toContain('<h1>Partner security score exporter</h1>');
      expect(landing.body).toContain('<a href="/metrics">Metrics</a>');
      expect(landing.body).toContain(`<td>${TENANT_ID}</td><td>14.29 / 100</td>`);

      const missing = await exporter.get('/no-such-page');
      expect(missing.status).toBe(404);
      expect(missing.body).toBe('not found\n');
      expect((await exporter.get('/healthz')).status).toBe(200);
    });

    it('makes one Graph call per poll however many scrapes arrive, and scrapes never call Graph', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const first = heldReply();
      cloud.graphQueue.push(first.handler);
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
      await until(() => cloud.graphRequests.length === 1, 10_000, 'the first Graph request');

      // 50 scrapes while the poll is in flight, then 50 once it has finished.
      const during = await Promise.all(Array.from({ length: 50 }, () => exporter.get('/metrics')));
      expect(during.map((a) => a.status)).toEqual(Array(50).fill(200));
      expect(during.map((a) => sampleValue(parseSamples(a.body), 'partner_security_polls_total', tenant))).toEqual(Array(50).fill(0));
      expect(cloud.graphRequests).toHaveLength(1);
      first.release();
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 10_000, 'partner_security_up 1');
      const after = await Promise.all(Array.from({ length: 50 }, () => exporter.get('/metrics')));
      expect(after.map((a) => sampleValue(parseSamples(a.body), 'partner_security_score_current', tenant))).toEqual(Array(50).fill(FIXTURE_SCORE.current));

      expect(cloud.graphRequests).toHaveLength(1);
      expect(cloud.tokenRequests).toHaveLength(1);
      const samples = await exporter.samples();
      expect(sampleValue(samples, 'partner_security_polls_total', tenant)).toBe(1);
      expect(sampleValue(samples, 'partner_security_graph_requests_total', { ...tenant, code: '200' })).toBe(1);
    });

    it.for([
      { shape: 'wrapped {"value": {...}} (the reference example)', body: wrappedScoreBody(), expected: FIXTURE_SCORE },
      {
        shape: 'top-level OData entity with @odata.context and numbers as strings',
        body: topLevelScoreBody({ current: '57.5', max: '100', lastRefresh: '2025-06-01T08:30:00Z', updated: '2025-05-30T12:00:00.5Z' }),
        expected: { current: 57.5, max: 100, lastRefresh: 1748766600, updated: 1748606400.5 },
      },
    ])('reads the $shape body shape', async ({ body, expected }, { onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      cloud.graphDefault = { body };
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 10_000, 'partner_security_up 1');
      const samples = await exporter.samples();
      expect(sampleValue(samples, 'partner_security_score_current', tenant)).toBe(expected.current);
      expect(sampleValue(samples, 'partner_security_score_max', tenant)).toBe(expected.max);
      expect(sampleValue(samples, 'partner_security_score_last_refresh_timestamp', tenant)).toBe(expected.lastRefresh);
      expect(sampleValue(samples, 'partner_security_score_updated_timestamp', tenant)).toBe(expected.updated);
      expect(sampleValue(samples, 'partner_security_poll_failures_total', { ...tenant, reason: 'invalid_response' })).toBe(0);
    });

    it('sends a fresh GUID client-request-id, its own User-Agent and the issued bearer token on every Graph request', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
      await until(() => cloud.graphRequests.length >= 3, 10_000, 'three Graph requests');

      const requests = cloud.graphRequests.slice(0, 3);
      for (const request of requests) {
        expect(request.method).toBe('GET');
        expect(request.path).toBe('/beta/security/partner/securityScore');
        expect(request.clientRequestId).toMatch(GUID_V4);
        expect(request.userAgent).toMatch(new RegExp(`^partner-security-score-exporter/${VERSION.replace(/\./g, '\\.')}\\b`));
        expect(request.authorization).toBe(`Bearer ${cloud.issuedTokens[0]}`);
      }
      expect(new Set(requests.map((r) => r.clientRequestId)).size).toBe(3);
      // The token is asked for the Graph root the exporter talks to.
      expect(cloud.tokenRequests.map((t) => t.scopes)).toEqual([[`${cloud.url}/.default`]]);
      expect(exporter.child.exitCode).toBeNull();
    });

    it('serves exposition text that promtool accepts without a lint warning', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      // A throttled first poll, so failure and request counters with several codes are in the output.
      cloud.graphQueue.push({
        status: 429,
        headers: { 'retry-after': '1' },
        body: readFileSync(new URL('../fixtures/graph/error-429.json', import.meta.url), 'utf8'),
      });
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 10_000, 'partner_security_up 1 after the 429');

      const metrics = await exporter.get('/metrics');
      expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
      const samples = parseSamples(metrics.body);
      expect(sampleValue(samples, 'partner_security_graph_requests_total', { ...tenant, code: '429' })).toBe(1);
      expect(sampleValue(samples, 'partner_security_graph_requests_total', { ...tenant, code: '200' })).toBe(1);
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics.body, encoding: 'utf8' });
      expect({ status: promtool.status, stdout: promtool.stdout, stderr: promtool.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
    });
  });
});
