/**
 * The edge tests' rig (test/integration/gateway-edge*.test.ts): an upstream node:http server
 * whose answer depends on the path (echoes, slow, chunked, raw field lines, every byte value,
 * bodiless statuses, large bodies, hanging responses), what its handlers saw, the requests the
 * tests write on raw client sockets, and a gateway in front of it all.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Test } from 'tap';
import type { Gateway } from '../../gateway/gateway.js';
import { MetricsRegistry } from '../../transport/metrics.js';
import { eventually } from './eventually.js';
import {
  route,
  simpleTable,
  startGateway,
  startRegistry,
  startUpstream,
  type Upstream,
} from './gateway-harness.js';
import { Wire, type WireResponse } from './http-wire.js';

export const H = 'Host: gw.test\r\n';
export const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

export function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\n${H}${extra}\r\n`;
}

/** A chunked request body in two chunks. */
export function chunkedPost(path: string, body: string): string {
  const a = body.slice(0, 5);
  const b = body.slice(5);
  return (
    `POST ${path} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n` +
    `${a.length.toString(16)}\r\n${a}\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`
  );
}

/** Who served a keep-alive response: Node's server adds a Keep-Alive header, the edge not. */
export function servedBy(r: WireResponse): 'edge' | 'node' {
  return r.headers['keep-alive'] === undefined ? 'edge' : 'node';
}

// ---------------------------------------------------------------------------------------------
// Upstream behaviour, by path.

export const BIG_BYTES = 32 * 1024 * 1024;
export const BIG_CHUNK = 64 * 1024;

/** Deterministic bytes: the 64 KiB block `i` starts with its index. */
function bigBlock(i: number): Buffer {
  const b = Buffer.alloc(BIG_CHUNK, i % 251);
  b.writeUInt32BE(i, 0);
  return b;
}

export interface UpstreamState {
  /** For /hang: whether each response's 'close' came before it finished. */
  hangClosed: boolean[];
  /** For /big: bytes handed to res.write so far, and whether write() ever returned false. */
  bigWritten: number;
  bigFinished: boolean;
  bigPushedBack: boolean;
  /** For /kb: requests answered. */
  kbServed: number;
}

export function newUpstreamState(): UpstreamState {
  return {
    hangClosed: [],
    bigWritten: 0,
    bigFinished: false,
    bigPushedBack: false,
    kbServed: 0,
  };
}

export function serve(up: Upstream, state: UpstreamState): void {
  up.handler = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    switch (url.pathname) {
      case '/echo': {
        const out = JSON.stringify({
          method: req.method,
          url: req.url,
          body,
          headers: req.headers,
        });
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(out),
        });
        res.end(out);
        return;
      }
      case '/sink': {
        const out = JSON.stringify({
          length: Buffer.byteLength(body, 'latin1'),
          sha256: createHash('sha256').update(body, 'latin1').digest('hex'),
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(out);
        return;
      }
      case '/slow':
        setTimeout(
          () => {
            if (!res.destroyed) res.end(`slow ${url.searchParams.get('i') ?? ''}`);
          },
          Number(url.searchParams.get('ms') ?? 300),
        ).unref();
        return;
      case '/chunked': {
        res.writeHead(200, { 'content-type': 'text/plain' }); // no length: chunked upstream
        res.write('alpha-');
        setTimeout(() => {
          res.write(Buffer.alloc(20_000, 'b'));
          setTimeout(() => res.end('-omega'), 20);
        }, 20);
        return;
      }
      case '/empty-chunked':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end();
        return;
      case '/raw-fields':
        // Field lines as written, hop-by-hop ones among them.
        res.writeHead(200, [
          'X-Mixed-Case',
          'Keep  Me',
          'Connection',
          'keep-alive, X-Hop',
          'X-Hop',
          'secret',
          'Keep-Alive',
          'timeout=5',
          'Set-Cookie',
          'a=1',
          'Set-Cookie',
          'b=2',
          'X-Request-Id',
          'upstream-id',
          'Proxy-Connection',
          'keep-alive',
          'Content-Length',
          '2',
        ]);
        res.end('ok');
        return;
      case '/bytes': {
        // Every byte value, twice over, in the write that carries the head.
        const out = Buffer.concat([ALL_BYTES, ALL_BYTES]);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 512 });
        res.end(out);
        return;
      }
      case '/204':
        res.writeHead(204, { 'x-kind': 'no-content' });
        res.end();
        return;
      case '/304':
        res.writeHead(304, { etag: '"v1"' });
        res.end();
        return;
      case '/head':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
        res.end(req.method === 'HEAD' ? undefined : 'hello world');
        return;
      case '/kb': {
        // `n` KiB, starting with the request's `i`.
        const tag = `#${url.searchParams.get('i') ?? ''};`;
        const size = Number(url.searchParams.get('n') ?? 1) * 1024;
        state.kbServed++;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(size) });
        res.end(tag.padEnd(size, '.'));
        return;
      }
      case '/hang':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        res.on('close', () => state.hangClosed.push(!res.writableFinished));
        return;
      case '/big': {
        state.bigWritten = 0;
        state.bigFinished = false;
        state.bigPushedBack = false;
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(BIG_BYTES),
        });
        let i = 0;
        const pump = (): void => {
          while (i * BIG_CHUNK < BIG_BYTES) {
            const ok = res.write(bigBlock(i));
            i++;
            state.bigWritten += BIG_CHUNK;
            if (!ok) {
              state.bigPushedBack = true;
              res.once('drain', pump);
              return;
            }
          }
          res.end(() => {
            state.bigFinished = true;
          });
        };
        pump();
        return;
      }
      default:
        res.writeHead(404, { 'content-length': '0' });
        res.end();
    }
  };
}

