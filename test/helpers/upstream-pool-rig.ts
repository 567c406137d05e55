/**
 * The upstream client tests' rig (test/integration/gateway-upstream-pool*.test.ts): a handler
 * that collects what the gateway's upstream client (gateway/upstream/) reports, pools on real
 * local servers (node:http for well-behaved upstreams, raw `net` for misbehaving ones), and the
 * small helpers those tests share.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Test } from 'tap';
import { fieldLinesOf } from '../../gateway/upstream/field-lines.js';
import { UpstreamPool } from '../../gateway/upstream/pool.js';
import type { ResponseHead } from '../../gateway/upstream/response-head.js';
import type {
  UpstreamController,
  UpstreamHandler,
  UpstreamPoolOptions,
  UpstreamRequest,
} from '../../gateway/upstream/types.js';

export type CodedError = Error & { code?: string };

export interface Outcome {
  status: number | undefined;
  headers: Record<string, string | string[]> | undefined;
  body: Buffer;
  ended: boolean;
  errors: CodedError[];
  /** Callback names in order. */
  calls: string[];
}

export interface Hooks {
  onRequestStart?(controller: UpstreamController, c: Collector): void;
  onResponseStart?(controller: UpstreamController, c: Collector): void;
  onResponseData?(controller: UpstreamController, chunk: Buffer, c: Collector): void;
}

/** A handler that records its callbacks; `done` settles at the end or the error. */
export class Collector implements UpstreamHandler {
  readonly out: Outcome = {
    status: undefined,
    headers: undefined,
    body: Buffer.alloc(0),
    ended: false,
    errors: [],
    calls: [],
  };
  readonly done: Promise<Outcome>;
  /** Set to give the request up (UpstreamHandler.abandoned). */
  abandoned = false;
  received = 0;
  private readonly chunks: Buffer[] = [];
  private settle!: (o: Outcome) => void;

  constructor(private readonly hooks: Hooks = {}) {
    this.done = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  onRequestStart(controller: UpstreamController): void {
    this.out.calls.push('requestStart');
    this.hooks.onRequestStart?.(controller, this);
  }

  onResponseStart(controller: UpstreamController, head: ResponseHead): void {
    this.out.calls.push('responseStart');
    this.out.status = head.status;
    this.out.headers = head.headers;
    this.hooks.onResponseStart?.(controller, this);
  }

  onResponseData(controller: UpstreamController, chunk: Buffer): void {
    if (this.out.calls.at(-1) !== 'data') this.out.calls.push('data');
    this.received += chunk.length;
    this.chunks.push(Buffer.from(chunk));
    this.hooks.onResponseData?.(controller, chunk, this);
  }

  onResponseEnd(): void {
    this.out.calls.push('end');
    this.out.ended = true;
    this.out.body = Buffer.concat(this.chunks);
    this.settle(this.out);
  }

  onResponseError(_controller: UpstreamController | undefined, err: Error): void {
    this.out.calls.push('error');
    this.out.errors.push(err);
    this.out.body = Buffer.concat(this.chunks);
    this.settle(this.out);
  }
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function req(
  method: string,
  path: string,
  extra: Partial<UpstreamRequest> = {},
): UpstreamRequest {
  return { method, path, headers: fieldLinesOf([]), body: null, headersTimeout: 5000, ...extra };
}

/** Dispatches and waits (bounded) for the outcome. */
export function run(
  pool: UpstreamPool,
  request: UpstreamRequest,
  hooks?: Hooks,
  ms = 10_000,
): Promise<Outcome> {
  const c = new Collector(hooks);
  pool.dispatch(request, c);
  return within(c.done, ms, `${request.method} ${request.path}`);
}

export function makePool(
  t: Test,
  port: number,
  options: UpstreamPoolOptions = {},
  tls = false,
): UpstreamPool {
  const pool = new UpstreamPool({ host: '127.0.0.1', port, tls }, options);
  t.teardown(() => pool.close(false));
  return pool;
}

export interface Served<S> {
  server: S;
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open now. */
  open: Set<Socket>;
}

export async function listen<S extends Server | NetServer>(t: Test, server: S): Promise<Served<S>> {
  const served: Served<S> = { server, port: 0, accepted: 0, open: new Set() };
  server.on('connection', (s: Socket) => {
    served.accepted++;
    served.open.add(s);
    s.on('close', () => served.open.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  served.port = (server.address() as { port: number }).port;
  t.teardown(async () => {
    for (const s of served.open) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return served;
}

/** A node:http upstream (long keep-alive so only the client closes idle connections). */
export async function httpUpstream(
  t: Test,
  handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void,
): Promise<Served<Server>> {
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, handler);
  return listen(t, server);
}

/** A raw TCP upstream for misbehaviour. */
export function rawUpstream(t: Test, onSocket: (s: Socket) => void): Promise<Served<NetServer>> {
  return listen(t, createNetServer(onSocket));
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function* chunksOf(parts: readonly Buffer[], gapMs = 0): AsyncGenerator<Buffer> {
  for (const p of parts) {
    if (gapMs > 0) await sleep(gapMs);
    yield p;
  }
}

// ---------------------------------------------------------------------------------------------
