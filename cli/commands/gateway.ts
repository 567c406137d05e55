/**
 * `roster gateway --config gateway.yaml`: the API gateway process. Loads and validates the
 * config (a bad one is a usage error, exit 2, naming the key), connects to NATS (waiting up to
 * `nats.connectTimeoutMs` for it), starts the listeners, the admin API and the registry
 * following, and logs `{"msg":"gateway started",…,"listeners":[…],"adminPort":N}`.
 *
 * - SIGHUP reloads the config (so does saving the file); a failed reload keeps the old one.
 * - SIGTERM or SIGINT stop gracefully: the gateway leaves the registry, stops accepting, lets
 *   requests in flight finish (up to `gateway.shutdownGraceMs`), closes, and exits 0. A second
 *   signal, or a stop taking much longer than the grace period, exits 1 at once.
 * - Re-executed under a GC mode (cli/gateway-runtime.ts), it stops the same way when the
 *   parent `roster` process goes away.
 */

import { type Command, Option } from 'commander';
import {
  loadConfigFile,
  natsBusOptionsFor,
  type RunningGateway,
  startGateway,
} from '../../gateway/index.js';
import { createLogger, type Logger, type NatsBus } from '../../transport/index.js';
import { defaultProcessMetrics, MetricsRegistry } from '../../transport/metrics.js';
import { connectWithRetry } from '../connect.js';
import { stopWhenParentGoes } from '../gateway-runtime.js';
import { stopOnSignals } from '../lifecycle.js';
import { type LogLevel, parseLogLevel, parseReadableFile } from '../options.js';

export interface GatewayCommandOptions {
  config: string;
  logLevel: LogLevel;
}

export function registerGatewayCommand(program: Command): Command {
  return program
    .command('gateway')
    .description('run the API gateway: routes from its config file and from the registry')
    .addOption(
      new Option('-c, --config <file>', 'the gateway config (YAML or JSON; see docs/gateway.md)')
        .env('ROSTER_GATEWAY_CONFIG')
        .argParser(parseReadableFile)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
        .env('ROSTER_LOG_LEVEL')
        .argParser(parseLogLevel)
        .default('info'),
    )
    .action(async (options: GatewayCommandOptions) => {
      await runGateway(options);
    });
}

/** Runs a gateway until a stop signal; resolves after a clean stop. */
export async function runGateway(options: GatewayCommandOptions): Promise<void> {
  // A bad config is a usage error (ROSTER_ERR_CONFIG, exit 2) before anything starts.
  const { config } = loadConfigFile(options.config);
  const logger = createLogger({ level: options.logLevel });
  const graceMs = config.gateway.shutdownGraceMs;
  const stop = stopOnSignals({
    // SIGHUP reloads (gateway/config-watcher.ts) instead of stopping.
    signals: ['SIGINT', 'SIGTERM'],
    graceMs: graceMs + 15_000,
    onForce: (reason) => logger.fatal(reason),
  });
  stopWhenParentGoes();
  // Process gauges (memory, event-loop lag) belong to the process, as for `roster node`.
  const metrics = new MetricsRegistry();
  const processMetrics = defaultProcessMetrics(metrics);
  let bus: NatsBus | undefined;
  let running: RunningGateway | undefined;
  let closing = false;
  // Until the gateway's own SIGHUP handler (reload) is installed, a SIGHUP must not kill us.
  const earlyHup = (): void => logger.info('SIGHUP while starting: nothing to reload yet');
  process.on('SIGHUP', earlyHup);
  try {
    try {
      bus = await connectWithRetry(
        { ...natsBusOptionsFor(config.nats, `${config.gateway.name}`), logger },
        { timeoutMs: config.nats.connectTimeoutMs, logger, signal: stop.signal },
      );
    } catch (err) {
      if (stop.signal.aborted) return; // stopped while waiting for NATS
      throw err;
    }
    const lost = busLost(bus, logger, () => stop.signal.aborted || closing);
    const started = startGateway(options.config, { logger, bus, reloadSignal: 'SIGHUP', metrics });
    const outcome = await Promise.race([
      started.then((g) => {
        running = g;
        process.off('SIGHUP', earlyHup);
        return 'started' as const;
      }),
      stop.requested.then(() => 'stopped' as const),
      lost,
    ]);
    if (outcome === 'stopped') {
      // Stopped during start: let the start finish (or fail), then close what it made.
      running = await started.catch(() => undefined);
    } else {
      await Promise.race([stop.requested, lost]);
    }
  } finally {
    closing = true;
    stop.stopping();
    process.off('SIGHUP', earlyHup);
    const g = running as RunningGateway | undefined;
    await g?.close().catch((err: unknown) => logger.error({ err }, 'closing the gateway failed'));
    await bus?.close().catch((err: unknown) => logger.error({ err }, 'closing the bus failed'));
    stop.dispose();
    processMetrics.close();
    if (g) logger.info({ gateway: g.id }, 'gateway exited');
  }
}

/** Rejects when the bus closes for good while the gateway runs (a supervisor should restart us). */
function busLost(bus: NatsBus, logger: Logger, expected: () => boolean): Promise<never> {
  const lost = new Promise<never>((_resolve, reject) => {
    bus.onStatus((status) => {
      if (status.type !== 'closed' || expected()) return;
      const reason = status.error?.message ?? 'closed by the server';
      logger.error({ reason }, 'NATS connection lost for good');
      reject(new Error(`NATS connection lost: ${reason}`));
    });
  });
  lost.catch(() => undefined); // observed through Promise.race; never an unhandled rejection
  return lost;
}
