#!/usr/bin/env node
/** Composition root: config -> credential -> Graph client -> poller -> metrics -> HTTP server. */
import type { Server } from 'node:http';
import { EnvHttpProxyAgent } from 'undici';
import { createCollector } from './collect.js';
import { type Config, helpText, parseConfig } from './config.js';
import { createCredential, describeCredential } from './credentials.js';
import { DEMO_TENANT_ID, type DemoGraph, demoCredential, startDemoGraph } from './demo.js';
import { formatDuration } from './duration.js';
import { createGraphClient } from './graph/client.js';
import { createTokenSource } from './graph/token.js';
import { createLogger, createRedactor, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { createPoller } from './poller.js';
import { boundAddress, close, createApp, listen } from './server.js';
import { NAME, readVersion } from './version.js';

/** How long open scrapes may take to finish after SIGTERM. */
const SHUTDOWN_GRACE_MS = 5000;

/** Exit codes: 0 clean stop, 1 failure at run time, 2 bad flags or environment. */
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
  const redact = createRedactor(secretsOf(config));
  const logger = createLogger({ level: config.logLevel, format: config.logFormat, redact });
  try {
    return await serve(config, version, logger, redact);
  } catch (error) {
    logger.error('exporter failed', { err: error instanceof Error ? error.message : String(error) });
    return 1;
  }
}

async function serve(config: Config, version: string, logger: Logger, redact: ReturnType<typeof createRedactor>): Promise<number> {
  let demo: DemoGraph | undefined;
  let endpoint = config.graphEndpoint;
  if (config.credential.kind === 'demo') {
    demo = await startDemoGraph();
    endpoint = demo.endpoint;
  }
  const credential = config.credential.kind === 'demo' ? demoCredential() : createCredential(config.credential);
  // Token scope is always the Graph root the exporter talks to (also in demo mode's fake Graph).
  const tokens = createTokenSource({ credential, scope: `${config.credential.kind === 'demo' ? 'https://graph.microsoft.com' : endpoint}/.default`, redact });
  // HTTPS_PROXY / NO_PROXY apply to Graph here; @azure/identity's pipeline reads them for tokens.
  const dispatcher = new EnvHttpProxyAgent();
  const graph = createGraphClient({
    endpoint,
    timeoutMs: config.graphTimeoutMs,
    tokens,
    userAgent: `${NAME}/${version} (node ${process.version})`,
    dispatcher,
  });
  const configuredTenant = config.credential.kind === 'demo' ? DEMO_TENANT_ID : config.credential.tenantId;
  const poller = createPoller({
    ...(configuredTenant === undefined ? {} : { tenantId: configuredTenant }),
    poll: createCollector(graph, () => tokens.lastTenantId()),
    intervalMs: config.pollIntervalMs,
    logger,
  });
  const snapshots = () => [poller.snapshot()];
  const metrics = createMetrics({ snapshots, build: { version, nodeVersion: process.version }, maxStalenessMs: config.maxStalenessMs });
  const app = createApp({ telemetryPath: config.telemetryPath, metrics, snapshots, version, logger });

  let server: Server;
  try {
    server = await listen(app, config.listen);
  } catch (error) {
    await demo?.close();
    throw new Error(`cannot listen on ${config.listen.host ?? ''}:${config.listen.port}: ${error instanceof Error ? error.message : String(error)}`);
  }
  logger.info('exporter started', {
    version,
    address: boundAddress(server),
    telemetry_path: config.telemetryPath,
    graph_endpoint: config.credential.kind === 'demo' ? `${endpoint} (demo)` : endpoint,
    credential: describeCredential(config.credential),
    poll_interval: formatDuration(config.pollIntervalMs),
  });
  poller.start();

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info('stopping', { signal });
  await poller.stop();
  await close(server, SHUTDOWN_GRACE_MS);
  await demo?.close();
  await dispatcher.close();
  logger.info('stopped');
  return 0;
}

/** Values that must never reach a log line. */
function secretsOf(config: Config): string[] {
  const c = config.credential;
  if (c.kind === 'clientSecret') return [c.clientSecret];
  if (c.kind === 'clientCertificate' && c.certificatePassword !== undefined) return [c.certificatePassword];
  return [];
}

// Exit explicitly: an idle keep-alive socket of a credential must not hold a stopped exporter open.
process.exit(await main(process.argv.slice(2), process.env));
