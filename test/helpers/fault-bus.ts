/**
 * A Bus wrapper that loses messages on purpose: a fraction of the *incoming* messages whose
 * subject matches one of the chosen patterns is dropped before the handler sees it, as core
 * NATS may do to a slow consumer or across a reconnect. Everything else (publish, request,
 * scatter, replies to requests) goes straight to the wrapped bus. Dropping can be switched
 * on and off at any time; the drops are drawn from a seeded generator so a failing run can
 * be replayed with the same seed.
 */

import type {
  Bus,
  BusMessage,
  BusSubscription,
  MessageHandler,
  RequestOptions,
  ScatterOptions,
  StatusListener,
  SubscribeOptions,
} from '../../transport/bus.js';
import { subjectMatches } from '../../transport/subject-match.js';

export interface FaultBusOptions {
  /** Subscription-style patterns (`roster.v1.delta.>`) whose incoming messages may be dropped. */
  readonly patterns: readonly string[];
  /** Fraction of matching messages dropped while faults are on, 0..1 (default 0). */
  readonly dropRate?: number;
  /** Seed of the drop generator (default: random). */
  readonly seed?: number;
}

export interface FaultStats {
  /** Matching messages seen (dropped or delivered). */
  readonly matched: number;
  readonly dropped: number;
}

/** mulberry32: a tiny seeded PRNG, good enough to pick drops. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultBus implements Bus {
  readonly seed: number;
  private readonly random: () => number;
  private readonly patterns: readonly string[];
  private rate: number;
  private matchedCount = 0;
  private droppedCount = 0;

  constructor(
    readonly inner: Bus,
    options: FaultBusOptions,
  ) {
    this.patterns = [...options.patterns];
    this.rate = checkRate(options.dropRate ?? 0);
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.random = prng(this.seed);
  }

  get kind(): string {
    return `fault(${this.inner.kind})`;
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  /** The current drop rate (0 when faults are off). */
  get dropRate(): number {
    return this.rate;
  }

  /** Starts (or changes) dropping: `rate` of the matching incoming messages are lost. */
  setDropRate(rate: number): void {
    this.rate = checkRate(rate);
  }

  /** Stops dropping. */
  heal(): void {
    this.rate = 0;
  }

  get stats(): FaultStats {
    return { matched: this.matchedCount, dropped: this.droppedCount };
  }

  publish(subject: string, data: Uint8Array, replyTo?: string): void {
    this.inner.publish(subject, data, replyTo);
  }

  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): BusSubscription {
    return this.inner.subscribe(
      subject,
      (msg: BusMessage) => {
        if (this.shouldDrop(msg.subject)) return;
        handler(msg);
      },
      options,
    );
  }

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<BusMessage> {
    return this.inner.request(subject, data, options);
  }

  scatter(subject: string, data: Uint8Array, options: ScatterOptions): Promise<BusMessage[]> {
    return this.inner.scatter(subject, data, options);
  }

  createInbox(): string {
    return this.inner.createInbox();
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  onStatus(listener: StatusListener): () => void {
    return this.inner.onStatus(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private shouldDrop(subject: string): boolean {
    if (!this.patterns.some((p) => subjectMatches(p, subject))) return false;
    this.matchedCount++;
    // Draw even when healed, so the sequence of decisions does not depend on timing of heal().
    const draw = this.random();
    if (this.rate > 0 && draw < this.rate) {
      this.droppedCount++;
      return true;
    }
    return false;
  }
}

function checkRate(rate: number): number {
  if (!Number.isFinite(rate) || rate < 0 || rate > 1)
    throw new RangeError(`drop rate must be within 0..1, got ${rate}`);
  return rate;
}
