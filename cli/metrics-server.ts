/**
 * A minimal HTTP endpoint for a process's Prometheus metrics: `GET /metrics` (text format
 * 0.0.4), `GET /healthz` (the process is up) and `GET /readyz` (200 once ready, else 503).
 * This is what `roster node --metrics-port` serves (a port of its own, for scrapers); the
 * node's full HTTP API (nodes/http/, --http-port) serves /metrics, /healthz and /readyz too.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROMETHEUS_CONTENT_TYPE } from '../transport/metrics.js';

export interface MetricsServerOptions {
  /** Listen address (default 0.0.0.0: scrapers usually come from elsewhere). */
  readonly host?: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** The metrics text, rendered on every scrape. */
  readonly render: () => string;
  /** Readiness for /readyz (default: always ready). */
  readonly ready?: () => boolean;
}

export interface MetricsServer {
  readonly host: string;
  /** The port actually bound. */
  readonly port: number;
  /** http://HOST:PORT/metrics (with 127.0.0.1 for a wildcard host). */
  readonly url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean) {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : body);
}

function handle(options: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): void {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', false);
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/metrics': {
      let body: string;
      try {
        body = options.render();
      } catch {
        send(res, 500, 'text/plain; charset=utf-8', 'metrics unavailable\n', head);
        return;
      }
      send(res, 200, PROMETHEUS_CONTENT_TYPE, body, head);
      return;
    }
    case '/healthz':
      send(res, 200, 'text/plain; charset=utf-8', 'ok\n', head);
      return;
    case '/readyz': {
      const ready = options.ready?.() ?? true;
      send(
        res,
        ready ? 200 : 503,
        'text/plain; charset=utf-8',
        ready ? 'ready\n' : 'not ready\n',
        head,
      );
      return;
    }
    default:
      send(res, 404, 'text/plain; charset=utf-8', 'not found (try /metrics)\n', head);
  }
}

/** Starts listening; rejects with a clear message when the address cannot be bound. */
export function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '0.0.0.0';
  const server = createServer((req, res) => handle(options, req, res));
  server.keepAliveTimeout = 65_000; // longer than Prometheus's default scrape interval
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
      reject(new Error(`cannot serve metrics on ${host}:${options.port}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      const port = (server.address() as AddressInfo).port;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      const urlHost = shown.includes(':') ? `[${shown}]` : shown;
      let closing: Promise<void> | undefined;
      resolve({
        host,
        port,
        url: `http://${urlHost}:${port}/metrics`,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
