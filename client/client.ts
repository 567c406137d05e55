/**
 * RosterClient: what a service imports to register itself and discover others.
 */
import { randomBytes } from 'node:crypto';
import {
  assertServiceName,
  decodeAs,
  encodeTrusted,
  type HealthCheck,
  INSTANCE_STATUSES,
  type Instance,
  InstanceInput,
  type InstanceStatus,
  Limits,
  RosterError,
  Subjects,
} from '../protocol/index.js';
import type { Bus } from '../transport/bus.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import { connectNatsBus } from '../transport/nats-bus.js';
import type { NatsBusOptions } from '../transport/nats-options.js';
import { compileFilter, type InstanceFilter } from './filter.js';
import { Pool, type PoolOptions } from './pool.js';
import { Registration } from './registration.js';
import { ClientSession } from './session.js';
import { ServiceWatch, type WatchOptions } from './watch.js';

export interface ConnectOptions {
  /** NATS servers (ignored when `bus` is given). */
  readonly servers?: string | readonly string[];
  /** An existing bus; the client does not close it. */
  readonly bus?: Bus;
  /** Further NATS options (auth, TLS) when the client connects itself. */
  readonly nats?: Omit<NatsBusOptions, 'servers'>;
  /** Session TTL (default 6000 ms): a crashed process's instances leave within TTL + 1 s. */
  readonly ttlMs?: number;
  /** A name for this process, shown with its session. */
  readonly name?: string;
  readonly prefix?: string;
  readonly logger?: Logger;
  readonly requestTimeoutMs?: number;
}

export interface CloseOptions {
  /** Mark instances draining and wait up to this long before deregistering (default 0). */
  readonly drainMs?: number;
  /** Ends the drain wait early once it returns 0 (requests still being served). */
  readonly inFlight?: () => number;
}

export interface RegisterInput {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  /** Stable id; a random one when absent. */
  readonly id?: string;
  readonly scheme?: 'http' | 'https' | 'tcp' | 'grpc' | 'ws' | 'wss';
  readonly tags?: string[];
  readonly meta?: Record<string, string>;
  readonly weight?: number;
  readonly zone?: string;
  readonly version?: string;
  readonly status?: InstanceStatus;
  readonly check?: HealthCheck;
}

