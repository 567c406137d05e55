/**
 * The in-process bus: a MemoryBroker shared by any number of MemoryBus instances in one
 * process. For unit tests of pure logic only (DESIGN.md, "Conventions"); anything that
 * crosses the wire is tested against real nats-server processes.
 *
 * It follows core NATS semantics closely enough that the bus conformance suite passes against
 * it: subject wildcards, queue groups, request/reply with no-responders, at-most-once delivery,
 * asynchronous delivery that preserves each publisher's order, a payload limit, status events.
 */

import { randomBytes } from 'node:crypto';
import { RosterError } from '../protocol/errors.js';
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
import { quietTimer } from './quiet-timer.js';
import { isValidPublishSubject, isValidSubscribeSubject, subjectMatches } from './subject-match.js';
import { checkMillis } from './validate.js';

/** How a queue group picks the member that gets a message. */
export type QueueStrategy = 'random' | 'roundRobin';

export interface MemoryBrokerOptions {
  /** Largest payload accepted, in bytes (default 1 MiB, like nats-server). */
  readonly maxPayload?: number;
  /** Queue group member selection (default 'random', like nats-server). */
  readonly queueStrategy?: QueueStrategy;
  /** Pause between the 'disconnect' and 'reconnect' events of restart() (default 10 ms). */
  readonly restartDelayMs?: number;
  readonly logger?: Logger;
}

export interface MemoryBusOptions {
  /** A name for logs. */
  readonly name?: string;
}

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const INBOX_PREFIX = '_INBOX.';

const memoryCapabilities: BusCapabilities = Object.freeze({
  brokered: true,
  nativeQueueGroups: true,
  nativeRequest: true,
  crossProcess: false,
});

interface MemorySub {
  readonly bus: MemoryBus;
  readonly subject: string;
  readonly queue: string | undefined;
  readonly handler: MessageHandler;
  active: boolean;
}

interface Delivery {
  readonly sub: MemorySub;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply: string | undefined;
}

let inboxCounter = 0;
const inboxBase = randomBytes(8).toString('hex');

