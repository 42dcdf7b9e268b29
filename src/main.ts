#!/usr/bin/env node
/** Composition root: config -> credentials -> Graph clients -> pollers -> metrics -> HTTP server. */
// First of all: a Node.js too old to run the rest says so in one line; then no signal may open
// the inspector or end the process before serve() handles it.
import './cli/node-guard.js';
import './cli/signal-guard.js';
import { realpathSync } from 'node:fs';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { backfill } from './cli/backfill.js';
import { checkConfiguration, invalidWebConfig, logCredentialChoices } from './cli/config-check.js';
import { handleSignals } from './cli/signals.js';
import { readRevision, readVersion } from './cli/version.js';
import { createMemoryBudget, defaultBudgetBytes } from './collect/budget.js';
import { createTenantPoll } from './collect/poll-tenant.js';
import { createPoller, scheduleOf } from './collect/poller.js';
import { connect, graphTarget, graphTargets, loadCreateCredential, type Target } from './collect/targets.js';
import { helpText } from './config/flags.js';
import { type Config, parseConfig } from './config/parse.js';
import { environmentSecrets, secretsOf } from './config/secrets.js';
import { startDemo } from './demo.js';
import { createMetrics } from './expose/metrics.js';
import { createDispatcher } from './graph/http.js';
import { formatDuration } from './lib/duration.js';
import { errorText } from './lib/errors.js';
import { createLimit } from './lib/limit.js';
import { createLogger, createRedactor, type Logger, type Redactor } from './lib/log.js';
import { NAME } from './lib/name.js';
import { createApp } from './web/app.js';
import { boundAddress, close, startWebServer, type WebServer } from './web/server.js';
import { WebConfigError } from './web/web-config.js';

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
    process.stdout.write(`${NAME} ${version} (revision ${readRevision()}, node ${process.version})\n`);
    return 0;
  }
  if (parsed.action === 'fail') {
    process.stderr.write(`${NAME}: invalid configuration:\n${parsed.errors.map((e) => `  - ${e}`).join('\n')}\nRun with --help for the list of flags.\n`);
    return 2;
  }
  const config = parsed.config;
  if (parsed.action === 'check') return checkConfiguration(config, env);
  const redact = createRedactor([...config.tenants.flatMap((t) => secretsOf(t)), ...environmentSecrets(env)]);
  const logger = createLogger({ level: config.logLevel, format: config.logFormat, redact });
  try {
    return parsed.action === 'backfill' ? await runBackfill(config, env, version, logger, redact) : await serve(config, env, version, logger, redact);
  } catch (error) {
    logger.error('exporter failed', { err: errorText(error) });
    return 1;
  }
}