export class RosterClient implements AsyncDisposable {
  readonly subjects: Subjects;
  readonly session: ClientSession;
  private readonly watches = new Set<ServiceWatch>();
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly bus: Bus,
    private readonly ownsBus: boolean,
    options: ConnectOptions,
  ) {
    this.subjects = new Subjects(options.prefix);
    this.logger = (options.logger ?? silentLogger).child({ component: 'client' });
    this.requestTimeoutMs = options.requestTimeoutMs ?? 2000;
    const ttlMs = checkTtl(options.ttlMs);
    this.session = new ClientSession(
      bus,
      this.subjects,
      {
        ttlMs,
        requestTimeoutMs: this.requestTimeoutMs,
        ...(options.name ? { name: options.name } : {}),
      },
      this.logger,
    );
  }

  /** Registers an instance of this process; resolves once a registry node acknowledged it. */
  async register(input: RegisterInput): Promise<Registration> {
    this.assertOpen();
    assertServiceName(input.service);
    const instance = InstanceInput.parse(
      {
        tags: [],
        meta: {},
        weight: 1,
        ...input,
        id: input.id ?? `${input.service}-${randomBytes(6).toString('hex')}`,
      },
      'instance',
    );
    const reply = await this.session.register(instance);
    return new Registration(this.session, instance, reply.ownerNode);
  }

  /** The instances of a service, asked of the cluster now (query discovery). */
  async discover(service: string, filter?: InstanceFilter): Promise<Instance[]> {
    this.assertOpen();
    const out: Instance[] = [];
    let cursor: string | undefined;
    do {
      const reply = decodeAs(
        (
          await this.bus.request(
            this.subjects.query(service),
            encodeTrusted('queryRequest', cursor === undefined ? { service } : { service, cursor }),
            { timeoutMs: this.requestTimeoutMs },
          )
        ).data,
        'queryReply',
      );
      out.push(...reply.instances);
      cursor = reply.next;
    } while (cursor !== undefined);
    if (filter === undefined) return out;
    const match = compileFilter({ statuses: [...INSTANCE_STATUSES], ...filter });
    return out.filter(match);
  }

  /** Watches a service: the current set, then every change (list+watch). */
  async watch(service: string, options: WatchOptions = {}): Promise<ServiceWatch> {
    this.assertOpen();
    const w = new ServiceWatch(this.bus, this.subjects, service, this.logger, {
      requestTimeoutMs: this.requestTimeoutMs,
      ...options,
    });
    await w.start();
    this.watches.add(w);
    return w;
  }

  /**
   * A load-balancing pool over a new watch of `service` (the watch is closed with the pool).
   * Bad options reject with ROSTER_ERR_INVALID_ARGUMENT (and the watch is closed again).
   */
  async pool(
    service: string,
    options: PoolOptions & { readonly watch?: WatchOptions } = {},
  ): Promise<Pool> {
    this.assertOpen();
    const w = await this.watch(service, options.watch ?? {});
    try {
      return new Pool(w, options, true);
    } catch (err) {
      await w.close();
      throw err;
    }
  }

  /**
   * Drains (when `drainMs` > 0: every instance is marked draining, then in-flight work gets
   * up to drainMs to finish), deregisters everything and waits for the cluster's
   * acknowledgement, stops watches and, if the client made it, closes the bus.
   */
  close(options: CloseOptions = {}): Promise<void> {
    // Every caller waits for the same close (a SIGTERM during a close must not cut it short).
    this.closing ??= this.closeOnce(options);
    return this.closing;
  }

  private async closeOnce(options: CloseOptions): Promise<void> {
    this.closed = true;
    const drainMs = options.drainMs ?? 0;
    if (drainMs > 0 && this.session.instanceCount > 0) {
      try {
        await this.session.drainAll();
        const until = Date.now() + drainMs;
        while (Date.now() < until && (options.inFlight?.() ?? 1) > 0) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(25, until - Date.now())));
        }
      } catch (err) {
        this.logger.warn({ err }, 'draining failed; deregistering now');
      }
    }
    await this.session.close();
    for (const w of this.watches) await w.close();
    if (this.ownsBus) await this.bus.close();
  }

  /**
   * Opt-in: on SIGTERM or SIGINT, close (draining first) and exit. Returns a function that
   * removes the handlers.
   */
  closeOnSignals(
    options: CloseOptions & { signals?: NodeJS.Signals[]; exit?: boolean } = {},
  ): () => void {
    const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
    const handler = (signal: NodeJS.Signals) => {
      this.logger.info({ signal }, 'signal received: draining and deregistering');
      this.close(options).then(
        () => {
          if (options.exit ?? true) process.exit(0);
        },
        (err: unknown) => {
          this.logger.error({ err }, 'closing on signal failed');
          if (options.exit ?? true) process.exit(1);
        },
      );
    };
    for (const s of signals) process.once(s, handler);
    return () => {
      for (const s of signals) process.off(s, handler);
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new RosterError('ROSTER_ERR_BUS_CLOSED', 'the Roster client is closed');
  }
}

function checkTtl(ttlMs: number = Limits.defaultTtlMs): number {
  if (!Number.isInteger(ttlMs) || ttlMs < Limits.minTtlMs || ttlMs > Limits.maxTtlMs) {
    throw new RosterError(
      'ROSTER_ERR_INVALID_ARGUMENT',
      `ttlMs must be an integer within ${Limits.minTtlMs}..${Limits.maxTtlMs}`,
      {
        path: 'ttlMs',
      },
    );
  }
  return ttlMs;
}

/** Connects to NATS (or uses the given bus) and returns a client. */
export async function connect(options: ConnectOptions = {}): Promise<RosterClient> {
  checkTtl(options.ttlMs); // before connecting: a bad option must not leave a connection open
  if (options.bus) return new RosterClient(options.bus, false, options);
  const bus = await connectNatsBus({
    ...options.nats,
    ...(options.servers ? { servers: options.servers } : {}),
    ...(options.name ? { name: options.name } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return new RosterClient(bus, true, options);
}
