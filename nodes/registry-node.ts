/**
 * A registry node: one full replica of the registry. It joins the cluster (catching up from
 * a peer's snapshot), then serves registrations and queries through the node queue group,
 * owns the sessions registered with it, runs their health checks, and takes part in
 * replication, anti-entropy and orphan clean-up. See docs/architecture.md.
 */

import {
  type Change,
  decodeMessage,
  encodeError,
  encodeTrusted,
  HybridLogicalClock,
  type Instance,
  isRosterError,
  type MessageOf,
  type MessageType,
  NODE_QUEUE_GROUP,
  RosterError,
  Subjects,
} from '../protocol/index.js';
import type { Bus, BusMessage, BusStatus, BusSubscription } from '../transport/bus.js';
import { type Logger, silentLogger } from '../transport/logger.js';
import { MetricsRegistry } from '../transport/metrics.js';
import { HealthChecker } from './health-checker.js';
import { Janitor } from './janitor.js';
import { createNodeMetrics, type NodeMetrics } from './node-metrics.js';
import {
  type RegistryNodeOptions,
  type ResolvedNodeOptions,
  resolveNodeOptions,
} from './node-options.js';
import { encodePaged } from './paging.js';
import { Replicator } from './replicator.js';
import { SessionManager } from './sessions.js';
import { instanceKey, type StoreEffect } from './store.js';

export type NodeEventListener = (effect: StoreEffect, change: Change) => void;

const QUERY_PAGE = 2_000;
/** Error codes that mean the input itself was bad (counted as rejections). */
const REJECTION_CODES: ReadonlySet<string> = new Set([
  'ROSTER_ERR_DECODE',
  'ROSTER_ERR_INVALID_MESSAGE',
  'ROSTER_ERR_MESSAGE_TOO_LARGE',
  'ROSTER_ERR_UNSUPPORTED_VERSION',
]);

export class RegistryNode implements AsyncDisposable {
  readonly id: string;
  readonly incarnation: number;
  readonly options: ResolvedNodeOptions;
  readonly subjects: Subjects;
  readonly metrics: NodeMetrics;
  readonly replicator: Replicator;
  readonly sessions: SessionManager;
  private readonly logger: Logger;
  private readonly clock = new HybridLogicalClock();
  private readonly health: HealthChecker;
  private readonly janitor: Janitor;
  private lastSelfPreserve = Number.NEGATIVE_INFINITY;
  private readonly listeners = new Set<NodeEventListener>();
  private readonly subs: BusSubscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private offStatus: (() => void) | undefined;
  /** Tokens in the subject root (`roster.v1` → 2). */
  private readonly rootTokens: number;
  private busDown = false;
  private readyAt = 0;
  private closed = false;

  constructor(
    private readonly bus: Bus,
    options: RegistryNodeOptions = {},
  ) {
    this.options = resolveNodeOptions(options);
    this.id = this.options.id;
    this.incarnation = Date.now();
    this.subjects = new Subjects(this.options.prefix);
    this.rootTokens = this.subjects.root.split('.').length;
    this.logger = (options.logger ?? silentLogger).child({ component: 'node', nodeId: this.id });
    const registry = options.metrics ?? new MetricsRegistry();
    this.metrics = createNodeMetrics(registry, {
      sessions: () => this.replicator.store.sessionCount,
      instances: () => this.replicator.store.instanceCount,
      services: () => [...this.replicator.store.serviceNames()].length,
      peers: () => this.replicator.peers.alive(Date.now()).length,
      ready: () => this.replicator.ready,
      tombstones: () => this.replicator.store.tombstoneCount,
    });
    this.replicator = new Replicator({
      bus,
      subjects: this.subjects,
      options: this.options,
      logger: this.logger,
      metrics: this.metrics,
      clock: this.clock,
      incarnation: this.incarnation,
      onApplied: (change, effect) => this.onApplied(change, effect),
    });
    this.sessions = new SessionManager(
      this.replicator,
      this.clock,
      this.options,
      this.metrics,
      this.logger,
    );
    this.health = new HealthChecker({
      logger: this.logger,
      onResult: (key, result) => this.onHealth(key, result.status),
    });
    this.janitor = new Janitor(
      this.id,
      this.replicator.store,
      this.replicator.peers,
      this.options.orphanGraceMs,
      this.options.defaultTtlMs,
    );
  }

  get ready(): boolean {
    return this.replicator.ready;
  }

  get store() {
    return this.replicator.store;
  }