export function bigDigest(): string {
  const h = createHash('sha256');
  for (let i = 0; i * BIG_CHUNK < BIG_BYTES; i++) h.update(bigBlock(i));
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// A gateway in front of that upstream, for the tests to open client connections to.

export const HEADERS_TIMEOUT_MS = 600; // requestTimeoutMs below: headersTimeout = min(60000, it)
export const KEEP_ALIVE_MS = 2500;

export interface EdgeRig {
  readonly up: Upstream;
  readonly state: UpstreamState;
  readonly metrics: MetricsRegistry;
  readonly port: number;
  readonly gateway: Gateway;
  /** A new client connection to the gateway (destroyed when the test ends). */
  open(): Promise<Wire>;
  /** The gateway's socket for a client connection while the edge serves it. */
  edgeSocketOf(client: Socket): Promise<Socket>;
}

/**
 * A registry node, an upstream serving the paths above as service `api`, and a gateway with
 * one route to it, a headers timeout of HEADERS_TIMEOUT_MS and a keep-alive timeout of
 * KEEP_ALIVE_MS.
 */
export async function startEdgeRig(t: Test, upstreamName: string): Promise<EdgeRig> {
  const reg = await startRegistry(t);
  const up = await startUpstream(t, upstreamName);
  const state = newUpstreamState();
  serve(up, state);
  await reg.services.register({ service: 'api', host: '127.0.0.1', port: up.port });
  const metrics = new MetricsRegistry();
  const { port, gateway } = await startGateway(t, reg.url, simpleTable([route('api', 'api')]), {
    metrics,
    requestTimeoutMs: HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: KEEP_ALIVE_MS,
  });
  const wires: Wire[] = [];
  const open = async (): Promise<Wire> => {
    const w = await Wire.tcp(port);
    wires.push(w);
    return w;
  };
  t.teardown(() => {
    for (const w of wires) w.destroy();
  });
  const edgeSocketOf = (client: Socket): Promise<Socket> => {
    const edges = (gateway as unknown as { edges: { connections: Set<{ socket: Socket }> }[] })
      .edges;
    return eventually(
      () =>
        edges
          .flatMap((e) => [...e.connections])
          .find((c) => c.socket.remotePort === client.localPort)?.socket,
      { what: 'the gateway side of the connection' },
    );
  };
  return { up, state, metrics, port, gateway, open, edgeSocketOf };
}
