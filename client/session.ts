/**
 * The process's one session with the registry: a lease renewed at about TTL/3 (jittered),
 * holding every instance this process registered. When the owning node stops answering, or
 * answers that it does not know the session, or NATS reconnects after an outage, every
 * instance is registered again with the same ids through the node queue group; the node that
 * answers becomes the owner and the session moves there with all its instances, well within
 * one TTL, so no watcher ever sees them removed.
 */
import { randomBytes } from 'node:crypto';
import {
  decodeAs,
  type ErrorCode,
  encode,
  encodeTrusted,
  type InstanceInput,
  isRosterError,
  type MessageOf,
  RosterError,
  type Subjects,
} from '../protocol/index.js';
import type { Bus } from '../transport/bus.js';
import type { Logger } from '../transport/logger.js';

export interface SessionOptions {
  readonly ttlMs: number;
  readonly name?: string;
  readonly requestTimeoutMs: number;
  /** Registrations re-sent in parallel during recovery. */
  readonly recoveryConcurrency?: number;
}

/** Errors after which the session is re-established through the queue group. */
const RECOVERABLE: ReadonlySet<ErrorCode> = new Set([
  'ROSTER_ERR_UNKNOWN_SESSION',
  'ROSTER_ERR_NO_RESPONDERS',
  'ROSTER_ERR_TIMEOUT',
  'ROSTER_ERR_NOT_CONNECTED',
]);

export class ClientSession {
  readonly id = `s-${randomBytes(9).toString('base64url')}`;
  private readonly secret = randomBytes(24).toString('hex');
  private readonly registered = new Map<string, InstanceInput>();
  private owner: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private offStatus: (() => void) | undefined;
  private recovering: Promise<void> | undefined;
  private closed = false;
  /** Resolves pending writes in order, so a deregister never overtakes its register. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly bus: Bus,
    private readonly subjects: Subjects,
    private readonly options: SessionOptions,
    private readonly logger: Logger,
  ) {
    this.offStatus = bus.onStatus((s) => {
      if (s.type === 'reconnect') void this.renewNow();
    });
  }

  /**
   * Session requests wait at most a quarter of the TTL, so that a hung owner is given up
   * on, and the session moved, well within one TTL.
   */
  private get timeoutMs(): number {
    return Math.min(
      this.options.requestTimeoutMs,
      Math.max(250, Math.floor(this.options.ttlMs / 4)),
    );
  }

  /** The node that owns the session now (undefined before the first registration). */
  get ownerNode(): string | undefined {
    return this.owner;
  }

  get instanceCount(): number {
    return this.registered.size;
  }

  /** Registers (or replaces) an instance; resolves once the owning node acknowledged it. */
  register(input: InstanceInput): Promise<MessageOf<'registerReply'>> {
    return this.serial(async () => {
      const reply = await this.sendRegister(input);
      this.registered.set(keyOf(input.service, input.id), input);
      this.ensureHeartbeat();
      return reply;
    });
  }

  /** Changes an instance's status, tags, meta, weight or check. */
  update(
    service: string,
    instanceId: string,
    patch: Omit<
      Extract<MessageOf<'sessionRequest'>, { op: 'update' }>,
      'op' | 'sessionId' | 'secret' | 'instanceId' | 'service'
    >,
  ): Promise<void> {
    return this.serial(async () => {
      const key = keyOf(service, instanceId);
      const current = this.registered.get(key);
      if (!current)
        throw new RosterError(
          'ROSTER_ERR_NOT_FOUND',
          `instance ${key} is not registered by this client`,
        );
      this.registered.set(key, { ...current, ...patch });
      await this.changeAtOwner({
        op: 'update',
        sessionId: this.id,
        secret: this.secret,
        instanceId,
        service,
        ...patch,
      });
    });
  }

  /** Deregisters one instance; resolves once the cluster acknowledged it. */
  deregister(service: string, instanceId: string): Promise<void> {
    return this.serial(async () => {
      const key = keyOf(service, instanceId);
      if (!this.registered.delete(key)) return;
      await this.changeAtOwner({
        op: 'deregister',
        sessionId: this.id,
        secret: this.secret,
        instanceId,
        service,
      });
    });
  }

  /** Marks every instance draining (pools stop picking them); the session stays alive. */
  drainAll(): Promise<void> {
    return this.serial(async () => {
      for (const [key, input] of this.registered) {
        if (input.status === 'draining') continue;
        this.registered.set(key, { ...input, status: 'draining' });
        await this.changeAtOwner({
          op: 'update',
          sessionId: this.id,
          secret: this.secret,
          instanceId: input.id,
          service: input.service,
          status: 'draining',
        });
      }
    });
  }

