/** The HTTP side: /metrics, the status page and its JSON, health endpoints. It never talks to Graph. */
import express, { type Express } from 'express';
import { acceptsGzip } from './gzip.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { TenantSnapshot } from './snapshot.js';
import { refreshParameter, statusPage, statusPageCsp } from './status/page.js';
import { statusView } from './status/view.js';

export { escapeHtml } from './status/page.js';

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
  // /METRICS is not /metrics: one path per resource, as Prometheus exporters do.
  app.set('case sensitive routing', true);
  app.set('etag', false);
  app.use((_req, res, next) => {
    res.set({ 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' });
    next();
  });

  const view = () => statusView(options.snapshots(), { nowMs: now(), version: options.version, telemetryPath: options.telemetryPath });
  const routes: Record<string, express.RequestHandler> = {
    [options.telemetryPath]: async (req, res) => {
      try {
        // Prometheus asks for gzip on every scrape: about 1/20 of the bytes for the demo tenant.
        const gzip = acceptsGzip(req.get('Accept-Encoding'));
        const chunks = await (gzip ? options.metrics.renderGzipChunks() : options.metrics.renderChunks());
        res.vary('Accept-Encoding');
        if (gzip) res.set('Content-Encoding', 'gzip');
        res.type(options.metrics.contentType).set('Content-Length', String(chunks.reduce((n, c) => n + c.length, 0)));
        // Written as they are, in one go: joining them would copy the cached data part on every scrape.
        res.cork();
        for (const chunk of chunks) res.write(chunk);
        res.end();
      } catch (error) {
        options.logger.error('rendering metrics failed', { err: error instanceof Error ? error.message : String(error) });
        res.status(500).type(TEXT).send('rendering metrics failed\n');
      }
    },
    '/': (req, res) => {
      res.set('Content-Security-Policy', statusPageCsp());
      res.type('html').send(statusPage(view(), { refreshSeconds: refreshParameter(req.query.refresh) }));
    },
    '/api/status': (_req, res) => {
      res.json(view());
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
