/**
 * deploy/kubernetes/ without a cluster: every manifest against the Kubernetes and Prometheus Operator
 * schemas (kubernetes-models), the generated PrometheusRule and dashboard ConfigMaps against their
 * sources, the kustomizations rendered (and compared with `kubectl kustomize` where kubectl is
 * installed), the wiring between the objects (selectors, ports, probes, mounts and flags, job label),
 * the pod's hardening, and the exporter started the way each variant's pod starts it. Workload
 * identity end to end is test/integration/workload-identity.test.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  ALERTS_FILE,
  APP_NAME,
  BASE_DIR,
  COMPONENTS_DIR,
  GRAFANA_DASHBOARDS_DIR,
  KUBERNETES_DIR,
  type KubeObject,
  kustomizationDirs,
  loadObjects,
  readKustomization,
  renderGenerated,
  renderKustomization,
} from '../../scripts/kubernetes.js';
import { DEFAULT_PORT, FLAGS } from '../../src/config/flags.js';
import { parseConfig } from '../../src/config/parse.js';
import { shardOf } from '../../src/config/shard.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  INTEGRATION_TIMEOUT_MS,
  killExporters,
  sampleValue,
  startExporter,
  TENANT_ID,
  tenantIds,
  until,
} from '../helpers/exporter.js';
import { closeFakeClouds, FIXTURE_SCORE, startFakeCloud, unsignedJwt } from '../helpers/fake-cloud.js';
import {
  type Container,
  containerProcess,
  mountVolumes,
  mutateWorkloadIdentity,
  only,
  type PodSpec,
  podLabels,
  podTemplate,
  WEBHOOK,
} from '../helpers/kubelet.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE_DIR = join(KUBERNETES_DIR, 'example');
const SECRET_EXAMPLE = join(COMPONENTS_DIR, 'client-secret/secret.example.yaml');
const TLS = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url)), 'utf8');

/**
 * Every way the manifests are meant to be applied: the base, each component on it, and the two that
 * combine (client-secret is for one tenant; with a tenants file the credentials are in the file).
 */
const VARIANTS: readonly { name: string; components: readonly string[] }[] = [
  { name: 'base', components: [] },
  { name: 'base + client-secret', components: ['client-secret'] },
  { name: 'base + tenants-file', components: ['tenants-file'] },
  { name: 'base + web-config', components: ['web-config'] },
  { name: 'base + tenants-file + web-config', components: ['tenants-file', 'web-config'] },
  { name: 'base + azure-monitor', components: ['azure-monitor'] },
];

/** What the user puts where the manifests say <...> (the overlay of docs/kubernetes.md, the tenants file, the image). */
const PLACEHOLDERS: Readonly<Record<string, string>> = {
  '<application-client-id>': CLIENT_ID,
  '<partner-tenant-id>': TENANT_ID,
  '<partner-tenant-id-a>': '11111111-2222-4333-8444-555555555555',
  '<application-client-id-a>': 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
  '<partner-tenant-id-b>': '22222222-3333-4444-8555-666666666666',
  '<application-client-id-b>': 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff',
  '<registry>': 'partners.azurecr.io',
};

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'pss-kubernetes-'));
});
afterAll(async () => {
  await killExporters();
  await closeFakeClouds();
  rmSync(workDir, { recursive: true, force: true });
});

let overlays = 0;
/**
 * A throw-away overlay (relative paths: kustomize refuses absolute ones) with the given components,
 * and parameters as the example overlay gives them (a local-config ConfigMap the components read).
 */
function overlay(components: readonly string[], parameters: Readonly<Record<string, string>> = {}): string {
  const dir = join(workDir, `overlay-${++overlays}`);
  mkdirSync(dir, { recursive: true });
  const literals = Object.entries(parameters).map(([k, v]) => `      - ${k}=${v}`);
  const lines = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    `  - ${relative(dir, BASE_DIR)}`,
    ...(components.length > 0 ? ['components:', ...components.map((c) => `  - ${relative(dir, join(COMPONENTS_DIR, c))}`)] : []),
    ...(literals.length > 0
      ? [
          'configMapGenerator:',
          '  - name: partner-security-score-exporter-parameters',
          '    literals:',
          ...literals,
          '    options:',
          '      disableNameSuffixHash: true',
          '      annotations:',
          '        config.kubernetes.io/local-config: "true"',
        ]
      : []),
  ];
  writeFileSync(join(dir, 'kustomization.yaml'), `${lines.join('\n')}\n`);
  return dir;
}

/** The example overlay as a user fills it in (placeholders replaced), in a directory of its own; optionally another Prometheus namespace. */
function filledExample(prometheusNamespace?: string): string {
  const dir = join(workDir, `example-${++overlays}`);
  mkdirSync(dir);
  let text = readFileSync(join(EXAMPLE_DIR, 'kustomization.yaml'), 'utf8').replace('- ../base', `- ${relative(dir, BASE_DIR)}`);
  for (const [placeholder, value] of Object.entries(PLACEHOLDERS)) text = text.replaceAll(placeholder, value);
  if (prometheusNamespace !== undefined) {
    const changed = text.replace(/^(\s+- prometheus-namespace=).*$/m, `$1${prometheusNamespace}`);
    expect(changed).not.toBe(text);
    text = changed;
  }
  writeFileSync(join(dir, 'kustomization.yaml'), text);
  return dir;
}

