/**
 * The production Bus, over core NATS with `@nats-io/transport-node` v3 (docs/adr/0001).
 *
 * - Subscriptions use callbacks, not async iterators: no per-message promise, no queueing.
 * - Client errors are mapped to RosterError codes here, so nothing above transport/ ever
 *   sees a nats.js error class.
 * - The payload limit is the connected server's `max_payload`, checked before sending so an
 *   oversized message is a typed error instead of a protocol error that kills the connection.
 * - Reconnection is forever by default: pools keep their last known state while NATS is away
 *   and the client re-subscribes everything when it comes back.
 * - How to connect (servers, credentials, TLS) is NatsBusOptions, in nats-options.ts.
 */

import {
  connect,
  createInbox,
  errors,
  type Msg,
  type NatsConnection,
  type Status,
  type Subscription,
} from '@nats-io/transport-node';
import { type ErrorCode, RosterError } from '../protocol/errors.js';
import type {
  Bus,
  BusCapabilities,
  BusMessage,
  BusStatus,
  BusSubscription,
  MessageHandler,
  RequestOptions,
  ScatterOptions,
  StatusListener,
  SubscribeOptions,
} from './bus.js';
import { type Logger, silentLogger } from './logger.js';
import { buildConnectionOptions, DEFAULT_SERVER, type NatsBusOptions } from './nats-options.js';
import { quietTimer } from './quiet-timer.js';
import { isValidPublishSubject, isValidSubscribeSubject } from './subject-match.js';
import { checkMillis } from './validate.js';

/** A Bus over NATS. `raw` is the underlying connection for advanced use. */
export interface NatsBus extends Bus {
  readonly kind: 'nats';
  readonly raw: NatsConnection;
  /** max_payload of the connected server (bytes); Infinity while unknown. */
  readonly maxPayload: number;
  /** URL of the server currently connected to. */
  readonly server: string;
}

const DEFAULT_DRAIN_TIMEOUT = 5000;

const natsCapabilities: BusCapabilities = Object.freeze({
  brokered: true,
  nativeQueueGroups: true,
  nativeRequest: true,
  crossProcess: true,
});

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : '';
}

/**
 * The RosterError code for an error of the NATS client. v3 signals request failures as a
 * TimeoutError, or a RequestError whose cause is a NoRespondersError (isNoResponders()); the
 * other failures have one class each. Classes are checked first, names as a fallback in case
 * two copies of nats-core are loaded.
 */
function codeFor(err: unknown): ErrorCode {
  if (err instanceof errors.TimeoutError) return 'ROSTER_ERR_TIMEOUT';
  if (err instanceof errors.NoRespondersError) return 'ROSTER_ERR_NO_RESPONDERS';
  if (err instanceof errors.RequestError) {
    if (err.isNoResponders()) return 'ROSTER_ERR_NO_RESPONDERS';
    const cause = err.cause;
    if (cause !== undefined && cause !== err) return codeFor(cause);
    return err.message.includes('disconnect') ? 'ROSTER_ERR_NOT_CONNECTED' : 'ROSTER_ERR_INTERNAL';
  }
  const message = err instanceof Error ? err.message : '';
  switch (errorName(err)) {
    case 'TimeoutError':
      return 'ROSTER_ERR_TIMEOUT';
    case 'NoResponders':
    case 'NoRespondersError':
      return 'ROSTER_ERR_NO_RESPONDERS';
    case 'RequestError': {
      const cause = (err as Error).cause;
      if (cause !== undefined && cause !== err) return codeFor(cause);
      return message.includes('disconnect') ? 'ROSTER_ERR_NOT_CONNECTED' : 'ROSTER_ERR_INTERNAL';
    }
    case 'ClosedConnectionError':
    case 'DrainingConnectionError':
      return 'ROSTER_ERR_BUS_CLOSED';
    case 'AuthorizationError':
    case 'UserAuthenticationExpiredError':
      return 'ROSTER_ERR_UNAUTHORIZED';
    case 'PermissionViolationError':
      return 'ROSTER_ERR_FORBIDDEN';
    case 'ConnectionError':
      return 'ROSTER_ERR_NOT_CONNECTED';
    case 'InvalidSubjectError':
      return 'ROSTER_ERR_INVALID_SUBJECT';
    case 'InvalidArgumentError':
      return message.includes('max_payload')
        ? 'ROSTER_ERR_MESSAGE_TOO_LARGE'
        : 'ROSTER_ERR_INVALID_ARGUMENT';
    default:
      return 'ROSTER_ERR_INTERNAL';
  }
}

