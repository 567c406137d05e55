/**
 * The routes of the node's HTTP API, as one table: method, path template (the OpenAPI
 * document's spelling; test/unit/node-http-openapi.test.ts keeps the two equal), who may
 * call it, and its handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RosterError, ServiceName } from '../../protocol/index.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../transport/metrics.js';
import type { RegistryNode } from '../registry-node.js';
import type { ClusterViewSource } from './cluster-view.js';
import type { HttpSessions } from './http-sessions.js';
import { openApiJson } from './openapi.js';
import { JSON_TYPE, send, sendJson } from './respond.js';
import type { Route } from './router.js';
import { APP_JS } from './ui/app-js.js';
import { INDEX_HTML } from './ui/index-html.js';
import { STYLE_CSS } from './ui/style-css.js';

/** One request as a handler sees it. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** The JSON body (read once, bounded), or undefined when there is none. */
  body(): Promise<unknown>;
}

export interface RouteDeps {
  readonly node: RegistryNode;
  readonly sessions: HttpSessions;
  readonly cluster: ClusterViewSource;
  /** The Prometheus text of the node's registry. */
  readonly metrics: () => string;
}

const TEXT = 'text/plain; charset=utf-8';
const UI_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

/** A session secret from the `X-Roster-Session-Secret` header, the query, or a JSON body. */
function secretOf(ctx: RequestContext, body?: unknown): string {
  const header = ctx.req.headers['x-roster-session-secret'];
  const fromBody =
    typeof body === 'object' && body !== null && 'secret' in body
      ? (body as { secret: unknown }).secret
      : undefined;
  const secret =
    (typeof header === 'string' ? header : undefined) ??
    ctx.url.searchParams.get('secret') ??
    (typeof fromBody === 'string' ? fromBody : undefined);
  if (secret === undefined) {
    throw new RosterError(
      'ROSTER_ERR_INVALID_MESSAGE',
      'secret: give the session secret in the X-Roster-Session-Secret header',
      { path: 'secret' },
    );
  }
  return secret;
}

function sessionIdOf(ctx: RequestContext): string {
  const header = ctx.req.headers['x-roster-session-id'];
  const id =
    (typeof header === 'string' ? header : undefined) ?? ctx.url.searchParams.get('sessionId');
  if (id === null || id === undefined) {
    throw new RosterError(
      'ROSTER_ERR_INVALID_MESSAGE',
      'sessionId: give the session id in the X-Roster-Session-Id header or ?sessionId=',
      { path: 'sessionId' },
    );
  }
  return id;
}

function assertReady(node: RegistryNode): void {
  if (!node.ready) {
    throw new RosterError('ROSTER_ERR_NOT_READY', `node ${node.id} is still catching up`, {
      node: node.id,
    });
  }
}

function redirect(ctx: RequestContext, to: string): void {
  send(ctx.res, 302, TEXT, `see ${to}\n`, { location: to + ctx.url.search });
}

