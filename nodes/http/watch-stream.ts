/**
 * The WebSocket watch stream, `GET /v1/watch[?service=NAME]`: the same list+watch semantics
 * as the client library. The hub listens to the node's applied changes (one listener for
 * every stream, each change serialized once); a new stream joins the hub's set and takes its
 * snapshot in the same synchronous turn, so no change can fall between the two and none is
 * sent twice: the first message is the snapshot, then one message per change the node
 * applies, in the order it applies them.
 *
 *   {type:'snapshot', service, instances, revision}            (one service)
 *   {type:'snapshot', service:null, instances, revisions:{…}}  (every service)
 *   {type:'added'|'updated'|'removed', service, instance, origin, inc, seq[, reason]}
 *
 * A snapshot sync (the node re-loading a peer's snapshot after a long gap or a digest
 * mismatch) changes the store without per-change events; once it has finished, every stream
 * gets a fresh snapshot, which replaces what the consumer holds (so a consumer must treat
 * any snapshot as the whole state).
 *
 * Each stream's send buffer is bounded: a consumer that falls more than `maxBufferedBytes`
 * behind (on top of its snapshot) is dropped with close code 1013 (try again later) and
 * reconnects for a fresh snapshot, so a slow browser never makes the node grow without
 * bound. The node pings every `heartbeatMs`; a client that missed the previous ping's pong
 * is cut off.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Change, Instance, Vector } from '../../protocol/index.js';
import type { Logger } from '../../transport/logger.js';
import type { RegistryNode } from '../registry-node.js';
import type { StoreEffect } from '../store.js';
import type { HttpMetrics } from './http-metrics.js';

export type WatchMessage =
  | {
      readonly type: 'snapshot';
      readonly service: string;
      readonly instances: readonly Instance[];
      readonly revision: Vector;
    }
  | {
      readonly type: 'snapshot';
      readonly service: null;
      readonly instances: readonly Instance[];
      readonly revisions: Readonly<Record<string, Vector>>;
    }
  | {
      readonly type: 'added' | 'updated' | 'removed';
      readonly service: string;
      readonly instance: Instance;
      readonly origin: string;
      readonly inc: number;
      readonly seq: number;
      readonly reason?: string;
    };

export interface WatchStreamOptions {
  /** Ping period (default 15 000 ms); a client that has not answered the last ping is cut off. */
  readonly heartbeatMs?: number;
  /** Bytes a stream may have queued beyond its snapshot before it is dropped (default 1 MiB). */
  readonly maxBufferedBytes?: number;
  /** Open streams at most (default 1000). */
  readonly maxClients?: number;
  /** How long a dropped stream's close handshake may take before the socket is destroyed. */
  readonly closeGraceMs?: number;
  /** How often to look for a finished snapshot sync of the node (default 250 ms). */
  readonly resyncCheckMs?: number;
}

const SYNC_REASONS = ['join', 'range-gone', 'digest'] as const;

export const SLOW_CONSUMER_CODE = 1013;

const byId = (a: Instance, b: Instance): number =>
  a.service < b.service ? -1 : a.service > b.service ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

interface Client {
  readonly ws: WebSocket;
  /** The service watched; undefined: every service. */
  readonly service: string | undefined;
  alive: boolean;
  limit: number;
  dropped: boolean;
}

