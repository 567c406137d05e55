/**
 * A RequestContext around a real http.IncomingMessage / ServerResponse pair (on an unconnected
 * socket), for calling plugins directly, and a PluginEnvironment whose logger records lines.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { pino } from 'pino';
import type {
  Plugin,
  PluginEnvironment,
  PluginOutcome,
  RequestContext,
  RouteConfig,
} from '../../gateway/types.js';

export interface FakeRequestOptions {
  readonly method?: string;
  readonly path?: string;
  /** With the leading `?`, or ''. */
  readonly query?: string;
  /** Header names are lower-cased; arrays stay arrays (as Node keeps set-cookie). */
  readonly headers?: Readonly<Record<string, string | string[]>>;
  readonly clientIp?: string;
  readonly consumer?: string;
  readonly route?: string;
}

export function fakeRequestContext(options: FakeRequestOptions = {}): RequestContext {
  const socket = new Socket();
  const req = new IncomingMessage(socket);
  req.method = options.method ?? 'GET';
  const path = options.path ?? '/';
  const query = options.query ?? '';
  req.url = path + query;
  req.httpVersion = '1.1';
  const raw: string[] = [];
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const lower = name.toLowerCase();
    req.headers[lower] = value;
    for (const v of Array.isArray(value) ? value : [value]) raw.push(name, v);
  }
  req.rawHeaders = raw;
  const route: RouteConfig = {
    name: options.route ?? 'test',
    match: { path: { prefix: '/' } },
    service: 'svc',
    source: 'file',
  };
  return {
    req,
    hit: { route, params: {}, upstreamPath: path },
    path,
    query,
    clientIp: options.clientIp ?? '203.0.113.7',
    requestId: 'req-1',
    consumer: options.consumer,
    withheldHeaders: undefined,
    bodyLimit: undefined,
    responseHeaders: {},
    startedAt: performance.now(),
  };
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface FakeEnvironment extends PluginEnvironment {
  /** Every line logged at debug or above, parsed. */
  readonly lines: LogLine[];
  /** Changes what liveGateways() returns. */
  setLiveGateways(n: number): void;
}

export function fakeEnv(configPath = 'routes.test.plugins.p', liveGateways = 1): FakeEnvironment {
  const lines: LogLine[] = [];
  let live = liveGateways;
  const logger = pino(
    { level: 'debug' },
    { write: (msg: string) => void lines.push(JSON.parse(msg) as LogLine) },
  );
  return {
    configPath,
    liveGateways: () => live,
    logger,
    lines,
    setLiveGateways(n) {
      live = n;
    },
  };
}

/** Awaits a plugin's verdict whether it answered synchronously or not. */
export async function run(plugin: Plugin, ctx: RequestContext): Promise<PluginOutcome> {
  return await plugin.onRequest(ctx);
}

/** A plugin's verdict when it must answer synchronously (throws otherwise). */
export function runSync(plugin: Plugin, ctx: RequestContext): PluginOutcome {
  const out = plugin.onRequest(ctx);
  if (out instanceof Promise) throw new Error(`${plugin.name} answered asynchronously`);
  return out;
}
