/** The HTTP side: /metrics, the status page and its JSON, health endpoints. It never talks to Graph. */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type Express from 'express';
import type { RequestHandler } from 'express';
import { acceptsGzip } from '../expose/gzip.js';
import type { Answer, Metrics } from '../expose/metrics.js';
import { refreshParameter, statusPage, statusPageCsp } from '../expose/status/page.js';
import { statusView } from '../expose/status/view.js';
import type { Logger } from '../lib/log.js';
import type { TenantSnapshot } from '../snapshot.js';

export interface AppOptions {
  telemetryPath: string;
  metrics: Metrics;
  snapshots: () => readonly TenantSnapshot[];
  version: string;
  logger: Logger;
  /** Removes secrets from what the status page and /api/status show (the exporter's redactor). */
  redact?: (text: string) => string;
  /** --poll.max-staleness: older requirements make the authorization signal unknown (0 or absent: never). */
  maxStalenessMs?: number;
  now?: () => number;
}

const TEXT = 'text/plain; charset=utf-8';
/** Headers of every answer. */
const COMMON_HEADERS = { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' } as const;

/**
 * Builds the request handler: GET and HEAD of the telemetry path and of the probes are answered
 * here; every other request goes to express, loaded when the first one comes. Express's own
 * per-request work (request and response prototypes, the router) cost more than the rest of a
 * cached scrape, and express with what it loads holds about 3 MiB that an exporter only scraped and
 * probed never needs (BENCHMARKS.md).
 */
export function createApp(options: AppOptions): RequestListener {
  const now = options.now ?? Date.now;

  /** /healthz and /readyz, for express's routes and the fast path alike. */
  const probe = (path: string, req: IncomingMessage, res: ServerResponse) => {
    if (path === '/healthz') return answerText(req, res, 200, 'ok\n');
    // Ready once every tenant has been polled, whatever the result: a Graph outage must show
    // as partner_security_up 0, not as a target that vanished.
    const waiting = options.snapshots().some((t) => t.lastPoll === undefined);
    answerText(req, res, waiting ? 503 : 200, waiting ? 'waiting for the first poll\n' : 'ready\n');
  };

  const pages = (): RequestListener => {
    // Loaded at once (it is CommonJS), so that the request that asks is answered in this turn.
    const express = createRequire(import.meta.url)('express') as typeof Express;
    const app = express();
    app.disable('x-powered-by');
    // /METRICS is not /metrics: one path per resource, as Prometheus exporters do.
    app.set('case sensitive routing', true);
    app.set('etag', false);
    app.use((_req, res, next) => {
      res.set(COMMON_HEADERS);
      next();
    });

    const view = () =>
      statusView(options.snapshots(), {
        nowMs: now(),
        monoNowMs: performance.now(),
        version: options.version,
        telemetryPath: options.telemetryPath,
        ...(options.maxStalenessMs === undefined ? {} : { maxStalenessMs: options.maxStalenessMs }),
        ...(options.redact === undefined ? {} : { redact: options.redact }),
      });
    const routes: Record<string, RequestHandler> = {
      [options.telemetryPath]: (req, res) => serveMetrics(req, res),
      '/': (req, res) => {
        res.set('Content-Security-Policy', statusPageCsp());
        res.type('html').send(statusPage(view(), { refreshSeconds: refreshParameter(req.query.refresh) }));
      },
      '/api/status': (_req, res) => {
        res.json(view());
      },
      '/healthz': (req, res) => probe('/healthz', req, res),
      '/readyz': (req, res) => probe('/readyz', req, res),
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
  };
  let loaded: RequestListener | undefined;

  const serveMetrics = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      // Prometheus asks for gzip on every scrape: about 1/20 of the bytes for the demo tenant.
      const gzip = wantsGzip(req.headers['accept-encoding']);
      const answer = gzip ? whole(await options.metrics.renderGzipChunks()) : await options.metrics.renderChunks();
      res.setHeader('Vary', 'Accept-Encoding');
      if (gzip) res.setHeader('Content-Encoding', 'gzip');
      res.setHeader('Content-Type', options.metrics.contentType);
      // Without a length (a data part too big to keep, rendered as it is sent) the answer goes chunked.
      if (answer.length !== undefined) res.setHeader('Content-Length', String(answer.length));
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      if (Array.isArray(answer.chunks)) {
        // Written as they are, in one go: joining them would copy the cached data part on every scrape.
        res.cork();
        for (const chunk of answer.chunks) res.write(chunk);
        res.end();
        return;
      }
      // Rendered chunk by chunk into one buffer: the next one only once the last is written out.
      for await (const chunk of answer.chunks) if (!(await written(res, chunk))) return;
      res.end();
    } catch (error) {
      options.logger.error('rendering metrics failed', { err: error instanceof Error ? error.message : String(error) });
      // Past the headers, a broken answer can only be cut off: the scraper sees a short body and fails the scrape.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.statusCode = 500;
      res.removeHeader('Content-Encoding');
      res.removeHeader('Content-Length');
      res.setHeader('Content-Type', TEXT);
      res.end('rendering metrics failed\n');
    }
  };
  // The headers of the last gzip answer served whole, in the flat form writeHead takes fastest.
  let head: { body: readonly Buffer[]; headers: string[] } | undefined;
  const gzipHead = (body: readonly Buffer[]): string[] => {
    if (head?.body !== body) {
      const headers = [...Object.entries(COMMON_HEADERS).flat(), 'Vary', 'Accept-Encoding', 'Content-Encoding', 'gzip'];
      const length = whole(body).length ?? 0;
      head = { body, headers: [...headers, 'Content-Type', options.metrics.contentType, 'Content-Length', String(length)] };
    }
    return head.headers;
  };

  // The last Accept-Encoding value and what it said: Prometheus sends the same one on every scrape.
  let accepted: { header: string | undefined; gzip: boolean } = { header: undefined, gzip: false };
  const wantsGzip = (header: string | undefined): boolean => {
    if (header !== accepted.header) accepted = { header, gzip: acceptsGzip(header) };
    return accepted.gzip;
  };

  return (req, res) => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path === options.telemetryPath && req.method === 'GET' && wantsGzip(req.headers['accept-encoding'])) {
      // Between polls (most of Prometheus's scrapes), the gzip answer is kept whole: headers and body in one write.
      const ready = options.metrics.gzipNow();
      if (ready !== undefined) {
        res.writeHead(200, gzipHead(ready));
        if (ready.length === 1) res.end(ready[0]);
        else {
          // A big answer's chunks, written as they are (joining them would copy the deflated data part every scrape).
          res.cork();
          for (const chunk of ready) res.write(chunk);
          res.end();
        }
        return;
      }
    }
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (path === options.telemetryPath && read) {
      for (const [name, value] of Object.entries(COMMON_HEADERS)) res.setHeader(name, value);
      void serveMetrics(req, res);
    } else if ((path === '/healthz' || path === '/readyz') && read) probe(path, req, res);
    else {
      try {
        loaded ??= pages();
      } catch (error) {
        options.logger.error('loading the web pages failed', { err: error instanceof Error ? error.message : String(error) });
        return answerText(req, res, 500, 'loading the web pages failed\n');
      }
      loaded(req, res);
    }
  };
}

/** A short text answer with the headers of every answer. */
function answerText(req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(COMMON_HEADERS)) res.setHeader(name, value);
  res.setHeader('Content-Type', TEXT);
  res.setHeader('Content-Length', String(Buffer.byteLength(text)));
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** A gzip answer: the chunks are written whole, with their length. */
function whole(chunks: readonly Buffer[]): Answer {
  return { length: chunks.reduce((n, c) => n + c.length, 0), chunks };
}

/** Writes a chunk; resolves true once it is handed to the socket, false when the connection closed first. */
function written(res: ServerResponse, chunk: Buffer): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onClose = () => resolve(false);
    res.once('close', onClose);
    res.write(chunk, (error) => {
      res.off('close', onClose);
      resolve(error === undefined || error === null);
    });
  });
}
