/**
 * Every message Roster sends, by envelope type. The schema of a type both validates what
 * arrives and defines the TypeScript type (`MessageOf<'heartbeat'>` and so on).
 */
import { Limits } from './limits.js';
import {
  HealthCheck,
  Id,
  Incarnation,
  Instance,
  InstanceInput,
  InstanceStatus,
  Meta,
  Millis,
  NodeId,
  Secret,
  Seq,
  ServiceName,
  Session,
  Stamp,
  Tags,
  Text,
  TtlMs,
} from './records.js';
import {
  array,
  boolean,
  type Infer,
  int,
  literal,
  object,
  optional,
  record,
  string,
  tagged,
  tuple,
} from './schema.js';

/** `[origin, incarnation, seq]`: how far a node has applied one origin's log. */
export const VectorEntry = tuple(NodeId, Incarnation, Seq);
export const Vector = array(VectorEntry, { max: Limits.maxVectorEntries });
export type Vector = Infer<typeof Vector>;

export const REMOVE_REASONS = ['deregister', 'expired', 'orphaned', 'superseded'] as const;
export const RemoveReason = literal(...REMOVE_REASONS);
export type RemoveReason = Infer<typeof RemoveReason>;

const changeHeader = {
  origin: NodeId,
  inc: Incarnation,
  /** Position in the origin's log (1, 2, 3 ... within one incarnation). */
  seq: int({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  /** The origin's HLC when it made the change. */
  hlc: Stamp,
  /** The origin's seq of its previous change to the same service (or session log); 0 if none. */
  prev: Seq,
};

/** One entry of an origin's log: what deltas carry, pulls return and watchers apply. */
export const Change = tagged('op', {
  /** Insert or replace an instance. */
  put: object({ ...changeHeader, instance: Instance }),
  /** Remove an instance, but only the version `(ifHlc, ifNode)` or an older one. */
  del: object({
    ...changeHeader,
    service: ServiceName,
    id: Id,
    ifHlc: Stamp,
    ifNode: NodeId,
    reason: RemoveReason,
  }),
  /** Open or move a session. */
  sput: object({ ...changeHeader, session: Session }),
  /** End a session, but only the version `(ifHlc, ifNode)` or an older one. */
  sdel: object({ ...changeHeader, id: Id, ifHlc: Stamp, ifNode: NodeId, reason: RemoveReason }),
});
export type Change = Infer<typeof Change>;

const StatusCounts = {
  sessions: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  instances: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
};

const nodeState = {
  node: NodeId,
  inc: Incarnation,
  /** The node's own latest seq. */
  seq: Seq,
  hlc: Stamp,
  vector: Vector,
  /** Order-independent digest of the store, hex. */
  digest: string({ min: 1, max: 64, pattern: /^[0-9a-f]+$/ }),
  ...StatusCounts,
  ready: boolean,
  startedAt: Millis,
};

export const MessageSchemas = {
  /** A reply that failed: `{ code, message, data }`. */
  error: object({
    code: string({ min: 1, max: 64 }),
    message: Text,
    data: optional(
      record(string({ max: Limits.maxTextLength }), {
        maxKeys: 32,
        key: string({ min: 1, max: 64 }),
      }),
    ),
  }),
  /** A bare acknowledgement. */
  ok: object({ hlc: optional(Stamp) }),

  // --- replication (registry nodes) ---
  change: Change,
  heartbeat: object({
    ...nodeState,
    intervalMs: int({ min: 10, max: 60_000 }),
    /**
     * Services this node changed in the last two heartbeat periods, with its seq of the last
     * change to each: a watcher that has not seen that seq lost the tail and re-queries.
     */
    touched: optional(array(tuple(ServiceName, Seq), { max: 256 })),
    /** More services changed than `touched` can list: every watcher should re-check. */
    touchedOverflow: optional(boolean),
  }),
  pullRequest: object({ origin: NodeId, inc: Incarnation, from: Seq, to: Seq }),
  pullReply: object({
    changes: array(Change, { max: Limits.maxBatch }),
    /** The range has left the origin's in-memory log: take a snapshot instead. */
    gone: boolean,
  }),
  snapshotRequest: object({
    /** Opaque position returned by the previous page. */
    cursor: optional(string({ max: Limits.maxTextLength })),
    limit: int({ min: 1, max: Limits.maxBatch }),
  }),
  snapshotReply: object({
    instances: array(Instance, { max: Limits.maxBatch }),
    sessions: array(Session, { max: Limits.maxBatch }),
    /** Removals still remembered, `[key, hlc, node]`, so a late put cannot resurrect them. */
    tombstones: array(tuple(string({ min: 1, max: 2 * Limits.maxIdLength + 2 }), Stamp, NodeId), {
      max: Limits.maxBatch,
    }),
    /** Service revisions, `[service, origin, inc, seq]` (see queryReply.revision). */
    revisions: array(tuple(ServiceName, NodeId, Incarnation, Seq), { max: Limits.maxBatch }),
    /** The serving node's vector at the moment the snapshot was taken. */
    vector: Vector,
    next: optional(string({ max: Limits.maxTextLength })),
  }),
  clusterInfoRequest: object({}),
  clusterInfo: object(nodeState),

  // --- clients ---
  registerRequest: object({
    session: object({
      id: Id,
      secret: Secret,
      ttlMs: TtlMs,
      name: optional(string({ max: Limits.maxTextLength })),
    }),
    instance: InstanceInput,
  }),
  registerReply: object({
    ownerNode: NodeId,
    sessionId: Id,
    instanceId: Id,
    ttlMs: TtlMs,
    hlc: Stamp,
  }),
  sessionRequest: tagged('op', {
    renew: object({ sessionId: Id, secret: Secret }),
    close: object({ sessionId: Id, secret: Secret }),
    deregister: object({ sessionId: Id, secret: Secret, instanceId: Id, service: ServiceName }),
    update: object({
      sessionId: Id,
      secret: Secret,
      instanceId: Id,
      service: ServiceName,
      status: optional(InstanceStatus),
      tags: optional(Tags),
      meta: optional(Meta),
      weight: optional(int({ min: 0, max: Limits.maxWeight })),
      check: optional(HealthCheck),
    }),
  }),
  sessionReply: object({ ttlMs: TtlMs, hlc: Stamp }),
  queryRequest: object({
    service: ServiceName,
    cursor: optional(string({ max: Limits.maxTextLength })),
  }),
  queryReply: object({
    service: ServiceName,
    instances: array(Instance, { max: Limits.maxBatch }),
    /** The service's revision: per origin, the seq of its last change to this service. */
    revision: Vector,
    node: NodeId,
    next: optional(string({ max: Limits.maxTextLength })),
  }),
  catalogRequest: object({}),
  catalogReply: object({
    services: array(
      object({
        name: ServiceName,
        instances: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        passing: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      }),
      { max: Limits.maxBatch },
    ),
    node: NodeId,
  }),
} as const;

export type MessageType = keyof typeof MessageSchemas;
export type MessageOf<T extends MessageType> = Infer<(typeof MessageSchemas)[T]>;
export const MESSAGE_TYPES = Object.keys(MessageSchemas) as MessageType[];
