/** The HTTP side: /metrics, the landing page and health endpoints. It never talks to Graph. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import type { ListenAddress } from './config.js';
import { formatDuration } from './duration.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { TenantSnapshot } from './snapshot.js';

export interface AppOptions {
  telemetryPath: string;
  metrics: Metrics;
  snapshots: () => readonly TenantSnapshot[];
  version: string;
  logger: Logger;
  now?: () => number;
}

const TEXT = 'text/plain; charset=utf-8';

/** Builds the express application. */
export function createApp(options: AppOptions): Express {
  const now = options.now ?? Date.now;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((_req, res, next) => {
    res.set({ 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' });
    next();
  });

  const routes: Record<string, express.RequestHandler> = {
    [options.telemetryPath]: async (_req, res) => {
      try {
        const body = await options.metrics.render();
        res.type(options.metrics.contentType).send(body);
      } catch (error) {
        options.logger.error('rendering metrics failed', { err: error instanceof Error ? error.message : String(error) });
        res.status(500).type(TEXT).send('rendering metrics failed\n');
      }
    },
    '/': (_req, res) => {
      res.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
      res.type('html').send(landingPage(options.version, options.telemetryPath, options.snapshots(), now()));
    },
    '/healthz': (_req, res) => {
      res.type(TEXT).send('ok\n');
    },
    '/readyz': (_req, res) => {
      // Ready once every tenant has been polled, whatever the result: a Graph outage must show
      // as partner_security_up 0, not as a target that vanished.
      const waiting = options.snapshots().filter((t) => t.lastPoll === undefined);
      if (waiting.length === 0) res.type(TEXT).send('ready\n');
      else res.status(503).type(TEXT).send('waiting for the first poll\n');
    },
  };

  for (const [path, handler] of Object.entries(routes)) {
    app.get(path, handler);
    app.all(path, (_req, res) => {
      res.status(405).set('Allow', 'GET, HEAD').type(TEXT).send('method not allowed\n');
    });
  }
  app.use((_req, res) => {
    res.status(404).type(TEXT).send('not found\n');
  });
  return app;
}

/** Starts listening; resolves with the server once the port is bound. */
export function listen(app: Express, address: ListenAddress): Promise<Server> {
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, app);
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: address.port, ...(address.host === undefined ? {} : { host: address.host }) }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Closes the server: idle connections at once, busy ones after the grace period. */
export async function close(server: Server, graceMs: number): Promise<void> {
  const forced = setTimeout(() => server.closeAllConnections(), graceMs);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  clearTimeout(forced);
}

/** "host:port" of a listening server, for the log. */
export function boundAddress(server: Server): string {
  const address = server.address() as AddressInfo;
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

function landingPage(version: string, telemetryPath: string, tenants: readonly TenantSnapshot[], nowMs: number): string {
  const rows = tenants
    .map((t) => {
      const poll = t.lastPoll;
      const status = poll === undefined ? 'not polled yet' : poll.ok ? 'succeeded' : `failed (${poll.reason ?? 'unknown'}): ${poll.message ?? ''}`;
      const when = poll === undefined ? '' : `${formatDuration(nowMs - poll.startedMs)} ago`;
      const next = t.nextPollMs === undefined ? '' : t.nextPollMs <= nowMs ? 'now' : `in ${formatDuration(t.nextPollMs - nowMs)}`;
      const score = t.score === undefined ? 'no data yet' : `${t.score.currentScore}${t.score.maxScore === undefined ? '' : ` / ${t.score.maxScore}`}`;
      return `<tr><td>${escapeHtml(t.tenantId)}</td><td>${escapeHtml(score)}</td><td class="${poll?.ok ? 'ok' : 'bad'}">${escapeHtml(status)}</td><td>${escapeHtml(when)}</td><td>${escapeHtml(next)}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Partner security score exporter</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;line-height:1.4;color:#1a1a1a;background:#fff}
table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ccc;text-align:left}
.ok{color:#0a6b2d}.bad{color:#a4161a}a{color:#0645ad}
@media (prefers-color-scheme:dark){body{color:#eee;background:#121212}.ok{color:#6fdc8c}.bad{color:#ff8589}a{color:#8ab4f8}}
</style>
</head>
<body>
<h1>Partner security score exporter</h1>
<p>Version ${escapeHtml(version)}. Prometheus exporter for the Microsoft Graph partner security score.</p>
<p><a href="${escapeHtml(telemetryPath)}">Metrics</a> · <a href="/healthz">Health</a> · <a href="/readyz">Readiness</a></p>
<h2>Last poll</h2>
<table>
<thead><tr><th>Tenant</th><th>Score</th><th>Last poll</th><th>When</th><th>Next poll</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}

/** Escapes text for HTML element content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
