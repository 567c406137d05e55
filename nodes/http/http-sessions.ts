/**
 * Sessions for clients that speak HTTP instead of NATS. A session opened over HTTP is an
 * ordinary registry session whose requests arrive over HTTP: registration goes through
 * `node.sessions.register` and renew, close and deregister through `node.sessions.handle`,
 * exactly as the NATS subjects do, so ownership, leases, expiry and replication are the
 * same. The node keeps only the secret's hash.
 *
 * `POST /v1/sessions` hands out an id and a secret before any instance exists. Until the
 * first registration such a session is pending here (a hash and a TTL, expiring like a
 * lease); the first `PUT …/instances/{id}` turns it into a replicated session owned by this
 * node. A client whose node died re-sends its PUTs to another node with the same id and
 * secret: the session moves there, as a NATS client's does.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  Id,
  InstanceInput,
  Limits,
  type MessageOf,
  MessageSchemas,
  RosterError,
  Secret,
  schema,
  TtlMs,
} from '../../protocol/index.js';
import type { RegistryNode } from '../registry-node.js';
import { hashSecret } from '../sessions.js';

const SessionName = schema.optional(schema.string({ max: Limits.maxTextLength }));

export const OpenSessionBody = schema.object({
  ttlMs: schema.optional(TtlMs),
  name: SessionName,
});

export const Credentials = schema.object({ sessionId: Id, secret: Secret });

const RegisterCredentials = schema.object({
  sessionId: Id,
  secret: Secret,
  ttlMs: schema.optional(TtlMs),
  name: SessionName,
});

export interface OpenedSession {
  readonly sessionId: string;
  /** Shown once; the node keeps only its hash. */
  readonly secret: string;
  readonly ttlMs: number;
  readonly node: string;
}

export interface SessionState {
  readonly sessionId: string;
  readonly ttlMs: number;
  readonly node: string;
  /** True while no instance has been registered yet. */
  readonly pending: boolean;
}

interface Pending {
  readonly secretHash: string;
  readonly ttlMs: number;
  readonly name: string | undefined;
  expiresAt: number;
}

export interface HttpSessionsOptions {
  /** Pending (instance-less) sessions held at most (default 10 000). */
  readonly maxPending?: number;
}

export class HttpSessions {
  private readonly pending = new Map<string, Pending>();
  private readonly maxPending: number;

