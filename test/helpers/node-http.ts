/**
 * In-process registry nodes on a real nats-server, each serving its HTTP API
 * (nodes/http/), for the HTTP and WebSocket integration tests; and a small JSON caller.
 */
import {
  type NodeHttpOptions,
  type NodeHttpServer,
  startNodeHttpServer,
} from '../../nodes/http/index.js';
import { RegistryNode, type RegistryNodeOptions } from '../../nodes/index.js';
import { connectNatsBus, type NatsBus } from '../../transport/index.js';
import { eventually } from './eventually.js';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface HttpNode {
  readonly node: RegistryNode;
  readonly bus: NatsBus;
  readonly http: NodeHttpServer;
  readonly url: string;
}

/** Starts one node per id (each with its own NATS connection and HTTP server); waits until ready and mutually visible. */
export async function startHttpNodes(
  t: Teardownable,
  natsUrl: string,
  specs: ReadonlyArray<{
    readonly id: string;
    readonly node?: Omit<RegistryNodeOptions, 'id'>;
    readonly http?: Omit<NodeHttpOptions, 'node' | 'bus' | 'port'>;
  }>,
): Promise<HttpNode[]> {
  const out = await Promise.all(
    specs.map(async (spec) => {
      const bus = await connectNatsBus({ servers: natsUrl, name: `http-test-${spec.id}` });
      const node = new RegistryNode(bus, { id: spec.id, heartbeatMs: 200, ...spec.node });
      const http = await startNodeHttpServer({
        node,
        bus,
        host: '127.0.0.1',
        port: 0,
        ...spec.http,
      });
      t.teardown(async () => {
        await http.close();
        await node.close();
        await bus.close();
      });
      await node.start();
      return { node, bus, http, url: http.url };
    }),
  );
  await eventually(
    () => out.every((n) => n.node.replicator.peers.alive(Date.now()).length === out.length - 1),
    { what: 'every node sees the others', timeoutMs: 10_000 },
  );
  return out;
}

export interface CallResult<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

export interface CallOptions {
  readonly token?: string;
  /** A JSON body (sent as application/json). */
  readonly json?: unknown;
  readonly headers?: Record<string, string>;
  /** A raw body (with its own content type in `headers`). */
  readonly raw?: string;
}

/** One HTTP call; the body parsed as JSON when it is JSON, else the text. */
export async function call<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.raw;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const res = await fetch(base + path, {
    method,
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(10_000),
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const parsed: unknown =
    type.startsWith('application/json') && text !== '' ? JSON.parse(text) : text;
  return { status: res.status, body: parsed as T, headers: res.headers };
}