async function serve(config: Config, env: NodeJS.ProcessEnv, version: string, logger: Logger, redact: Redactor): Promise<number> {
  // Chosen here, once: the simulated tenant on the demo's fake Graph, or the configured tenants on Graph.
  const demo = config.demo ? await startDemo({ partner: config.partner }) : undefined;
  // HTTPS_PROXY / NO_PROXY apply here, to Graph and token requests alike.
  const dispatcher = createDispatcher();
  const targets: readonly Target[] = demo ? [demo.target] : await graphTargets(config, { dispatcher, env });
  const limit = createLimit(config.pollConcurrency);
  const budget = createMemoryBudget({ budgetBytes: config.memoryBudgetBytes ?? defaultBudgetBytes(), logger });
  const pollers = targets.map((tenant, i) => {
    const client = connect(config, tenant, version, redact, dispatcher);
    const log = logger.with({ tenant_id: tenant.tenantId ?? 'unknown' });
    return createPoller({
      ...(tenant.tenantId === undefined ? {} : { tenantId: tenant.tenantId }),
      labels: tenant.labels,
      partner: tenant.partner,
      poll: createTenantPoll({ graph: client.graph, collectors: config.collectors, tenantOfToken: () => client.tokens.lastTenantId(), logger: log }),
      ...scheduleOf(config, i, targets.length),
      logger,
      limit,
      budget: budget.tenant(),
    });
  });
  const snapshots = () => pollers.map((p) => p.snapshot());
  const constantLabels = [...new Set(targets.flatMap((t) => Object.keys(t.labels)))].sort();
  let web: WebServer | undefined;
  const metrics = createMetrics({
    snapshots,
    constantLabels,
    build: { version, revision: readRevision(), nodeVersion: process.version },
    maxStalenessMs: config.maxStalenessMs,
    webConfigStatus: () => web?.webConfigStatus(),
    webCounters: () => web?.counters(),
    memoryBudget: budget.state,
  });
  const app = createApp({ telemetryPath: config.telemetryPath, metrics, snapshots, version, logger, redact, maxStalenessMs: config.maxStalenessMs });

  try {
    web = await startWebServer({
      app,
      address: config.listen,
      ...(config.webConfigFile === undefined ? {} : { webConfigFile: config.webConfigFile }),
      healthzWithoutAuth: config.healthzWithoutAuth,
      maxConnections: config.maxConnections,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      logger,
    });
  } catch (error) {
    await demo?.close();
    if (error instanceof WebConfigError) {
      process.stderr.write(invalidWebConfig(error));
      return 2;
    }
    // "cannot listen on <address>: <reason>", naming the address that failed.
    throw error;
  }
  const servers: readonly Server[] = web.servers;
  logger.info('exporter started', {
    version,
    // Every bound address (the port chosen for :0), in the order given.
    address: servers.map(boundAddress).join(', '),
    // Only an https server can change its secure context: that is how TLS shows here.
    tls: 'setSecureContext' in web.server,
    telemetry_path: config.telemetryPath,
    graph_endpoint: demo ? `${demo.endpoint} (demo)` : config.graphEndpoint,
    tenants: targets.length,
    ...(config.shard === undefined ? {} : { shard: `${config.shard.index}/${config.shard.count}`, tenants_configured: config.shard.configuredTenants }),
    credential: [...new Set(targets.map((t) => t.credentialName))].join(', '),
    poll_interval: formatDuration(config.pollIntervalMs),
  });
  if (config.shard !== undefined && targets.length === 0)
    logger.warn('this shard takes none of the configured tenants', { shard: `${config.shard.index}/${config.shard.count}` });
  logCredentialChoices(config, env, logger);
  for (const poller of pollers) poller.start();
  const stopSignals = handleSignals(logger, web);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  stopSignals();
  logger.info('stopping', { signal });
  await Promise.all(pollers.map((p) => p.stop()));
  web.stop();
  await Promise.all(servers.map((server) => close(server, SHUTDOWN_GRACE_MS)));
  await demo?.close();
  await dispatcher.destroy(); // not close(): it would wait for a token request MSAL started
  logger.info('stopped');
  return 0;
}

/** backfill: each tenant's history through the Graph client the live exporter would use (src/cli/backfill.ts). */
async function runBackfill(config: Config, env: NodeJS.ProcessEnv, version: string, logger: Logger, redact: Redactor): Promise<number> {
  const dispatcher = createDispatcher();
  const createCredential = await loadCreateCredential();
  try {
    return await backfill({
      tenants: config.tenants,
      connect: (tenant) => {
        const client = connect(config, graphTarget(config, tenant, createCredential, { dispatcher, env }), version, redact, dispatcher);
        return { graph: client.graph, tenantOfToken: () => client.tokens.lastTenantId() };
      },
      maxPages: config.collectors.maxPages,
      output: config.output,
      force: config.force === true,
      logger,
    });
  } finally {
    await dispatcher.destroy();
  }
}

/** Node.js before 22.18 has no import.meta.main: compare the script node was asked to run. */
function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

// Only when run as the program, never on import. Exit explicitly: an idle keep-alive socket of a
// credential must not hold a stopped exporter open. Whatever escapes main is one line, never a
// stack trace (which could quote configuration).
if (import.meta.main ?? isEntryPoint()) {
  process.exit(
    await main(process.argv.slice(2), process.env).catch((error: unknown) => {
      process.stderr.write(`${NAME}: ${errorText(error)}\n`);
      return 1;
    }),
  );
}
