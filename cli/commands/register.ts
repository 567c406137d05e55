/**
 * `roster register`: registers one instance of an external service (one that does not embed the
 * client library: a database, a legacy process, a sidecar's neighbour) and keeps it alive, by
 * renewing its session, for as long as the command runs. Ctrl-C or SIGTERM deregister it (the
 * cluster acknowledges before the command exits 0); if the command is killed, the instance
 * leaves every pool within its session TTL plus a second. With --check-http or --check-tcp the
 * owning registry node probes the instance and sets its status.
 */

import type { Command } from 'commander';
import { connect, type RegisterInput, type RosterClient } from '../../client/index.js';
import {
  type HealthCheck,
  type InstanceStatus,
  isRosterError,
  RosterError,
} from '../../protocol/index.js';
import type { NatsBus } from '../../transport/index.js';
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

export interface RegisterCommandOptions extends ClientCommandOptions {
  service: string;
  host: string;
  port: number;
  id?: string;
  tag: string[];
  meta: Record<string, string>;
  weight: number;
  ttlMs: number;
  scheme?: RegisterInput['scheme'];
  zone?: string;
  serviceVersion?: string;
  status?: InstanceStatus;
  checkHttp?: string;
  checkTcp: boolean;
  checkIntervalMs: number;
  checkTimeoutMs: number;
  connectTimeoutMs: number;
}

export function registerRegisterCommand(program: Command): Command {
  const command = program
    .command('register')
    .description(
      'register one instance of an external service and keep it alive until the command stops (Ctrl-C or SIGTERM deregisters it)',
    );
  addConnectionOptions(command, 'register');
  configure(command, 'register').action(async (options: RegisterCommandOptions) => {
    await runRegister(options);
  });
  command.addHelpText(
    'after',
    '\nExample:\n  roster register --service payments --host 10.0.0.7 --port 8080 \\\n' +
      '    --tag eu --meta roster.route.path-prefix=/payments --check-http /health',
  );
  return command;
}

/** `<service>-<host>-<port>`, with the characters an id may not hold replaced by `-`. */
export function defaultInstanceId(service: string, host: string, port: number): string {
  return `${service}-${host}-${port}`.replace(/[^A-Za-z0-9_:.-]/g, '-').slice(0, 128);
}

export function registrationInput(options: RegisterCommandOptions): RegisterInput {
  let check: HealthCheck | undefined;
  if (options.checkHttp !== undefined) {
    check = {
      kind: 'http',
      path: options.checkHttp,
      intervalMs: options.checkIntervalMs,
      timeoutMs: options.checkTimeoutMs,
    };
  } else if (options.checkTcp) {
    check = { kind: 'tcp', intervalMs: options.checkIntervalMs, timeoutMs: options.checkTimeoutMs };
  }
  return {
    service: options.service,
    host: options.host,
    port: options.port,
    id: options.id ?? defaultInstanceId(options.service, options.host, options.port),
    tags: options.tag,
    meta: options.meta,
    weight: options.weight,
    ...(options.scheme !== undefined ? { scheme: options.scheme } : {}),
    ...(options.zone !== undefined ? { zone: options.zone } : {}),
    ...(options.serviceVersion !== undefined ? { version: options.serviceVersion } : {}),
    ...(options.status !== undefined ? { status: options.status } : {}),
    ...(check !== undefined ? { check } : {}),
  };
}

export async function runRegister(options: RegisterCommandOptions): Promise<void> {
  const input = registrationInput(options);
  const logger = stderrLogger(options.logLevel);
  const subjects = subjectsOf(options);
  const stop = stopOnSignals({
    onForce: (reason) => process.stderr.write(`roster register: ${reason}\n`),
  });
  let bus: NatsBus | undefined;
  let client: RosterClient | undefined;
  try {
    try {
      bus = await openBus(options, {
        name: `roster-register-${input.service}`,
        logger,
        signal: stop.signal,
      });
    } catch (err) {
      if (stop.signal.aborted) return;
      throw err;
    }
    // NATS reports a refused publish asynchronously; keep the last one to explain a failure.
    let refused: RosterError | undefined;
    let closedBy: string | undefined;
    bus.onStatus((status) => {
      if (status.type === 'error' && isRosterError(status.error, 'ROSTER_ERR_FORBIDDEN')) {
        refused = status.error;
      } else if (status.type === 'closed') {
        closedBy = status.error?.message ?? 'closed';
      }
    });
    client = await connect({
      bus,
      prefix: options.prefix,
      ttlMs: options.ttlMs,
      requestTimeoutMs: options.timeoutMs,
      name: `roster register ${input.service}`,
      logger,
    });
    const registering = client.register(input);
    const first = await Promise.race([
      registering.then(
        (registration) => ({ kind: 'registered' as const, registration }),
        (error: unknown) => ({ kind: 'failed' as const, error }),
      ),
      stop.requested.then(() => ({ kind: 'stopped' as const })),
    ]);
    if (first.kind === 'stopped') return;
    if (first.kind === 'failed') {
      const reason =
        refused ?? (isRosterError(first.error, 'ROSTER_ERR_FORBIDDEN') ? first.error : undefined);
      if (reason !== undefined) {
        throw new RosterError(
          'ROSTER_ERR_FORBIDDEN',
          `registration of ${input.service} refused by NATS: ${reason.message} (this NATS user may not register ${input.service})`,
          { service: input.service },
          { cause: first.error },
        );
      }
      throw clusterError(first.error, subjects.register(input.service), options.prefix);
    }
    const registration = first.registration;
    print(
      `registered ${input.service}/${registration.id} at ${input.host}:${input.port} ` +
        `(owner ${registration.ownerNode}, session TTL ${options.ttlMs} ms); ` +
        'Ctrl-C or SIGTERM deregisters it',
    );
    const lost = new Promise<'lost'>((resolve) => {
      const timer = setInterval(() => {
        if (closedBy !== undefined) {
          clearInterval(timer);
          resolve('lost');
        }
      }, 250);
      timer.unref();
      void stop.requested.then(() => clearInterval(timer));
    });
    const outcome = await Promise.race([stop.requested, lost]);
    if (outcome === 'lost') {
      throw new Error(
        `NATS connection lost (${closedBy}); ${input.service}/${registration.id} expires within its TTL`,
      );
    }
    stop.stopping();
    await client.close();
    print(`deregistered ${input.service}/${registration.id}`);
  } finally {
    stop.stopping();
    await client?.close().catch((err: unknown) => logger.warn({ err }, 'deregistering failed'));
    await bus?.close().catch(() => undefined);
    stop.dispose();
  }
}
