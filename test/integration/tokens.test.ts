/**
 * The exporter through real boundaries, the token side: the real @azure/identity credentials
 * (secret, certificate, workload identity, App Service managed identity) against the TLS fake of
 * Entra ID, token reuse and renewal, a refused token, and HTTPS_PROXY.
 */
import { execFileSync } from 'node:child_process';
import { constants, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_ID,
  clientSecretEnv,
  INTEGRATION_TIMEOUT_MS,
  killExporters,
  sampleValue,
  startExporter,
  TENANT_ID,
  tenantIds,
  until,
} from '../helpers/exporter.js';
import {
  closeFakeClouds,
  FIXTURE_SCORE,
  graphErrorBody,
  INVALID_CLIENT_SECRET,
  JWT_BEARER,
  jwtPart,
  MSI_PATH,
  startFakeCloud,
  unsignedJwt,
} from '../helpers/fake-cloud.js';
import { startConnectProxy } from '../helpers/proxy.js';

const tenant = { tenant_id: TENANT_ID };
let workDir: string;

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'pss-integration-'));
});
// Tests run concurrently and clean up after themselves (onTestFinished); this is the safety net.
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
  rmSync(workDir, { recursive: true, force: true });
});

const bearers = (cloud: { graphRequests: { authorization?: string }[] }) => cloud.graphRequests.map((r) => r.authorization?.replace(/^Bearer /, ''));

