/**
 * Azure workload identity end to end, the way AKS runs the exporter: the example overlay filled in
 * as docs/kubernetes.md says, the workload identity webhook's mutation of its pod (environment and
 * projected token volume), the token file the kubelet writes, and the built exporter started with
 * exactly that container's arguments and environment against the TLS fake of Entra ID and Graph.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DIR, COMPONENTS_DIR, KUBERNETES_DIR, type KubeObject, renderKustomization } from '../../scripts/kubernetes.js';
import { CLIENT_ID, INTEGRATION_TIMEOUT_MS, killExporters, sampleValue, startExporter, TENANT_ID, until } from '../helpers/exporter.js';
import { closeFakeClouds, FIXTURE_SCORE, JWT_BEARER, startFakeCloud, unsignedJwt } from '../helpers/fake-cloud.js';
import { containerProcess, mountVolumes, mutateWorkloadIdentity, only, podTemplate, WEBHOOK } from '../helpers/kubelet.js';

/** The federated credential's subject docs/kubernetes.md tells users to create: namespace and service account of the base. */
const SUBJECT = 'system:serviceaccount:partner-security:partner-security-score-exporter';
const TENANT_A = { tenantId: '11111111-2222-4333-8444-555555555555', clientId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', partner: 'a' };
const TENANT_B = { tenantId: '22222222-3333-4444-8555-666666666666', clientId: 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff', partner: 'b' };
/** What the user fills in where the manifests say <...>. */
const FILLED: Readonly<Record<string, string>> = {
  '<application-client-id>': CLIENT_ID,
  '<partner-tenant-id>': TENANT_ID,
  '<registry>': 'partners.azurecr.io',
  '<partner-tenant-id-a>': TENANT_A.tenantId,
  '<application-client-id-a>': TENANT_A.clientId,
  '<partner-tenant-id-b>': TENANT_B.tenantId,
  '<application-client-id-b>': TENANT_B.clientId,
};

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'pss-workload-identity-'));
});
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
  rmSync(workDir, { recursive: true, force: true });
});

function fill(text: string): string {
  return Object.entries(FILLED).reduce((t, [placeholder, value]) => t.replaceAll(placeholder, value), text);
}

/** Writes a kustomization into a fresh directory (relative paths: kustomize refuses absolute ones) and renders it. */
function render(name: string, kustomization: (dir: string) => string): KubeObject[] {
  const dir = join(workDir, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'kustomization.yaml'), kustomization(dir));
  return renderKustomization(dir);
}

/** A service account token as the kubelet projects it for the webhook's volume (unsigned: the fake does not check). */
function projectedToken(): string {
  const now = Math.floor(Date.now() / 1000);
  return unsignedJwt({ iss: 'https://westeurope.oic.prod-aks.azure.com/tenant/cluster/', sub: SUBJECT, aud: [WEBHOOK.audience], iat: now, exp: now + 3600 });
}