  /** Joins the cluster and starts serving. Resolves once ready. */
  async start(): Promise<void> {
    this.offStatus = this.bus.onStatus((s) => this.onBusStatus(s));
    this.subs.push(
      this.bus.subscribe(this.subjects.clusterInfo, (m) =>
        this.serve(m, 'clusterInfoRequest', () => encodeTrusted('clusterInfo', this.info())),
      ),
    );
    this.replicator.listen();
    await this.replicator.join();
    if (this.closed) return;
    this.readyAt = Date.now();
    this.sessions.adoptRecovered(this.readyAt);
    for (const inst of this.store.allInstances()) this.trackHealth(inst);
    const q = { queue: NODE_QUEUE_GROUP };
    this.subs.push(
      this.bus.subscribe(this.subjects.registerAny, (m) => this.onRegister(m), q),
      this.bus.subscribe(this.subjects.registerAnyAt(this.id), (m) => this.onRegister(m)),
      this.bus.subscribe(this.subjects.session(this.id), (m) => this.onSession(m)),
      this.bus.subscribe(this.subjects.queryAny, (m) => this.onQuery(m), q),
      this.bus.subscribe(
        this.subjects.catalog,
        (m) => this.serve(m, 'catalogRequest', () => encodeTrusted('catalogReply', this.catalog())),
        q,
      ),
    );
    this.every(this.options.leaseCheckMs, () => {
      if (!this.busDown) this.sessions.tick(Date.now());
    });
    this.every(500, () => this.sweepOrphans());
    this.every(10_000, () => this.store.expireTombstones(Date.now() - this.options.tombstoneTtlMs));
    this.every(60_000, () => {
      const gone = this.replicator.pruneOrigins(Date.now(), this.options.forgetNodeAfterMs);
      if (gone.length > 0) this.logger.info({ gone }, 'forgot long-dead nodes');
    });
  }

  /** The node's state as the cluster view shows it. */
  info(): MessageOf<'clusterInfo'> {
    return this.replicator.state();
  }

  /** Services and their instance counts. */
  catalog(): MessageOf<'catalogReply'> {
    const services: MessageOf<'catalogReply'>['services'] = [];
    for (const [name, instances] of this.store.services()) {
      let passing = 0;
      for (const i of instances.values()) if (i.status === 'passing') passing++;
      services.push({ name, instances: instances.size, passing });
      if (services.length >= 5_000) break;
    }
    services.sort((a, b) => (a.name < b.name ? -1 : 1));
    return { services, node: this.id };
  }