function nextToken(): string {
  inboxCounter = (inboxCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${inboxBase}${inboxCounter.toString(36)}`;
}

function closedError(): RosterError {
  return new RosterError('ROSTER_ERR_BUS_CLOSED');
}

/**
 * The shared "server". Routes each publish to matching subscriptions at publish time (like
 * nats-server) and delivers them later, from one FIFO queue drained on setImmediate, so a
 * publisher never re-enters its own handlers and per-publisher order is preserved.
 */
export class MemoryBroker {
  readonly maxPayload: number;
  readonly #queueStrategy: QueueStrategy;
  readonly #restartDelayMs: number;
  readonly #log: Logger;
  readonly #subs = new Set<MemorySub>();
  readonly #buses = new Set<MemoryBus>();
  readonly #roundRobin = new Map<string, number>();
  #queue: Delivery[] = [];
  #scheduled = false;
  #connected = true;
  #closed = false;

  constructor(options: MemoryBrokerOptions = {}) {
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#queueStrategy = options.queueStrategy ?? 'random';
    this.#restartDelayMs = options.restartDelayMs ?? 10;
    this.#log = (options.logger ?? silentLogger).child({ component: 'memory-broker' });
  }

  /** A new bus attached to this broker. */
  connect(options: MemoryBusOptions = {}): MemoryBus {
    if (this.#closed) throw closedError();
    const bus = new MemoryBus(this, options, this.#log);
    this.#buses.add(bus);
    return bus;
  }

  /** False between simulateDisconnect() and simulateReconnect(): publishes are dropped. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Number of live subscriptions (for tests of cleanup). */
  get subscriptionCount(): number {
    return this.#subs.size;
  }

  /**
   * Simulates the server going away: every bus gets 'disconnect' then 'reconnecting', and
   * messages published until simulateReconnect() are lost (core NATS is at-most-once).
   */
  simulateDisconnect(): void {
    if (!this.#connected || this.#closed) return;
    this.#connected = false;
    this.#broadcast({ type: 'disconnect', server: 'memory' });
    this.#broadcast({ type: 'reconnecting' });
  }

  /** Ends a simulated outage: every bus gets 'reconnect'; subscriptions were kept. */
  simulateReconnect(): void {
    if (this.#connected || this.#closed) return;
    this.#connected = true;
    this.#broadcast({ type: 'reconnect', server: 'memory' });
  }

  /** A server restart: disconnect, a short pause, reconnect. */
  async restart(): Promise<void> {
    this.simulateDisconnect();
    await new Promise((resolve) => setTimeout(resolve, this.#restartDelayMs));
    this.simulateReconnect();
  }

  /** Sends a status event (lameDuck, slowConsumer, error…) to every bus, for fault tests. */
  injectStatus(status: BusStatus): void {
    this.#broadcast(status);
  }

  /** Closes every bus attached to the broker. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#buses].map((bus) => bus.close()));
  }

  #broadcast(status: BusStatus): void {
    for (const bus of this.#buses) bus._emitStatus(status);
  }

  /** @internal */
  _addSub(sub: MemorySub): void {
    this.#subs.add(sub);
  }

  /** @internal */
  _removeSub(sub: MemorySub): void {
    sub.active = false;
    this.#subs.delete(sub);
  }

  /** @internal */
  _removeBus(bus: MemoryBus): void {
    this.#buses.delete(bus);
    for (const sub of this.#subs) {
      if (sub.bus === bus) this._removeSub(sub);
    }
  }

  /** @internal Routes one message; returns how many subscriptions it was queued for. */
  _route(subject: string, data: Uint8Array, reply: string | undefined): number {
    if (!this.#connected) return 0;
    let groups: Map<string, MemorySub[]> | undefined;
    let count = 0;
    for (const sub of this.#subs) {
      if (!subjectMatches(sub.subject, subject)) continue;
      if (sub.queue === undefined) {
        this.#enqueue({ sub, subject, data, reply });
        count++;
      } else {
        groups ??= new Map();
        const key = `${sub.subject}\u0000${sub.queue}`;
        const members = groups.get(key);
        if (members === undefined) groups.set(key, [sub]);
        else members.push(sub);
      }
    }
    if (groups !== undefined) {
      for (const [key, members] of groups) {
        const sub = this.#pick(key, members);
        this.#enqueue({ sub, subject, data, reply });
        count++;
      }
    }
    return count;
  }

  #pick(key: string, members: MemorySub[]): MemorySub {
    if (this.#queueStrategy === 'random') {
      return members[Math.floor(Math.random() * members.length)]!;
    }
    const next = this.#roundRobin.get(key) ?? 0;
    this.#roundRobin.set(key, next + 1);
    return members[next % members.length]!;
  }

  #enqueue(delivery: Delivery): void {
    this.#queue.push(delivery);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#drain());
    }
  }

  #drain(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    for (const d of batch) {
      if (!d.sub.active) continue;
      d.sub.bus._deliver(d.sub, d.subject, d.data, d.reply);
    }
  }
}

class MemoryMessage implements BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply: string | undefined;
  readonly #bus: MemoryBus;

  constructor(bus: MemoryBus, subject: string, data: Uint8Array, reply: string | undefined) {
    this.#bus = bus;
    this.subject = subject;
    this.data = data;
    this.reply = reply;
  }

  respond(data: Uint8Array): boolean {
    if (this.reply === undefined) return false;
    this.#bus.publish(this.reply, data);
    return true;
  }
}

/** One client of a MemoryBroker. */
export class MemoryBus implements Bus {
  readonly kind = 'memory';
  readonly capabilities = memoryCapabilities;
  readonly name: string | undefined;
  readonly broker: MemoryBroker;
  readonly #log: Logger;
  readonly #listeners = new Set<StatusListener>();
  readonly #subs = new Set<MemorySub>();
  #open = true;
  #closing: Promise<void> | undefined;

  /** Use MemoryBroker.connect(). */
  constructor(broker: MemoryBroker, options: MemoryBusOptions, log: Logger) {
    this.broker = broker;
    this.name = options.name;
    this.#log = log.child({ component: 'bus', bus: 'memory', name: options.name });
  }

  get isOpen(): boolean {
    return this.#open;
  }

  publish(subject: string, data: Uint8Array, replyTo?: string): void {
    if (!this.#open) throw closedError();
    this.#checkPublish(subject, data, replyTo);
    // A copy, as a socket would make: the publisher may reuse its buffer at once.
    this.broker._route(subject, data.slice(), replyTo);
  }

  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): BusSubscription {
    if (!this.#open) throw closedError();
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
    const sub: MemorySub = { bus: this, subject, queue, handler, active: true };
    this.#subs.add(sub);
    this.broker._addSub(sub);
    return {
      subject,
      queue,
      unsubscribe: () => {
        this.#subs.delete(sub);
        this.broker._removeSub(sub);
      },
    };
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<BusMessage> {
    if (!this.#open) throw closedError();
    this.#checkPublish(subject, data, undefined);
    checkMillis('timeoutMs', options.timeoutMs);
    const inbox = this.createInbox();
    return await new Promise<BusMessage>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sub.unsubscribe();
        fn();
      };
      const sub = this.subscribe(inbox, (msg) => settle(() => resolve(msg)));
      const timer = setTimeout(
        () =>
          settle(() =>
            reject(
              new RosterError('ROSTER_ERR_TIMEOUT', `Request on ${subject} timed out`, {
                subject,
                timeoutMs: options.timeoutMs,
              }),
            ),
          ),
        options.timeoutMs,
      );
      const delivered = this.broker.connected
        ? this.broker._route(subject, data.slice(), inbox)
        : -1;
      if (delivered === 0) {
        // Like nats-server: a 503 status comes back asynchronously when nobody listens.
        setImmediate(() =>
          settle(() =>
            reject(
              new RosterError('ROSTER_ERR_NO_RESPONDERS', `No responders on ${subject}`, {
                subject,
              }),
            ),
          ),
        );
      }
    });
  }

  async scatter(subject: string, data: Uint8Array, options: ScatterOptions): Promise<BusMessage[]> {
    if (!this.#open) throw closedError();
    this.#checkPublish(subject, data, undefined);
    checkMillis('deadlineMs', options.deadlineMs);
    const max = options.maxReplies;
    if (max !== undefined && max <= 0) return [];
    const inbox = this.createInbox();
    return await new Promise<BusMessage[]>((resolve) => {
      const replies: BusMessage[] = [];
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(replies);
      };
      const sub = this.subscribe(inbox, (msg) => {
        if (done) return;
        replies.push(msg);
        if (max !== undefined && replies.length >= max) finish();
        else quiet.arm(replies.length);
      });
      const quiet = quietTimer(options, finish);
      const timer = setTimeout(finish, options.deadlineMs);
      const delivered = this.broker.connected
        ? this.broker._route(subject, data.slice(), inbox)
        : -1;
      if (delivered === 0) setImmediate(finish);
    });
  }

  createInbox(): string {
    return INBOX_PREFIX + nextToken();
  }

  async flush(): Promise<void> {
    if (!this.#open) throw closedError();
    // Everything published so far is already routed; wait for the queued deliveries.
    await new Promise((resolve) => setImmediate(resolve));
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
    // Drain: deliveries already queued for our subscriptions still run, like NATS drain().
    await new Promise((resolve) => setImmediate(resolve));
    for (const sub of this.#subs) this.broker._removeSub(sub);
    this.#subs.clear();
    this.broker._removeBus(this);
    this._emitStatus({ type: 'closed' });
    this.#listeners.clear();
  }

  #checkPublish(subject: string, data: Uint8Array, replyTo: string | undefined): void {
    if (!isValidPublishSubject(subject)) {
      throw new RosterError('ROSTER_ERR_INVALID_SUBJECT', `Invalid publish subject: ${subject}`);
    }
    if (replyTo !== undefined && !isValidPublishSubject(replyTo)) {
      throw new RosterError('ROSTER_ERR_INVALID_SUBJECT', `Invalid reply subject: ${replyTo}`);
    }
    if (data.length > this.broker.maxPayload) {
      throw new RosterError('ROSTER_ERR_MESSAGE_TOO_LARGE', undefined, {
        size: data.length,
        maxPayload: this.broker.maxPayload,
      });
    }
  }

  /** @internal Called by the broker. */
  _deliver(sub: MemorySub, subject: string, data: Uint8Array, reply: string | undefined): void {
    const msg = new MemoryMessage(this, subject, data, reply);
    try {
      sub.handler(msg);
    } catch (err) {
      this.#log.error({ err, subject: sub.subject }, 'message handler threw');
    }
  }

  /** @internal Called by the broker. */
  _emitStatus(status: BusStatus): void {
    for (const listener of this.#listeners) {
      try {
        listener(status);
      } catch (err) {
        this.#log.error({ err, status: status.type }, 'status listener threw');
      }
    }
  }
}

/** A broker and `count` buses attached to it, for tests. */
export function createMemoryBuses(
  count: number,
  options: MemoryBrokerOptions = {},
): { broker: MemoryBroker; buses: MemoryBus[] } {
  const broker = new MemoryBroker(options);
  const buses = Array.from({ length: count }, (_, i) => broker.connect({ name: `bus-${i}` }));
  return { broker, buses };
}
