/**
 * The replicated records: instances and sessions, as schemas (for validation) and types.
 */
import { Limits } from './limits.js';
import { array, type Infer, int, literal, object, optional, record, string } from './schema.js';
import { ID_PATTERN, SERVICE_NAME_PATTERN } from './subjects.js';

export const ServiceName = string({
  min: 1,
  max: Limits.maxServiceNameLength,
  pattern: SERVICE_NAME_PATTERN,
});
export const Id = string({ min: 1, max: Limits.maxIdLength, pattern: ID_PATTERN });
export const NodeId = string({ min: 1, max: Limits.maxIdLength, pattern: /^[A-Za-z0-9_-]+$/ });
export const Text = string({ max: Limits.maxTextLength });
/** Milliseconds since the epoch (or any non-negative duration). */
export const Millis = int({ min: 0, max: Number.MAX_SAFE_INTEGER });
export const Stamp = int({ min: 0, max: Number.MAX_SAFE_INTEGER });
export const Seq = int({ min: 0, max: Number.MAX_SAFE_INTEGER });
/** A node incarnation: chosen at start, greater than every earlier one of the same node. */
export const Incarnation = int({ min: 0, max: Number.MAX_SAFE_INTEGER });
export const TtlMs = int({ min: Limits.minTtlMs, max: Limits.maxTtlMs });
/** Hex SHA-256 of a session secret. */
export const SecretHash = string({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/ });
/** A session secret as the client holds it. */
export const Secret = string({ min: 16, max: 256 });

export const INSTANCE_STATUSES = ['passing', 'warning', 'critical', 'draining'] as const;
export const InstanceStatus = literal(...INSTANCE_STATUSES);
export type InstanceStatus = Infer<typeof InstanceStatus>;

export const SCHEMES = ['http', 'https', 'tcp', 'grpc', 'ws', 'wss'] as const;
export const Scheme = literal(...SCHEMES);

export const Tags = array(string({ min: 1, max: Limits.maxTagLength }), { max: Limits.maxTags });
export const Meta = record(string({ max: Limits.maxMetaValueLength }), {
  maxKeys: Limits.maxMetaKeys,
  key: string({ min: 1, max: Limits.maxMetaKeyLength }),
});

export const HealthCheck = object({
  kind: literal('http', 'tcp'),
  /** HTTP path (http checks only); default `/health`. */
  path: optional(string({ min: 1, max: Limits.maxPathLength, pattern: /^\/[^\s]*$/ })),
  intervalMs: int({ min: 200, max: 600_000 }),
  timeoutMs: int({ min: 50, max: 60_000 }),
});
export type HealthCheck = Infer<typeof HealthCheck>;

/** What a client supplies when registering an instance. */
export const InstanceInput = object({
  id: Id,
  service: ServiceName,
  host: string({ min: 1, max: Limits.maxHostLength, pattern: /^[A-Za-z0-9_.:%[\]-]+$/ }),
  port: int({ min: 1, max: 65_535 }),
  scheme: optional(Scheme),
  tags: Tags,
  meta: Meta,
  weight: int({ min: 0, max: Limits.maxWeight }),
  zone: optional(string({ min: 1, max: Limits.maxZoneLength })),
  version: optional(string({ min: 1, max: Limits.maxVersionLength })),
  status: optional(InstanceStatus),
  check: optional(HealthCheck),
});
export type InstanceInput = Infer<typeof InstanceInput>;

/** A replicated instance record. Its version is `(hlc, ownerNode)`. */
export const Instance = object({
  ...InstanceInput.shape,
  status: InstanceStatus,
  sessionId: Id,
  ownerNode: NodeId,
  registeredAt: Millis,
  hlc: Stamp,
});
export type Instance = Infer<typeof Instance>;

/** A replicated session record (a lease). The secret itself never leaves the client. */
export const Session = object({
  id: Id,
  ownerNode: NodeId,
  ttlMs: TtlMs,
  name: optional(string({ max: Limits.maxTextLength })),
  secretHash: SecretHash,
  openedAt: Millis,
  hlc: Stamp,
});
export type Session = Infer<typeof Session>;