/** The filled-in example overlay with some of its optional components turned on. */
function exampleWith(components: readonly string[]): string {
  const dir = filledExample();
  const text = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
  writeFileSync(join(dir, 'kustomization.yaml'), `${text}components:\n${components.map((c) => `  - ${relative(dir, join(COMPONENTS_DIR, c))}\n`).join('')}`);
  return dir;
}

/** Replaces every placeholder in every string of the objects, as the user's overlay would. */
function fillIn(objects: readonly KubeObject[]): KubeObject[] {
  let text = JSON.stringify(objects);
  for (const [placeholder, value] of Object.entries(PLACEHOLDERS)) text = text.replaceAll(placeholder, value);
  return JSON.parse(text) as KubeObject[];
}

const MODELS: Readonly<Record<string, new (data: never) => { validate(): void }>> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  // Azure Monitor managed Prometheus ships the Prometheus Operator's ServiceMonitor CRD under its own
  // group: the same schema, checked with the upstream model.
  'azmonitoring.coreos.com/v1/ServiceMonitor': class {
    readonly data: Record<string, unknown>;
    constructor(data: never) {
      this.data = data;
    }
    validate() {
      new ServiceMonitor({ ...this.data, apiVersion: 'monitoring.coreos.com/v1' } as never).validate();
    }
  },
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Schema problems (kubernetes-models) plus what the API server checks beyond the schema; empty when valid. */
function problems(object: KubeObject): string[] {
  const where = `${object.kind} ${object.metadata?.name}`;
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) return [`${where}: no schema for ${object.apiVersion} ${object.kind}`];
  const found: string[] = [];
  try {
    new Model(object as never).validate();
  } catch (error) {
    found.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const name = object.metadata?.name ?? '';
  if (!(DNS_LABEL.test(name) && name.length <= 63)) found.push(`${where}: metadata.name is not a DNS label`);
  for (const [key, value] of Object.entries(object.metadata?.labels ?? {})) {
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value))
      found.push(`${where}: label ${key}: ${JSON.stringify(value)} is not a label value`);
  }
  if (object.kind === 'Deployment' || object.kind === 'StatefulSet') found.push(...podProblems(podTemplate(object).spec).map((p) => `${where}: ${p}`));
  return found;
}

