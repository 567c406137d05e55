/**
 * Replication between registry nodes (DESIGN.md, "Replication"): each node publishes its own
 * changes once, numbered per origin; receivers apply each origin's changes in seq order,
 * pull a missing range when they see a gap (from the origin or any peer that has it), and
 * fall back to a snapshot when the range has left every log. Heartbeats carry the version
 * vector and digest, so a lost tail is noticed within one heartbeat and a divergence with
 * equal vectors is counted and repaired.
 */

import {
  type Change,
  decodeAs,
  decodeMessage,
  encodeError,
  encodeTrusted,
  type HybridLogicalClock,
  isRosterError,
  type MessageOf,
  RosterError,
  type Subjects,
  type Vector,
} from '../protocol/index.js';
import type { Bus, BusMessage, BusSubscription } from '../transport/bus.js';
import type { Logger } from '../transport/logger.js';
import { ChangeLog } from './change-log.js';
import type { NodeMetrics } from './node-metrics.js';
import type { ResolvedNodeOptions } from './node-options.js';
import { type Gap, OriginProgress } from './origin-progress.js';
import { encodePaged } from './paging.js';
import { PeerTable } from './peers.js';
import { SnapshotServer } from './snapshot-server.js';
import { instanceKey, RegistryStore, type StoreEffect, type StoreSnapshot } from './store.js';

/** A change as its origin builds it, before the log header is added. */
export type ChangeBody = Change extends infer C
  ? C extends Change
    ? Omit<C, 'origin' | 'inc' | 'seq' | 'hlc' | 'prev'>
    : never
  : never;

export interface ReplicatorDeps {
  readonly bus: Bus;
  readonly subjects: Subjects;
  readonly options: ResolvedNodeOptions;
  readonly logger: Logger;
  readonly metrics: NodeMetrics;
  readonly clock: HybridLogicalClock;
  readonly incarnation: number;
  /** Called for every change applied to the store, with its visible effect (if any). */
  readonly onApplied: (change: Change, effect: StoreEffect | undefined) => void;
}

/** Changes held while a snapshot sync runs; past this the sync is abandoned and retried. */
const MAX_SYNC_BUFFER = 500_000;
const PULL_PAGE = 2_000;
const SNAPSHOT_PAGE = 2_000;
const TOUCHED_MAX = 256;

export class Replicator {
  readonly store = new RegistryStore();
  readonly progress = new OriginProgress();
  readonly log: ChangeLog;
  readonly peers: PeerTable;
  readonly snapshots: SnapshotServer;
  private readonly subs: BusSubscription[] = [];
  private readonly pulling = new Set<string>();
  private ownSeq = 0;
  private sessionPrev = 0;
  private syncBuffer: Change[] | undefined;
  /** Services changed by this node since the last heartbeat, and in the period before. */
  private touchedNow = new Map<string, number>();
  private touchedBefore = new Map<string, number>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closed = false;
  ready = false;
  readonly startedAt = Date.now();

  /** Tokens in the subject root: the token after them names the kind of message. */
  private readonly rootTokens: number;

  constructor(private readonly deps: ReplicatorDeps) {
    this.rootTokens = deps.subjects.root.split('.').length;
    this.log = new ChangeLog({ maxPerOrigin: deps.options.logPerOrigin });
    this.peers = new PeerTable(deps.options.id, deps.options.deadAfterMs);
    this.snapshots = new SnapshotServer(() => this.capture());
  }

  private get id(): string {
    return this.deps.options.id;
  }

  get seq(): number {
    return this.ownSeq;
  }

  get syncing(): boolean {
    return this.syncBuffer !== undefined;
  }

  /** Subscribes to replication subjects and starts heartbeats (not yet ready). */
  listen(): void {
    const { bus, subjects } = this.deps;
    this.subs.push(
      bus.subscribe(subjects.deltaAll, (m) => this.onDelta(m)),
      bus.subscribe(subjects.sessionDelta, (m) => this.onDelta(m)),
      bus.subscribe(subjects.heartbeat, (m) => this.onHeartbeat(m)),
      bus.subscribe(subjects.pull(this.id), (m) => this.onPull(m)),
      bus.subscribe(subjects.snapshot(this.id), (m) => this.onSnapshot(m)),
    );
    this.scheduleHeartbeat(0);
  }

