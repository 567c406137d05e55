/**
 * The Bus: the one transport contract every Roster component speaks (DESIGN.md, "Transport
 * contract"). Implementations declare what they provide natively; anything not native is
 * emulated by the implementation itself so callers never branch on the transport.
 */

/** What a bus implementation provides natively (not emulated). */
export interface BusCapabilities {
  /** Messages go through a broker (NATS) rather than peer to peer. */
  readonly brokered: boolean;
  /** Queue groups are native (otherwise emulated by the implementation). */
  readonly nativeQueueGroups: boolean;
  /** Request/reply is native (otherwise emulated with direct streams). */
  readonly nativeRequest: boolean;
  /** Messages may cross process boundaries (false for the in-process bus). */
  readonly crossProcess: boolean;
}

/** One received message. */
export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Reply subject, when the sender expects an answer. */
  readonly reply: string | undefined;
  /** Sends `data` to the reply subject; returns false when there is no reply subject. */
  respond(data: Uint8Array): boolean;
}

export type MessageHandler = (msg: BusMessage) => void;

export interface SubscribeOptions {
  /** Queue group: each message is delivered to exactly one member of the group. */
  readonly queue?: string;
}

export interface BusSubscription {
  readonly subject: string;
  readonly queue: string | undefined;
  /** Stops delivery. Idempotent. */
  unsubscribe(): void;
}

export interface RequestOptions {
  /** Time to wait for the reply; a typed ROSTER_ERR_TIMEOUT error after it. */
  readonly timeoutMs: number;
}

export interface ScatterOptions {
  /** Replies arriving after this many milliseconds are not collected. */
  readonly deadlineMs: number;
  /** Resolve early once this many replies have arrived. */
  readonly maxReplies?: number;
  /**
   * Resolve early once at least `minReplies` (default 1) have arrived and none has come for
   * this many milliseconds (everyone nearby has answered; the deadline bounds the wait).
   */
  readonly quietMs?: number;
  readonly minReplies?: number;
}

/** Connection status events, as a discriminated union. */
export type BusStatus =
  | { readonly type: 'disconnect'; readonly server?: string }
  | { readonly type: 'reconnecting' }
  | { readonly type: 'reconnect'; readonly server?: string }
  | { readonly type: 'lameDuck'; readonly server?: string }
  | { readonly type: 'slowConsumer'; readonly subject?: string }
  | { readonly type: 'error'; readonly error: Error }
  | { readonly type: 'closed'; readonly error?: Error };

export type BusStatusType = BusStatus['type'];

export type StatusListener = (status: BusStatus) => void;

export interface Bus extends AsyncDisposable {
  /** A short name for logs and metrics: 'nats', 'memory', 'gossipsub'. */
  readonly kind: string;
  readonly capabilities: BusCapabilities;
  /** True until close() has been called or the connection is permanently lost. */
  readonly isOpen: boolean;

  /**
   * Fire-and-forget publish to a literal subject (no wildcards). Throws a typed error when the
   * bus is closed (ROSTER_ERR_BUS_CLOSED), the subject is invalid (ROSTER_ERR_INVALID_SUBJECT)
   * or data exceeds the transport's payload limit (ROSTER_ERR_MESSAGE_TOO_LARGE). Delivery is
   * at most once; messages from one publisher arrive in publish order.
   */
  publish(subject: string, data: Uint8Array, replyTo?: string): void;
  /** Subscribes a handler; subjects may use NATS wildcards `*` and `>`. */
  subscribe(subject: string, handler: MessageHandler, options?: SubscribeOptions): BusSubscription;
  /**
   * One request, one reply. Rejects with RosterError ROSTER_ERR_TIMEOUT after timeoutMs and
   * with ROSTER_ERR_NO_RESPONDERS when the transport knows nobody listens.
   */
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<BusMessage>;
  /**
   * Sends one request and collects every reply that arrives before the deadline (or until
   * maxReplies). Resolves with [] at once when the transport knows nobody listens; never
   * rejects for lack of replies. Timeouts and deadlines must be positive
   * (ROSTER_ERR_INVALID_ARGUMENT otherwise).
   */
  scatter(subject: string, data: Uint8Array, options: ScatterOptions): Promise<BusMessage[]>;
  /** A fresh subject usable as a private reply address. */
  createInbox(): string;
  /** Resolves when everything published so far has reached the broker (no-op elsewhere). */
  flush(): Promise<void>;
  /** Subscribes to status events; returns the function that unsubscribes. */
  onStatus(listener: StatusListener): () => void;
  /** Drains subscriptions and closes. Idempotent. */
  close(): Promise<void>;
}
