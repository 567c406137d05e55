/**
 * `roster/gateway`: the API gateway as a library.
 *
 *     const gw = await startGateway('gateway.yaml', { logger });
 *     // … later
 *     await gw.close();
 *
 * startGateway wires the control plane around the data plane (gateway.ts): it loads and
 * validates the config (and the files it refers to, config-files.ts), connects to NATS,
 * follows routes declared in registration metadata (registry-routes.ts), merges them with the
 * file routes into a route table with plugin chains (route-table.ts), starts the listeners,
 * the admin API (admin.ts) and the gateway's presence in the registry (presence.ts), and, when
 * started from a file, reloads on save and on SIGHUP (config-watcher.ts; what a reload may
 * change: config-reload.ts). Route changes from either source swap the table without
 * dropping a connection; a reload that fails (bad file, conflicting routes, unreadable
 * certificate) keeps everything as it was and is reported on the admin API.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, type RosterClient } from '../client/client.js';
import { isRosterError, RosterError } from '../protocol/index.js';
import type { Bus } from '../transport/bus.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import { MetricsRegistry } from '../transport/metrics.js';
import { AccessLog } from './access-log.js';
import { type AdminServer, type ReadyState, startAdminServer } from './admin.js';
import { type GatewayConfig, loadConfigFile, referencedFiles, validateConfig } from './config.js';
import { natsBusOptionsFor, readListenerTls } from './config-files.js';
import { reloadable } from './config-reload.js';
import { ConfigWatcher, contentHash, type ReloadTrigger } from './config-watcher.js';
import { ControlMetrics } from './control-metrics.js';
import { Gateway, type GatewayListener, type TlsMaterial } from './gateway.js';
import { GATEWAY_SERVICE, GatewayPresence } from './presence.js';
import { RegistryRoutes } from './registry-routes.js';
import { type BuiltTable, RouteTableBuilder, type RouteTableReport } from './route-table.js';
import type { CompiledRouteTable } from './types.js';

export * from './admin.js';
export * from './config.js';
export { natsBusOptionsFor, readListenerTls } from './config-files.js';
export { ConfigWatcher, contentHash, type ReloadTrigger } from './config-watcher.js';
export { ControlMetrics } from './control-metrics.js';
export { Gateway, type GatewayListener, type GatewayOptions, type TlsMaterial } from './gateway.js';
export { pluginFactories, pluginFactory } from './plugins/index.js';
export { GATEWAY_SERVICE, GatewayPresence } from './presence.js';
export * from './registry-routes.js';
export * from './route-metadata.js';
export * from './route-table.js';
export { compileRoutes, type Router } from './router.js';
export type * from './types.js';
export type { UpstreamMemberSnapshot, UpstreamPoolSnapshot } from './upstreams.js';

export interface StartGatewayOptions {
  readonly logger?: Logger;
  /** Where the gateway's metrics go (default: a new registry, served on the admin API). */
  readonly metrics?: MetricsRegistry;
  /** An existing bus (the CLI connects with retries); otherwise one is made from `nats`. */
  readonly bus?: Bus;
  /** Reload when the config file (or a certificate it names) changes; default true from a file. */
  readonly watch?: boolean;
  /** The signal that reloads; default SIGHUP from a file, false (none) otherwise. */
  readonly reloadSignal?: NodeJS.Signals | false;
  /** Debounce of file events (default 100 ms). */
  readonly watchDebounceMs?: number;
}

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly trigger: ReloadTrigger;
  /** ISO time of the attempt. */
  readonly at: string;
  /** Why it failed (the old config stays). */
  readonly error?: string;
  readonly code?: string;
  /** Keys that changed but only take effect after a restart (kept as they were). */
  readonly restartRequired: readonly string[];
}

export interface RunningGateway extends AsyncDisposable {
  /** The instance id in the `roster-gateway` service. */
  readonly id: string;
  readonly gateway: Gateway;
  /** Undefined without an `admin` section. */
  readonly admin: AdminServer | undefined;
  readonly client: RosterClient;
  readonly presence: GatewayPresence;
  /** Undefined when registry routes are disabled. */
  readonly registryRoutes: RegistryRoutes | undefined;
  readonly metrics: MetricsRegistry;
  /** The config in effect. */
  readonly config: GatewayConfig;
  /** The config file, when started from one. */
  readonly file: string | undefined;
  /** The route table in effect and its problems. */
  report(): RouteTableReport;
  /** Readiness and what it waits for. */
  readiness(): ReadyState;
  /** The outcome of the last reload (undefined before the first). */
  lastReload(): ReloadOutcome | undefined;
  /**
   * Reloads: from the file (started from a file) or from `config` (a new config object).
   * Never throws: the outcome says whether it worked.
   */
  reload(config?: unknown): Promise<ReloadOutcome>;
  /** Stops accepting, lets requests finish (up to `graceMs`, default gateway.shutdownGraceMs), closes. */
  close(graceMs?: number): Promise<void>;
}