  /** Ends the session: every instance is removed before this resolves. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.offStatus?.();
    await this.chain.catch(() => undefined);
    if (this.owner !== undefined && this.registered.size > 0) {
      try {
        await this.changeAtOwner({ op: 'close', sessionId: this.id, secret: this.secret });
      } catch (err) {
        this.logger.warn({ err }, 'closing the session failed; its instances expire with the TTL');
      }
    }
    this.registered.clear();
  }

  /** Renews at once (after a reconnect); recovers if the owner is gone. */
  async renewNow(): Promise<void> {
    if (this.closed || this.registered.size === 0) return;
    try {
      await this.sessionRequest({ op: 'renew', sessionId: this.id, secret: this.secret });
    } catch (err) {
      if (isRosterError(err) && RECOVERABLE.has(err.code)) await this.recover(err.code);
      else this.logger.warn({ err }, 'renewal failed');
    }
  }

  private ensureHeartbeat(): void {
    if (this.timer || this.closed) return;
    const schedule = () => {
      const period = (this.options.ttlMs / 3) * (0.8 + Math.random() * 0.2);
      this.timer = setTimeout(async () => {
        await this.renewNow();
        if (!this.closed) schedule();
      }, period);
      this.timer.unref();
    };
    schedule();
  }

  /** Registers every instance again through the queue group (one recovery at a time). */
  private recover(reason: string): Promise<void> {
    if (!this.recovering) {
      this.recovering = this.serial(() => this.reregisterAll(reason))
        .catch((err: unknown) =>
          this.logger.warn(
            { err, reason },
            'session recovery failed; retrying at the next heartbeat',
          ),
        )
        .finally(() => {
          this.recovering = undefined;
        });
    }
    return this.recovering;
  }

  private async reregisterAll(reason: string): Promise<void> {
    const from = this.owner;
    this.owner = undefined;
    const all = [...this.registered.values()];
    const concurrency = this.options.recoveryConcurrency ?? 32;
    // The first registration picks the new owner; the rest go straight to it.
    const [first, ...rest] = all;
    // A hung node still holds its place in the queue group until NATS drops it: retry quickly.
    for (let attempt = 1; first; attempt++) {
      try {
        await this.sendRegister(first);
        break;
      } catch (err) {
        if (attempt >= 5 || this.closed || !isRosterError(err) || !RECOVERABLE.has(err.code))
          throw err;
      }
    }
    for (let i = 0; i < rest.length; i += concurrency) {
      await Promise.all(rest.slice(i, i + concurrency).map((input) => this.sendRegister(input)));
    }
    this.logger.info(
      { reason, from, to: this.owner, instances: all.length },
      'session re-established',
    );
  }

  private async sendRegister(input: InstanceInput): Promise<MessageOf<'registerReply'>> {
    const body = {
      session: {
        id: this.id,
        secret: this.secret,
        ttlMs: this.options.ttlMs,
        ...(this.options.name ? { name: this.options.name } : {}),
      },
      instance: input,
    };
    const data = encode('registerRequest', body);
    const subject =
      this.owner === undefined
        ? this.subjects.register(input.service)
        : this.subjects.registerAt(input.service, this.owner);
    let reply: MessageOf<'registerReply'>;
    try {
      reply = decodeAs(
        (await this.bus.request(subject, data, { timeoutMs: this.timeoutMs })).data,
        'registerReply',
      );
    } catch (err) {
      if (this.owner === undefined || !isRosterError(err) || !RECOVERABLE.has(err.code)) throw err;
      // The owner is gone: this registration goes through the queue group and moves the session.
      this.owner = undefined;
      reply = decodeAs(
        (
          await this.bus.request(this.subjects.register(input.service), data, {
            timeoutMs: this.timeoutMs,
          })
        ).data,
        'registerReply',
      );
    }
    this.owner = reply.ownerNode;
    return reply;
  }

  /** A change at the owner; when the owner is gone, the session is re-established first and the change sent again. */
  private async changeAtOwner(req: MessageOf<'sessionRequest'>): Promise<void> {
    try {
      await this.sessionRequest(req);
    } catch (err) {
      if (!isRosterError(err) || !RECOVERABLE.has(err.code)) throw err;
      await this.reregisterAll(err.code);
      await this.sessionRequest(req);
    }
  }

  private async sessionRequest(
    req: MessageOf<'sessionRequest'>,
  ): Promise<MessageOf<'sessionReply'>> {
    if (this.owner === undefined)
      throw new RosterError('ROSTER_ERR_UNKNOWN_SESSION', 'the session has no owner yet');
    const reply = await this.bus.request(
      this.subjects.session(this.owner),
      encodeTrusted('sessionRequest', req),
      {
        timeoutMs: this.timeoutMs,
      },
    );
    return decodeAs(reply.data, 'sessionReply');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

function keyOf(service: string, id: string): string {
  return `${service}/${id}`;
}
