/**
 * The gateway's admin API, on its own port, behind a bearer token:
 *
 *   GET /routes          the route table (source, service, plugin chain) and its problems
 *   GET /pools           upstream pools with their members' health and ejections
 *   GET /ready           200 when ready, 503 (with what it waits for) otherwise
 *   GET /health          200 while the process runs
 *   GET /metrics         Prometheus text (without the token when admin.metricsPublic)
 *   GET /config/errors   the last reload's outcome and the current route problems
 *
 * Every request needs `Authorization: Bearer <token>` (compared in constant time over SHA-256
 * digests, so neither content nor length leaks), except /metrics with `metricsPublic` and
 * /health and /ready with `probesPublic`. A missing or wrong token is 401 with
 * `WWW-Authenticate: Bearer`. Only GET and HEAD are served; errors are the Roster wire error
 * `{"error":{"code","message"}}`. The token and the public switches are read on every request,
 * so a reload changes them at once.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ErrorCode, RosterError } from '../protocol/index.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import { PROMETHEUS_CONTENT_TYPE } from '../transport/metrics.js';

export interface ReadyState {
  readonly ready: boolean;
  /** What readiness still waits for (empty when ready). */
  readonly waitingFor: readonly string[];
}

/** What the admin API shows; each call reads the gateway's current state. */
export interface AdminSource {
  routes(): unknown;
  pools(): unknown;
  ready(): ReadyState;
  health(): unknown;
  configErrors(): unknown;
  metrics(): string;
}

export interface AdminAccess {
  readonly token: string;
  readonly metricsPublic: boolean;
  readonly probesPublic: boolean;
}

export interface AdminServerOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly source: AdminSource;
  /** The current token and public switches (read per request). */
  readonly access: () => AdminAccess;
  readonly logger?: Logger;
}

export interface AdminServer extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  /** http://HOST:PORT (127.0.0.1 for a wildcard host). */
  readonly url: string;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time check of `Authorization: Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || header.length > 8_192) return false;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  const given = m?.[1] ?? '';
  // Always compare (even for a malformed header) so timing does not tell which failed.
  const ok = timingSafeEqual(digest(given), digest(token));
  return ok && m !== null && token.length > 0;
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  head: boolean,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(head ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, JSON_TYPE, `${JSON.stringify(value, null, 2)}\n`, head);
}

function sendError(
  res: ServerResponse,
  code: ErrorCode,
  message: string,
  head: boolean,
  extra: Record<string, string> = {},
  status?: number,
): void {
  const err = new RosterError(code, message);
  send(
    res,
    status ?? err.status,
    JSON_TYPE,
    `${JSON.stringify({ error: err.toWire() })}\n`,
    head,
    extra,
  );
}

const PATHS = ['/routes', '/pools', '/ready', '/health', '/metrics', '/config/errors'] as const;
type AdminPath = (typeof PATHS)[number];

function handle(
  options: AdminServerOptions,
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    sendError(
      res,
      'ROSTER_ERR_INVALID_ARGUMENT',
      'only GET and HEAD are served',
      false,
      { allow: 'GET, HEAD' },
      405,
    );
    return;
  }
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const raw = q === -1 ? url : url.slice(0, q);
  const path = (raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw) as AdminPath;
  if (!(PATHS as readonly string[]).includes(path)) {
    sendError(
      res,
      'ROSTER_ERR_NOT_FOUND',
      `no such admin endpoint (try ${PATHS.join(', ')})`,
      head,
    );
    return;
  }
  const access = options.access();
  const isPublic =
    (path === '/metrics' && access.metricsPublic) ||
    ((path === '/health' || path === '/ready') && access.probesPublic);
  if (!isPublic && !bearerMatches(req.headers.authorization, access.token)) {
    sendError(res, 'ROSTER_ERR_UNAUTHORIZED', 'a valid bearer token is required', head, {
      'www-authenticate': 'Bearer realm="roster-gateway"',
    });
    return;
  }
  const { source } = options;
  try {
    switch (path) {
      case '/routes':
        sendJson(res, 200, source.routes(), head);
        return;
      case '/pools':
        sendJson(res, 200, source.pools(), head);
        return;
      case '/ready': {
        const state = source.ready();
        sendJson(res, state.ready ? 200 : 503, state, head);
        return;
      }
      case '/health':
        sendJson(res, 200, source.health(), head);
        return;
      case '/metrics':
        send(res, 200, PROMETHEUS_CONTENT_TYPE, source.metrics(), head);
        return;
      case '/config/errors':
        sendJson(res, 200, source.configErrors(), head);
        return;
    }
  } catch (err) {
    logger.error({ err, path }, 'admin endpoint failed');
    sendError(res, 'ROSTER_ERR_INTERNAL', 'the admin endpoint failed', head);
  }
}

/** Starts the admin server; rejects with a clear message when the address cannot be bound. */
export function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const logger = (options.logger ?? silentLogger).child({ component: 'gateway-admin' });
  const server: Server = createServer(
    { maxHeaderSize: 16 * 1024, requestTimeout: 10_000, headersTimeout: 10_000 },
    (req, res) => {
      // Bodies are never read: drop them without buffering.
      req.resume();
      handle(options, logger, req, res);
    },
  );
  server.keepAliveTimeout = 65_000; // longer than Prometheus's default scrape interval
  server.maxConnections = 1_024;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
      reject(
        new Error(`admin API: cannot listen on ${options.host}:${options.port}: ${why}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      const port = (server.address() as AddressInfo).port;
      const host = options.host;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      const urlHost = shown.includes(':') ? `[${shown}]` : shown;
      let closing: Promise<void> | undefined;
      const close = (): Promise<void> => {
        closing ??= new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
        return closing;
      };
      logger.info({ host, port }, 'admin API listening');
      resolve({
        host,
        port,
        url: `http://${urlHost}:${port}`,
        close,
        [Symbol.asyncDispose]: close,
      });
    });
  });
}
