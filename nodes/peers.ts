/**
 * The peer table: what each registry node last said in its heartbeat, and whether it is
 * alive. A peer is dead after `deadAfterMs` of silence, measured only while this node itself
 * was healthy: after a stall or bus outage of our own, every peer gets a fresh start.
 */
import type { MessageOf, Vector } from '../protocol/index.js';

export interface PeerState {
  readonly id: string;
  inc: number;
  lastSeen: number;
  ready: boolean;
  vector: Vector;
  digest: string;
  seq: number;
  sessions: number;
  instances: number;
  startedAt: number;
}

export class PeerTable {
  private readonly peers = new Map<string, PeerState>();

  constructor(
    private readonly selfId: string,
    private readonly deadAfterMs: number,
  ) {}

  /** Records a heartbeat; returns the peer and whether it is new, restarted or revived. */
  observe(
    hb: MessageOf<'heartbeat'>,
    now: number,
  ): { peer: PeerState; change: 'new' | 'restarted' | 'revived' | 'same' } {
    const existing = this.peers.get(hb.node);
    let change: 'new' | 'restarted' | 'revived' | 'same' = 'same';
    if (!existing) change = 'new';
    else if (hb.inc > existing.inc) change = 'restarted';
    else if (now - existing.lastSeen > this.deadAfterMs) change = 'revived';
    if (existing && hb.inc < existing.inc) return { peer: existing, change: 'same' }; // a late beat of an old incarnation
    const peer: PeerState = existing ?? {
      id: hb.node,
      inc: hb.inc,
      lastSeen: now,
      ready: hb.ready,
      vector: hb.vector,
      digest: hb.digest,
      seq: hb.seq,
      sessions: hb.sessions,
      instances: hb.instances,
      startedAt: hb.startedAt,
    };
    peer.inc = hb.inc;
    peer.lastSeen = now;
    peer.ready = hb.ready;
    peer.vector = hb.vector;
    peer.digest = hb.digest;
    peer.seq = hb.seq;
    peer.sessions = hb.sessions;
    peer.instances = hb.instances;
    peer.startedAt = hb.startedAt;
    this.peers.set(hb.node, peer);
    return { peer, change };
  }

  get(id: string): PeerState | undefined {
    return this.peers.get(id);
  }

  isAlive(id: string, now: number): boolean {
    if (id === this.selfId) return true;
    const p = this.peers.get(id);
    return p !== undefined && now - p.lastSeen <= this.deadAfterMs;
  }

  alive(now: number): PeerState[] {
    return [...this.peers.values()].filter((p) => now - p.lastSeen <= this.deadAfterMs);
  }

  all(): IterableIterator<PeerState> {
    return this.peers.values();
  }

  /** After our own stall or outage: nobody is judged on silence we could not hear. */
  forgive(now: number): void {
    for (const p of this.peers.values())
      if (now - p.lastSeen <= this.deadAfterMs * 4) p.lastSeen = now;
  }

  /** The janitor: the live, ready node with the lowest id (possibly this one). */
  janitor(now: number, selfReady: boolean): string | undefined {
    let best: string | undefined = selfReady ? this.selfId : undefined;
    for (const p of this.alive(now))
      if (p.ready && (best === undefined || p.id < best)) best = p.id;
    return best;
  }

  /** Forgets peers dead for longer than `forgetAfterMs`. */
  prune(now: number, forgetAfterMs: number): string[] {
    const gone: string[] = [];
    for (const [id, p] of this.peers) {
      if (now - p.lastSeen > forgetAfterMs) {
        this.peers.delete(id);
        gone.push(id);
      }
    }
    return gone;
  }
}