/** Maps an error from the NATS client to a RosterError (a RosterError passes through). */
export function toRosterError(
  err: unknown,
  context: Record<string, string | number> = {},
): RosterError {
  if (err instanceof RosterError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RosterError(codeFor(err), message, context, { cause: err });
}

/** A 503 status with no body: the server's "no responders" answer to a request. */
function isNoRespondersStatus(msg: Msg): boolean {
  return msg.data.length === 0 && msg.headers?.code === 503;
}

class NatsMessage implements BusMessage {
  readonly #msg: Msg;
  readonly #bus: NatsBusImpl;

  constructor(bus: NatsBusImpl, msg: Msg) {
    this.#bus = bus;
    this.#msg = msg;
  }

  get subject(): string {
    return this.#msg.subject;
  }

  get data(): Uint8Array {
    return this.#msg.data;
  }

  get reply(): string | undefined {
    return this.#msg.reply || undefined;
  }

  respond(data: Uint8Array): boolean {
    const reply = this.#msg.reply;
    if (!reply) return false;
    this.#bus.publish(reply, data);
    return true;
  }
}

interface BusSettings {
  readonly drainTimeoutMs?: number | undefined;
  readonly inboxPrefix?: string | undefined;
}

class NatsBusImpl implements NatsBus {
  readonly kind = 'nats' as const;
  readonly capabilities = natsCapabilities;
  readonly raw: NatsConnection;
  readonly #log: Logger;
  readonly #listeners = new Set<StatusListener>();
  readonly #drainTimeoutMs: number;
  readonly #inboxPrefix: string | undefined;
  #open = true;
  #closing: Promise<void> | undefined;
  #closedEmitted = false;

  constructor(nc: NatsConnection, log: Logger, settings: BusSettings) {
    this.raw = nc;
    this.#log = log;
    this.#drainTimeoutMs = settings.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT;
    this.#inboxPrefix = settings.inboxPrefix;
    void this.#watchStatus();
    nc.closed().then(
      (err) => this.#onClosed(err instanceof Error ? err : undefined),
      (err: unknown) => this.#onClosed(err instanceof Error ? err : new Error(String(err))),
    );
  }

  get isOpen(): boolean {
    return this.#open && !this.raw.isClosed();
  }

  get maxPayload(): number {
    return this.raw.info?.max_payload ?? Number.POSITIVE_INFINITY;
  }

  get server(): string {
    return this.raw.getServer();
  }

  publish(subject: string, data: Uint8Array, replyTo?: string): void {
    this.#checkPublish(subject, data, replyTo);
    try {
      if (replyTo === undefined) this.raw.publish(subject, data);
      else this.raw.publish(subject, data, { reply: replyTo });
    } catch (err) {
      throw toRosterError(err, { subject });
    }
  }

  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): BusSubscription {
    if (!this.isOpen) throw new RosterError('ROSTER_ERR_BUS_CLOSED');
    if (!isValidSubscribeSubject(subject)) {
      throw new RosterError(
        'ROSTER_ERR_INVALID_SUBJECT',
        `Invalid subscription subject: ${subject}`,
      );
    }
    const queue = options?.queue;
    if (queue !== undefined && !isValidPublishSubject(queue)) {
      throw new RosterError('ROSTER_ERR_INVALID_ARGUMENT', `Invalid queue group name: ${queue}`);
    }
    let sub: Subscription;
    try {
      sub = this.raw.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) {
            this.#log.error({ err, subject, queue }, 'subscription error');
            this.#emit({ type: 'error', error: toRosterError(err, { subject }) });
            return;
          }
          try {
            handler(new NatsMessage(this, msg));
          } catch (handlerErr) {
            // A throwing handler must not reach the client's parser (it would kill the link).
            this.#log.error({ err: handlerErr, subject }, 'message handler threw');
          }
        },
      });
    } catch (err) {
      throw toRosterError(err, { subject });
    }
    return {
      subject,
      queue,
      unsubscribe: () => {
        if (sub.isClosed()) return;
        try {
          sub.unsubscribe();
        } catch {
          // the connection is closed: nothing left to stop
        }
      },
    };
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<BusMessage> {
    this.#checkPublish(subject, data, undefined);
    checkMillis('timeoutMs', options.timeoutMs);
    try {
      const msg = await this.raw.request(subject, data, { timeout: options.timeoutMs });
      return new NatsMessage(this, msg);
    } catch (err) {
      const mapped = toRosterError(err, { subject, timeoutMs: options.timeoutMs });
      if (mapped.code === 'ROSTER_ERR_INTERNAL' && !this.isOpen) {
        throw new RosterError('ROSTER_ERR_BUS_CLOSED', undefined, { subject }, { cause: err });
      }
      throw mapped;
    }
  }

  async scatter(subject: string, data: Uint8Array, options: ScatterOptions): Promise<BusMessage[]> {
    this.#checkPublish(subject, data, undefined);
    checkMillis('deadlineMs', options.deadlineMs);
    const max = options.maxReplies;
    if (max !== undefined && max <= 0) return [];
    const inbox = this.createInbox();
    const replies: BusMessage[] = [];
    let done = false;
    let resolveFinished: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      resolveFinished = resolve;
    });
    const finish = (): void => {
      done = true;
      resolveFinished();
    };
    let sub: Subscription;
    try {
      sub = this.raw.subscribe(inbox, {
        callback: (err, msg) => {
          if (done) return;
          if (err) {
            this.#log.warn({ err, subject }, 'scatter inbox error');
            finish();
          } else if (isNoRespondersStatus(msg)) {
            finish(); // nobody listens: no replies, at once
          } else {
            replies.push(new NatsMessage(this, msg));
            if (max !== undefined && replies.length >= max) finish();
            else quiet.arm(replies.length);
          }
        },
      });
    } catch (err) {
      throw toRosterError(err, { subject });
    }
    const quiet = quietTimer(options, finish);
    const timer = setTimeout(finish, options.deadlineMs);
    try {
      this.raw.publish(subject, data, { reply: inbox });
      await finished;
    } catch (err) {
      throw toRosterError(err, { subject });
    } finally {
      clearTimeout(timer);
      if (!sub.isClosed()) {
        try {
          sub.unsubscribe();
        } catch {
          // closed meanwhile
        }
      }
    }
    return replies;
  }

  createInbox(): string {
    return createInbox(this.#inboxPrefix);
  }

  async flush(): Promise<void> {
    if (!this.isOpen) throw new RosterError('ROSTER_ERR_BUS_CLOSED');
    try {
      await this.raw.flush();
    } catch (err) {
      throw toRosterError(err);
    }
  }

  onStatus(listener: StatusListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    this.#open = false;
    const nc = this.raw;
    if (nc.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#drainTimeoutMs);
    });
    try {
      const result = await Promise.race([nc.drain().then(() => 'drained' as const), timedOut]);
      if (result === 'timeout') {
        this.#log.warn({ timeoutMs: this.#drainTimeoutMs }, 'drain timed out, closing');
        await nc.close();
      }
    } catch (err) {
      this.#log.debug({ err }, 'drain failed, closing');
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
    await nc.closed();
  }

  #checkPublish(subject: string, data: Uint8Array, replyTo: string | undefined): void {
    if (!this.#open || this.raw.isClosed()) throw new RosterError('ROSTER_ERR_BUS_CLOSED');
    if (!isValidPublishSubject(subject)) {
      throw new RosterError('ROSTER_ERR_INVALID_SUBJECT', `Invalid publish subject: ${subject}`);
    }
    if (replyTo !== undefined && !isValidPublishSubject(replyTo)) {
      throw new RosterError('ROSTER_ERR_INVALID_SUBJECT', `Invalid reply subject: ${replyTo}`);
    }
    const max = this.maxPayload;
    if (data.length > max) {
      throw new RosterError('ROSTER_ERR_MESSAGE_TOO_LARGE', undefined, {
        subject,
        size: data.length,
        maxPayload: max,
      });
    }
  }

  async #watchStatus(): Promise<void> {
    try {
      for await (const s of this.raw.status()) {
        const status = this.#translate(s);
        if (status !== undefined) this.#emit(status);
      }
    } catch (err) {
      this.#log.debug({ err }, 'status iterator ended');
    }
  }

  #translate(s: Status): BusStatus | undefined {
    switch (s.type) {
      case 'disconnect':
        this.#log.warn({ server: s.server }, 'disconnected');
        return { type: 'disconnect', server: s.server };
      case 'reconnecting':
        this.#log.debug('reconnecting');
        return { type: 'reconnecting' };
      case 'reconnect':
        this.#log.info({ server: s.server }, 'reconnected');
        return { type: 'reconnect', server: s.server };
      case 'ldm':
        this.#log.warn({ server: s.server }, 'server entered lame duck mode');
        return { type: 'lameDuck', server: s.server };
      case 'slowConsumer':
        this.#log.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'slow consumer');
        return { type: 'slowConsumer', subject: s.sub.getSubject() };
      case 'error':
        this.#log.error({ err: s.error }, 'connection error');
        return { type: 'error', error: toRosterError(s.error) };
      case 'close':
        // reported once, from closed(), which also carries the reason
        return undefined;
      default:
        // update, ping, staleConnection, forceReconnect: informational
        this.#log.debug({ status: s.type }, 'connection status');
        return undefined;
    }
  }

  #onClosed(error: Error | undefined): void {
    this.#open = false;
    if (this.#closedEmitted) return;
    this.#closedEmitted = true;
    if (error) this.#log.warn({ err: error }, 'connection closed');
    else this.#log.debug('connection closed');
    this.#emit(error ? { type: 'closed', error: toRosterError(error) } : { type: 'closed' });
    this.#listeners.clear();
  }

  #emit(status: BusStatus): void {
    for (const listener of this.#listeners) {
      try {
        listener(status);
      } catch (err) {
        this.#log.error({ err, status: status.type }, 'status listener threw');
      }
    }
  }
}

