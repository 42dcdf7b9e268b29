#!/usr/bin/env node
/** Composition root: config -> credentials -> Graph clients -> pollers -> metrics -> HTTP server. */
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { EnvHttpProxyAgent } from 'undici';
import { renderBackfill } from './backfill.js';
import { createCollector, readHistory } from './collect.js';
import { type Config, helpText, parseConfig } from './config.js';
import { type DemoGraph, demoCredential, startDemoGraph } from './demo.js';
import { formatDuration } from './duration.js';
import { createGraphClient, errorText, type GraphClient } from './graph/client.js';
import { createTokenSource, type TokenSource } from './graph/token.js';
import { createLimit } from './limit.js';
import { createLogger, createRedactor, type Logger, type Redactor } from './log.js';
import { createMetrics } from './metrics.js';
import { createPoller } from './poller.js';
import { createApp } from './server.js';
import type { TenantConfig } from './tenants.js';
import { NAME, readVersion } from './version.js';
import { boundAddress, close, startWebServer, type WebServer } from './web.js';
import { WebConfigError } from './web-config.js';

/** What the composition root uses of the credential code (credentials.ts). */
type Credentials = Pick<typeof import('./credentials.js'), 'createCredential' | 'describeCredential'>;

/**
 * The credential code, loaded only when a tenant needs it: @azure/identity takes about 0.4 s and
 * 37 MiB to load, which demo mode (its static credential is in demo.ts) and --version never use.
 */
async function credentialsFor(config: Config): Promise<Credentials> {
  if (config.tenants.some((t) => t.credential.kind !== 'demo')) return await import('./credentials.js');
  return {
    createCredential: () => {
      throw new Error('demo mode creates no credential');
    },
    describeCredential: () => 'demo (static token)',
  };
}

/** How long open scrapes may take to finish after SIGTERM. */
const SHUTDOWN_GRACE_MS = 5000;

/** Exit codes: 0 clean stop, 1 failure at run time, 2 bad flags, environment or tenants file. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseConfig(argv, env);
  if (parsed.action === 'help') {
    process.stdout.write(helpText());
    return 0;
  }
  const version = readVersion();
  if (parsed.action === 'version') {
    process.stdout.write(`${NAME} ${version} (node ${process.version})\n`);
    return 0;
  }
  if (parsed.action === 'fail') {
    process.stderr.write(`${NAME}: invalid configuration:\n${parsed.errors.map((e) => `  - ${e}`).join('\n')}\nRun with --help for the list of flags.\n`);
    return 2;
  }
  const config = parsed.config;
  const credentials = await credentialsFor(config);
  if (parsed.action === 'check') {
    const tenants = config.tenants.map(
      (t) =>
        `  - ${t.tenantId ?? '(from the token)'}: ${credentials.describeCredential(t.credential)}${Object.keys(t.labels).length ? ` ${JSON.stringify(t.labels)}` : ''}`,
    );
    process.stdout.write(`configuration OK: ${config.tenants.length} tenant(s)\n${tenants.join('\n')}\n`);
    return 0;
  }
  const redact = createRedactor(config.tenants.flatMap((t) => secretsOf(t)));
  const logger = createLogger({ level: config.logLevel, format: config.logFormat, redact });
  try {
    return parsed.action === 'backfill'
      ? await backfill(config, credentials, version, logger, redact)
      : await serve(config, credentials, version, logger, redact);
  } catch (error) {
    logger.error('exporter failed', { err: errorText(error) });
    return 1;
  }
}

/** What talks to Graph for one tenant. */
interface TenantClient {
  readonly tenant: TenantConfig;
  readonly tokens: TokenSource;
  readonly graph: GraphClient;
}

function connect(
  config: Config,
  { createCredential }: Credentials,
  tenant: TenantConfig,
  endpoint: string,
  version: string,
  redact: Redactor,
  dispatcher: EnvHttpProxyAgent,
): TenantClient {
  const credential = tenant.credential.kind === 'demo' ? demoCredential() : createCredential(tenant.credential);
  // The token's scope is the Graph root the exporter talks to; the demo's fake Graph stands in for the real one.
  const scope = `${tenant.credential.kind === 'demo' ? 'https://graph.microsoft.com' : endpoint}/.default`;
  const settings = tenant.credential;
  const renew = settings.kind === 'demo' ? {} : { renewCredential: () => createCredential(settings) };
  const tokens = createTokenSource({ credential, scope, redact, ...renew });
  const graph = createGraphClient({
    endpoint,
    timeoutMs: config.graphTimeoutMs,
    tokens,
    userAgent: `${NAME}/${version} (node ${process.version})`,
    dispatcher,
    redact,
  });
  return { tenant, tokens, graph };
}

