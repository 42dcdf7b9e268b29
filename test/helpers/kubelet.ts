/**
 * What a cluster does to the rendered manifests before the exporter runs, done on loopback: the AKS
 * workload identity webhook's mutation of the pod, and the kubelet's volumes written under a
 * temporary root. The tests then start the built exporter with the container's own arguments and
 * environment, so a path in a flag that no volume provides, or a credential the pod does not get,
 * fails there as it would in the cluster.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import type { KubeObject } from '../../scripts/kubernetes.js';

/** What azure-workload-identity's webhook (v1, as on AKS) injects. */
export const WEBHOOK = {
  label: 'azure.workload.identity/use',
  clientIdAnnotation: 'azure.workload.identity/client-id',
  tenantIdAnnotation: 'azure.workload.identity/tenant-id',
  volumeName: 'azure-identity-token',
  mountPath: '/var/run/secrets/azure/tokens',
  tokenPath: 'azure-identity-token',
  audience: 'api://AzureADTokenExchange',
  /** The public cloud's authority as the webhook writes it: with the trailing slash. */
  authorityHost: 'https://login.microsoftonline.com/',
} as const;

/** One environment variable of a container. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; [source: string]: unknown };
}
/** Where a container mounts a volume. */
export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
/** An HTTP probe (the only kind the manifests use). */
export interface Probe {
  httpGet?: { path?: string; port?: string | number; scheme?: string };
}
/** The parts of a container spec the tests read. */
export interface Container {
  name: string;
  image?: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  volumeMounts?: VolumeMount[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  [key: string]: unknown;
}
interface KeyToPath {
  key: string;
  path: string;
}
/** A pod volume: ConfigMap, Secret or projected service account token. */
export interface Volume {
  name: string;
  configMap?: { name: string; items?: KeyToPath[] };
  secret?: { secretName: string; items?: KeyToPath[]; defaultMode?: number };
  projected?: { sources: { serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number } }[] };
  [key: string]: unknown;
}
/** The parts of a pod spec the tests read. */
export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  [key: string]: unknown;
}
/** A Deployment's or StatefulSet's pod template. */
export interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}

/** The one object of a kind (and name, if given); throws when there is not exactly one. */
export function only(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as KubeObject;
}

/** The workload's (Deployment's or StatefulSet's) pod template. */
export function podTemplate(deployment: KubeObject): PodTemplate {
  return (deployment.spec as { template: PodTemplate }).template;
}

/** Kinds whose pods the webhook and the kubelet see here. */
const WORKLOADS = new Set(['Deployment', 'StatefulSet']);

/**
 * The labels of a workload's pod: the template's, and for a StatefulSet's pod of the given ordinal
 * those its controller adds (apps.kubernetes.io/pod-index since Kubernetes 1.28, the pod name).
 */
export function podLabels(workload: KubeObject, ordinal?: number): Record<string, string> {
  const labels = { ...(podTemplate(workload).metadata.labels ?? {}) };
  if (workload.kind !== 'StatefulSet') return labels;
  if (ordinal === undefined) throw new Error('a StatefulSet pod needs its ordinal');
  return { ...labels, 'apps.kubernetes.io/pod-index': String(ordinal), 'statefulset.kubernetes.io/pod-name': `${workload.metadata.name}-${ordinal}` };
}

/**
 * The webhook's mutation: for a pod labelled azure.workload.identity/use=true, every container gets
 * AZURE_CLIENT_ID and AZURE_TENANT_ID (from the service account's annotations; the tenant falls back
 * to the cluster's), AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST, each only when the
 * container does not set it and the value is not empty, and a read-only mount of a projected
 * service account token. Other objects are returned unchanged.
 */
export function mutateWorkloadIdentity(objects: readonly KubeObject[], options: { clusterTenantId?: string; authorityHost?: string } = {}): KubeObject[] {
  return objects.map((object) => {
    if (!WORKLOADS.has(object.kind)) return object;
    const mutated = structuredClone(object);
    const template = podTemplate(mutated);
    if (template.metadata.labels?.[WEBHOOK.label] !== 'true') return object;
    const accountName = template.spec.serviceAccountName ?? 'default';
    const account = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === accountName && o.metadata.namespace === object.metadata.namespace);
    // The real webhook rejects the pod when the service account does not exist.
    if (!account) throw new Error(`the webhook found no service account ${accountName} in ${object.metadata.namespace}`);
    const annotations = account.metadata.annotations ?? {};
    const injected: Record<string, string | undefined> = {
      AZURE_CLIENT_ID: annotations[WEBHOOK.clientIdAnnotation],
      AZURE_TENANT_ID: annotations[WEBHOOK.tenantIdAnnotation] ?? options.clusterTenantId,
      AZURE_FEDERATED_TOKEN_FILE: posix.join(WEBHOOK.mountPath, WEBHOOK.tokenPath),
      AZURE_AUTHORITY_HOST: options.authorityHost ?? WEBHOOK.authorityHost,
    };
    for (const container of [...(template.spec.initContainers ?? []), ...template.spec.containers]) {
      container.env ??= [];
      for (const [name, value] of Object.entries(injected)) {
        if (value && !container.env.some((e) => e.name === name)) container.env.push({ name, value });
      }
      container.volumeMounts ??= [];
      if (!container.volumeMounts.some((m) => m.name === WEBHOOK.volumeName)) {
        container.volumeMounts.push({ name: WEBHOOK.volumeName, mountPath: WEBHOOK.mountPath, readOnly: true });
      }
    }
    template.spec.volumes ??= [];
    if (!template.spec.volumes.some((v) => v.name === WEBHOOK.volumeName)) {
      template.spec.volumes.push({
        name: WEBHOOK.volumeName,
        projected: { sources: [{ serviceAccountToken: { path: WEBHOOK.tokenPath, expirationSeconds: 3600, audience: WEBHOOK.audience } }] },
      });
    }
    return mutated;
  });
}