  constructor(
    private readonly node: RegistryNode,
    options: HttpSessionsOptions = {},
  ) {
    this.maxPending = options.maxPending ?? 10_000;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  open(body: unknown, now: number): OpenedSession {
    this.assertReady();
    const input = OpenSessionBody.parse(body ?? {});
    this.expire(now);
    if (this.pending.size >= this.maxPending) {
      throw new RosterError(
        'ROSTER_ERR_LIMIT_EXCEEDED',
        `at most ${this.maxPending} sessions may wait for their first instance`,
        { limit: this.maxPending },
      );
    }
    const sessionId = `h-${randomBytes(12).toString('base64url')}`;
    const secret = randomBytes(24).toString('base64url');
    const ttlMs = input.ttlMs ?? this.node.options.defaultTtlMs;
    this.pending.set(sessionId, {
      secretHash: hashSecret(secret),
      ttlMs,
      name: input.name,
      expiresAt: now + ttlMs,
    });
    return { sessionId, secret, ttlMs, node: this.node.id };
  }

  renew(sessionId: string, secret: string, now: number): SessionState {
    this.assertReady();
    const creds = Credentials.parse({ sessionId, secret });
    const p = this.pendingFor(creds.sessionId, creds.secret, now);
    if (p) {
      p.expiresAt = now + p.ttlMs;
      return { sessionId: creds.sessionId, ttlMs: p.ttlMs, node: this.node.id, pending: true };
    }
    const reply = this.node.sessions.handle({ op: 'renew', ...creds }, now);
    return { sessionId: creds.sessionId, ttlMs: reply.ttlMs, node: this.node.id, pending: false };
  }

  close(sessionId: string, secret: string, now: number): void {
    this.assertReady();
    const creds = Credentials.parse({ sessionId, secret });
    if (this.pendingFor(creds.sessionId, creds.secret, now)) {
      this.pending.delete(creds.sessionId);
      return;
    }
    this.node.sessions.handle({ op: 'close', ...creds }, now);
  }

  /** Registers (or replaces) `service/instanceId` under the body's session. */
  register(
    service: string,
    instanceId: string,
    body: unknown,
    now: number,
  ): MessageOf<'registerReply'> {
    this.assertReady();
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new RosterError('ROSTER_ERR_INVALID_MESSAGE', 'body: expected a JSON object');
    }
    const fields = body as Record<string, unknown>;
    const creds = RegisterCredentials.parse(fields);
    for (const [key, value] of [
      ['service', service],
      ['id', instanceId],
    ] as const) {
      if (fields[key] !== undefined && fields[key] !== value) {
        throw new RosterError(
          'ROSTER_ERR_INVALID_MESSAGE',
          `${key}: the body says ${JSON.stringify(fields[key])}, the path ${JSON.stringify(value)}`,
          { path: key },
        );
      }
    }
    const { sessionId: _s, secret: _k, ttlMs: _t, name: _n, ...rest } = fields;
    const instance = InstanceInput.parse({
      tags: [],
      meta: {},
      weight: 1,
      ...rest,
      id: instanceId,
      service,
    });
    const p = this.pendingFor(creds.sessionId, creds.secret, now);
    const known = this.node.store.getSession(creds.sessionId);
    const ttlMs = p?.ttlMs ?? creds.ttlMs ?? known?.ttlMs ?? this.node.options.defaultTtlMs;
    const name = p?.name ?? creds.name ?? known?.name;
    const request = MessageSchemas.registerRequest.parse({
      session: {
        id: creds.sessionId,
        secret: creds.secret,
        ttlMs,
        ...(name === undefined ? {} : { name }),
      },
      instance,
    });
    const reply = this.node.sessions.register(request, now);
    this.pending.delete(creds.sessionId);
    return reply;
  }

  /** Deregisters `service/instanceId`, which must belong to the session. */
  deregister(
    service: string,
    instanceId: string,
    sessionId: string,
    secret: string,
    now: number,
  ): void {
    this.assertReady();
    const creds = Credentials.parse({ sessionId, secret });
    const notFound = new RosterError(
      'ROSTER_ERR_NOT_FOUND',
      `instance ${service}/${instanceId} is not registered in session ${creds.sessionId}`,
      { service, instanceId },
    );
    if (this.pendingFor(creds.sessionId, creds.secret, now)) throw notFound;
    const request = MessageSchemas.sessionRequest.parse({
      op: 'deregister',
      ...creds,
      service,
      instanceId,
    });
    const before = this.node.store.getInstance(service, instanceId);
    this.node.sessions.handle(request, now);
    if (!before || before.sessionId !== creds.sessionId) throw notFound;
  }

  /** Forgets pending sessions whose TTL ran out. */
  expire(now: number): number {
    let n = 0;
    for (const [id, p] of this.pending) {
      if (p.expiresAt <= now) {
        this.pending.delete(id);
        n++;
      }
    }
    return n;
  }

  /** The pending session `sessionId` (checking its secret), or undefined when not pending. */
  private pendingFor(sessionId: string, secret: string, now: number): Pending | undefined {
    const p = this.pending.get(sessionId);
    if (!p) return undefined;
    if (p.expiresAt <= now) {
      this.pending.delete(sessionId);
      return undefined;
    }
    const a = Buffer.from(p.secretHash, 'hex');
    const b = Buffer.from(hashSecret(secret), 'hex');
    if (!timingSafeEqual(a, b)) {
      throw new RosterError(
        'ROSTER_ERR_SESSION_SECRET',
        `the secret for session ${sessionId} does not match`,
        { sessionId },
      );
    }
    return p;
  }

  private assertReady(): void {
    if (!this.node.ready) {
      throw new RosterError('ROSTER_ERR_NOT_READY', `node ${this.node.id} is still catching up`, {
        node: this.node.id,
      });
    }
  }
}