export function buildRoutes(deps: RouteDeps): Route<RequestContext>[] {
  const { node, sessions, cluster } = deps;
  return [
    // --- registry ---
    {
      method: 'GET',
      path: '/v1/services',
      access: 'api',
      handle(ctx) {
        assertReady(node);
        sendJson(ctx.res, 200, node.catalog());
      },
    },
    {
      method: 'GET',
      path: '/v1/services/{name}',
      access: 'api',
      handle(ctx, p) {
        assertReady(node);
        const service = ServiceName.parse(p.name, 'name');
        const instances = [...(node.store.service(service)?.values() ?? [])].sort((a, b) =>
          a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
        );
        sendJson(ctx.res, 200, {
          service,
          instances,
          revision: node.store.revision(service),
          node: node.id,
        });
      },
    },
    {
      method: 'PUT',
      path: '/v1/services/{name}/instances/{id}',
      access: 'api',
      async handle(ctx, p) {
        const body = await ctx.body();
        sendJson(ctx.res, 200, sessions.register(p.name!, p.id!, body, Date.now()));
      },
    },
    {
      method: 'DELETE',
      path: '/v1/services/{name}/instances/{id}',
      access: 'api',
      handle(ctx, p) {
        sessions.deregister(p.name!, p.id!, sessionIdOf(ctx), secretOf(ctx), Date.now());
        sendJson(ctx.res, 200, { service: p.name, id: p.id, removed: true });
      },
    },
    // --- cluster ---
    {
      method: 'GET',
      path: '/v1/nodes',
      access: 'api',
      async handle(ctx) {
        sendJson(ctx.res, 200, await cluster.get());
      },
    },
    {
      method: 'GET',
      path: '/v1/health',
      access: 'health',
      handle(ctx) {
        const now = Date.now();
        const info = node.info();
        const peers = [...node.replicator.peers.all()]
          .map((p) => ({
            id: p.id,
            inc: p.inc,
            alive: node.replicator.peers.isAlive(p.id, now),
            ready: p.ready,
            lastSeenMs: Math.max(0, now - p.lastSeen),
            digest: p.digest,
            instances: p.instances,
            sessions: p.sessions,
          }))
          .sort((a, b) => (a.id < b.id ? -1 : 1));
        sendJson(ctx.res, node.ready ? 200 : 503, {
          node: node.id,
          incarnation: node.incarnation,
          status: node.ready ? 'ready' : 'starting',
          ready: node.ready,
          digest: info.digest,
          instances: info.instances,
          sessions: info.sessions,
          services: [...node.store.serviceNames()].length,
          peersAlive: peers.filter((p) => p.alive).length,
          peers,
        });
      },
    },
    // --- sessions over HTTP ---
    {
      method: 'POST',
      path: '/v1/sessions',
      access: 'api',
      async handle(ctx) {
        const opened = sessions.open(await ctx.body(), Date.now());
        sendJson(ctx.res, 201, opened, {
          location: `/v1/sessions/${encodeURIComponent(opened.sessionId)}`,
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/sessions/{id}/renew',
      access: 'api',
      async handle(ctx, p) {
        const body = await ctx.body();
        sendJson(ctx.res, 200, sessions.renew(p.id!, secretOf(ctx, body), Date.now()));
      },
    },
    {
      method: 'DELETE',
      path: '/v1/sessions/{id}',
      access: 'api',
      async handle(ctx, p) {
        const body = await ctx.body();
        sessions.close(p.id!, secretOf(ctx, body), Date.now());
        sendJson(ctx.res, 200, { sessionId: p.id, closed: true });
      },
    },
    {
      method: 'GET',
      path: '/v1/watch',
      access: 'api',
      handle() {
        throw new RosterError(
          'ROSTER_ERR_INVALID_ARGUMENT',
          '/v1/watch is a WebSocket endpoint: send an Upgrade: websocket request',
        );
      },
    },
    // --- documents, metrics, probes ---
    {
      method: 'GET',
      path: '/openapi.json',
      access: 'openapi',
      handle(ctx) {
        send(ctx.res, 200, JSON_TYPE, openApiJson());
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      access: 'metrics',
      handle(ctx) {
        send(ctx.res, 200, PROMETHEUS_CONTENT_TYPE, deps.metrics());
      },
    },
    {
      method: 'GET',
      path: '/healthz',
      access: 'open',
      handle(ctx) {
        send(ctx.res, 200, TEXT, 'ok\n');
      },
    },
    {
      method: 'GET',
      path: '/readyz',
      access: 'open',
      handle(ctx) {
        send(ctx.res, node.ready ? 200 : 503, TEXT, node.ready ? 'ready\n' : 'not ready\n');
      },
    },
    // --- dashboard ---
    {
      method: 'GET',
      path: '/',
      access: 'open',
      handle(ctx) {
        redirect(ctx, '/ui/');
      },
    },
    {
      method: 'GET',
      path: '/ui',
      access: 'open',
      handle(ctx) {
        redirect(ctx, '/ui/');
      },
    },
    {
      method: 'GET',
      path: '/ui/',
      access: 'ui',
      handle(ctx) {
        send(ctx.res, 200, 'text/html; charset=utf-8', INDEX_HTML, UI_HEADERS);
      },
    },
    {
      method: 'GET',
      path: '/ui/app.js',
      access: 'ui',
      handle(ctx) {
        send(ctx.res, 200, 'text/javascript; charset=utf-8', APP_JS, UI_HEADERS);
      },
    },
    {
      method: 'GET',
      path: '/ui/style.css',
      access: 'ui',
      handle(ctx) {
        send(ctx.res, 200, 'text/css; charset=utf-8', STYLE_CSS, UI_HEADERS);
      },
    },
  ];
}
