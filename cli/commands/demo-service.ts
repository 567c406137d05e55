/**
 * `roster demo-service`: a tiny HTTP service for demos and the compose file. It runs N
 * instances (one HTTP server each, on consecutive ports), registers them through one client
 * session with the route metadata `roster.route.path-prefix=/<name>` (so gateways route
 * `/<name>/…` to them without any gateway configuration), and answers every request with JSON
 * naming the instance that served it. Ctrl-C or SIGTERM deregister the instances first, then
 * close the servers.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { connect, type Registration, type RosterClient } from '../../client/index.js';
import type { Bus, Logger, NatsBus } from '../../transport/index.js';
import {
  type ClientCommandOptions,
  clusterError,
  openBus,
  print,
  stderrLogger,
  subjectsOf,
} from '../client-command.js';
import { configure } from '../config.js';
import { stopOnSignals } from '../lifecycle.js';
import { addConnectionOptions } from '../options.js';

/** The metadata key a gateway reads a service's route prefix from. */
export const ROUTE_PREFIX_META = 'roster.route.path-prefix';

export interface DemoServiceCommandOptions extends ClientCommandOptions {
  name: string;
  instances: number;
  port: number;
  listenHost: string;
  advertiseHost?: string;
  ttlMs: number;
  connectTimeoutMs: number;
}

export function registerDemoServiceCommand(program: Command): Command {
  const command = program
    .command('demo-service')
    .description(
      'run a demo HTTP service: N instances that register themselves with the route /<name> and answer JSON',
    );
  addConnectionOptions(command, 'demo-service');
  configure(command, 'demo-service').action(async (options: DemoServiceCommandOptions) => {
    await runDemoService(options);
  });
  return command;
}

export interface DemoServiceOptions {
  readonly bus: Bus;
  readonly name: string;
  readonly instances: number;
  /** Port of the first instance (instance i gets port + i); 0: free ports. */
  readonly port: number;
  readonly listenHost: string;
  readonly advertiseHost?: string;
  readonly prefix?: string;
  readonly ttlMs?: number;
  readonly requestTimeoutMs?: number;
  readonly logger?: Logger;
}

export interface DemoServiceInstance {
  readonly id: string;
  readonly port: number;
  /** http://ADVERTISED_HOST:PORT */
  readonly url: string;
}

export interface DemoService {
  readonly name: string;
  readonly instances: readonly DemoServiceInstance[];
  /** Deregisters every instance (acknowledged by the cluster), then closes the servers. */
  close(): Promise<void>;
}

function advertisedHost(listenHost: string, advertise: string | undefined): string {
  if (advertise !== undefined) return advertise;
  return listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost;
}

function respond(
  name: string,
  id: string,
  started: number,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const health = path === '/health' || path === '/healthz';
  const body = JSON.stringify(
    health
      ? { status: 'ok', service: name, instance: id }
      : {
          service: name,
          instance: id,
          method: req.method,
          url: req.url,
          requestId: req.headers['x-request-id'] ?? null,
          traceparent: req.headers.traceparent ?? null,
          uptimeMs: Date.now() - started,
          time: new Date().toISOString(),
        },
  );
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-served-by': id,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
      reject(new Error(`demo-service cannot listen on ${host}:${port}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Starts the instances' HTTP servers, then registers them through one client session. */
export async function startDemoService(options: DemoServiceOptions): Promise<DemoService> {
  const host = advertisedHost(options.listenHost, options.advertiseHost);
  const servers: Server[] = [];
  const instances: DemoServiceInstance[] = [];
  let client: RosterClient | undefined;
  const registrations: Registration[] = [];
  try {
    for (let i = 0; i < options.instances; i++) {
      const started = Date.now();
      const slot = { id: '' };
      const server = createServer((req, res) => respond(options.name, slot.id, started, req, res));
      server.keepAliveTimeout = 65_000;
      servers.push(server);
      const port = await listen(
        server,
        options.port === 0 ? 0 : options.port + i,
        options.listenHost,
      );
      slot.id = `${options.name}-${i + 1}-${port}`;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      instances.push({ id: slot.id, port, url: `http://${urlHost}:${port}` });
    }
    client = await connect({
      bus: options.bus,
      name: `roster demo-service ${options.name}`,
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
      ...(options.requestTimeoutMs !== undefined
        ? { requestTimeoutMs: options.requestTimeoutMs }
        : {}),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
    for (const instance of instances) {
      registrations.push(
        await client.register({
          service: options.name,
          id: instance.id,
          host,
          port: instance.port,
          scheme: 'http',
          tags: ['demo'],
          meta: { [ROUTE_PREFIX_META]: `/${options.name}` },
          weight: 1,
        }),
      );
    }
  } catch (err) {
    await client?.close().catch(() => undefined);
    await Promise.all(servers.map(closeServer));
    throw err;
  }
  const registered = client;
  let closing: Promise<void> | undefined;
  return {
    name: options.name,
    instances,
    close() {
      closing ??= (async () => {
        try {
          await registered.close();
        } finally {
          await Promise.all(servers.map(closeServer));
        }
      })();
      return closing;
    },
  };
}

export async function runDemoService(options: DemoServiceCommandOptions): Promise<void> {
  const logger = stderrLogger(options.logLevel);
  const subjects = subjectsOf(options);
  const stop = stopOnSignals({
    onForce: (reason) => process.stderr.write(`roster demo-service: ${reason}\n`),
  });
  let bus: NatsBus | undefined;
  let service: DemoService | undefined;
  try {
    try {
      bus = await openBus(options, {
        name: `roster-demo-service-${options.name}`,
        logger,
        signal: stop.signal,
      });
    } catch (err) {
      if (stop.signal.aborted) return;
      throw err;
    }
    try {
      service = await startDemoService({
        bus,
        name: options.name,
        instances: options.instances,
        port: options.port,
        listenHost: options.listenHost,
        ...(options.advertiseHost !== undefined ? { advertiseHost: options.advertiseHost } : {}),
        prefix: options.prefix,
        ttlMs: options.ttlMs,
        requestTimeoutMs: options.timeoutMs,
        logger,
      });
    } catch (err) {
      throw clusterError(err, subjects.register(options.name), options.prefix, bus);
    }
    print(
      `demo-service ${options.name}: ${service.instances.length} instance(s) registered with route /${options.name}`,
    );
    for (const instance of service.instances) print(`  ${instance.id}  ${instance.url}`);
    await stop.requested;
  } finally {
    stop.stopping();
    await service?.close().catch((err: unknown) => logger.warn({ err }, 'closing failed'));
    await bus?.close().catch(() => undefined);
    stop.dispose();
  }
}
