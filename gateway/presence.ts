/**
 * Gateway presence: each gateway registers itself in the registry as an instance of the
 * service `roster-gateway` (instance id = gateway id, port = its admin port, or its first
 * listener's when it has no admin API) and watches that service to count the live gateways.
 * Cluster-aware plugins (rate limiting) divide their limits by liveGateways(), so the
 * gateways share a limit with no store between them.
 *
 * Neither registration nor the watch is needed to serve traffic: when the registry is not
 * reachable at start both are retried in the background, and until then (or while the watch
 * is stale) the last known count is used, never less than 1 (this gateway).
 */

import type { RosterClient } from '../client/client.js';
import type { Registration } from '../client/registration.js';
import type { ServiceWatch } from '../client/watch.js';
import type { Instance } from '../protocol/index.js';
import { type Logger, silentLogger } from '../transport/logger.js';

export const GATEWAY_SERVICE = 'roster-gateway';

export interface PresenceOptions {
  readonly client: RosterClient;
  /** This gateway's instance id. */
  readonly id: string;
  /** The host other components reach this gateway's admin API (or listener) on. */
  readonly host: string;
  readonly port: number;
  /** Extra metadata (name, listener ports, version). */
  readonly meta?: Readonly<Record<string, string>>;
  readonly logger?: Logger;
  /** First retry delay when the registry is not reachable (default 500 ms, doubling to 10 s). */
  readonly retryMs?: number;
}

function live(i: Instance): boolean {
  return i.status === 'passing' || i.status === 'warning';
}

export class GatewayPresence implements AsyncDisposable {
  private registration: Registration | undefined;
  private watch: ServiceWatch | undefined;
  private count = 1;
  private readonly logger: Logger;
  private readonly listeners = new Set<(live: number) => void>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private starting: Promise<void> | undefined;

  constructor(private readonly options: PresenceOptions) {
    this.logger = (options.logger ?? silentLogger).child({ component: 'presence' });
  }

  get id(): string {
    return this.options.id;
  }

  /** True once this gateway's registration has been acknowledged. */
  get registered(): boolean {
    return this.registration !== undefined;
  }

  /** The live gateways this one knows of, itself included (at least 1). */
  liveGateways(): number {
    return this.count;
  }

  /** Called when the count changes. */
  onChange(listener: (live: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Tries to register and watch once; on failure keeps trying in the background. Resolves
   * either way (check `registered`).
   */
  async start(): Promise<void> {
    this.starting = this.attempt(this.options.retryMs ?? 500);
    await this.starting;
  }

  /** Deregisters (other gateways raise their share at once) and stops watching. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.starting?.catch(() => undefined);
    const reg = this.registration;
    this.registration = undefined;
    await reg?.deregister().catch((err: unknown) => {
      this.logger.warn({ err }, 'deregistering the gateway failed (it expires with its session)');
    });
    await this.watch?.close();
    this.listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async attempt(delayMs: number): Promise<void> {
    if (this.closed) return;
    const { client, id, host, port } = this.options;
    try {
      if (!this.registration) {
        this.registration = await client.register({
          service: GATEWAY_SERVICE,
          id,
          host,
          port,
          tags: ['gateway'],
          meta: { ...this.options.meta },
        });
        this.logger.info({ id, host, port }, 'gateway registered');
        if (this.closed) {
          await this.registration.deregister().catch(() => undefined);
          return;
        }
      }
      if (!this.watch) {
        const w = await client.watch(GATEWAY_SERVICE);
        if (this.closed) {
          await w.close();
          return;
        }
        this.watch = w;
        w.on(() => this.recount());
        this.recount();
      }
    } catch (err) {
      if (this.closed) return;
      this.logger.warn(
        { err: err instanceof Error ? err.message : String(err), retryInMs: delayMs },
        'gateway presence not established yet; retrying',
      );
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.starting = this.attempt(Math.min(delayMs * 2, 10_000));
      }, delayMs);
      this.retryTimer.unref();
    }
  }

  private recount(): void {
    const w = this.watch;
    if (!w) return;
    let n = 0;
    let self = false;
    for (const i of w.instances()) {
      if (!live(i)) continue;
      n++;
      if (i.id === this.options.id) self = true;
    }
    // This gateway is live whatever the view says (its own registration may not be back yet).
    const next = Math.max(1, self ? n : n + 1);
    if (next === this.count) return;
    this.logger.info({ liveGateways: next, was: this.count }, 'live gateway count changed');
    this.count = next;
    for (const l of this.listeners) l(next);
  }
}