describe.concurrent('workload identity on AKS', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('the example overlay: a token through a client assertion from the projected file, and the score served', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const objects = render('example', (dir) =>
      fill(readFileSync(join(KUBERNETES_DIR, 'example/kustomization.yaml'), 'utf8')).replace('- ../base', `- ${relative(dir, BASE_DIR)}`),
    );
    const account = only(objects, 'ServiceAccount');
    expect(`system:serviceaccount:${account.metadata.namespace}:${account.metadata.name}`).toBe(SUBJECT);

    // The webhook, with the authority as it writes it (a trailing slash), pointed at the fake.
    const pod = only(mutateWorkloadIdentity(objects, { authorityHost: `${cloud.url}/` }), 'Deployment');
    new Deployment(pod as never).validate();
    const tokenFile = posix.join(WEBHOOK.mountPath, WEBHOOK.tokenPath);
    expect(podTemplate(pod).spec.containers[0]?.env).toEqual([
      { name: 'AZURE_CLIENT_ID', value: CLIENT_ID },
      { name: 'AZURE_TENANT_ID', value: TENANT_ID },
      { name: 'AZURE_FEDERATED_TOKEN_FILE', value: tokenFile },
      { name: 'AZURE_AUTHORITY_HOST', value: `${cloud.url}/` },
    ]);

    const token = projectedToken();
    const chroot = mountVolumes(objects, pod, join(workDir, 'example-pod'), { tokens: { [WEBHOOK.volumeName]: token } });
    const { args, env } = containerProcess(pod, chroot);
    expect(Object.keys(env).sort()).toEqual(['AZURE_AUTHORITY_HOST', 'AZURE_CLIENT_ID', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_TENANT_ID']);
    // The container's own arguments; only the port moves to an ephemeral one on loopback.
    const exporter = await startExporter({ cloud, onTestFinished, args: args.filter((a) => !a.startsWith('--web.listen-address=')), env });

    const tenant = { tenant_id: TENANT_ID };
    await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'partner_security_up 1');
    const samples = await exporter.samples();
    expect(sampleValue(samples, 'partner_security_score_current', tenant)).toBe(FIXTURE_SCORE.current);
    expect(sampleValue(samples, 'partner_security_up', tenant)).toBe(1);

    expect(cloud.tokenRequests).toHaveLength(1);
    expect(cloud.tokenRequests[0]).toMatchObject({
      tenant: TENANT_ID,
      clientId: CLIENT_ID,
      grantType: 'client_credentials',
      auth: 'assertion',
      clientAssertionType: JWT_BEARER,
      clientAssertion: readFileSync(chroot.hostPath(tokenFile), 'utf8'),
    });
    expect(cloud.tokenRequests[0]?.clientAssertion).toBe(token);
    expect(cloud.graphRequests[0]?.authorization).toBe(`Bearer ${cloud.issuedTokens[0]}`);
    expect(cloud.unexpected).toEqual([]);

    // What the kubelet's probes ask.
    const container = podTemplate(pod).spec.containers[0];
    for (const probe of [container?.startupProbe, container?.livenessProbe, container?.readinessProbe]) {
      expect((await exporter.get(probe?.httpGet?.path ?? '?')).status).toBe(200);
    }
    // The projected token is the only credential: nothing in the exporter's log is that token.
    expect(exporter.stderrLines.join('\n')).not.toContain(token);
  });

  it('several tenants (tenants-file component): one assertion per app registration, all from the one token file', async ({ onTestFinished }) => {
    const cloud = await startFakeCloud({ onTestFinished });
    const objects = render('several-tenants', (dir) =>
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        `resources: [${relative(dir, BASE_DIR)}]`,
        `components: [${relative(dir, join(COMPONENTS_DIR, 'tenants-file'))}]`,
        '',
      ].join('\n'),
    );
    const filled = JSON.parse(fill(JSON.stringify(objects))) as KubeObject[];
    const pod = only(mutateWorkloadIdentity(filled, { authorityHost: `${cloud.url}/` }), 'Deployment');
    const token = projectedToken();
    const chroot = mountVolumes(filled, pod, join(workDir, 'several-tenants-pod'), { tokens: { [WEBHOOK.volumeName]: token } });
    const { args, env } = containerProcess(pod, chroot);
    const exporter = await startExporter({ cloud, onTestFinished, args: args.filter((a) => !a.startsWith('--web.listen-address=')), env });

    for (const t of [TENANT_A, TENANT_B]) {
      await until(async () => (await exporter.value('partner_security_up', { tenant_id: t.tenantId, partner: t.partner })) === 1, 15_000, `${t.tenantId} up`);
    }
    const samples = await exporter.samples();
    for (const t of [TENANT_A, TENANT_B]) {
      expect(sampleValue(samples, 'partner_security_score_current', { tenant_id: t.tenantId, partner: t.partner })).toBe(FIXTURE_SCORE.current);
    }
    const requests = cloud.tokenRequests.map((r) => ({
      tenant: r.tenant,
      clientId: r.clientId,
      auth: r.auth,
      type: r.clientAssertionType,
      assertion: r.clientAssertion,
    }));
    expect(requests.sort((a, b) => a.tenant.localeCompare(b.tenant))).toEqual(
      [TENANT_A, TENANT_B].map((t) => ({ tenant: t.tenantId, clientId: t.clientId, auth: 'assertion', type: JWT_BEARER, assertion: token })),
    );
  });
});