/**
 * Connects to NATS and returns the bus once the first connection is up. Fails with
 * ROSTER_ERR_UNAUTHORIZED on bad credentials and ROSTER_ERR_NOT_CONNECTED when no server is
 * reachable (unless waitOnFirstConnect).
 */
export async function connectNatsBus(options: NatsBusOptions = {}): Promise<NatsBus> {
  const log = (options.logger ?? silentLogger).child({ component: 'bus', bus: 'nats' });
  let nc: NatsConnection;
  try {
    nc = await connect(buildConnectionOptions(options));
  } catch (err) {
    const context = { servers: String(options.servers ?? DEFAULT_SERVER) };
    const mapped = toRosterError(err, context);
    // A failed first connection is "not connected" unless the server refused our credentials
    // (a TLS failure surfaces as a connect timeout or a socket error).
    if (mapped.code === 'ROSTER_ERR_UNAUTHORIZED' || mapped.code === 'ROSTER_ERR_NOT_CONNECTED') {
      throw mapped;
    }
    throw new RosterError('ROSTER_ERR_NOT_CONNECTED', mapped.message, context, { cause: err });
  }
  log.info({ server: nc.getServer(), maxPayload: nc.info?.max_payload }, 'connected to NATS');
  return new NatsBusImpl(nc, log, options);
}

/**
 * Wraps a connection made elsewhere. The bus takes ownership: its close() drains and closes
 * the connection.
 */
export function natsBusFromConnection(
  nc: NatsConnection,
  options: {
    readonly logger?: Logger;
    readonly drainTimeoutMs?: number;
    /** The inboxPrefix the connection was made with, if any. */
    readonly inboxPrefix?: string;
  } = {},
): NatsBus {
  const log = (options.logger ?? silentLogger).child({ component: 'bus', bus: 'nats' });
  return new NatsBusImpl(nc, log, options);
}