  /** Subscribes to every visible change this node applies. */
  onChange(listener: NodeEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.subs) s.unsubscribe();
    this.offStatus?.();
    this.health.close();
    this.replicator.close();
    this.logger.info('closed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- requests ---

  /** Decodes a request, answers with what `handle` encodes, or with a typed error. */
  private serve<T extends MessageType>(
    msg: BusMessage,
    type: T,
    handle: (req: MessageOf<T>) => Uint8Array,
  ): void {
    const op = type.replace(/Request$/, '');
    try {
      msg.respond(handle(decodeMessage(msg.data, type)));
      this.metrics.requests.inc({ op, result: 'ok' });
    } catch (err) {
      const e = isRosterError(err) ? err : new RosterError('ROSTER_ERR_INTERNAL', 'internal error');
      if (!isRosterError(err)) this.logger.error({ err, subject: msg.subject }, 'request failed');
      this.metrics.requests.inc({ op, result: e.code });
      if (REJECTION_CODES.has(e.code)) this.metrics.rejections.inc({ subject: op, code: e.code });
      msg.respond(encodeError(e.toWire()));
    }
  }

  private onRegister(msg: BusMessage): void {
    const service = msg.subject.split('.')[this.rootTokens + 1];
    this.serve(msg, 'registerRequest', (req) => {
      if (req.instance.service !== service) {
        throw new RosterError(
          'ROSTER_ERR_INVALID_MESSAGE',
          `registration of ${req.instance.service} sent on the subject of ${String(service)}`,
        );
      }
      return encodeTrusted('registerReply', this.sessions.register(req, Date.now()));
    });
  }

  private onSession(msg: BusMessage): void {
    this.serve(msg, 'sessionRequest', (req) =>
      encodeTrusted('sessionReply', this.sessions.handle(req, Date.now())),
    );
  }

  /**
   * One page of a service's instances, sorted by id; the cursor is the last id of the
   * previous page, so pages fetched from different nodes still fit together.
   */
  private onQuery(msg: BusMessage): void {
    const service = msg.subject.split('.')[this.rootTokens + 1];
    this.serve(msg, 'queryRequest', (req) => {
      if (req.service !== service)
        throw new RosterError('ROSTER_ERR_INVALID_MESSAGE', 'query subject and body disagree');
      const after = req.cursor;
      const page = [...(this.store.service(req.service)?.values() ?? [])]
        .filter((i) => after === undefined || i.id > after)
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const revision = this.store.revision(req.service);
      return encodePaged((n) => {
        const body: MessageOf<'queryReply'> = {
          service: req.service,
          instances: page.slice(0, n),
          revision,
          node: this.id,
        };
        if (n < page.length) body.next = page[n - 1]!.id;
        return encodeTrusted('queryReply', body);
      }, QUERY_PAGE);
    });
  }

  // --- reactions ---

  private onApplied(change: Change, effect: StoreEffect | undefined): void {
    if (!effect) return;
    switch (effect.kind) {
      case 'instance-added':
      case 'instance-updated':
        this.trackHealth(effect.instance);
        break;
      case 'instance-removed':
        this.health.delete(instanceKey(effect.instance.service, effect.instance.id));
        if (change.origin !== this.id) this.sessions.reassert(effect.instance);
        break;
      case 'session-opened':
        if (effect.session.ownerNode !== this.id) this.sessions.released(effect.session.id);
        break;
      case 'session-closed':
        if (change.origin !== this.id) this.sessions.reassertSession(effect.session);
        break;
    }
    for (const l of this.listeners) {
      try {
        l(effect, change);
      } catch (err) {
        this.logger.error({ err }, 'change listener failed');
      }
    }
  }

  private trackHealth(inst: Instance): void {
    const key = instanceKey(inst.service, inst.id);
    if (inst.ownerNode === this.id && inst.check) {
      this.health.set(key, {
        host: inst.host,
        port: inst.port,
        ...(inst.scheme ? { scheme: inst.scheme } : {}),
        check: inst.check,
      });
    } else {
      this.health.delete(key);
    }
  }

  private onHealth(key: string, status: 'passing' | 'critical'): void {
    const slash = key.indexOf('/');
    const inst = this.store.getInstance(key.slice(0, slash), key.slice(slash + 1));
    if (!inst || inst.ownerNode !== this.id || inst.status === status) return;
    this.metrics.healthChanges.inc({ status });
    this.sessions.setStatus(inst, status);
  }

  private sweepOrphans(): void {
    const now = Date.now();
    if (this.busDown || !this.ready || now - this.readyAt < this.options.deadAfterMs) return;
    const removed = this.janitor.sweep(now, this.ready, {
      removeInstance: (inst) => this.sessions.remove(inst, 'orphaned'),
      removeSession: (id) => {
        const s = this.store.getSession(id);
        if (s)
          this.replicator.commit(
            { op: 'sdel', id, ifHlc: s.hlc, ifNode: s.ownerNode, reason: 'orphaned' },
            this.clock.tick(),
          );
      },
    });
    if (removed > 0) {
      this.metrics.orphansRemoved.inc(removed);
      this.logger.info({ removed }, 'orphans removed');
    }
  }

  // --- self-preservation ---

  private onBusStatus(status: BusStatus): void {
    if (status.type === 'disconnect') {
      if (!this.busDown) {
        this.busDown = true;
        this.sessions.leases.pause();
        this.logger.warn({ server: status.server }, 'bus disconnected: lease expiry paused');
      }
    } else if (status.type === 'reconnect') {
      if (this.busDown) {
        this.busDown = false;
        this.sessions.leases.resume(Date.now());
        this.selfPreserve('bus reconnected');
      }
    }
  }

  /** After a fault of our own, no lease expires and no peer is judged for that time. */
  private selfPreserve(reason: string): void {
    const now = Date.now();
    const repeat = now - this.lastSelfPreserve < this.options.stallThresholdMs;
    this.lastSelfPreserve = now;
    this.sessions.leases.graceAll(now);
    this.replicator.peers.forgive(now);
    this.janitor.reset();
    if (repeat) return; // the same stall, seen by another timer
    this.metrics.stalls.inc();
    this.logger.warn({ reason }, 'self-preservation: leases and peers given a full grace period');
  }

  /**
   * Runs `fn` every `ms`. A run that comes late by more than the stall threshold means this
   * process was stalled (or stopped): self-preservation runs first, so no lease expires and
   * no peer is judged for time this node itself lost, whichever timer fires first.
   */
  private every(ms: number, fn: () => void): void {
    let last = performance.now();
    const t = setInterval(() => {
      const now = performance.now();
      const late = now - last - ms;
      last = now;
      try {
        if (late > this.options.stallThresholdMs)
          this.selfPreserve(`timer ${Math.round(late)} ms late`);
        fn();
      } catch (err) {
        this.logger.error({ err }, 'periodic task failed');
      }
    }, ms);
    t.unref();
    this.timers.push(t);
  }
}
