/**
 * The replicated registry store: every instance and session of the cluster, merged with the
 * rule of protocol/merge.ts, indexed by service and by session, with a per-service revision
 * (for each origin, the seq of its last change to that service) and an incremental digest.
 *
 * The store is pure state: it knows nothing of the network, time or ownership policy.
 * Records are immutable objects; a change replaces them, so a snapshot is an array copy.
 */
import type { Change, Instance, Session, Vector } from '../protocol/index.js';
import { LwwMap, type Version } from '../protocol/index.js';
import { SetDigest } from './digest.js';
import { Interner } from './intern.js';

/** What a change did to the visible state, for local listeners (watch streams, dashboard). */
export type StoreEffect =
  | { readonly kind: 'instance-added'; readonly instance: Instance }
  | { readonly kind: 'instance-updated'; readonly instance: Instance; readonly previous: Instance }
  | { readonly kind: 'instance-removed'; readonly instance: Instance; readonly reason: string }
  | {
      readonly kind: 'session-opened';
      readonly session: Session;
      readonly previous: Session | undefined;
    }
  | { readonly kind: 'session-closed'; readonly session: Session; readonly reason: string };

export interface StoreSnapshot {
  readonly instances: readonly Instance[];
  readonly sessions: readonly Session[];
  readonly tombstones: ReadonlyArray<[string, number, string]>;
  readonly revisions: ReadonlyArray<[string, string, number, number]>;
}

const instanceVersion = (i: Instance): Version => ({ hlc: i.hlc, node: i.ownerNode });
const sessionVersion = (s: Session): Version => ({ hlc: s.hlc, node: s.ownerNode });

export function instanceKey(service: string, id: string): string {
  return `${service}/${id}`;
}

const INSTANCE_PREFIX = 'i:';
const SESSION_PREFIX = 's:';

export interface StoreOptions {
  readonly maxTombstones?: number;
}

export class RegistryStore {
  private readonly instances: LwwMap<Instance>;
  private readonly sessions: LwwMap<Session>;
  private readonly byService = new Map<string, Map<string, Instance>>();
  private readonly bySession = new Map<string, Set<string>>();
  /**
   * Per service, `origin, inc, seq` triples in one flat array: a service has a few origins, and
   * a Map of tuples per service cost ~420 B where this costs ~170.
   */
  private readonly revisions = new Map<string, (string | number)[]>();
  private readonly digestOf = new SetDigest();
  /** Records (instances and sessions) per owner node: the janitor's quick "anyone dead?". */
  private readonly perOwner = new Map<string, number>();
  /** Canonical copies of the values records repeat (nodes/intern.ts). */
  private readonly interner = new Interner();

  constructor(options: StoreOptions = {}) {
    this.instances = new LwwMap(instanceVersion, options);
    this.sessions = new LwwMap(sessionVersion, options);
  }

