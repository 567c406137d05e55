/**
 * Ownership: the sessions and instances this node owns. Registration (first time, or moving
 * a session here after its owner died, which moves all its instances too), renewals,
 * updates, deregistration and expiry. Every write goes through the replicator's log as a
 * change of this node's own.
 */
import { createHash } from 'node:crypto';
import {
  type HybridLogicalClock,
  type Instance,
  type MessageOf,
  type RemoveReason,
  RosterError,
  type Session,
} from '../protocol/index.js';
import type { Logger } from '../transport/logger.js';
import { type Lease, LeaseTable } from './leases.js';
import type { NodeMetrics } from './node-metrics.js';
import type { ResolvedNodeOptions } from './node-options.js';
import type { Replicator } from './replicator.js';

/** Only the hash of a session secret is kept anywhere (not the secret, not even in a cache). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

type SessionRequest = MessageOf<'sessionRequest'>;

export class SessionManager {
  readonly leases = new LeaseTable();

  constructor(
    private readonly replicator: Replicator,
    private readonly clock: HybridLogicalClock,
    private readonly options: ResolvedNodeOptions,
    private readonly metrics: NodeMetrics,
    private readonly logger: Logger,
  ) {}

  private get id(): string {
    return this.options.id;
  }

  private get store() {
    return this.replicator.store;
  }

  /** Registers (or re-registers) an instance under the caller's session, taking the session over if needed. */
  register(req: MessageOf<'registerRequest'>, now: number): MessageOf<'registerReply'> {
    const secretHash = hashSecret(req.session.secret);
    const lease = this.ensureLease(
      req.session.id,
      secretHash,
      req.session.ttlMs,
      req.session.name,
      now,
    );
    const input = req.instance;
    const previous = this.store.getInstance(input.service, input.id);
    if (!previous || previous.sessionId !== lease.sessionId) {
      const held = this.store.sessionInstanceCount(lease.sessionId);
      if (held >= this.options.maxInstancesPerSession) {
        throw new RosterError(
          'ROSTER_ERR_LIMIT_EXCEEDED',
          `a session may hold at most ${this.options.maxInstancesPerSession} instances`,
          {
            limit: this.options.maxInstancesPerSession,
          },
        );
      }
    }
    const hlc = this.clock.tick();
    const instance: Instance = Object.assign({}, input, {
      status: input.status ?? previous?.status ?? 'passing',
      sessionId: lease.sessionId,
      ownerNode: this.id,
      registeredAt: previous?.registeredAt ?? now,
      hlc,
    });
    this.replicator.commit({ op: 'put', instance }, hlc);
    return {
      ownerNode: this.id,
      sessionId: lease.sessionId,
      instanceId: instance.id,
      ttlMs: lease.ttlMs,
      hlc,
    };
  }

  /** Renew, close, deregister or update, for the holder of the session only. */
  handle(req: SessionRequest, now: number): MessageOf<'sessionReply'> {
    const lease = this.ownedLease(req.sessionId, hashSecret(req.secret), now);
    switch (req.op) {
      case 'renew':
        this.leases.renew(lease, now);
        break;
      case 'close':
        this.endSession(lease.sessionId, 'deregister');
        break;
      case 'deregister': {
        const inst = this.store.getInstance(req.service, req.instanceId);
        if (inst && inst.sessionId === lease.sessionId) this.remove(inst, 'deregister');
        break;
      }
      case 'update': {
        const inst = this.store.getInstance(req.service, req.instanceId);
        if (!inst || inst.sessionId !== lease.sessionId) {
          throw new RosterError(
            'ROSTER_ERR_NOT_FOUND',
            `instance ${req.service}/${req.instanceId} is not registered in this session`,
          );
        }
        const hlc = this.clock.tick();
        const next: Instance = withVersion(inst, this.id, hlc);
        if (req.status !== undefined) next.status = req.status;
        if (req.tags !== undefined) next.tags = req.tags;
        if (req.meta !== undefined) next.meta = req.meta;
        if (req.weight !== undefined) next.weight = req.weight;
        if (req.check !== undefined) next.check = req.check;
        this.replicator.commit({ op: 'put', instance: next }, hlc);
        break;
      }
    }
    return { ttlMs: lease.ttlMs, hlc: this.clock.current };
  }

  /** Sets an owned instance's status (from an active health check). */
  setStatus(inst: Instance, status: Instance['status']): void {
    if (inst.ownerNode !== this.id || inst.status === status || inst.status === 'draining') return;
    const hlc = this.clock.tick();
    this.replicator.commit(
      { op: 'put', instance: Object.assign(withVersion(inst, inst.ownerNode, hlc), { status }) },
      hlc,
    );
  }

  /** Expires overdue leases. */
  tick(now: number): void {
    for (const lease of this.leases.takeExpired(now)) {
      this.metrics.expiries.inc();
      this.logger.info({ session: lease.sessionId }, 'session expired');
      this.endSession(lease.sessionId, 'expired', false);
    }
  }

  /** After catching up: adopt sessions the store says we own but we hold no lease for (a restart). */
  adoptRecovered(now: number): void {
    for (const s of this.store.allSessions()) {
      if (s.ownerNode === this.id && !this.leases.has(s.id)) {
        this.leases.grant(s.id, s.ttlMs, s.secretHash, now + this.options.orphanGraceMs);
      }
    }
  }

  /**
   * Another node removed a record we still hold a live lease for (the janitor judged us
   * dead while we were only slow or cut off): write it again, newer, so it comes back.
   */
  reassert(removed: Instance): void {
    if (removed.ownerNode !== this.id || !this.leases.has(removed.sessionId)) return;
    const hlc = this.clock.tick();
    this.replicator.commit(
      { op: 'put', instance: withVersion(removed, removed.ownerNode, hlc) },
      hlc,
    );
    this.logger.warn(
      { instance: `${removed.service}/${removed.id}` },
      'instance removed by a peer while its lease is live: restored',
    );
  }

  reassertSession(removed: Session): void {
    if (removed.ownerNode !== this.id || !this.leases.has(removed.id)) return;
    const hlc = this.clock.tick();
    this.replicator.commit({ op: 'sput', session: Object.assign({}, removed, { hlc }) }, hlc);
  }

  /** A session moved to another node: stop owning it here. */
  released(sessionId: string): void {
    if (this.leases.release(sessionId))
      this.logger.info({ session: sessionId }, 'session moved to another node');
  }

  /** Removes an instance at its current version (conditional: a newer version survives). */
  remove(inst: Instance, reason: RemoveReason): void {
    this.replicator.commit(
      {
        op: 'del',
        service: inst.service,
        id: inst.id,
        ifHlc: inst.hlc,
        ifNode: inst.ownerNode,
        reason,
      },
      this.clock.tick(),
    );
  }

  /** Removes a session and every instance it holds, then the session record. */
  endSession(sessionId: string, reason: RemoveReason, release = true): void {
    if (release) this.leases.release(sessionId);
    for (const inst of this.store.instancesOfSession(sessionId)) this.remove(inst, reason);
    const session = this.store.getSession(sessionId);
    if (session) {
      this.replicator.commit(
        { op: 'sdel', id: sessionId, ifHlc: session.hlc, ifNode: session.ownerNode, reason },
        this.clock.tick(),
      );
    }
  }

  /** The lease for a session this node owns or recovers; registration may create or move it here. */
  private ensureLease(
    sessionId: string,
    secretHash: string,
    ttlMs: number,
    name: string | undefined,
    now: number,
  ): Lease {
    const held = this.leases.get(sessionId);
    if (held) {
      if (held.secretHash !== secretHash) throw secretMismatch(sessionId);
      this.leases.renew(held, now);
      return held;
    }
    const existing = this.store.getSession(sessionId);
    if (existing && existing.secretHash !== secretHash) throw secretMismatch(sessionId);
    const hlc = this.clock.tick();
    this.replicator.commit(
      {
        op: 'sput',
        session: {
          id: sessionId,
          ownerNode: this.id,
          ttlMs,
          ...(name === undefined ? {} : { name }),
          secretHash,
          openedAt: existing?.openedAt ?? now,
          hlc,
        },
      },
      hlc,
    );
    if (existing && existing.ownerNode !== this.id) {
      // The session's instances move with it, at once: none is left to an owner that may be dead.
      for (const inst of this.store.instancesOfSession(sessionId)) {
        if (inst.ownerNode === this.id) continue;
        const at = this.clock.tick();
        this.replicator.commit({ op: 'put', instance: withVersion(inst, this.id, at) }, at);
      }
      this.logger.info({ session: sessionId, from: existing.ownerNode }, 'session moved here');
    }
    return this.leases.grant(sessionId, ttlMs, secretHash, now);
  }

  /** The lease of a session we own, for renew and changes; recovers one after our own restart. */
  private ownedLease(sessionId: string, secretHash: string, now: number): Lease {
    const held = this.leases.get(sessionId);
    if (held) {
      if (held.secretHash !== secretHash) throw secretMismatch(sessionId);
      return held;
    }
    const session = this.store.getSession(sessionId);
    if (!session || session.ownerNode !== this.id) {
      throw new RosterError(
        'ROSTER_ERR_UNKNOWN_SESSION',
        `session ${sessionId} is not held by node ${this.id}`,
        {
          sessionId,
          node: this.id,
        },
      );
    }
    if (session.secretHash !== secretHash) throw secretMismatch(sessionId);
    return this.leases.grant(sessionId, session.ttlMs, secretHash, now);
  }
}

function secretMismatch(sessionId: string): RosterError {
  return new RosterError(
    'ROSTER_ERR_SESSION_SECRET',
    `the secret for session ${sessionId} does not match`,
    { sessionId },
  );
}

/**
 * A copy of `inst` at a new version. Object.assign keeps one V8 hidden class for all
 * records, where `{ ...inst, more }` would make a new one per record.
 */
function withVersion(inst: Instance, ownerNode: string, hlc: number): Instance {
  return Object.assign({}, inst, { ownerNode, hlc });
}
