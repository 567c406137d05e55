/**
 * The cluster view behind `GET /v1/nodes`: every registry node's own state, asked of all of
 * them at once (scatter-gather on the cluster-info subject through the node's bus). Without a
 * bus, or when nobody answers, it falls back to this node's peer table plus itself. Results
 * are shared for a short while, so many dashboards polling every second cost one scatter.
 */
import { decodeAs, encodeTrusted, type MessageOf } from '../../protocol/index.js';
import type { Bus } from '../../transport/bus.js';
import type { Logger } from '../../transport/logger.js';
import type { RegistryNode } from '../registry-node.js';

export interface NodeView extends MessageOf<'clusterInfo'> {
  /** This is the node that answered the HTTP request. */
  readonly self: boolean;
  /** Alive in the answering node's peer table (always true for itself). */
  readonly alive: boolean;
  /** Milliseconds since the answering node last heard this one's heartbeat. */
  readonly lastSeenMs: number;
  /** Whether the node answered the scatter (false: known only from the peer table). */
  readonly answered: boolean;
}

export interface ClusterView {
  /** The node that answered. */
  readonly node: string;
  /** `scatter`: the nodes answered themselves; `peers`: this node's peer table. */
  readonly source: 'scatter' | 'peers';
  readonly nodes: readonly NodeView[];
  /** Distinct digests among ready nodes (1 means converged). */
  readonly digests: number;
  readonly at: number;
}

export interface ClusterViewOptions {
  readonly node: RegistryNode;
  readonly bus?: Bus | undefined;
  readonly logger: Logger;
  /** How long the scatter collects answers (default 300 ms). */
  readonly deadlineMs?: number;
  /** How long one answer is reused (default 250 ms). */
  readonly cacheMs?: number;
}

export class ClusterViewSource {
  private cached: ClusterView | undefined;
  private pending: Promise<ClusterView> | undefined;

  constructor(private readonly options: ClusterViewOptions) {}

  /** The current view (shared with concurrent callers, reused for `cacheMs`). */
  get(): Promise<ClusterView> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < (this.options.cacheMs ?? 250))
      return Promise.resolve(this.cached);
    this.pending ??= this.build().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async build(): Promise<ClusterView> {
    const { node } = this.options;
    const now = Date.now();
    const peers = new Map([...node.replicator.peers.all()].map((p) => [p.id, p]));
    const answers = await this.scatter(peers.size + 1);
    const byId = new Map<string, NodeView>();
    const view = (info: MessageOf<'clusterInfo'>, answered: boolean): NodeView => {
      const self = info.node === node.id;
      const peer = peers.get(info.node);
      return {
        ...info,
        self,
        alive: self || node.replicator.peers.isAlive(info.node, now),
        lastSeenMs: self || !peer ? 0 : Math.max(0, now - peer.lastSeen),
        answered,
      };
    };
    for (const info of answers) byId.set(info.node, view(info, true));
    if (!byId.has(node.id)) byId.set(node.id, view(node.info(), true)); // known first-hand
    for (const p of peers.values()) {
      if (byId.has(p.id)) continue;
      byId.set(
        p.id,
        view(
          {
            node: p.id,
            inc: p.inc,
            seq: p.seq,
            hlc: 0,
            vector: p.vector,
            digest: p.digest,
            sessions: p.sessions,
            instances: p.instances,
            ready: p.ready,
            startedAt: p.startedAt,
          },
          false,
        ),
      );
    }
    const nodes = [...byId.values()].sort((a, b) => (a.node < b.node ? -1 : 1));
    const result: ClusterView = {
      node: node.id,
      source: answers.length > 0 ? 'scatter' : 'peers',
      nodes,
      digests: new Set(nodes.filter((n) => n.ready && n.alive).map((n) => n.digest)).size,
      at: Date.now(),
    };
    this.cached = result;
    return result;
  }

  private async scatter(expect: number): Promise<MessageOf<'clusterInfo'>[]> {
    const { bus, node, logger } = this.options;
    if (!bus?.isOpen) return [];
    try {
      const replies = await bus.scatter(
        node.subjects.clusterInfo,
        encodeTrusted('clusterInfoRequest', {}),
        { deadlineMs: this.options.deadlineMs ?? 300, maxReplies: Math.max(expect, 1) },
      );
      const out: MessageOf<'clusterInfo'>[] = [];
      for (const r of replies) {
        try {
          out.push(decodeAs(r.data, 'clusterInfo'));
        } catch (err) {
          logger.debug({ err }, 'bad cluster-info reply ignored');
        }
      }
      return out;
    } catch (err) {
      logger.warn({ err }, 'cluster-info scatter failed; answering from the peer table');
      return [];
    }
  }
}