async function serve(config: Config, credentials: Credentials, version: string, logger: Logger, redact: Redactor): Promise<number> {
  let demo: DemoGraph | undefined;
  if (config.demo) demo = await startDemoGraph();
  const endpoint = demo?.endpoint ?? config.graphEndpoint;
  // HTTPS_PROXY / NO_PROXY apply to Graph here; @azure/identity's pipeline reads them for tokens.
  const dispatcher = new EnvHttpProxyAgent();
  const limit = createLimit(config.pollConcurrency);
  const pollers = config.tenants.map((tenant) => {
    const client = connect(config, credentials, tenant, endpoint, version, redact, dispatcher);
    const log = logger.with({ tenant_id: tenant.tenantId ?? 'unknown' });
    return createPoller({
      ...(tenant.tenantId === undefined ? {} : { tenantId: tenant.tenantId }),
      labels: tenant.labels,
      poll: createCollector({ graph: client.graph, collectors: config.collectors, tenantOfToken: () => client.tokens.lastTenantId(), logger: log }),
      intervalMs: config.pollIntervalMs,
      logger,
      limit,
    });
  });
  const snapshots = () => pollers.map((p) => p.snapshot());
  const constantLabels = [...new Set(config.tenants.flatMap((t) => Object.keys(t.labels)))].sort();
  let web: WebServer | undefined;
  const metrics = createMetrics({
    snapshots,
    constantLabels,
    build: { version, nodeVersion: process.version },
    maxStalenessMs: config.maxStalenessMs,
    webConfigStatus: () => web?.webConfigStatus(),
  });
  const app = createApp({ telemetryPath: config.telemetryPath, metrics, snapshots, version, logger });

  try {
    web = await startWebServer({
      app,
      address: config.listen,
      ...(config.webConfigFile === undefined ? {} : { webConfigFile: config.webConfigFile }),
      healthzWithoutAuth: config.healthzWithoutAuth,
      logger,
    });
  } catch (error) {
    await demo?.close();
    if (error instanceof WebConfigError) {
      process.stderr.write(`${NAME}: invalid web config:\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return 2;
    }
    throw new Error(`cannot listen on ${config.listen.host ?? ''}:${config.listen.port}: ${errorText(error)}`);
  }
  const server: Server = web.server;
  logger.info('exporter started', {
    version,
    address: boundAddress(server),
    // Only an https server can change its secure context: that is how TLS shows here.
    tls: 'setSecureContext' in server,
    telemetry_path: config.telemetryPath,
    graph_endpoint: demo ? `${endpoint} (demo)` : endpoint,
    tenants: config.tenants.length,
    credential: [...new Set(config.tenants.map((t) => credentials.describeCredential(t.credential)))].join(', '),
    poll_interval: formatDuration(config.pollIntervalMs),
  });
  for (const poller of pollers) poller.start();

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info('stopping', { signal });
  await Promise.all(pollers.map((p) => p.stop()));
  web.stop();
  await close(server, SHUTDOWN_GRACE_MS);
  await demo?.close();
  await dispatcher.close();
  logger.info('stopped');
  return 0;
}

async function backfill(config: Config, credentials: Credentials, version: string, logger: Logger, redact: Redactor): Promise<number> {
  const dispatcher = new EnvHttpProxyAgent();
  const constantLabels = [...new Set(config.tenants.flatMap((t) => Object.keys(t.labels)))];
  const histories = [];
  let failed = 0;
  for (const tenant of config.tenants) {
    const client = connect(config, credentials, tenant, config.graphEndpoint, version, redact, dispatcher);
    try {
      const history = await readHistory(client.graph, config.collectors.maxPages, new AbortController().signal);
      const tenantId = tenant.tenantId ?? client.tokens.lastTenantId() ?? 'unknown';
      const labels = { tenant_id: tenantId, ...Object.fromEntries(constantLabels.map((l) => [l, ''])), ...tenant.labels };
      histories.push({ labels: Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== '')), history });
      logger.info('history read', { tenant_id: tenantId, entries: history.length });
    } catch (error) {
      failed++;
      logger.error('reading the history failed', { tenant_id: tenant.tenantId ?? 'unknown', err: errorText(error) });
    }
  }
  await dispatcher.close();
  const text = renderBackfill(histories);
  // Wait for standard output to drain: the process exits right after.
  if (config.output === '-') await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  else if (config.output !== undefined) writeFileSync(config.output, text);
  logger.info('backfill written', { output: config.output === '-' ? 'stdout' : config.output, tenants: histories.length, failed });
  return failed > 0 ? 1 : 0;
}

/** Values that must never reach a log line. */
function secretsOf(tenant: TenantConfig): string[] {
  const c = tenant.credential;
  if (c.kind === 'clientSecret') return [c.clientSecret];
  if (c.kind === 'clientCertificate' && c.certificatePassword !== undefined) return [c.certificatePassword];
  return [];
}

// Exit explicitly: an idle keep-alive socket of a credential must not hold a stopped exporter open.
process.exit(await main(process.argv.slice(2), process.env));