  /**
   * Joins the cluster: asks every node for its state and, when some are ready, loads a
   * snapshot from the most advanced one. Resolves once this node has caught up.
   */
  async join(): Promise<void> {
    const { logger } = this.deps;
    for (let attempt = 0; !this.closed; attempt++) {
      const peers = await this.discoverReadyPeers();
      if (peers.length === 0) break; // alone, or the first of a new cluster
      let synced = false;
      for (const info of peers) {
        try {
          await this.syncFrom(info.node, 'join');
          synced = true;
          break;
        } catch (err) {
          logger.warn({ err, peer: info.node }, 'snapshot from peer failed; trying the next');
        }
      }
      if (synced) break;
      // Peers exist but none could serve a snapshot: never serve an empty store; try again.
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
    this.ready = true;
    logger.info({ instances: this.store.instanceCount }, 'caught up, ready');
  }

  /** Ready peers, most advanced first. */
  private async discoverReadyPeers(): Promise<MessageOf<'clusterInfo'>[]> {
    const { bus, subjects, options, logger } = this.deps;
    let infos: MessageOf<'clusterInfo'>[] = [];
    try {
      // This node answers too, so a peer's answer is the second; once answers stop coming
      // for 100 ms everyone nearby has spoken (the full window is only waited when alone).
      const replies = await bus.scatter(
        subjects.clusterInfo,
        encodeTrusted('clusterInfoRequest', {}),
        {
          deadlineMs: options.discoveryMs,
          quietMs: 100,
          minReplies: 2,
        },
      );
      infos = replies.flatMap((r) => {
        try {
          const info = decodeAs(r.data, 'clusterInfo');
          return info.node !== this.id && info.ready ? [info] : [];
        } catch {
          return [];
        }
      });
    } catch (err) {
      logger.warn({ err }, 'cluster discovery failed');
    }
    return infos.sort((a, b) => vectorTotal(b.vector) - vectorTotal(a.vector));
  }

  /** Makes, applies and publishes a change of this node's own. */
  commit(body: ChangeBody, hlc: number): Change {
    const seq = this.ownSeq + 1;
    const { incarnation } = this.deps;
    let prev: number;
    if (body.op === 'put' || body.op === 'del') {
      const service = body.op === 'put' ? body.instance.service : body.service;
      prev = this.store.lastSeqFor(service, this.id, incarnation);
      this.touchedNow.set(service, seq);
    } else {
      prev = this.sessionPrev;
      this.sessionPrev = seq;
    }
    // Object.assign, not a spread: a spread plus more keys gives every change its own V8
    // hidden class (36 MB of heap at 100 000 instances; docs/benchmarks.md).
    const change = Object.assign(
      { origin: this.id, inc: incarnation, seq, hlc, prev },
      body,
    ) as Change;
    this.ownSeq = seq;
    const offered = this.progress.offer(change);
    if (offered.kind === 'apply') for (const c of offered.changes) this.applyReady(c);
    const subject = this.deps.subjects.forChange(change);
    try {
      this.deps.bus.publish(subject, encodeTrusted('change', change));
      this.deps.metrics.deltasOut.inc();
    } catch (err) {
      // Not sent now (bus down or closed): peers pull it after the next heartbeat.
      this.deps.logger.warn({ err, seq }, 'publishing a change failed; peers will pull it');
    }
    return change;
  }

  /** The node's state as heartbeats and cluster-info replies carry it. */
  state(): Omit<MessageOf<'heartbeat'>, 'intervalMs'> {
    return {
      node: this.id,
      inc: this.deps.incarnation,
      seq: this.ownSeq,
      hlc: this.deps.clock.current,
      vector: this.progress.vector(),
      digest: this.store.digest,
      sessions: this.store.sessionCount,
      instances: this.store.instanceCount,
      ready: this.ready,
      startedAt: this.startedAt,
    };
  }

  /**
   * Forgets nodes silent for longer than `forgetAfterMs` that own nothing any more, so the
   * vector (carried in every heartbeat) does not grow with every node that ever existed.
   */
  pruneOrigins(now: number, forgetAfterMs: number): string[] {
    const owners = new Set<string>();
    for (const i of this.store.allInstances()) owners.add(i.ownerNode);
    for (const s of this.store.allSessions()) owners.add(s.ownerNode);
    const forgotten: string[] = [];
    for (const origin of [...this.progress.knownOrigins()]) {
      if (origin === this.id || owners.has(origin)) continue;
      const peer = this.peers.get(origin);
      if (peer && now - peer.lastSeen <= forgetAfterMs) continue;
      if (!peer && now - this.startedAt <= forgetAfterMs) continue;
      this.progress.forget(origin);
      this.log.forget(origin);
      forgotten.push(origin);
    }
    this.peers.prune(now, forgetAfterMs);
    return forgotten;
  }

  close(): void {
    this.closed = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    this.snapshots.close();
  }

  // --- intake ---

  private reject(msg: BusMessage, err: unknown): void {
    const code = isRosterError(err) ? err.code : 'ROSTER_ERR_INTERNAL';
    const subject = msg.subject.split('.')[this.rootTokens] ?? 'unknown';
    this.deps.metrics.rejections.inc({ subject, code });
    this.deps.logger.debug({ err, subject: msg.subject }, 'message rejected');
  }

  private onDelta(msg: BusMessage): void {
    let change: Change;
    try {
      change = decodeMessage(msg.data, 'change');
      this.checkSubject(msg.subject, change);
      this.deps.clock.observe(change.hlc);
    } catch (err) {
      this.reject(msg, err);
      return;
    }
    if (change.origin === this.id && change.inc === this.deps.incarnation) return; // our own echo
    this.intake(change);
  }

  /** Deltas must travel on the subject of their service, so NATS permissions mean something. */
  private checkSubject(subject: string, change: Change): void {
    if (subject !== this.deps.subjects.forChange(change)) {
      throw new RosterError(
        'ROSTER_ERR_INVALID_MESSAGE',
        `a ${change.op} change arrived on ${subject}`,
        { subject },
      );
    }
  }

  /** Offers a change from a peer (delta or pulled); applies whatever is ready. */
  intake(change: Change): void {
    if (this.syncBuffer) {
      if (this.syncBuffer.length < MAX_SYNC_BUFFER) this.syncBuffer.push(change);
      return;
    }
    const offered = this.progress.offer(change);
    if (offered.kind === 'apply') {
      for (const c of offered.changes) this.applyReady(c);
      this.deps.metrics.deltasIn.inc(offered.changes.length);
    } else if (offered.kind === 'held') {
      this.requestPull(offered.gap, undefined);
    }
  }

  private applyReady(change: Change): void {
    const effect = this.store.apply(change, Date.now());
    this.log.append(change);
    this.deps.onApplied(change, effect);
  }

  // --- pulls ---

  /** Pulls a missing range, from `source` or the best peer that has it. One pull per origin at a time. */
  private requestPull(gap: Gap, source: string | undefined): void {
    if (this.pulling.has(gap.origin) || this.closed || this.syncBuffer) return;
    this.deps.metrics.gaps.inc();
    this.pulling.add(gap.origin);
    void this.pullLoop(gap, source).finally(() => this.pulling.delete(gap.origin));
  }

  private async pullLoop(first: Gap, preferred: string | undefined): Promise<void> {
    let gap: Gap | undefined = first;
    for (let attempt = 0; gap && attempt < 50 && !this.closed && !this.syncBuffer; attempt++) {
      const source = this.pullSource(gap, preferred);
      if (!source) return;
      try {
        const reply = decodeAs(
          (
            await this.deps.bus.request(
              this.deps.subjects.pull(source),
              encodeTrusted('pullRequest', {
                origin: gap.origin,
                inc: gap.inc,
                from: gap.from,
                to: gap.to,
              }),
              { timeoutMs: this.deps.options.requestTimeoutMs },
            )
          ).data,
          'pullReply',
        );
        if (reply.gone) {
          this.deps.metrics.pulls.inc({ result: 'gone' });
          await this.syncFrom(source, 'range-gone');
          return;
        }
        this.deps.metrics.pulls.inc({ result: reply.changes.length > 0 ? 'ok' : 'empty' });
        for (const c of reply.changes) {
          if (c.origin === gap.origin) this.intake(c);
        }
        if (reply.changes.length === 0) preferred = undefined; // that source lacks it: try another
      } catch (err) {
        this.deps.metrics.pulls.inc({ result: 'error' });
        this.deps.logger.debug({ err, source, gap }, 'pull failed');
        preferred = undefined;
        await sleep(50);
      }
      gap = this.progress.gapOf(gap.origin) ?? this.remaining(gap);
    }
  }

  /** What is still missing of `gap` (a tail not yet announced by any later change). */
  private remaining(gap: Gap): Gap | undefined {
    const pos = this.progress.position(gap.origin);
    if (pos && (pos.inc > gap.inc || (pos.inc === gap.inc && pos.seq >= gap.to))) return undefined;
    return { ...gap, from: pos && pos.inc === gap.inc ? pos.seq + 1 : 1 };
  }

  /** The origin itself when alive, else a live peer whose vector covers the range. */
  private pullSource(gap: Gap, preferred: string | undefined): string | undefined {
    const now = Date.now();
    if (preferred && preferred !== this.id && this.peers.isAlive(preferred, now)) return preferred;
    if (
      gap.origin !== this.id &&
      this.peers.isAlive(gap.origin, now) &&
      this.peers.get(gap.origin)?.inc === gap.inc
    ) {
      return gap.origin;
    }
    const candidates = this.peers
      .alive(now)
      .filter(
        (p) =>
          p.id !== this.id &&
          p.vector.some(([o, inc, seq]) => o === gap.origin && inc === gap.inc && seq >= gap.to),
      );
    return candidates[Math.floor(Math.random() * candidates.length)]?.id;
  }

  private onPull(msg: BusMessage): void {
    try {
      const req = decodeMessage(msg.data, 'pullRequest');
      const range = this.log.range(req.origin, req.inc, req.from, req.to, PULL_PAGE);
      msg.respond(
        range.kind === 'gone'
          ? encodeTrusted('pullReply', { changes: [], gone: true })
          : encodePaged(
              (n) =>
                encodeTrusted('pullReply', { changes: range.changes.slice(0, n), gone: false }),
              range.changes.length,
            ),
      );
    } catch (err) {
      this.reject(msg, err);
      if (isRosterError(err)) msg.respond(encodeError(err.toWire()));
    }
  }

  // --- snapshots ---

  private capture(): { snapshot: StoreSnapshot; vector: Vector } {
    return { snapshot: this.store.snapshot(), vector: this.progress.vector() };
  }

  private onSnapshot(msg: BusMessage): void {
    try {
      const req = decodeMessage(msg.data, 'snapshotRequest');
      msg.respond(this.snapshots.page(req.cursor, req.limit));
    } catch (err) {
      this.reject(msg, err);
      if (isRosterError(err)) msg.respond(encodeError(err.toWire()));
    }
  }

  /**
   * Loads a peer's snapshot and reconciles with it. Changes arriving meanwhile are held and
   * applied afterwards. Local records the peer no longer has are dropped where the peer is
   * not behind us on the record's origin (it saw every change of that origin we saw).
   *
   * Each page is merged into the store as it arrives (records merge like changes, in any
   * order), so a page's decoded copy is garbage as soon as the next is asked for, instead of
   * the whole snapshot being held until the end. When the store was empty at the start (a
   * fresh join), no local record can be missing from the snapshot, so none is looked for.
   */
  async syncFrom(peer: string, reason: 'join' | 'range-gone' | 'digest'): Promise<void> {
    if (this.syncBuffer) return;
    this.syncBuffer = [];
    this.deps.metrics.snapshotSyncs.inc({ reason });
    const started = performance.now();
    try {
      const fresh = this.store.instanceCount === 0 && this.store.sessionCount === 0;
      const seen: SnapshotKeys | undefined = fresh
        ? undefined
        : { instances: new Set(), sessions: new Set() };
      let vector: Vector | undefined;
      let pages = 0;
      let cursor: string | undefined;
      do {
        const reply = decodeAs(
          (
            await this.deps.bus.request(
              this.deps.subjects.snapshot(peer),
              encodeTrusted(
                'snapshotRequest',
                cursor === undefined ? { limit: SNAPSHOT_PAGE } : { cursor, limit: SNAPSHOT_PAGE },
              ),
              { timeoutMs: this.deps.options.requestTimeoutMs },
            )
          ).data,
          'snapshotReply',
        );
        pages++;
        vector ??= reply.vector;
        if (seen) {
          for (const i of reply.instances) seen.instances.add(instanceKey(i.service, i.id));
          for (const s of reply.sessions) seen.sessions.add(s.id);
        }
        this.store.load(reply, Date.now());
        cursor = reply.next;
      } while (cursor !== undefined && !this.closed);
      this.reconcile(vector ?? [], seen);
      this.deps.logger.info(
        {
          peer,
          reason,
          pages,
          instances: this.store.instanceCount,
          ms: Math.round(performance.now() - started),
        },
        'snapshot loaded',
      );
    } finally {
      const held = this.syncBuffer;
      this.syncBuffer = undefined;
      for (const c of held) this.intake(c);
    }
  }

  /** After every page is loaded: drops what the peer no longer has, adopts its vector. */
  private reconcile(vector: Vector, seen: SnapshotKeys | undefined): void {
    const now = Date.now();
    const peerPos = new Map(vector.map(([o, inc, seq]) => [o, { inc, seq }]));
    const covers = (origin: string): boolean => {
      const mine = this.progress.position(origin);
      const theirs = peerPos.get(origin);
      if (!mine) return true;
      if (!theirs) return false;
      return theirs.inc > mine.inc || (theirs.inc === mine.inc && theirs.seq >= mine.seq);
    };
    if (seen) {
      for (const i of [...this.store.allInstances()]) {
        if (!seen.instances.has(instanceKey(i.service, i.id)) && covers(i.ownerNode))
          this.store.dropInstance(i, now);
      }
      for (const s of [...this.store.allSessions()]) {
        if (!seen.sessions.has(s.id) && covers(s.ownerNode)) this.store.dropSession(s, now);
      }
    }
    for (const [origin, inc, seq] of vector) {
      for (const c of this.progress.advanceTo(origin, inc, seq)) this.applyReady(c);
    }
  }

  // --- heartbeats and anti-entropy ---

  private scheduleHeartbeat(delay: number): void {
    if (this.closed) return;
    this.heartbeatTimer = setTimeout(() => {
      this.beat();
      const base = this.deps.options.heartbeatMs;
      this.scheduleHeartbeat(base * (0.8 + Math.random() * 0.4));
    }, delay);
    this.heartbeatTimer.unref();
  }

  private beat(): void {
    const touched = new Map([...this.touchedBefore, ...this.touchedNow]);
    this.touchedBefore = this.touchedNow;
    this.touchedNow = new Map();
    const hb: MessageOf<'heartbeat'> = {
      ...this.state(),
      intervalMs: this.deps.options.heartbeatMs,
    };
    if (touched.size > TOUCHED_MAX) hb.touchedOverflow = true;
    else if (touched.size > 0) hb.touched = [...touched];
    try {
      this.deps.bus.publish(this.deps.subjects.heartbeat, encodeTrusted('heartbeat', hb));
    } catch (err) {
      this.deps.logger.debug({ err }, 'heartbeat not sent');
    }
  }

  private onHeartbeat(msg: BusMessage): void {
    let hb: MessageOf<'heartbeat'>;
    try {
      hb = decodeMessage(msg.data, 'heartbeat');
    } catch (err) {
      this.reject(msg, err);
      return;
    }
    if (hb.node === this.id) return;
    const now = Date.now();
    const { change } = this.peers.observe(hb, now);
    if (change !== 'same')
      this.deps.logger.info({ peer: hb.node, inc: hb.inc, change }, 'peer seen');
    if (!this.ready || this.syncBuffer || !hb.ready) return;
    for (const [origin, inc, seq] of hb.vector) {
      if (origin === this.id && inc === this.deps.incarnation) continue;
      if (this.progress.isBehind(origin, inc, seq)) {
        const pos = this.progress.position(origin);
        const from = pos && pos.inc === inc ? pos.seq + 1 : 1;
        this.requestPull({ origin, inc, from, to: seq }, hb.node);
      }
    }
    if (hb.digest !== this.store.digest && sameVector(hb.vector, this.progress.vector())) {
      this.deps.metrics.digestMismatches.inc();
      this.deps.logger.warn(
        { peer: hb.node, theirs: hb.digest, ours: this.store.digest },
        'equal vectors, different digests',
      );
      if (this.id > hb.node) void this.syncFrom(hb.node, 'digest').catch(() => undefined);
    }
  }
}

/** The records a snapshot had, to find local ones it no longer has. */
interface SnapshotKeys {
  readonly instances: Set<string>;
  readonly sessions: Set<string>;
}

function vectorTotal(v: Vector): number {
  return v.reduce((sum, [, , seq]) => sum + seq, 0);
}

function sameVector(a: Vector, b: Vector): boolean {
  if (a.length !== b.length) return false;
  const map = new Map(a.map(([o, inc, seq]) => [o, `${inc}:${seq}`]));
  return b.every(([o, inc, seq]) => map.get(o) === `${inc}:${seq}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