/** The API server's own rules for a pod spec that the schema cannot express. */
function podProblems(spec: PodSpec): string[] {
  const found: string[] = [];
  const volumes = (spec.volumes ?? []).map((v) => v.name);
  if (new Set(volumes).size !== volumes.length) found.push(`duplicate volume names ${volumes.join(', ')}`);
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    const mounts = container.volumeMounts ?? [];
    if (new Set(mounts.map((m) => m.mountPath)).size !== mounts.length) found.push(`${container.name}: duplicate mount paths`);
    for (const mount of mounts) if (!volumes.includes(mount.name)) found.push(`${container.name}: mount ${mount.name} names no volume`);
    const env = (container.env ?? []).map((e) => e.name);
    if (new Set(env).size !== env.length) found.push(`${container.name}: duplicate environment variables ${env.join(', ')}`);
  }
  for (const volume of volumes) {
    if (!spec.containers.some((c) => (c.volumeMounts ?? []).some((m) => m.name === volume))) found.push(`volume ${volume} is mounted nowhere`);
  }
  return found;
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The job label the alert rules select (up{job="..."}). */
function alertJob(): string {
  const jobs = new Set([...readFileSync(ALERTS_FILE, 'utf8').matchAll(/job="([^"]+)"/g)].map((m) => m[1]));
  expect(jobs.size, 'the alert rules name one job').toBe(1);
  return [...jobs][0] ?? '';
}

/** flag name -> value of --flag=value arguments (the manifests always use the = form). */
function flagValues(args: readonly string[]): Map<string, string> {
  return new Map(
    args.map((arg) => {
      const match = /^--([^=]+)=(.*)$/s.exec(arg);
      if (!match) throw new Error(`argument ${arg} is not --flag=value`);
      return [match[1] ?? '', match[2] ?? ''];
    }),
  );
}

function container(deployment: KubeObject): Container {
  const found = podTemplate(deployment).spec.containers;
  expect(found).toHaveLength(1);
  return found[0] as Container;
}

/** The port a probe or Service names, resolved against the container's ports. */
function containerPort(c: Container, port: string | number | undefined): number | undefined {
  return typeof port === 'number' ? c.ports?.find((p) => p.containerPort === port)?.containerPort : c.ports?.find((p) => p.name === port)?.containerPort;
}

/** Whether `kubectl kustomize` can check the renderer here. */
const kubectl = await run('kubectl', ['version', '--client'], { timeout: 30_000 }).then(
  () => true,
  () => false,
);

// Concurrent: several tests start the exporter (a Node process each) or kubectl.
describe.concurrent('deploy/kubernetes', () => {
  describe('generated manifests', () => {
    it('are committed exactly as npm run kubernetes generates them', () => {
      const generated = renderGenerated();
      for (const [file, text] of generated) expect(readFileSync(join(ROOT, file), 'utf8'), `${file} is stale: run npm run kubernetes`).toBe(text);
      const dashboards = readdirSync(join(BASE_DIR, 'dashboards')).map((f) => relative(ROOT, join(BASE_DIR, 'dashboards', f)));
      expect(dashboards.sort()).toEqual([...generated.keys()].filter((f) => f.includes('/dashboards/')).sort());
    });

    it('the PrometheusRule holds exactly the groups of deploy/prometheus/alerts.yml', () => {
      const rule = only(loadObjects(join(BASE_DIR, 'prometheusrule.yaml')), 'PrometheusRule');
      const source = parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: unknown[] };
      expect(Object.keys(source)).toEqual(['groups']);
      expect((rule.spec as { groups: unknown[] }).groups).toEqual(source.groups);
      expect((rule.spec as { groups: { rules: unknown[] }[] }).groups.flatMap((g) => g.rules)).toHaveLength(12);
    });

    it('one sidecar ConfigMap per Grafana dashboard, holding the JSON file byte for byte', () => {
      const files = readdirSync(GRAFANA_DASHBOARDS_DIR).filter((f) => f.endsWith('.json'));
      expect(files.length).toBeGreaterThanOrEqual(2);
      const maps = renderKustomization(BASE_DIR).filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
      expect(maps).toHaveLength(files.length);
      for (const file of files) {
        const map = maps.find((m) => Object.keys((m.data ?? {}) as object).includes(file));
        expect(map, `no ConfigMap holds ${file}`).toBeDefined();
        const data = (map?.data ?? {}) as Record<string, string>;
        expect(Object.keys(data)).toEqual([file]);
        expect(data[file]).toBe(readFileSync(join(GRAFANA_DASHBOARDS_DIR, file), 'utf8'));
        // kubectl apply (client side) keeps the whole object in an annotation of at most 256 KiB.
        expect(JSON.stringify(map).length).toBeLessThan(200_000);
      }
    });
  });

  describe('every manifest file', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name));
        else if (entry.name.endsWith('.yaml') && entry.name !== 'kustomization.yaml') files.push(join(dir, entry.name));
      }
    };
    walk(KUBERNETES_DIR);

    it('there are manifests', () => {
      expect(files.length).toBeGreaterThanOrEqual(12);
    });

    it.each(files.map((f) => [relative(ROOT, f), f]))('%s passes the Kubernetes / Prometheus Operator schema', (_name, file) => {
      const objects = loadObjects(file);
      expect(objects.length).toBeGreaterThan(0);
      expect(objects.flatMap(problems)).toEqual([]);
    });

    it('is listed by a kustomization, or is an example (*.example.yaml) the components document', () => {
      const listed = new Set<string>();
      for (const { dir, kind } of kustomizationDirs()) {
        for (const entry of readKustomization(dir, kind).resources ?? []) listed.add(join(dir, entry));
      }
      const unlisted = files.filter((f) => !listed.has(f) && !f.endsWith('.example.yaml'));
      expect(unlisted.map((f) => relative(ROOT, f))).toEqual([]);
    });
  });

  describe('the validation can fail', () => {
    // The checks below are only worth something if a broken manifest breaks them.
    const deployment = () => structuredClone(only(renderKustomization(BASE_DIR), 'Deployment'));

    it('rejects a wrong type, a bad enum, an unknown kind and a mount without a volume', () => {
      const wrongType = deployment();
      (wrongType.spec as { replicas: unknown }).replicas = '1';
      expect(problems(wrongType).join('\n')).toContain('replicas must be integer');
      const badEnum = deployment();
      container(badEnum).imagePullPolicy = 'Sometimes';
      expect(problems(badEnum).join('\n')).toContain('imagePullPolicy');
      expect(problems({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toEqual(['Pod x: no schema for v1 Pod']);
      const orphan = deployment();
      container(orphan).volumeMounts = [{ name: 'nowhere', mountPath: '/x' }];
      expect(problems(orphan).join('\n')).toContain('mount nowhere names no volume');
    });

    it('rejects a ServiceMonitor with a malformed interval', () => {
      const monitor = structuredClone(only(renderKustomization(BASE_DIR), 'ServiceMonitor'));
      (monitor.spec as { endpoints: { interval: string }[] }).endpoints[0] = { interval: 'one minute' };
      expect(problems(monitor).join('\n')).toContain('interval must match pattern');
    });
  });

  describe.each(VARIANTS)('$name', ({ components }) => {
    let objects: KubeObject[];
    let deployment: KubeObject;
    let exporter: Container;
    beforeAll(() => {
      objects = renderKustomization(overlay(components));
      deployment = only(objects, 'Deployment', APP_NAME);
      exporter = container(deployment);
    });

    it('renders objects that all pass the schemas, in one namespace', () => {
      expect(objects.flatMap(problems)).toEqual([]);
      const namespace = only(objects, 'Namespace').metadata.name;
      expect(objects.filter((o) => o.kind !== 'Namespace').every((o) => o.metadata.namespace === namespace)).toBe(true);
      const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('runs one replica, never two at once, of the image of this version', () => {
      const spec = deployment.spec as { replicas: number; strategy: { type: string } };
      expect(spec.replicas).toBe(1);
      expect(spec.strategy.type).toBe('Recreate');
      const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
      expect(exporter.image).toBe(`${APP_NAME}:${version}`);
    });

    it('selects its own pod: Deployment, Service, NetworkPolicy; the ServiceMonitor selects the Service', () => {
      const template = podTemplate(deployment);
      const podLabels = template.metadata.labels;
      expect(matches((deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, podLabels)).toBe(true);
      const service = only(objects, 'Service');
      expect(matches((service.spec as { selector: Record<string, string> }).selector, podLabels)).toBe(true);
      const policy = only(objects, 'NetworkPolicy');
      expect(matches((policy.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels, podLabels)).toBe(true);
      const monitor = only(objects, 'ServiceMonitor');
      const monitorSpec = monitor.spec as { selector: { matchLabels: Record<string, string> }; namespaceSelector?: unknown };
      expect(matches(monitorSpec.selector.matchLabels, service.metadata.labels)).toBe(true);
      // No namespaceSelector: the Operator looks in the ServiceMonitor's own namespace, the Service's.
      expect(monitorSpec.namespaceSelector).toBeUndefined();
      expect(monitor.metadata.namespace).toBe(service.metadata.namespace);
      expect(template.spec.serviceAccountName).toBe(only(objects, 'ServiceAccount').metadata.name);
    });

    it("uses the exporter's port everywhere: listen address, container, Service, ServiceMonitor, NetworkPolicy", () => {
      const listen = flagValues(exporter.args ?? []).get('web.listen-address');
      expect(listen).toBe(`:${DEFAULT_PORT}`);
      expect(exporter.ports).toEqual([{ name: 'metrics', containerPort: DEFAULT_PORT, protocol: 'TCP' }]);
      const service = only(objects, 'Service');
      const ports = (service.spec as { ports: { name: string; port: number; targetPort: string | number }[] }).ports;
      expect(ports).toHaveLength(1);
      expect(ports[0]?.port).toBe(DEFAULT_PORT);
      expect(containerPort(exporter, ports[0]?.targetPort)).toBe(DEFAULT_PORT);
      const endpoints = (only(objects, 'ServiceMonitor').spec as { endpoints: { port: string; path: string }[] }).endpoints;
      expect(endpoints).toHaveLength(1);
      expect(endpoints[0]?.port).toBe(ports[0]?.name);
      expect(endpoints[0]?.path).toBe(flagValues(exporter.args ?? []).get('web.telemetry-path') ?? '/metrics');
      const ingress = (only(objects, 'NetworkPolicy').spec as { ingress: { ports: { port: string | number; protocol: string }[] }[] }).ingress;
      expect(ingress.flatMap((rule) => rule.ports.map((p) => containerPort(exporter, p.port)))).toEqual([DEFAULT_PORT]);
    });

    it("probes /healthz (startup, liveness) and /readyz (readiness) on the exporter's port", () => {
      const probes = { startup: exporter.startupProbe, liveness: exporter.livenessProbe, readiness: exporter.readinessProbe };
      expect(Object.fromEntries(Object.entries(probes).map(([k, p]) => [k, p?.httpGet?.path]))).toEqual({
        startup: '/healthz',
        liveness: '/healthz',
        readiness: '/readyz',
      });
      for (const probe of Object.values(probes)) expect(containerPort(exporter, probe?.httpGet?.port)).toBe(DEFAULT_PORT);
      // With TLS on the port, the probes must speak it.
      const tls = flagValues(exporter.args ?? []).has('web.config.file');
      for (const probe of Object.values(probes)) expect(probe?.httpGet?.scheme ?? 'HTTP').toBe(tls ? 'HTTPS' : 'HTTP');
    });

    it('gives the exporter only flags it knows, and every file a flag or variable names is mounted', () => {
      const known = new Set<string>(FLAGS.filter((f) => f.command === undefined && f.env).map((f) => f.name));
      const flags = flagValues(exporter.args ?? []);
      for (const name of flags.keys()) expect(known.has(name), `--${name}`).toBe(true);
      const mounts = exporter.volumeMounts ?? [];
      const paths = [
        ...[...flags.values()].filter((v) => v.startsWith('/')),
        ...(exporter.env ?? []).flatMap((e) => (e.value?.startsWith('/') ? [e.value] : [])),
      ];
      for (const path of paths)
        expect(
          mounts.some((m) => path.startsWith(`${m.mountPath}/`)),
          `${path} is under no mount`,
        ).toBe(true);
      // The converse: nothing is mounted that no flag or variable uses (the TLS files are named by the web config).
      for (const mount of mounts) {
        const used = paths.some((p) => p.startsWith(`${mount.mountPath}/`)) || (mount.name === 'tls' && flags.has('web.config.file'));
        expect(used, `${mount.mountPath} is used by no flag`).toBe(true);
        expect(mount.readOnly).toBe(true);
      }
    });

    it('is hardened: non-root as the image user, read-only, no capabilities, RuntimeDefault seccomp, no API token', () => {
      const uid = Number(/^USER (\d+):(\d+)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1]);
      expect(uid).toBe(65532);
      const spec = podTemplate(deployment).spec;
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, seccompProfile: { type: 'RuntimeDefault' } });
      expect(exporter.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(spec.automountServiceAccountToken).toBe(false);
      expect(only(objects, 'ServiceAccount').automountServiceAccountToken).toBe(false);
      for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) expect(spec[key]).toBeUndefined();
      const volumeTypes = (spec.volumes ?? []).flatMap((v) => Object.keys(v).filter((k) => k !== 'name'));
      expect(volumeTypes.every((t) => ['configMap', 'secret', 'projected'].includes(t))).toBe(true);
      expect(only(objects, 'Namespace').metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    });

    it('requests and limits resources sized from the measured memory (RSS 100-140 MB)', () => {
      expect(exporter.resources).toEqual({ requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } });
    });

    it('lets only Prometheus in from the monitoring namespace (Azure: the ama-metrics pods), and only DNS and HTTPS out', () => {
      const spec = only(objects, 'NetworkPolicy').spec as {
        policyTypes: string[];
        ingress: { from: Record<string, { matchLabels: Record<string, string> }>[] }[];
        egress: { to?: unknown; ports: { port: number; protocol: string }[] }[];
      };
      expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(spec.ingress.flatMap((r) => r.from)).toEqual([
        components.includes('azure-monitor')
          ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { rsName: 'ama-metrics' } } }
          : {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
            },
      ]);
      expect(spec.egress.flatMap((r) => r.ports.map((p) => `${p.port}/${p.protocol}`)).sort()).toEqual(['443/TCP', '53/TCP', '53/UDP']);
    });

    it('labels the scrape job as the alert rules expect, and the rules and dashboards for kube-prometheus-stack', () => {
      const endpoint = (
        only(objects, 'ServiceMonitor').spec as { endpoints: { relabelings: { targetLabel: string; replacement: string; action: string }[] }[] }
      ).endpoints[0];
      expect(endpoint?.relabelings).toContainEqual({ action: 'replace', targetLabel: 'job', replacement: alertJob() });
      if (components.includes('azure-monitor')) {
        // The add-on's own API group; no Prometheus Operator object, whose CRDs the cluster need not have.
        expect(only(objects, 'ServiceMonitor').apiVersion).toBe('azmonitoring.coreos.com/v1');
        expect(objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toEqual([]);
        return;
      }
      expect(only(objects, 'ServiceMonitor').apiVersion).toBe('monitoring.coreos.com/v1');
      expect(only(objects, 'ServiceMonitor').metadata.labels?.release).toBe('kube-prometheus-stack');
      expect(only(objects, 'PrometheusRule').metadata.labels?.release).toBe('kube-prometheus-stack');
      expect(objects.filter((o) => o.metadata.labels?.grafana_dashboard === '1')).toHaveLength(2);
    });

    it('uses workload identity unless the client-secret component is on, and never a secret in an environment variable', () => {
      const template = podTemplate(deployment);
      const secretComponent = components.includes('client-secret');
      expect(template.metadata.labels?.[WEBHOOK.label]).toBe(secretComponent ? undefined : 'true');
      const annotations = only(objects, 'ServiceAccount').metadata.annotations;
      if (secretComponent) expect(annotations).toBeUndefined();
      else expect(Object.keys(annotations ?? {}).sort()).toEqual([WEBHOOK.clientIdAnnotation, WEBHOOK.tenantIdAnnotation]);
      const names = (exporter.env ?? []).map((e) => e.name);
      expect(names).not.toContain('AZURE_CLIENT_SECRET');
      expect(names).not.toContain('AZURE_CLIENT_CERTIFICATE_PASSWORD');
      expect((exporter.env ?? []).every((e) => e.valueFrom === undefined)).toBe(true);
    });

    // The configuration as the exporter reads it at start-up (parseConfig is what --config.check runs,
    // in process here: the exporter itself is started in the tests further down).
    it('is a valid exporter configuration as the pod starts it, once the placeholders are filled in', () => {
      const filled = mutateWorkloadIdentity(fillIn(objects));
      const pod = only(filled, 'Deployment');
      const chroot = mountVolumes(filled, pod, join(workDir, `check-${++overlays}`), {
        secrets: { [secretExample().name]: { [secretExample().key]: CLIENT_SECRET }, ...tlsSecret() },
        tokens: { [WEBHOOK.volumeName]: unsignedJwt({ sub: 'system:serviceaccount:partner-security:partner-security-score-exporter' }) },
      });
      const { args, env } = containerProcess(pod, chroot);
      const parsed = parseConfig([...args, '--config.check'], env);
      expect(parsed.action === 'fail' ? parsed.errors : []).toEqual([]);
      if (parsed.action !== 'check') throw new Error(`unexpected ${parsed.action}`);
      const kind = components.includes('client-secret') ? 'clientSecret' : 'workloadIdentity';
      const tenants = components.includes('tenants-file') ? [PLACEHOLDERS['<partner-tenant-id-a>'], PLACEHOLDERS['<partner-tenant-id-b>']] : [TENANT_ID];
      expect(parsed.config.tenants.map((t) => [t.tenantId, t.credential.kind])).toEqual(tenants.map((t) => [t, kind]));
      expect(parsed.config.listen).toEqual([{ port: DEFAULT_PORT }]);
      expect(parsed.config.webConfigFile !== undefined).toBe(components.includes('web-config'));
    });

    it('refuses to start as shipped, naming the placeholder to replace, instead of polling a wrong tenant', () => {
      const shipped = mutateWorkloadIdentity(objects);
      const pod = only(shipped, 'Deployment');
      const chroot = mountVolumes(shipped, pod, join(workDir, `shipped-${++overlays}`), {
        secrets: { [secretExample().name]: { [secretExample().key]: CLIENT_SECRET }, ...tlsSecret() },
        tokens: { [WEBHOOK.volumeName]: 'a.b.c' },
      });
      const { args, env } = containerProcess(pod, chroot);
      const parsed = parseConfig(args, env);
      expect(parsed.action).toBe('fail');
      expect(parsed.action === 'fail' ? parsed.errors.join('\n') : '').toMatch(
        components.includes('tenants-file') ? /tenant_id: "<partner-tenant-id-a>" is not/ : /AZURE_TENANT_ID: "<partner-tenant-id>" is not a tenant ID/,
      );
    });
  });

  /** Name and key of the example Secret the client-secret component documents. */
  function secretExample(): { name: string; key: string } {
    const secret = only(loadObjects(SECRET_EXAMPLE), 'Secret');
    const keys = Object.keys((secret.stringData ?? {}) as object);
    expect(keys).toHaveLength(1);
    return { name: secret.metadata.name, key: keys[0] ?? '' };
  }

  /** The TLS Secret the web-config component mounts, as cert-manager would write it (the test certificate). */
  function tlsSecret(): Record<string, Record<string, string>> {
    return { 'partner-security-score-exporter-tls': { 'tls.crt': TLS('server.pem'), 'tls.key': TLS('server-key.pem'), 'ca.crt': TLS('ca.pem') } };
  }

  describe('the client-secret component', () => {
    it('mounts the Secret the example documents, under the key the exporter reads', () => {
      const objects = renderKustomization(overlay(['client-secret']));
      const volume = podTemplate(only(objects, 'Deployment')).spec.volumes?.find((v) => v.secret);
      expect(volume?.secret?.secretName).toBe(secretExample().name);
      expect(volume?.secret?.items?.map((i) => i.key)).toEqual([secretExample().key]);
      // The component applies no Secret: a placeholder secret never reaches the cluster.
      expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    });

    it(
      'runs with the secret from the mounted file: the token request carries it, the process environment does not',
      async ({ onTestFinished }) => {
        const objects = fillIn(renderKustomization(overlay(['client-secret'])));
        // No workload identity label: the webhook leaves the pod alone.
        expect(mutateWorkloadIdentity(objects)).toEqual(objects);
        const pod = only(objects, 'Deployment');
        const chroot = mountVolumes(objects, pod, join(workDir, 'client-secret-pod'), {
          secrets: { [secretExample().name]: { [secretExample().key]: CLIENT_SECRET } },
        });
        const { args, env } = containerProcess(pod, chroot);
        const cloud = await startFakeCloud({ onTestFinished, expectedClientSecret: CLIENT_SECRET });
        const exporter = await startExporter({ cloud, onTestFinished, args: args.filter((a) => !a.startsWith('--web.listen-address=')), env });
        const tenant = { tenant_id: TENANT_ID };
        await until(async () => (await exporter.value('partner_security_up', tenant)) === 1, 15_000, 'partner_security_up 1');
        expect(sampleValue(await exporter.samples(), 'partner_security_score_current', tenant)).toBe(FIXTURE_SCORE.current);
        expect(cloud.tokenRequests[0]).toMatchObject({ tenant: TENANT_ID, clientId: CLIENT_ID, auth: 'secret', clientSecret: CLIENT_SECRET });
        const environ = readFileSync(`/proc/${exporter.child.pid}/environ`, 'utf8');
        expect(environ).toContain('AZURE_CLIENT_SECRET_FILE=');
        expect(environ).not.toContain(CLIENT_SECRET);
        for (const path of ['/healthz', '/readyz']) expect((await exporter.get(path)).status).toBe(200);
      },
      INTEGRATION_TIMEOUT_MS,
    );
  });

  describe('the sharded component', () => {
    const SHARDS = 3;
    const TENANTS = ['<partner-tenant-id-a>', '<partner-tenant-id-b>'].map((p) => PLACEHOLDERS[p] ?? p);
    const render = (shards = SHARDS, components: readonly string[] = ['tenants-file', 'sharded']) =>
      renderKustomization(overlay(components, { shards: String(shards) }));
    type SetSpec = {
      replicas: number;
      serviceName: string;
      podManagementPolicy?: string;
      strategy?: unknown;
      selector: { matchLabels: Record<string, string> };
    };

    it('turns the one pod into a StatefulSet of `shards` pods, selected and scraped as the one pod was, all else unchanged', () => {
      const objects = render();
      expect(objects.flatMap(problems)).toEqual([]);
      expect(objects.filter((o) => o.kind === 'Deployment')).toEqual([]);
      const set = only(objects, 'StatefulSet', APP_NAME);
      const spec = set.spec as SetSpec;
      expect({ replicas: spec.replicas, podManagementPolicy: spec.podManagementPolicy, strategy: spec.strategy }).toEqual({
        replicas: SHARDS,
        podManagementPolicy: 'Parallel',
        strategy: undefined,
      });
      const service = only(objects, 'Service');
      expect(spec.serviceName).toBe(service.metadata.name);
      const labels = podLabels(set, 0);
      expect(matches(spec.selector.matchLabels, labels)).toBe(true);
      expect(matches((service.spec as { selector: Record<string, string> }).selector, labels)).toBe(true);
      expect(matches((only(objects, 'NetworkPolicy').spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels, labels)).toBe(
        true,
      );
      // One ServiceMonitor, the base's: the Service's endpoints are every pod, each a target of its own.
      expect(
        matches((only(objects, 'ServiceMonitor').spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, service.metadata.labels),
      ).toBe(true);
      // The pod is the one-pod variant's, plus the two variables; every other object is the same.
      const single = renderKustomization(overlay(['tenants-file']));
      const template = structuredClone(podTemplate(set));
      const exporter = template.spec.containers[0] as Container;
      expect(exporter.env?.map((e) => e.name)).toEqual(['POD_INDEX', 'PSS_TENANTS_SHARD']);
      exporter.env = [];
      expect(template).toEqual(podTemplate(only(single, 'Deployment')));
      const others = (list: KubeObject[]) => list.filter((o) => o.kind !== 'Deployment' && o.kind !== 'StatefulSet');
      expect(others(objects)).toEqual(others(single));
    });

    it('gives pod K its shard K/N from its ordinal, so the pods together poll every tenant once', () => {
      for (const shards of [1, 2, 3]) {
        const objects = mutateWorkloadIdentity(fillIn(render(shards)));
        const set = only(objects, 'StatefulSet');
        const taken: string[] = [];
        for (let k = 0; k < shards; k++) {
          const chroot = mountVolumes(objects, set, join(workDir, `shard-${++overlays}`), {
            tokens: { [WEBHOOK.volumeName]: unsignedJwt({ sub: 'system:serviceaccount:partner-security:partner-security-score-exporter' }) },
          });
          const { args, env } = containerProcess(set, chroot, podLabels(set, k));
          expect(env.PSS_TENANTS_SHARD).toBe(`${k}/${shards}`);
          const parsed = parseConfig([...args, '--config.check'], env);
          expect(parsed.action === 'fail' ? parsed.errors : []).toEqual([]);
          if (parsed.action !== 'check') throw new Error(`unexpected ${parsed.action}`);
          expect(parsed.config.shard).toEqual({ index: k, count: shards, configuredTenants: TENANTS.length });
          const ids = parsed.config.tenants.map((t) => t.tenantId ?? '');
          expect(ids).toEqual(TENANTS.filter((t) => shardOf(t, shards) === k));
          taken.push(...ids);
        }
        expect(taken.sort()).toEqual([...TENANTS].sort());
      }
    });

    it('refuses to start in a pod without the ordinal label (Kubernetes before 1.28), instead of polling every tenant', () => {
      const objects = mutateWorkloadIdentity(fillIn(render()));
      const set = only(objects, 'StatefulSet');
      const chroot = mountVolumes(objects, set, join(workDir, `shard-${++overlays}`), { tokens: { [WEBHOOK.volumeName]: 'a.b.c' } });
      const { args, env } = containerProcess(set, chroot, podTemplate(set).metadata.labels ?? {});
      expect(parseConfig(args, env)).toEqual({
        action: 'fail',
        errors: ['PSS_TENANTS_SHARD: "/3" is not a shard K/N (0-based K of N shards: 0 <= K < N <= 1000, e.g. 0/3, 1/3, 2/3)'],
      });
    });

    it("takes N from the overlay's shards parameter alone, for the replicas and the flag, and does not render without it", () => {
      const set = only(render(5), 'StatefulSet');
      expect((set.spec as SetSpec).replicas).toBe(5);
      expect(container(set).env?.find((e) => e.name === 'PSS_TENANTS_SHARD')?.value).toBe('$(POD_INDEX)/5');
      expect(() => renderKustomization(overlay(['tenants-file', 'sharded']))).toThrow(
        /replacement source ConfigMap partner-security-score-exporter-parameters matches 0 objects/,
      );
      // The example overlay has the parameter: turning the component on there is all it takes.
      expect((only(renderKustomization(exampleWith(['tenants-file', 'sharded'])), 'StatefulSet').spec as SetSpec).replicas).toBe(2);
    });

    it(
      'runs each pod as the exporter: every shard serves its own tenants, together each tenant once',
      async ({ onTestFinished }) => {
        const cloud = await startFakeCloud({ onTestFinished });
        const shards = 2;
        const objects = mutateWorkloadIdentity(fillIn(render(shards)), { authorityHost: `${cloud.url}/` });
        const set = only(objects, 'StatefulSet');
        const served = await Promise.all(
          Array.from({ length: shards }, async (_, k) => {
            const chroot = mountVolumes(objects, set, join(workDir, `shard-pod-${++overlays}`), {
              tokens: { [WEBHOOK.volumeName]: unsignedJwt({ sub: 'x' }) },
            });
            const { args, env } = containerProcess(set, chroot, podLabels(set, k));
            const exporter = await startExporter({ cloud, onTestFinished, args: args.filter((a) => !a.startsWith('--web.listen-address=')), env });
            await until(async () => (await exporter.get('/readyz')).status === 200, 15_000, `shard ${k} ready`);
            return tenantIds(await exporter.samples()).sort();
          }),
        );
        served.forEach((ids, k) => {
          expect(ids).toEqual(TENANTS.filter((t) => shardOf(t, shards) === k).sort());
        });
        expect(served.flat().sort()).toEqual([...TENANTS].sort());
      },
      INTEGRATION_TIMEOUT_MS,
    );
  });

  describe('the web-config component', () => {
    it('names the Service it is reached by as the TLS server name Prometheus verifies', () => {
      const objects = renderKustomization(overlay(['web-config']));
      const service = only(objects, 'Service');
      const endpoint = (only(objects, 'ServiceMonitor').spec as { endpoints: { scheme: string; tlsConfig: { serverName: string; ca: unknown } }[] })
        .endpoints[0];
      expect(endpoint?.scheme).toBe('https');
      expect(endpoint?.tlsConfig.serverName).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc`);
      const tls = podTemplate(only(objects, 'Deployment')).spec.volumes?.find((v) => v.name === 'tls');
      expect(endpoint?.tlsConfig.ca).toEqual({ secret: { name: tls?.secret?.secretName, key: 'ca.crt' } });
    });

    it(
      'serves the probes and /metrics over TLS with the mounted certificate, and nothing over plain HTTP',
      async ({ onTestFinished }) => {
        const cloud = await startFakeCloud({ onTestFinished });
        const objects = mutateWorkloadIdentity(fillIn(renderKustomization(overlay(['web-config']))), { authorityHost: `${cloud.url}/` });
        const pod = only(objects, 'Deployment');
        const chroot = mountVolumes(objects, pod, join(workDir, 'web-config-pod'), {
          secrets: tlsSecret(),
          tokens: { [WEBHOOK.volumeName]: unsignedJwt({ sub: 'x' }) },
        });
        const { args, env } = containerProcess(pod, chroot);
        const exporter = await startExporter({ cloud, onTestFinished, args: args.filter((a) => !a.startsWith('--web.listen-address=')), env });
        const https = (path: string) => fetch(`https://${exporter.address}${path}`, { signal: AbortSignal.timeout(5000) });
        expect((await https('/healthz')).status).toBe(200);
        await until(async () => (await https('/readyz')).status === 200, 15_000, '/readyz 200 over https');
        const metrics = await https('/metrics');
        expect(metrics.headers.get('strict-transport-security')).toBe('max-age=31536000');
        expect(await metrics.text()).toContain(`partner_security_up{tenant_id="${TENANT_ID}"} 1`);
        await expect(exporter.get('/healthz')).rejects.toThrow();
      },
      INTEGRATION_TIMEOUT_MS,
    );
  });

  describe.skipIf(!kubectl)('kubectl kustomize (where kubectl is installed)', () => {
    const dirs = () => [
      ...VARIANTS.map((v) => ({ name: v.name, dir: overlay(v.components) })),
      { name: 'base + tenants-file + web-config + sharded', dir: overlay(['tenants-file', 'web-config', 'sharded'], { shards: '3' }) },
      { name: 'example overlay with tenants-file and sharded', dir: exampleWith(['tenants-file', 'sharded']) },
      { name: 'example overlay', dir: filledExample() },
      { name: 'example overlay, Prometheus in another namespace', dir: filledExample('observability') },
      { name: 'base itself', dir: BASE_DIR },
    ];

    it('renders every variant exactly as this repository renders it', async () => {
      for (const { name, dir } of dirs()) {
        const { stdout } = await run('kubectl', ['kustomize', dir], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
        const theirs = parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject);
        const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        const sort = (list: KubeObject[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
        expect(sort(theirs), name).toEqual(sort(renderKustomization(dir)));
      }
    }, 120_000);
  });

  describe("the example overlay's prometheus-namespace parameter", () => {
    const policyFrom = (objects: KubeObject[]) => (only(objects, 'NetworkPolicy').spec as { ingress: { from: unknown[] }[] }).ingress[0]?.from;

    it("admits scrapes from the namespace the overlay's parameters name, and applies no parameters object", () => {
      const objects = renderKustomization(filledExample('observability'));
      expect(policyFrom(objects)).toEqual([
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
        },
      ]);
      expect(objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.includes('parameters'))).toEqual([]);
      expect(objects.flatMap(problems)).toEqual([]);
    });

    it('ships the monitoring namespace, as the base has it', () => {
      expect(policyFrom(renderKustomization(filledExample()))).toEqual(policyFrom(renderKustomization(BASE_DIR)));
    });

    it('with the azure-monitor component set to kube-system, admits exactly the ama-metrics pods', () => {
      const dir = filledExample('kube-system');
      const text = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
      writeFileSync(join(dir, 'kustomization.yaml'), `${text}components:\n  - ${relative(dir, join(COMPONENTS_DIR, 'azure-monitor'))}\n`);
      expect(policyFrom(renderKustomization(dir))).toEqual([
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { rsName: 'ama-metrics' } } },
      ]);
    });

    it('is the only source: without it the overlay does not render', () => {
      const dir = filledExample();
      const text = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
      writeFileSync(join(dir, 'kustomization.yaml'), text.replace(/^configMapGenerator:\n(?: .*\n)+/m, ''));
      expect(() => renderKustomization(dir)).toThrow(/replacement source ConfigMap partner-security-score-exporter-parameters matches 0 objects/);
    });
  });

  describe('the example overlay', () => {
    it('sets the image and the workload identity IDs, and nothing else changes', () => {
      const objects = renderKustomization(filledExample());
      const base = renderKustomization(BASE_DIR);
      expect(container(only(objects, 'Deployment')).image).toBe(`partners.azurecr.io/${APP_NAME}:${container(only(base, 'Deployment')).image?.split(':')[1]}`);
      expect(only(objects, 'ServiceAccount').metadata.annotations).toEqual({
        [WEBHOOK.clientIdAnnotation]: CLIENT_ID,
        [WEBHOOK.tenantIdAnnotation]: TENANT_ID,
      });
      const strip = (list: KubeObject[]) => list.filter((o) => o.kind !== 'ServiceAccount' && o.kind !== 'Deployment');
      expect(strip(objects)).toEqual(strip(base));
      expect(existsSync(join(EXAMPLE_DIR, 'kustomization.yaml'))).toBe(true);
    });
  });
});
