/**
 * Orphans: records whose owner node is dead. They stay visible for one session TTL plus a
 * grace period after the owner was first seen dead, so live clients can re-register with
 * another node without their instances ever leaving a pool. Whatever is still owned by the
 * dead node after that is removed, through the log, by one deterministic janitor: the live,
 * ready node with the lowest id.
 */
import type { Instance } from '../protocol/index.js';
import type { PeerTable } from './peers.js';
import type { RegistryStore } from './store.js';

export interface OrphanActions {
  removeInstance(inst: Instance): void;
  removeSession(sessionId: string): void;
}

export class Janitor {
  /** When each dead owner was first seen dead. */
  private readonly deadSince = new Map<string, number>();

  constructor(
    private readonly selfId: string,
    private readonly store: RegistryStore,
    private readonly peers: PeerTable,
    private readonly graceMs: number,
    private readonly defaultTtlMs: number,
  ) {}

  /** Forget every judgement (after our own stall or outage). */
  reset(): void {
    this.deadSince.clear();
  }

  /** One pass: notes dead owners, and removes their expired orphans when this node is the janitor. */
  sweep(now: number, selfReady: boolean, actions: OrphanActions): number {
    const dead = new Set<string>();
    const isDead = (owner: string): boolean => {
      if (owner === this.selfId) return false;
      if (dead.has(owner)) return true;
      if (this.peers.isAlive(owner, now)) return false;
      dead.add(owner);
      return true;
    };
    // The common case, everyone alive, costs one look per owner node, not per record.
    let anyDead = false;
    for (const owner of this.store.owners()) if (isDead(owner)) anyDead = true;
    if (!anyDead) {
      this.deadSince.clear();
      return 0;
    }
    const ttlBySession = new Map<string, number>();
    for (const s of this.store.allSessions()) ttlBySession.set(s.id, s.ttlMs);
    const orphanSessions: string[] = [];
    for (const s of this.store.allSessions()) if (isDead(s.ownerNode)) orphanSessions.push(s.id);
    const orphanInstances: Instance[] = [];
    for (const inst of this.store.allInstances())
      if (isDead(inst.ownerNode)) orphanInstances.push(inst);

    for (const owner of dead) if (!this.deadSince.has(owner)) this.deadSince.set(owner, now);
    for (const owner of this.deadSince.keys()) if (!dead.has(owner)) this.deadSince.delete(owner);
    if (this.peers.janitor(now, selfReady) !== this.selfId) return 0;

    const expired = (owner: string, sessionId: string): boolean => {
      const since = this.deadSince.get(owner) ?? now;
      return now - since > (ttlBySession.get(sessionId) ?? this.defaultTtlMs) + this.graceMs;
    };
    let removed = 0;
    for (const inst of orphanInstances) {
      if (expired(inst.ownerNode, inst.sessionId)) {
        actions.removeInstance(inst);
        removed++;
      }
    }
    for (const id of orphanSessions) {
      const s = this.store.getSession(id);
      if (
        s &&
        expired(s.ownerNode, s.id) &&
        this.store.instancesOfSession(id).every((i) => isDead(i.ownerNode))
      ) {
        actions.removeSession(id);
        removed++;
      }
    }
    return removed;
  }
}