export class WatchHub {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: 4 * 1024,
    perMessageDeflate: false,
    clientTracking: false,
  });
  private readonly clients = new Set<Client>();
  private readonly timer: NodeJS.Timeout;
  private readonly resyncTimer: NodeJS.Timeout;
  private readonly off: () => void;
  /** Snapshot syncs of the node seen so far (each one triggers fresh snapshots). */
  private syncs: number;
  private readonly maxBufferedBytes: number;
  private readonly closeGraceMs: number;
  readonly maxClients: number;

  constructor(
    private readonly node: RegistryNode,
    private readonly metrics: HttpMetrics,
    private readonly logger: Logger,
    options: WatchStreamOptions = {},
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.maxClients = options.maxClients ?? 1000;
    this.closeGraceMs = options.closeGraceMs ?? 5_000;
    this.timer = setInterval(() => this.heartbeat(), options.heartbeatMs ?? 15_000);
    this.timer.unref();
    this.off = node.onChange((effect, change) => this.onChange(effect, change));
    this.syncs = this.syncCount();
    this.resyncTimer = setInterval(() => this.checkResync(), options.resyncCheckMs ?? 250);
    this.resyncTimer.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Completes the upgrade of an already authorized request and starts streaming. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, service: string | undefined): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.start(ws, service));
  }

  close(): void {
    clearInterval(this.timer);
    clearInterval(this.resyncTimer);
    this.off();
    for (const c of this.clients) {
      c.ws.close(1001, 'node shutting down');
      setTimeout(() => c.ws.terminate(), 500).unref();
    }
    this.clients.clear();
    this.wss.close();
  }

  private start(ws: WebSocket, service: string | undefined): void {
    const client: Client = { ws, service, alive: true, limit: 0, dropped: false };
    // Joined and snapshotted in one synchronous turn: nothing missed, nothing twice.
    this.clients.add(client);
    this.sendSnapshot(client);
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', () => undefined); // nothing to say; the stream is one-way
    ws.on('error', (err) => this.logger.debug({ err }, 'watch stream error'));
    ws.on('close', () => {
      this.clients.delete(client);
    });
  }

  /** Sends the current state; the buffer bound is counted from after it. */
  private sendSnapshot(client: Client): void {
    const text = JSON.stringify(this.snapshot(client.service));
    client.limit = client.ws.bufferedAmount + this.maxBufferedBytes + Buffer.byteLength(text);
    client.ws.send(text);
    this.metrics.watchEvents.inc();
  }

  private syncCount(): number {
    let n = 0;
    for (const reason of SYNC_REASONS) n += this.node.metrics.snapshotSyncs.get({ reason });
    return n;
  }

  /** After a snapshot sync of the node has finished, every stream gets a fresh snapshot. */
  private checkResync(): void {
    const n = this.syncCount();
    if (n === this.syncs || this.node.replicator.syncing) return;
    this.syncs = n;
    for (const c of [...this.clients]) {
      if (c.dropped || c.ws.readyState !== WebSocket.OPEN) continue;
      if (c.ws.bufferedAmount > c.limit) this.drop(c, 'slow');
      else this.sendSnapshot(c);
    }
    if (this.clients.size > 0)
      this.logger.info({ streams: this.clients.size }, 'snapshot sync: watch streams re-sent');
  }

  private snapshot(service: string | undefined): WatchMessage {
    const store = this.node.store;
    if (service !== undefined) {
      const instances = [...(store.service(service)?.values() ?? [])].sort(byId);
      return { type: 'snapshot', service, instances, revision: store.revision(service) };
    }
    const instances: Instance[] = [];
    const revisions: Record<string, Vector> = {};
    for (const [name, members] of store.services()) {
      instances.push(...members.values());
      revisions[name] = store.revision(name);
    }
    return { type: 'snapshot', service: null, instances: instances.sort(byId), revisions };
  }

  private onChange(effect: StoreEffect, change: Change): void {
    if (this.clients.size === 0) return;
    let type: 'added' | 'updated' | 'removed';
    switch (effect.kind) {
      case 'instance-added':
        type = 'added';
        break;
      case 'instance-updated':
        type = 'updated';
        break;
      case 'instance-removed':
        type = 'removed';
        break;
      default:
        return;
    }
    const inst = effect.instance;
    let text: string | undefined;
    for (const client of [...this.clients]) {
      if (client.service !== undefined && client.service !== inst.service) continue;
      text ??= JSON.stringify({
        type,
        service: inst.service,
        instance: inst,
        origin: change.origin,
        inc: change.inc,
        seq: change.seq,
        ...(effect.kind === 'instance-removed' ? { reason: effect.reason } : {}),
      } satisfies WatchMessage);
      this.send(client, text);
    }
  }

  private send(client: Client, text: string): void {
    if (client.dropped || client.ws.readyState !== WebSocket.OPEN) return;
    if (client.ws.bufferedAmount > client.limit) {
      this.drop(client, 'slow');
      return;
    }
    client.ws.send(text);
    this.metrics.watchEvents.inc();
  }

  /** Stops streaming to a client: close code 1013 (slow) or a cut connection (heartbeat). */
  private drop(client: Client, reason: 'slow' | 'heartbeat'): void {
    if (client.dropped) return;
    client.dropped = true;
    this.clients.delete(client);
    this.metrics.watchDropped.inc({ reason });
    this.logger.info({ reason, buffered: client.ws.bufferedAmount }, 'watch stream dropped');
    if (reason === 'heartbeat') {
      client.ws.terminate();
      return;
    }
    client.ws.close(SLOW_CONSUMER_CODE, 'slow consumer: reconnect for a fresh snapshot');
    setTimeout(() => client.ws.terminate(), this.closeGraceMs).unref();
  }

  private heartbeat(): void {
    for (const c of [...this.clients]) {
      if (!c.alive) {
        this.drop(c, 'heartbeat');
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}