function defaultId(): string {
  return `gw-${randomBytes(5).toString('hex')}`;
}

function advertiseHost(config: GatewayConfig): string {
  if (config.gateway.advertiseHost) return config.gateway.advertiseHost;
  const admin = config.admin?.host;
  if (admin && admin !== '0.0.0.0' && admin !== '::') return admin;
  const name = hostname();
  return /^[A-Za-z0-9_.-]{1,253}$/.test(name) ? name : '127.0.0.1';
}

/** The access log the config asks for (opened now: a path that cannot be opened fails the start). */
function openAccessLog(
  config: GatewayConfig,
  metrics: MetricsRegistry,
  logger: Logger,
): AccessLog | undefined {
  const settings = config.accessLog;
  if (settings === undefined) return undefined;
  const dropped = metrics.counter(
    'roster_gateway_access_log_dropped_total',
    'Access log lines dropped: more waited than accessLog.maxBufferBytes, or a write failed.',
  );
  return new AccessLog({
    path: settings.path,
    maxBufferBytes: settings.maxBufferBytes,
    logger: logger.child({ component: 'access-log' }),
    onDrop: (lines) => dropped.inc(lines),
  });
}

/** Starts a gateway from a config file path or a config object. */
export async function startGateway(
  source: string | unknown,
  options: StartGatewayOptions = {},
): Promise<RunningGateway> {
  const fromFile = typeof source === 'string';
  const loaded = fromFile ? loadConfigFile(source) : undefined;
  let config = loaded ? loaded.config : validateConfig(source);
  const file = loaded?.file;
  const id = config.gateway.id ?? defaultId();
  const logger = (options.logger ?? silentLogger).child({ gatewayId: id });
  const log = logger.child({ component: 'gateway-control' });
  const metrics = options.metrics ?? new MetricsRegistry();
  let tls = readListenerTls(config);

  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        log.warn({ err }, 'cleanup after a failed start failed');
      }
    }
  };
  try {
    const client = await connect({
      ...(options.bus
        ? { bus: options.bus }
        : {
            servers: [...config.nats.servers],
            nats: natsBusOptionsFor(config.nats),
          }),
      name: `${config.gateway.name}-${id}`,
      prefix: config.prefix,
      logger,
    });
    cleanups.push(() => client.close());

    const presenceRef: { current: GatewayPresence | undefined } = { current: undefined };
    const builder = new RouteTableBuilder({
      logger,
      liveGateways: () => presenceRef.current?.liveGateways() ?? 1,
    });
    cleanups.push(() => builder.close());

    let registry: RegistryRoutes | undefined;
    if (config.registryRoutes.enabled) {
      const follower = new RegistryRoutes(client.bus, client.subjects, {
        logger,
        resyncMs: config.registryRoutes.resyncMs,
      });
      registry = follower;
      cleanups.push(() => follower.close());
      try {
        await follower.start();
      } catch (err) {
        log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'registry routes not synced yet (no registry node answered); retrying in the background',
        );
      }
    }

    const buildFor = (c: GatewayConfig): BuiltTable =>
      builder.build({
        fileRoutes: c.routes,
        defaults: c.defaults,
        registryRoutes: c.registryRoutes,
        registry: registry?.routes() ?? { routes: [], errors: [], disagreements: [] },
      });
    let built = buildFor(config);
    const firstTable = built.table;
    cleanups.push(() => firstTable.close());

    const accessLog = openAccessLog(config, metrics, logger);
    if (accessLog !== undefined) cleanups.push(() => accessLog.close());

    const listeners: GatewayListener[] = config.listeners.map((l, i) => ({
      port: l.port,
      host: l.host,
      ...(tls[i] ? { tls: tls[i] } : {}),
    }));
    const gateway = new Gateway({
      client,
      table: built.table,
      listeners,
      trustedHops: config.trustedHops,
      logger,
      metrics,
      ...(accessLog !== undefined ? { accessLog } : {}),
      ...config.server,
      ...(Object.keys(config.upstream).length > 0 ? { upstream: config.upstream } : {}),
      pool: {
        ...(config.pools.zone !== undefined ? { zone: config.pools.zone } : {}),
        ...(config.pools.minZoneHealthyPercent !== undefined
          ? { minZoneHealthyPercent: config.pools.minZoneHealthyPercent }
          : {}),
        ...(config.pools.panicThreshold !== undefined
          ? { panicThreshold: config.pools.panicThreshold }
          : {}),
        ...(config.pools.outlier !== undefined ? { outlier: config.pools.outlier } : {}),
      },
    });
    cleanups.push(() => gateway.close(0));

    let last: ReloadOutcome | undefined;
    let closing = false;
    const retired = new Set<{ table: CompiledRouteTable; timer: NodeJS.Timeout }>();
    const retire = (table: CompiledRouteTable) => {
      // Requests in flight may still run on the old table's plugins: close it a little later.
      const entry = {
        table,
        timer: setTimeout(() => {
          retired.delete(entry);
          table.close();
        }, 60_000),
      };
      entry.timer.unref();
      retired.add(entry);
    };

    const control = new ControlMetrics(metrics, {
      report: () => built.report,
      liveGateways: () => presenceRef.current?.liveGateways() ?? 1,
      registry: () =>
        registry
          ? { services: registry.serviceCount, stale: registry.stale, synced: registry.synced }
          : undefined,
      pools: () => gateway.pools(),
    });
    control.tableBuilds.inc({ result: 'ok', cause: 'start' });

    const swap = (next: BuiltTable, cause: 'config' | 'registry') => {
      const old = built;
      built = next;
      gateway.setTable(next.table);
      retire(old.table);
      control.tableBuilds.inc({ result: 'ok', cause });
      log.info(
        {
          cause,
          routes: next.report.routes.length,
          problems: next.report.problems.length,
          services: next.table.services.length,
        },
        'route table swapped',
      );
    };

    const readiness = (): ReadyState => {
      const waitingFor: string[] = [];
      if (closing) waitingFor.push('shutting down');
      if (registry && !registry.synced) waitingFor.push('registry routes (first sync)');
      if (!gateway.ready) {
        const unsynced = gateway
          .pools()
          .filter((p) => !p.synced)
          .map((p) => p.service);
        waitingFor.push(
          unsynced.length > 0
            ? `upstream pools: ${[...new Set(unsynced)].join(', ')}`
            : 'listeners and upstream pools',
        );
      }
      return { ready: waitingFor.length === 0, waitingFor };
    };

    const startedAt = Date.now();
    let admin: AdminServer | undefined;
    if (config.admin) {
      admin = await startAdminServer({
        host: config.admin.host,
        port: config.admin.port,
        logger,
        access: () => ({
          token: config.admin?.token ?? '',
          metricsPublic: config.admin?.metricsPublic ?? false,
          probesPublic: config.admin?.probesPublic ?? false,
        }),
        source: {
          routes: () => ({
            gateway: id,
            routes: built.report.routes,
            problems: built.report.problems,
            // The last reload failed: the routes above are the previous config's.
            configError:
              last && !last.ok
                ? { code: last.code ?? null, message: last.error ?? null, at: last.at }
                : null,
            config: {
              file: file ?? null,
              lastReload: last ?? null,
            },
            registry: registry
              ? { synced: registry.synced, stale: registry.stale, services: registry.serviceCount }
              : null,
          }),
          pools: () => ({ pools: gateway.pools() }),
          ready: readiness,
          health: () => ({
            status: 'ok',
            gateway: id,
            name: config.gateway.name,
            uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
            liveGateways: presenceRef.current?.liveGateways() ?? 1,
            inFlight: gateway.inFlight,
            nats: client.bus.isOpen ? 'open' : 'closed',
          }),
          configErrors: () => ({
            file: file ?? null,
            lastReload: last ?? null,
            error:
              last && !last.ok ? { code: last.code ?? null, message: last.error ?? null } : null,
            restartRequired: last?.restartRequired ?? [],
            routeProblems: built.report.problems,
          }),
          metrics: () => metrics.render(),
        },
      });
      const a = admin;
      cleanups.push(() => a.close());
    }

    await gateway.start();

    const presence = new GatewayPresence({
      client,
      id,
      host: advertiseHost(config),
      port: admin?.port ?? gateway.addresses()[0]?.port ?? 1,
      meta: {
        'roster.gateway.name': config.gateway.name,
        'roster.gateway.listeners': gateway
          .addresses()
          .map((a) => String(a.port))
          .join(','),
        ...(admin ? { 'roster.gateway.admin-port': String(admin.port) } : {}),
      },
      logger,
    });
    presenceRef.current = presence;
    cleanups.push(() => presence.close());
    await presence.start();

    // Registry route changes rebuild the table (file routes as they are).
    const offRegistry = registry?.onChange(() => {
      if (closing) return;
      try {
        swap(buildFor(config), 'registry');
      } catch (err) {
        control.tableBuilds.inc({ result: 'failed', cause: 'registry' });
        log.error(
          { err },
          'rebuilding the route table for registry routes failed; keeping the old one',
        );
      }
    });

    let reloading: Promise<ReloadOutcome> | undefined;
    const doReload = async (trigger: ReloadTrigger, given?: unknown): Promise<ReloadOutcome> => {
      const at = new Date().toISOString();
      // Whether or not the new config is good: logrotate sends SIGHUP once it moved the file.
      accessLog?.reopen();
      const fail = (err: unknown, restartRequired: string[] = []): ReloadOutcome => {
        const message = err instanceof Error ? err.message : String(err);
        last = {
          ok: false,
          trigger,
          at,
          error: message,
          ...(isRosterError(err) ? { code: err.code } : {}),
          restartRequired,
        };
        control.reloaded('failed', trigger);
        log.error({ trigger, err: message }, 'config reload failed; keeping the config in effect');
        return last;
      };
      let next: GatewayConfig;
      try {
        if (given !== undefined) next = validateConfig(given);
        else if (file !== undefined) next = loadConfigFile(file).config;
        else
          throw new RosterError(
            'ROSTER_ERR_CONFIG',
            'started from a config object: pass the new config to reload()',
          );
      } catch (err) {
        return fail(err);
      }
      const { effective, restartRequired } = reloadable(config, next, registry !== undefined);
      let nextTls: (TlsMaterial | undefined)[];
      let table: BuiltTable;
      try {
        nextTls = readListenerTls(effective);
        table = buildFor(effective);
      } catch (err) {
        return fail(err, restartRequired);
      }
      if (closing) {
        table.table.close();
        return fail(new Error('the gateway is closing'));
      }
      config = effective;
      swap(table, 'config');
      nextTls.forEach((material, i) => {
        const before = tls[i];
        if (material && (!before || before.cert !== material.cert || before.key !== material.key)) {
          gateway.updateTls(i, material);
          log.info({ listener: i }, 'TLS certificate reloaded');
        }
      });
      tls = nextTls;
      if (restartRequired.length > 0) {
        log.warn(
          { keys: restartRequired },
          'some changed keys only take effect after a restart; kept as they were',
        );
      }
      last = { ok: true, trigger, at, restartRequired };
      control.reloaded('ok', trigger);
      log.info({ trigger, routes: table.report.routes.length }, 'config reloaded');
      return last;
    };
    const reload = async (trigger: ReloadTrigger, given?: unknown): Promise<ReloadOutcome> => {
      while (reloading) await reloading.catch(() => undefined);
      reloading = doReload(trigger, given).finally(() => {
        reloading = undefined;
      });
      return reloading;
    };

    let watcher: ConfigWatcher | undefined;
    if (file !== undefined && (options.watch ?? true)) {
      watcher = new ConfigWatcher({
        file,
        extraFiles: () => referencedFiles(config),
        reload: (trigger) => reload(trigger),
        logger,
        signal: options.reloadSignal ?? 'SIGHUP',
        ...(options.watchDebounceMs !== undefined ? { debounceMs: options.watchDebounceMs } : {}),
        initialHash: contentHash([file, ...referencedFiles(config)]),
      });
      watcher.start();
    }
    let offSignal: (() => void) | undefined;
    if (watcher === undefined && options.reloadSignal) {
      const signal = options.reloadSignal;
      const onSignal = () => void reload('signal');
      process.on(signal, onSignal);
      offSignal = () => process.off(signal, onSignal);
    }
    const w = watcher;

    let closed: Promise<void> | undefined;
    const running: RunningGateway = {
      id,
      gateway,
      admin,
      client,
      presence,
      registryRoutes: registry,
      metrics,
      get config() {
        return config;
      },
      file,
      report: () => built.report,
      readiness,
      lastReload: () => last,
      reload: (given?: unknown) => reload('manual', given),
      close(graceMs?: number): Promise<void> {
        closed ??= (async () => {
          closing = true;
          log.info({ graceMs: graceMs ?? config.gateway.shutdownGraceMs }, 'gateway stopping');
          await w?.close();
          offSignal?.();
          offRegistry?.();
          await presence.close(); // the other gateways take over our share of cluster limits
          await gateway.close(graceMs ?? config.gateway.shutdownGraceMs);
          await accessLog?.close();
          await registry?.close();
          for (const r of retired) {
            clearTimeout(r.timer);
            r.table.close();
          }
          retired.clear();
          built.table.close();
          builder.close();
          await admin?.close(); // last but the client, so /ready said 503 while draining
          await client.close();
          log.info('gateway stopped');
        })();
        return closed;
      },
      async [Symbol.asyncDispose]() {
        await running.close();
      },
    };
    log.info(
      {
        gateway: id,
        service: GATEWAY_SERVICE,
        listeners: gateway.addresses(),
        adminPort: admin?.port ?? null,
        routes: built.report.routes.length,
        file: file ?? null,
      },
      'gateway started',
    );
    return running;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
