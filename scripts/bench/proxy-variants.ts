/**
 * Minimal reverse proxies, one per upstream client, for the upstream-client micro-benchmark
 * (docs/adr/0006-gateway-upstream-client.md). Each forwards every request to one upstream with
 * keep-alive connections and streams both bodies; nothing else (no routing, no headers work),
 * so the figures compare the clients only.
 *
 *   node --import=tsx scripts/bench/proxy-variants.ts --variant NAME --upstream PORT
 *
 * Variants: `agent` (node:http request + keep-alive Agent), `undici-request` (undici 7
 * Pool.request), `undici-dispatch` (undici 7 Pool.dispatch with a raw handler), `roster` (the
 * gateway's own client, gateway/upstream/UpstreamPool, with the same raw handler), `edge` (the
 * gateway's edge in front of `roster`: bodiless requests skip node:http), `net` (a floor: bare
 * sockets passing heads through, no HTTP checks — what the socket layer alone costs), `handle`
 * (the same floor on libuv TCP handles, without net.Socket: scripts/bench/handle-floor.ts).
 * Prints `{"port":N}` once listening.
 *
 * Two options make the `net` and `handle` floors look like the gateway in one respect at a
 * time, to tell apart what the gateway's p99 follows (docs/benchmarks.md, Gateway, tenth and
 * twenty-third days): `--burn-ns N` spins N ns before each of its two writes (the proxy's CPU
 * per request, nothing else), and `--forwarded-headers` adds the six fields the gateway adds to
 * every request (X-Forwarded-For, -Proto, -Host, Forwarded, x-request-id, traceparent; fixed
 * values), so the upstream parses what it parses behind the gateway. Compare peers only when
 * they share one CPU scheduling group, as in the benchmark, which spawns them all from one
 * process: a peer started in a session of its own gets a fair share to itself
 * (docs/benchmarks.md, eleventh day).
 */
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  connect as connectNet,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { Pool } from 'undici';
import { Edge } from '../../gateway/edge/edge.js';
import type { EdgeRequest, EdgeResponse } from '../../gateway/edge/edge-response.js';
import { fieldLinesOf } from '../../gateway/upstream/field-lines.js';
import { UpstreamPool } from '../../gateway/upstream/pool.js';
import type { UpstreamHandler } from '../../gateway/upstream/types.js';
import { startHandleFloor } from './handle-floor.js';
import { intArg, stringArg } from './util.js';

const args = process.argv.slice(2);
const variant = stringArg(args, '--variant') ?? 'agent';
const upstream = intArg(args, '--upstream', 1);
const burnNs = BigInt(intArg(args, '--burn-ns', 0));
const forwardedFields = args.includes('--forwarded-headers')
  ? Buffer.from(
      'x-forwarded-for: 127.0.0.1\r\nx-forwarded-proto: http\r\nx-forwarded-host: 127.0.0.1\r\n' +
        'forwarded: for=127.0.0.1;host="127.0.0.1";proto=http\r\n' +
        'x-request-id: 648dd486-3f6a-4f86-9fc3-d3f2b784d917\r\n' +
        'traceparent: 00-04d907ceba30868e3b975b0448a7756a-4493dcb2800e048b-00\r\n',
      'latin1',
    )
  : undefined;

/** Spins for `--burn-ns` (a stand-in for per-request work, measured in wall time). */
function burn(): void {
  if (burnNs === 0n) return;
  const until = process.hrtime.bigint() + burnNs;
  while (process.hrtime.bigint() < until);
}

const CONNECTIONS = 256;

function stripHop(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding') continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function agentHandler(): (req: IncomingMessage, res: ServerResponse) => void {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: CONNECTIONS,
    maxFreeSockets: CONNECTIONS,
    scheduling: 'lifo',
  });
  return (req, res) => {
    const up = request(
      {
        host: '127.0.0.1',
        port: upstream,
        method: req.method,
        path: req.url,
        headers: stripHop(req.rawHeaders),
        agent,
      },
      (ures) => {
        res.writeHead(ures.statusCode ?? 502, stripHop(ures.rawHeaders));
        ures.pipe(res);
      },
    );
    up.on('error', () => {
      res.statusCode = 502;
      res.end();
    });
    req.pipe(up);
  };
}

function undiciRequestHandler(): (req: IncomingMessage, res: ServerResponse) => void {
  const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: CONNECTIONS });
  return (req, res) => {
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool
      .request({
        method: req.method as 'GET',
        path: req.url ?? '/',
        headers: stripHop(req.rawHeaders),
        body: hasBody ? req : null,
      })
      .then(
        (ures) => {
          const h: string[] = [];
          for (const [k, v] of Object.entries(ures.headers)) {
            if (k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding') continue;
            if (Array.isArray(v)) for (const x of v) h.push(k, x);
            else if (v !== undefined) h.push(k, v);
          }
          res.writeHead(ures.statusCode, h);
          ures.body.pipe(res);
        },
        () => {
          res.statusCode = 502;
          res.end();
        },
      );
  };
}

interface Controller {
  pause(): void;
  resume(): void;
}

