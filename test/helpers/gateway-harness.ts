/**
 * Building blocks for the gateway data-plane tests: a real nats-server with an in-process
 * registry node, real upstream HTTP servers on 127.0.0.1:0 that record what reached them, a
 * minimal CompiledRouteTable (the router plus fixed plugin chains), a started Gateway, and
 * small HTTP clients (node:http with a fresh connection, and raw TCP for malformed requests).
 */
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { connect, type RosterClient } from '../../client/index.js';
import { Gateway, type GatewayOptions } from '../../gateway/gateway.js';
import { compileRoutes } from '../../gateway/router.js';
import type { CompiledRouteTable, Plugin, RouteConfig } from '../../gateway/types.js';
import { RegistryNode } from '../../nodes/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { natsServerFor } from './nats-server.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface Registry {
  readonly url: string;
  /** A client for registering upstream instances. */
  readonly services: RosterClient;
}

/** nats-server + one in-process registry node + a client to register instances with. */
export async function startRegistry(t: Teardownable): Promise<Registry> {
  const server = await natsServerFor(t);
  const bus = await connectNatsBus({ servers: server.url, name: 'gw-test-node' });
  const node = new RegistryNode(bus, { id: 'gw-n1', heartbeatMs: 500 });
  await node.start();
  const services = await connect({ servers: server.url, name: 'gw-test-services' });
  t.teardown(async () => {
    await services.close();
    await node.close();
    await bus.close();
  });
  return { url: server.url, services };
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: string[];
  readonly body: string;
}

export interface Upstream {
  readonly port: number;
  readonly server: Server;
  readonly seen: SeenRequest[];
  /** `METHOD url` of every request as soon as its head arrived (before any body). */
  readonly arrived: string[];
  /** Replace the handler (default: 200 JSON echo of method, url and the upstream's name). */
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void;
  close(): Promise<void>;
}

export async function startUpstream(t: Teardownable, name = 'up'): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const arrived: string[] = [];
  const upstream: Upstream = {
    port: 0,
    server: undefined as unknown as Server,
    seen,
    arrived,
    handler: (req, res) => {
      const body = JSON.stringify({ name, method: req.method, url: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
      res.end(body);
    },
    close: async () => {
      upstream.server.closeAllConnections();
      await new Promise<void>((resolve) => upstream.server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    arrived.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      upstream.handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(upstream, { server, port: (server.address() as { port: number }).port });
  t.teardown(async () => {
    if (server.listening) await upstream.close();
  });
  return upstream;
}

/** A CompiledRouteTable from the router, with fixed plugin chains per route name. */
export function simpleTable(
  routes: readonly RouteConfig[],
  plugins: Readonly<Record<string, readonly Plugin[]>> = {},
): CompiledRouteTable {
  const router = compileRoutes(routes);
  return {
    routes,
    services: [...new Set(routes.map((r) => r.service))],
    match: (host, method, path, headers) => router.match(host, method, path, headers),
    plugins: (route) => plugins[route.name] ?? [],
    close: () => undefined,
  };
}

export function route(
  name: string,
  service: string,
  extra: Partial<RouteConfig> = {},
): RouteConfig {
  return { name, service, match: { path: { prefix: '/' } }, source: 'file', ...extra };
}

export interface StartedGateway {
  readonly gateway: Gateway;
  readonly port: number;
  readonly client: RosterClient;
}

export async function startGateway(
  t: Teardownable,
  natsUrl: string,
  table: CompiledRouteTable,
  options: Partial<GatewayOptions> = {},
  waitReady = true,
): Promise<StartedGateway> {
  const client = await connect({ servers: natsUrl, name: 'gw-test-gateway' });
  const gateway = new Gateway({
    client,
    table,
    listeners: [{ port: 0, host: '127.0.0.1' }],
    ...options,
  });
  t.teardown(async () => {
    await gateway.close(1000);
    await client.close();
  });
  await gateway.start();
  if (waitReady) await gateway.whenReady();
  return { gateway, port: gateway.addresses()[0]!.port, client };
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** One request on a fresh connection. */
export function httpRequest(
  port: number,
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string | string[]>;
    body?: string | Buffer;
    agent?: import('node:http').Agent;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes raw bytes on a new TCP connection and returns everything read until it closes. */
export function rawExchange(port: number, bytes: string, waitMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, waitMs);
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      // Done once one whole response with a Content-Length is in.
      const end = out.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(out.slice(0, end));
      if (end !== -1 && length && out.length >= end + 4 + Number(length[1])) {
        clearTimeout(timer);
        socket.destroy();
        resolve(out);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (out !== '') resolve(out);
      else reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(bytes);
  });
}

/** The status code of the first response in raw HTTP text (0 when none). */
export function rawStatus(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}
