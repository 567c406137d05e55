/**
 * The handle returned by `client.register()`: one registered instance of this process.
 */
import type { HealthCheck, InstanceInput, InstanceStatus } from '../protocol/index.js';
import type { ClientSession } from './session.js';

export interface InstancePatch {
  readonly status?: InstanceStatus;
  readonly tags?: string[];
  readonly meta?: Record<string, string>;
  readonly weight?: number;
  readonly check?: HealthCheck;
}

export interface DeregisterOptions {
  /**
   * Mark the instance draining first (pools stop picking it), then wait up to this long
   * before removing it. `inFlight`, when given, ends the wait early once it returns 0.
   */
  readonly drainMs?: number;
  readonly inFlight?: () => number;
}

export class Registration {
  private removal: Promise<void> | undefined;

  constructor(
    private readonly session: ClientSession,
    private readonly input: InstanceInput,
    readonly ownerNode: string,
  ) {}

  get id(): string {
    return this.input.id;
  }

  get service(): string {
    return this.input.service;
  }

  update(patch: InstancePatch): Promise<void> {
    return this.session.update(this.input.service, this.input.id, patch);
  }

  setStatus(status: InstanceStatus): Promise<void> {
    return this.update({ status });
  }

  /** Drains (when drainMs > 0), then deregisters; resolves once the cluster acknowledged. */
  deregister(options: DeregisterOptions = {}): Promise<void> {
    this.removal ??= this.deregisterOnce(options);
    return this.removal;
  }

  private async deregisterOnce(options: DeregisterOptions): Promise<void> {
    const drainMs = options.drainMs ?? 0;
    if (drainMs > 0) {
      await this.session.update(this.input.service, this.input.id, { status: 'draining' });
      const until = Date.now() + drainMs;
      while (Date.now() < until && (options.inFlight?.() ?? 1) > 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, until - Date.now())));
      }
    }
    await this.session.deregister(this.input.service, this.input.id);
  }
}