/** What the handler writes to: node:http's ServerResponse and the edge's EdgeResponse both fit. */
interface ResponseSink {
  headersSent: boolean;
  statusCode: number;
  writeHead(status: number, headers: string[]): unknown;
  write(chunk: Buffer): boolean;
  end(): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

class DispatchHandler {
  constructor(private readonly res: ResponseSink) {}
  onRequestStart(): void {}
  onResponseStart(
    _controller: Controller,
    statusCode: number,
    headers: Record<string, string | string[]>,
  ): void {
    const h: string[] = [];
    for (const k in headers) {
      if (k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding') continue;
      const v = headers[k]!;
      if (typeof v === 'string') h.push(k, v);
      else for (const x of v) h.push(k, x);
    }
    this.res.writeHead(statusCode, h);
  }
  onResponseData(controller: Controller, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(_controller: Controller | undefined, _err: Error): void {
    if (!this.res.headersSent) this.res.statusCode = 502;
    this.res.end();
  }
}

function undiciDispatchHandler(): (req: IncomingMessage, res: ServerResponse) => void {
  const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: CONNECTIONS });
  return (req, res) => {
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.dispatch(
      {
        method: req.method as 'GET',
        path: req.url ?? '/',
        headers: stripHop(req.rawHeaders),
        body: hasBody ? req : null,
      },
      new DispatchHandler(res),
    );
  };
}

/** A DispatchHandler for the gateway's own pool, which hands over the response head whole. */
function poolHandler(res: ResponseSink): UpstreamHandler {
  const h = new DispatchHandler(res);
  return {
    onRequestStart: () => h.onRequestStart(),
    onResponseStart: (c, head) => h.onResponseStart(c, head.status, head.headers),
    onResponseData: (c, chunk) => h.onResponseData(c, chunk),
    onResponseEnd: () => h.onResponseEnd(),
    onResponseError: (c, err) => h.onResponseError(c, err),
  };
}

function rosterHandler(): (req: IncomingMessage, res: ServerResponse) => void {
  const pool = new UpstreamPool(
    { host: '127.0.0.1', port: upstream, tls: false },
    {
      connections: CONNECTIONS,
    },
  );
  return (req, res) => {
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.dispatch(
      {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: fieldLinesOf(stripHop(req.rawHeaders)),
        body: hasBody ? req : null,
        headersTimeout: 30_000,
      },
      poolHandler(res),
    );
  };
}

/** The gateway's edge in front of the same node:http server (bodiless requests skip node:http). */
function installEdge(server: Server): void {
  const pool = new UpstreamPool(
    { host: '127.0.0.1', port: upstream, tls: false },
    { connections: CONNECTIONS },
  );
  const limits = { maxHeaderBytes: 16_384, headersTimeoutMs: 60_000, keepAliveTimeoutMs: 60_000 };
  new Edge(server, false, limits, (req: EdgeRequest, res: EdgeResponse) => {
    pool.dispatch(
      {
        method: req.method,
        path: req.url,
        headers: fieldLinesOf(stripHop(req.rawHeaders)),
        body: null,
        headersTimeout: 30_000,
      },
      poolHandler(res),
    );
  });
}

/**
 * A floor, not a proxy to ship: bare `net` sockets, request and response heads found by their
 * CRLFCRLF and passed through with almost no checks (bodiless requests, Content-Length
 * responses only). What Node's socket layer alone costs per proxied request.
 */
function startNetFloor(): NetServer {
  const idle: Socket[] = [];
  const END = Buffer.from('\r\n\r\n');
  return createNetServer((client) => {
    client.setNoDelay(true);
    client.on('error', () => undefined);
    client.on('data', (data: Buffer) => {
      const end = data.indexOf(END);
      if (end < 0) return client.destroy();
      const request =
        forwardedFields === undefined
          ? data
          : Buffer.concat([data.subarray(0, end + 2), forwardedFields, data.subarray(end + 2)]);
      const up = idle.pop() ?? connectNet(upstream, '127.0.0.1').setNoDelay(true);
      up.removeAllListeners('data');
      up.removeAllListeners('error');
      up.on('error', () => client.destroy());
      let remaining = -1;
      up.on('data', (chunk: Buffer) => {
        if (remaining < 0) {
          const e = chunk.indexOf(END);
          const m = /content-length: *(\d+)/i.exec(chunk.toString('latin1', 0, e));
          remaining = Number(m?.[1] ?? 0) - (chunk.length - e - 4);
        } else {
          remaining -= chunk.length;
        }
        burn();
        client.write(chunk);
        if (remaining <= 0) {
          up.removeAllListeners('data');
          idle.push(up);
        }
      });
      burn();
      up.write(request);
    });
  });
}

function printPort(port: number | undefined): void {
  process.stdout.write(`${JSON.stringify({ port: port ?? 0 })}\n`);
}

/** The node:http request handler of an HTTP variant (undefined: not one). */
function httpHandler(
  name: string,
): ((req: IncomingMessage, res: ServerResponse) => void) | undefined {
  switch (name) {
    case 'agent':
      return agentHandler();
    case 'undici-request':
      return undiciRequestHandler();
    case 'undici-dispatch':
      return undiciDispatchHandler();
    case 'roster':
    case 'edge':
      return rosterHandler();
    default:
      return undefined;
  }
}

if (variant === 'handle') {
  const floor = startHandleFloor(upstream, {
    work: burnNs === 0n ? undefined : burn,
    requestFields: forwardedFields?.toString('latin1'),
  });
  printPort(floor.port);
} else {
  const handler = httpHandler(variant);
  if (handler === undefined && variant !== 'net') throw new Error(`unknown variant ${variant}`);
  const server: Server | NetServer =
    handler === undefined ? startNetFloor() : createServer({ keepAliveTimeout: 60_000 }, handler);
  if (variant === 'edge') installEdge(server as Server);
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    printPort(typeof address === 'object' ? address?.port : 0);
  });
}
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