/** What the cluster holds besides the rendered objects: Secrets the user created, projected tokens. */
export interface ClusterData {
  /** Secret name -> key -> value, for Secrets that are not among the objects. */
  readonly secrets?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Projected volume name -> the service account token the kubelet writes. */
  readonly tokens?: Readonly<Record<string, string>>;
}

/** The container's file system under a temporary root: container path -> path on this machine. */
export interface Chroot {
  readonly root: string;
  /** Rewrites every container path under a mount in a value (a flag, a variable, a config file). */
  rewrite(value: string): string;
  /** The path on this machine of a path inside the container. */
  hostPath(containerPath: string): string;
}

/**
 * Writes every volume the container mounts under root, as the kubelet would: ConfigMap and Secret
 * keys (all, or the listed items) and projected service account tokens. A volume, ConfigMap, Secret
 * or key that does not exist throws, as the pod would not start. Paths in the mounted ConfigMap
 * files are rewritten to the root, so a config file naming another mounted file still finds it.
 */
export function mountVolumes(objects: readonly KubeObject[], deployment: KubeObject, root: string, data: ClusterData = {}): Chroot {
  const spec = podTemplate(deployment).spec;
  const container = spec.containers[0];
  if (!container) throw new Error('the pod has no container');
  const mounts = container.volumeMounts ?? [];
  const hostPath = (containerPath: string) => join(root, containerPath);
  const rewrite = (value: string) =>
    mounts.reduce((text, mount) => text.replace(new RegExp(`(?<![\\w/.-])${escapeRegExp(mount.mountPath)}(?=/|$|\\s)`, 'g'), hostPath(mount.mountPath)), value);
  const namespace = deployment.metadata.namespace;
  const stored = (kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> => {
    const object = objects.find((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === namespace);
    if (object) {
      const decoded = Object.fromEntries(
        Object.entries((object.data ?? {}) as Record<string, string>).map(([k, v]) => [k, kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v]),
      );
      return { ...decoded, ...((object.stringData ?? {}) as Record<string, string>) };
    }
    const given = kind === 'Secret' ? data.secrets?.[name] : undefined;
    if (given) return { ...given };
    throw new Error(`${kind} ${namespace}/${name} does not exist: the pod would not start`);
  };
  const write = (mount: VolumeMount, path: string, content: string) => {
    const target = resolve(hostPath(mount.mountPath), path);
    if (relative(hostPath(mount.mountPath), target).startsWith('..')) throw new Error(`${path} leaves the mount ${mount.mountPath}`);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  };
  const keys = (source: Record<string, string>, items: readonly KeyToPath[] | undefined, what: string) =>
    (items ?? Object.keys(source).map((key) => ({ key, path: key }))).map(({ key, path }) => {
      const value = source[key];
      if (value === undefined) throw new Error(`${what} has no key ${key}: the pod would not start`);
      return { path, value };
    });

  for (const mount of mounts) {
    const volume = spec.volumes?.find((v) => v.name === mount.name);
    if (!volume) throw new Error(`volumeMount ${mount.name} names no volume`);
    mkdirSync(hostPath(mount.mountPath), { recursive: true });
    if (volume.configMap) {
      const what = `ConfigMap ${volume.configMap.name}`;
      for (const { path, value } of keys(stored('ConfigMap', volume.configMap.name), volume.configMap.items, what)) write(mount, path, rewrite(value));
    } else if (volume.secret) {
      const what = `Secret ${volume.secret.secretName}`;
      for (const { path, value } of keys(stored('Secret', volume.secret.secretName), volume.secret.items, what)) write(mount, path, value);
    } else if (volume.projected) {
      for (const source of volume.projected.sources) {
        if (!source.serviceAccountToken) throw new Error(`volume ${volume.name}: only service account tokens are simulated`);
        const token = data.tokens?.[volume.name];
        if (token === undefined) throw new Error(`volume ${volume.name}: no token given for it`);
        write(mount, source.serviceAccountToken.path, token);
      }
    } else throw new Error(`volume ${volume.name}: only configMap, secret and projected volumes are simulated`);
  }
  return { root, rewrite, hostPath };
}

/**
 * The first container's arguments and environment as the kubelet gives them: container paths
 * rewritten to the root, a pod label through the downward API (fieldRef metadata.labels['...'],
 * empty when the pod has no such label), and $(VAR) references to variables defined before expanded
 * ($$ escapes a $). Other valueFrom sources are refused: a secret must never be an environment variable.
 */
export function containerProcess(
  workload: KubeObject,
  chroot: Chroot,
  labels: Record<string, string> = podLabels(workload),
): { args: string[]; env: Record<string, string> } {
  const container = podTemplate(workload).spec.containers[0];
  if (!container) throw new Error('the pod has no container');
  const env: Record<string, string> = {};
  const expand = (text: string) =>
    text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name?: string) => (name === undefined ? '$' : (env[name] ?? all)));
  for (const variable of container.env ?? []) {
    const label = /^metadata\.labels\['([^']+)'\]$/.exec(variable.valueFrom?.fieldRef?.fieldPath ?? '')?.[1];
    if (label !== undefined && Object.keys(variable.valueFrom ?? {}).length === 1) env[variable.name] = labels[label] ?? '';
    else if (variable.valueFrom !== undefined || variable.value === undefined)
      throw new Error(`env ${variable.name}: only literal values and pod labels are simulated`);
    else env[variable.name] = chroot.rewrite(expand(variable.value));
  }
  return { args: (container.args ?? []).map((arg) => chroot.rewrite(expand(arg))), env };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