  get instanceCount(): number {
    return this.instances.size;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get tombstoneCount(): number {
    return this.instances.tombstoneCount + this.sessions.tombstoneCount;
  }

  get digest(): string {
    return this.digestOf.toString();
  }

  /** Applies one change. Returns its visible effect, or undefined when it changed nothing. */
  apply(change: Change, now: number): StoreEffect | undefined {
    switch (change.op) {
      case 'put': {
        this.noteRevision(change.instance.service, change);
        return this.putInstance(change.instance);
      }
      case 'del': {
        this.noteRevision(change.service, change);
        return this.delInstance(
          change.service,
          change.id,
          { hlc: change.ifHlc, node: change.ifNode },
          now,
          change.reason,
        );
      }
      case 'sput':
        return this.putSession(change.session);
      case 'sdel':
        return this.delSession(
          change.id,
          { hlc: change.ifHlc, node: change.ifNode },
          now,
          change.reason,
        );
    }
  }

  getInstance(service: string, id: string): Instance | undefined {
    return this.instances.get(instanceKey(service, id));
  }

  /** The live instances of one service (a read-only view: do not mutate). */
  service(service: string): ReadonlyMap<string, Instance> | undefined {
    return this.byService.get(service);
  }

  serviceNames(): IterableIterator<string> {
    return this.byService.keys();
  }

  services(): IterableIterator<[string, ReadonlyMap<string, Instance>]> {
    return this.byService.entries();
  }

  getSession(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  allSessions(): IterableIterator<Session> {
    return this.sessions.values();
  }

  allInstances(): IterableIterator<Instance> {
    return this.instances.values();
  }

  /** Owner nodes of at least one record. */
  owners(): IterableIterator<string> {
    return this.perOwner.keys();
  }

  /** How many instances name this session. */
  sessionInstanceCount(sessionId: string): number {
    return this.bySession.get(sessionId)?.size ?? 0;
  }

  /** Instances whose record names this session (whoever owns them now). */
  instancesOfSession(sessionId: string): Instance[] {
    const keys = this.bySession.get(sessionId);
    if (!keys) return [];
    const out: Instance[] = [];
    for (const key of keys) {
      const inst = this.instances.get(key);
      if (inst) out.push(inst);
    }
    return out;
  }

  /** A service's revision: per origin, `[origin, inc, seq of its last change to the service]`. */
  revision(service: string): Vector {
    const rev = this.revisions.get(service);
    if (!rev) return [];
    const out: Vector = [];
    for (let i = 0; i < rev.length; i += 3)
      out.push([rev[i] as string, rev[i + 1] as number, rev[i + 2] as number]);
    return out;
  }

  /** The seq of `origin`'s last change to `service` in incarnation `inc` (0 if none). */
  lastSeqFor(service: string, origin: string, inc: number): number {
    const rev = this.revisions.get(service);
    if (!rev) return 0;
    for (let i = 0; i < rev.length; i += 3)
      if (rev[i] === origin) return rev[i + 1] === inc ? (rev[i + 2] as number) : 0;
    return 0;
  }

  /** Every service revision entry, `[service, origin, inc, seq]`. */
  revisionEntries(): [string, string, number, number][] {
    const out: [string, string, number, number][] = [];
    for (const [service, rev] of this.revisions)
      for (let i = 0; i < rev.length; i += 3)
        out.push([service, rev[i] as string, rev[i + 1] as number, rev[i + 2] as number]);
    return out;
  }

  /**
   * Removes a record without a logged change (reconciling with a peer's snapshot that no
   * longer has it). The removal leaves a tombstone like any other.
   */
  dropInstance(instance: Instance, now: number): void {
    this.delInstance(instance.service, instance.id, instanceVersion(instance), now, 'reconciled');
  }

  dropSession(session: Session, now: number): void {
    this.delSession(session.id, sessionVersion(session), now, 'reconciled');
  }

  /** A point-in-time copy of every record and tombstone (records are immutable). */
  snapshot(): StoreSnapshot {
    const tombstones: [string, number, string][] = [];
    for (const [key, t] of this.instances.tombstoneEntries())
      tombstones.push([INSTANCE_PREFIX + key, t.hlc, t.node]);
    for (const [key, t] of this.sessions.tombstoneEntries())
      tombstones.push([SESSION_PREFIX + key, t.hlc, t.node]);
    return {
      instances: [...this.instances.values()],
      sessions: [...this.sessions.values()],
      tombstones,
      revisions: this.revisionEntries(),
    };
  }

  /** Loads part of a snapshot (records and tombstones merge like changes). */
  load(part: Partial<StoreSnapshot>, now: number): void {
    for (const [key, hlc, node] of part.tombstones ?? []) {
      if (key.startsWith(INSTANCE_PREFIX)) {
        const [service, id] = splitInstanceKey(key.slice(INSTANCE_PREFIX.length));
        if (service && id) this.delInstance(service, id, { hlc, node }, now, 'snapshot');
      } else if (key.startsWith(SESSION_PREFIX)) {
        this.delSession(key.slice(SESSION_PREFIX.length), { hlc, node }, now, 'snapshot');
      }
    }
    for (const s of part.sessions ?? []) this.putSession(s);
    for (const i of part.instances ?? []) this.putInstance(i);
    for (const [service, origin, inc, seq] of part.revisions ?? [])
      this.setRevision(service, origin, inc, seq);
  }

  /** Restores a service revision received with a snapshot or query. */
  setRevision(service: string, origin: string, inc: number, seq: number): void {
    const rev = this.revisions.get(service);
    if (!rev) {
      this.revisions.set(this.interner.string(service), [this.interner.string(origin), inc, seq]);
      return;
    }
    for (let i = 0; i < rev.length; i += 3) {
      if (rev[i] !== origin) continue;
      const curInc = rev[i + 1] as number;
      if (curInc < inc || (curInc === inc && (rev[i + 2] as number) < seq)) {
        rev[i + 1] = inc;
        rev[i + 2] = seq;
      }
      return;
    }
    // a new origin for this service (rare): a copy one entry longer, so the array stays exact
    this.revisions.set(service, [...rev, this.interner.string(origin), inc, seq]);
  }

  /** Forgets tombstones older than `before` (ms). */
  expireTombstones(before: number): number {
    return this.instances.expireTombstones(before) + this.sessions.expireTombstones(before);
  }

  private noteRevision(service: string, change: Change): void {
    this.setRevision(service, change.origin, change.inc, change.seq);
  }

  private putInstance(instance: Instance): StoreEffect | undefined {
    // Kept records hold canonical values, and their key is one flat string (not a
    // concatenation of two): ~200 B less per instance (docs/benchmarks.md, "The RSS gap").
    this.interner.instance(instance);
    const key = flatKey(instanceKey(instance.service, instance.id));
    let previous: Instance | undefined;
    const outcome = this.instances.put(key, instance, (prev) => {
      previous = prev;
    });
    if (outcome === 'ignored') return undefined;
    if (previous) this.unindex(key, previous);
    this.index(key, instance);
    return previous
      ? { kind: 'instance-updated', instance, previous }
      : { kind: 'instance-added', instance };
  }

  private delInstance(
    service: string,
    id: string,
    version: Version,
    now: number,
    reason: string,
  ): StoreEffect | undefined {
    const key = instanceKey(service, id);
    let removed: Instance | undefined;
    this.instances.del(key, version, now, (prev) => {
      removed = prev;
    });
    if (!removed) return undefined;
    this.unindex(key, removed);
    return { kind: 'instance-removed', instance: removed, reason };
  }

  private putSession(session: Session): StoreEffect | undefined {
    this.interner.session(session);
    let previous: Session | undefined;
    const outcome = this.sessions.put(session.id, session, (prev) => {
      previous = prev;
    });
    if (outcome === 'ignored') return undefined;
    if (previous)
      this.digestOf.toggle(SESSION_PREFIX + previous.id, previous.hlc, previous.ownerNode);
    this.digestOf.toggle(SESSION_PREFIX + session.id, session.hlc, session.ownerNode);
    return { kind: 'session-opened', session, previous };
  }

  private delSession(
    id: string,
    version: Version,
    now: number,
    reason: string,
  ): StoreEffect | undefined {
    let removed: Session | undefined;
    this.sessions.del(id, version, now, (prev) => {
      removed = prev;
    });
    if (!removed) return undefined;
    this.digestOf.toggle(SESSION_PREFIX + removed.id, removed.hlc, removed.ownerNode);
    this.countOwner(removed.ownerNode, -1);
    return { kind: 'session-closed', session: removed, reason };
  }

  private index(key: string, inst: Instance): void {
    let svc = this.byService.get(inst.service);
    if (!svc) {
      svc = new Map();
      this.byService.set(inst.service, svc);
    }
    svc.set(inst.id, inst);
    let keys = this.bySession.get(inst.sessionId);
    if (!keys) {
      keys = new Set();
      this.bySession.set(inst.sessionId, keys);
    }
    keys.add(key);
    this.digestOf.toggle(INSTANCE_PREFIX + key, inst.hlc, inst.ownerNode);
    this.countOwner(inst.ownerNode, 1);
  }

  private countOwner(owner: string, delta: number): void {
    const n = (this.perOwner.get(owner) ?? 0) + delta;
    if (n > 0) this.perOwner.set(owner, n);
    else this.perOwner.delete(owner);
  }

  private unindex(key: string, inst: Instance): void {
    const svc = this.byService.get(inst.service);
    if (svc) {
      svc.delete(inst.id);
      if (svc.size === 0) this.byService.delete(inst.service);
    }
    const keys = this.bySession.get(inst.sessionId);
    if (keys) {
      keys.delete(key);
      if (keys.size === 0) this.bySession.delete(inst.sessionId);
    }
    this.digestOf.toggle(INSTANCE_PREFIX + key, inst.hlc, inst.ownerNode);
    this.countOwner(inst.ownerNode, -1);
  }
}

/**
 * The flat form of a key built by concatenation (V8 keeps `a + b` as a pair of pointers to
 * its parts until flattened). Keys are ASCII (service and id patterns), which `normalize()`
 * leaves as they are.
 */
function flatKey(key: string): string {
  return key.normalize();
}

function splitInstanceKey(key: string): [string | undefined, string | undefined] {
  const slash = key.indexOf('/');
  return slash < 0 ? [undefined, undefined] : [key.slice(0, slash), key.slice(slash + 1)];
}