// One concurrent suite per file: every test below may run at the same time as any other.
describe.concurrent('the exporter getting tokens', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  describe('access tokens', () => {
    it('reuses one token across polls while it is fresh', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
      await until(() => cloud.graphRequests.length >= 3, 10_000, 'three polls');
      expect(cloud.tokenRequests).toHaveLength(1);
      expect(cloud.issuedTokens).toHaveLength(1);
      expect(new Set(bearers(cloud))).toEqual(new Set([cloud.issuedTokens[0]]));
    });

    it('fetches a new token when the cached one is due for renewal (expires_in 301 s, renewed 5 min early)', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished, tokenLifetimeSeconds: 301 });
      await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
      // MSAL's own cache counts in whole seconds, so the renewal comes one or two polls later.
      await until(() => cloud.tokenRequests.length >= 2, 10_000, 'a second token request');
      const renewed = cloud.tokenRequests[1]?.accessToken;
      expect(renewed).toBe(cloud.issuedTokens[1]);
      await until(() => bearers(cloud).includes(renewed), 5000, 'a Graph request with the renewed token');
      for (const token of bearers(cloud)) expect(cloud.issuedTokens).toContain(token);
    });

    it('asks for a fresh token after Graph rejected the current one with 401', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      cloud.graphQueue.push({}, (request) => ({
        status: 401,
        body: graphErrorBody('InvalidAuthenticationToken', 'Access token has expired or is not yet valid.', request.requestId, request.clientRequestId ?? ''),
        headers: { 'www-authenticate': 'Bearer realm="", error="invalid_token", error_description="The token has been revoked"' },
      }));
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1s'] });
      await until(() => cloud.graphRequests.length >= 3, 10_000, 'the poll after the 401');
      expect(await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'unauthorized' })).toBe(1);
      const [first, rejected, next] = bearers(cloud);
      expect(rejected).toBe(first);
      // The rejected token must not be sent again: the poll after the 401 carries a newly issued one.
      expect(cloud.tokenRequests).toHaveLength(2);
      expect(next).not.toBe(rejected);
      expect(next).toBe(cloud.issuedTokens[1]);
    });

    it('reports a refused token (AADSTS7000215) as reason token, never calls Graph and keeps running', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished, expectedClientSecret: 'the-secret-entra-id-knows' });
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
      await until(async () => (await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'token' })) === 1, 10_000, 'a token failure');

      const samples = await exporter.samples();
      expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(0);
      expect(sampleValue(samples, 'partner_security_polls_total', tenant)).toBe(1);
      expect(sampleValue(samples, 'partner_security_score_current', tenant)).toBeUndefined();
      expect(samples.filter((s) => s.name === 'partner_security_graph_requests_total')).toEqual([]);
      expect(cloud.graphRequests).toEqual([]);
      expect(cloud.tokenRequests.map((t) => t.status)).toEqual([401]);

      const failures = exporter.logs().filter((l) => l.msg === 'poll failed');
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ level: 'warn', reason: 'token', tenant_id: TENANT_ID });
      // The operator needs Entra ID's own error code to fix the credential.
      expect(String(failures[0]?.err)).toContain(`AADSTS${INVALID_CLIENT_SECRET.code}`);

      expect(exporter.child.exitCode).toBeNull();
      expect((await exporter.get('/healthz')).status).toBe(200);
      expect((await exporter.get('/readyz')).status).toBe(200);
      expect((await exporter.get('/')).body).toContain('failed (token)');
    });

    it.for([
      ['a token that is not a string', 200, 'application/json', '{"token_type":"Bearer","expires_in":3600,"access_token":42}'],
      ['HTML instead of JSON', 200, 'text/html', '<html><body>Sign in</body></html>'],
      ['a body cut short', 200, 'application/json', '{"token_type":"Bearer","expires_in":36'],
      ['a 500 without a body', 500, 'text/plain', ''],
    ] as const)('reports a malformed token answer (%s) as reason token and keeps running', async ([, status, contentType, body], { onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      cloud.tokenAnswer = { status, contentType, body };
      const exporter = await startExporter({ cloud, onTestFinished, args: ['--poll.interval=1m'] });
      await until(async () => (await exporter.value('partner_security_poll_failures_total', { ...tenant, reason: 'token' })) === 1, 15_000, 'a token failure');
      expect(await exporter.value('partner_security_up', tenant)).toBe(0);
      expect(cloud.graphRequests).toEqual([]);
      expect(exporter.child.exitCode).toBeNull();
      expect((await exporter.get('/healthz')).status).toBe(200);
    });
  });

  describe('credential kinds', () => {
    it('client certificate: sends a certificate-signed client assertion and serves the score', async ({ onTestFinished }) => {
      const keyPath = join(workDir, 'client-key.pem');
      const certPath = join(workDir, 'client-cert.pem');
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=pss-exporter-test-client'],
        {
          stdio: 'ignore',
        },
      );
      const bundlePath = join(workDir, 'client.pem');
      writeFileSync(bundlePath, readFileSync(keyPath, 'utf8') + readFileSync(certPath, 'utf8'));
      const certificate = new X509Certificate(readFileSync(certPath));

      const cloud = await startFakeCloud({ onTestFinished });
      const exporter = await startExporter({
        cloud,
        onTestFinished,
        env: { AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH: bundlePath },
      });
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'partner_security_up 1');
      expect(await exporter.value('partner_security_score_current', tenant)).toBe(FIXTURE_SCORE.current);

      expect(cloud.tokenRequests).toHaveLength(1);
      const request = cloud.tokenRequests[0];
      expect(request).toMatchObject({ tenant: TENANT_ID, clientId: CLIENT_ID, auth: 'assertion', clientAssertionType: JWT_BEARER });
      expect(request?.clientSecret).toBeUndefined();
      const assertion = request?.clientAssertion ?? '';
      const header = jwtPart(assertion, 0);
      const claims = jwtPart(assertion, 1);
      expect(claims).toMatchObject({ iss: CLIENT_ID, sub: CLIENT_ID, aud: `${cloud.url}/${TENANT_ID}/oauth2/v2.0/token` });
      // The assertion names this certificate and is signed by its key.
      const thumbprint = (fingerprint: string) => Buffer.from(fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
      if (header['x5t#S256'] === undefined) expect(header.x5t).toBe(thumbprint(certificate.fingerprint));
      else expect(header['x5t#S256']).toBe(thumbprint(certificate.fingerprint256));
      const [h, p, signature] = assertion.split('.');
      const key = createPublicKey(certificate.publicKey.export({ type: 'spki', format: 'pem' }));
      const options =
        header.alg === 'PS256'
          ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
          : { key, padding: constants.RSA_PKCS1_PADDING };
      expect(['PS256', 'RS256']).toContain(header.alg);
      expect(verify('sha256', Buffer.from(`${h}.${p}`), options, Buffer.from(signature ?? '', 'base64url'))).toBe(true);
    });

    it('workload identity: sends the federated token file as client assertion and serves the score', async ({ onTestFinished }) => {
      const federated = unsignedJwt({
        iss: 'https://oidc.cluster.test',
        sub: 'system:serviceaccount:monitoring:pss-exporter',
        aud: 'api://AzureADTokenExchange',
      });
      const tokenFile = join(workDir, 'federated-token');
      writeFileSync(tokenFile, federated);

      const cloud = await startFakeCloud({ onTestFinished });
      const exporter = await startExporter({
        cloud,
        onTestFinished,
        env: { AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE: tokenFile },
      });
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'partner_security_up 1');
      expect(await exporter.value('partner_security_score_current', tenant)).toBe(FIXTURE_SCORE.current);
      expect(cloud.tokenRequests).toHaveLength(1);
      expect(cloud.tokenRequests[0]).toMatchObject({
        tenant: TENANT_ID,
        clientId: CLIENT_ID,
        grantType: 'client_credentials',
        auth: 'assertion',
        clientAssertionType: JWT_BEARER,
        clientAssertion: federated,
      });
      expect(cloud.graphRequests[0]?.authorization).toBe(`Bearer ${cloud.issuedTokens[0]}`);
    });

    it('workload identity: reads the token file again with its 1 MiB bound; past it, the renewal fails as reason token naming the file, and the next good file is used', async ({
      onTestFinished,
    }) => {
      const federated = (sub: string) => unsignedJwt({ iss: 'https://oidc.cluster.test', sub, aud: 'api://AzureADTokenExchange' });
      const tokenFile = join(workDir, 'federated-token-renewed');
      writeFileSync(tokenFile, federated('first'));
      // Tokens renewed about every second (MSAL renews 5 minutes early): every renewal reads the file.
      const cloud = await startFakeCloud({ onTestFinished, tokenLifetimeSeconds: 301 });
      const exporter = await startExporter({
        cloud,
        onTestFinished,
        args: ['--poll.interval=1s'],
        env: { AZURE_TENANT_ID: TENANT_ID, AZURE_CLIENT_ID: CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE: tokenFile },
      });
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'partner_security_up 1');

      // The kubelet's file replaced by one just past the bound, shaped like a JWT that Entra ID would take.
      const huge = `${federated('huge')}${'A'.repeat(1024 * 1024)}`;
      writeFileSync(tokenFile, huge);
      const failure = () => exporter.logs().find((l) => l.msg === 'poll failed' && l.reason === 'token');
      await until(() => failure() !== undefined, 15_000, 'a token failure');
      const shown = `could not get a token: cannot read the federated token file "${tokenFile}": larger than 1 MiB (${Buffer.byteLength(huge)} bytes)`;
      expect(failure()?.err).toBe(shown);
      expect(cloud.tokenRequests.map((r) => r.clientAssertion).filter((a) => (a?.length ?? 0) > 1024 * 1024)).toEqual([]);

      const renewed = federated('renewed');
      writeFileSync(tokenFile, renewed);
      await until(() => cloud.tokenRequests.some((r) => r.clientAssertion === renewed), 15_000, 'a token request with the renewed file');
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'partner_security_up 1 again');
    });

    it('managed identity (App Service endpoint): labels the score with the tid claim of the token', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished, tenantClaim: 'c0ffee00-1234-4abc-8def-0123456789ab' });
      const exporter = await startExporter({
        cloud,
        onTestFinished,
        env: { IDENTITY_ENDPOINT: `${cloud.url}${MSI_PATH}`, IDENTITY_HEADER: cloud.identityHeader, AZURE_AUTHORITY_HOST: undefined },
      });
      const byTid = { tenant_id: cloud.tenantClaim };
      await until(async () => (await exporter.value('partner_security_up', byTid)) === 1, 15_000, 'partner_security_up 1 for the tid');
      const samples = await exporter.samples();
      expect(sampleValue(samples, 'partner_security_score_current', byTid)).toBe(FIXTURE_SCORE.current);
      expect(tenantIds(samples)).toEqual([cloud.tenantClaim]);

      expect(cloud.tokenRequests).toEqual([]);
      expect(cloud.msiRequests).toHaveLength(1);
      expect(cloud.msiRequests[0]?.query).toMatchObject({ 'api-version': '2019-08-01', resource: cloud.url });
      expect(cloud.msiRequests[0]?.headers['x-identity-header']).toBe(cloud.identityHeader);
      expect(cloud.graphRequests[0]?.authorization).toBe(`Bearer ${cloud.issuedTokens[0]}`);
    });
  });

  describe('the tenant label', () => {
    it('managed identity: a failed poll is labelled with the tid of the token it did get, not "unknown"', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished, tenantClaim: 'c0ffee00-1234-4abc-8def-0123456789ab' });
      // The usual first run: the identity has no PartnerSecurity.Read.All yet.
      cloud.graphDefault = (request) => ({
        status: 403,
        body: graphErrorBody(
          'Authorization_RequestDenied',
          'Insufficient privileges to complete the operation.',
          request.requestId,
          request.clientRequestId ?? '',
        ),
      });
      const exporter = await startExporter({
        cloud,
        onTestFinished,
        env: { IDENTITY_ENDPOINT: `${cloud.url}${MSI_PATH}`, IDENTITY_HEADER: cloud.identityHeader, AZURE_AUTHORITY_HOST: undefined },
      });
      const forbidden = (s: { name: string; labels: Record<string, string>; value: number }) =>
        s.name === 'partner_security_poll_failures_total' && s.labels.reason === 'forbidden' && s.value === 1;
      await until(async () => (await exporter.samples()).some(forbidden), 15_000, 'the forbidden poll');
      expect(cloud.msiRequests.map((r) => r.status)).toEqual([200]);
      expect(cloud.graphRequests[0]?.authorization).toBe(`Bearer ${cloud.issuedTokens[0]}`);

      const samples = await exporter.samples();
      expect(samples.find(forbidden)?.labels.tenant_id).toBe(cloud.tenantClaim);
      expect(tenantIds(samples)).toEqual([cloud.tenantClaim]);
    });
  });

  describe('HTTPS_PROXY', () => {
    it('bypasses the proxy for a host in NO_PROXY, for the token and for Graph alike', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const proxy = await startConnectProxy();
      onTestFinished(() => proxy.close());
      const exporter = await startExporter({ cloud, onTestFinished, env: { ...clientSecretEnv(), HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'partner_security_up 1');
      expect(cloud.tokenRequests).toHaveLength(1);
      expect(proxy.tunnels).toEqual([]);
    });

    it('sends both the token request and the Graph request through the CONNECT proxy', async ({ onTestFinished }) => {
      const cloud = await startFakeCloud({ onTestFinished });
      const proxy = await startConnectProxy();
      onTestFinished(() => proxy.close());
      const exporter = await startExporter({ cloud, onTestFinished, env: { ...clientSecretEnv(), HTTPS_PROXY: proxy.url, NO_PROXY: '' } });
      await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'partner_security_up 1');
      expect(await exporter.value('partner_security_score_current', tenant)).toBe(FIXTURE_SCORE.current);

      expect(Object.keys(proxy.countByTarget())).toEqual([cloud.hostPort]);
      expect(proxy.countByTarget()[cloud.hostPort]).toBeGreaterThanOrEqual(2);
      expect(proxy.refused).toEqual([]);
      // Each request reached the fake over one of the proxy's upstream sockets.
      const viaProxy = proxy.upstreamPorts();
      expect(cloud.discoveryRequests.length).toBeGreaterThanOrEqual(1);
      expect(cloud.tokenRequests).toHaveLength(1);
      expect(cloud.graphRequests.length).toBeGreaterThanOrEqual(1);
      const direct = [
        ...cloud.discoveryRequests.map((r) => ({ kind: 'discovery', port: r.remotePort })),
        ...cloud.tokenRequests.map((r) => ({ kind: 'token', port: r.remotePort })),
        ...cloud.graphRequests.map((r) => ({ kind: 'graph', port: r.remotePort })),
      ].filter((r) => !viaProxy.has(r.port));
      expect(direct).toEqual([]);
    });
  });
});
