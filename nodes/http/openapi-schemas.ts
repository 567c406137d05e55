/**
 * The component schemas of the node's OpenAPI document (openapi.ts): the registry's records,
 * requests and answers, bounded as the protocol bounds them (protocol/limits).
 */
import {
  INSTANCE_STATUSES,
  Limits,
  REMOVE_REASONS,
  SCHEMES,
  SERVICE_NAME_PATTERN,
} from '../../protocol/index.js';
import { int, type JsonObject, obj, ref, str } from './openapi-builders.js';

export const schemas: JsonObject = {
  Error: obj(
    {
      code: { type: 'string', description: 'A ROSTER_ERR_* code (docs/errors.md).' },
      message: { type: 'string' },
      data: {
        type: 'object',
        additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
      },
    },
    ['code', 'message'],
  ),
  ServiceName: str(Limits.maxServiceNameLength, {
    minLength: 1,
    pattern: SERVICE_NAME_PATTERN.source,
  }),
  Id: str(Limits.maxIdLength, { minLength: 1, pattern: '^[A-Za-z0-9_-][A-Za-z0-9_:.-]*$' }),
  NodeId: str(Limits.maxIdLength, { minLength: 1, pattern: '^[A-Za-z0-9_-]+$' }),
  Secret: str(256, { minLength: 16 }),
  TtlMs: int(Limits.minTtlMs, Limits.maxTtlMs),
  Vector: {
    type: 'array',
    description: 'Per origin node: [origin, incarnation, seq of its last change].',
    items: {
      type: 'array',
      prefixItems: [ref('NodeId'), int(0), int(0)],
      minItems: 3,
      maxItems: 3,
    },
  },
  HealthCheck: obj(
    {
      kind: { enum: ['http', 'tcp'] },
      path: str(Limits.maxPathLength, { pattern: '^/[^\\s]*$' }),
      intervalMs: int(200, 600_000),
      timeoutMs: int(50, 60_000),
    },
    ['kind', 'intervalMs', 'timeoutMs'],
  ),
  InstanceFields: obj({
    host: str(Limits.maxHostLength, { minLength: 1, pattern: '^[A-Za-z0-9_.:%[\\]-]+$' }),
    port: int(1, 65_535),
    scheme: { enum: [...SCHEMES] },
    tags: {
      type: 'array',
      maxItems: Limits.maxTags,
      items: str(Limits.maxTagLength, { minLength: 1 }),
      default: [],
    },
    meta: {
      type: 'object',
      maxProperties: Limits.maxMetaKeys,
      additionalProperties: str(Limits.maxMetaValueLength),
      default: {},
    },
    weight: { ...int(0, Limits.maxWeight), default: 1 },
    zone: str(Limits.maxZoneLength, { minLength: 1 }),
    version: str(Limits.maxVersionLength, { minLength: 1 }),
    status: { enum: [...INSTANCE_STATUSES] },
    check: ref('HealthCheck'),
  }),
  Instance: {
    allOf: [
      ref('InstanceFields'),
      obj(
        {
          id: ref('Id'),
          service: ref('ServiceName'),
          sessionId: ref('Id'),
          ownerNode: ref('NodeId'),
          registeredAt: { ...int(0), description: 'Milliseconds since the epoch.' },
          hlc: int(0),
        },
        [
          'id',
          'service',
          'host',
          'port',
          'tags',
          'meta',
          'weight',
          'status',
          'sessionId',
          'ownerNode',
          'registeredAt',
          'hlc',
        ],
      ),
    ],
  },
  RegisterBody: {
    allOf: [
      ref('InstanceFields'),
      obj(
        {
          sessionId: ref('Id'),
          secret: ref('Secret'),
          ttlMs: {
            ...ref('TtlMs'),
            description: 'TTL when this registration creates the session (else ignored).',
          },
          name: str(Limits.maxTextLength),
          service: { ...ref('ServiceName'), description: 'Optional; must equal the path.' },
          id: { ...ref('Id'), description: 'Optional; must equal the path.' },
        },
        ['sessionId', 'secret', 'host', 'port'],
      ),
    ],
  },
  RegisterReply: obj(
    {
      ownerNode: ref('NodeId'),
      sessionId: ref('Id'),
      instanceId: ref('Id'),
      ttlMs: ref('TtlMs'),
      hlc: int(0),
    },
    ['ownerNode', 'sessionId', 'instanceId', 'ttlMs', 'hlc'],
  ),
  Catalog: obj(
    {
      services: {
        type: 'array',
        items: obj({ name: ref('ServiceName'), instances: int(0), passing: int(0) }, [
          'name',
          'instances',
          'passing',
        ]),
      },
      node: ref('NodeId'),
    },
    ['services', 'node'],
  ),
  ServiceInstances: obj(
    {
      service: ref('ServiceName'),
      instances: { type: 'array', items: ref('Instance') },
      revision: ref('Vector'),
      node: ref('NodeId'),
    },
    ['service', 'instances', 'revision', 'node'],
  ),
  NodeView: obj(
    {
      node: ref('NodeId'),
      inc: { ...int(0), description: 'Incarnation: set at each start.' },
      seq: int(0),
      hlc: int(0),
      vector: ref('Vector'),
      digest: { type: 'string', description: 'Order-independent digest of the store (hex).' },
      sessions: int(0),
      instances: int(0),
      ready: { type: 'boolean' },
      startedAt: int(0),
      self: { type: 'boolean' },
      alive: { type: 'boolean' },
      lastSeenMs: int(0),
      answered: { type: 'boolean', description: 'False: known only from the peer table.' },
    },
    ['node', 'inc', 'vector', 'digest', 'sessions', 'instances', 'ready', 'alive', 'answered'],
  ),
  ClusterView: obj(
    {
      node: ref('NodeId'),
      source: { enum: ['scatter', 'peers'] },
      nodes: { type: 'array', items: ref('NodeView') },
      digests: {
        ...int(0),
        description: 'Distinct digests among live ready nodes (1: converged).',
      },
      at: int(0),
    },
    ['node', 'source', 'nodes', 'digests', 'at'],
  ),
  Health: obj(
    {
      node: ref('NodeId'),
      incarnation: int(0),
      status: { enum: ['ready', 'starting'] },
      ready: { type: 'boolean' },
      digest: { type: 'string' },
      instances: int(0),
      sessions: int(0),
      services: int(0),
      peersAlive: int(0),
      peers: {
        type: 'array',
        items: obj({
          id: ref('NodeId'),
          inc: int(0),
          alive: { type: 'boolean' },
          ready: { type: 'boolean' },
          lastSeenMs: int(0),
          digest: { type: 'string' },
          instances: int(0),
          sessions: int(0),
        }),
      },
    },
    ['node', 'incarnation', 'status', 'ready', 'peers'],
  ),
  OpenSessionBody: obj({ ttlMs: ref('TtlMs'), name: str(Limits.maxTextLength) }),
  OpenedSession: obj(
    {
      sessionId: ref('Id'),
      secret: { ...ref('Secret'), description: 'Shown once; the node keeps only its hash.' },
      ttlMs: ref('TtlMs'),
      node: ref('NodeId'),
    },
    ['sessionId', 'secret', 'ttlMs', 'node'],
  ),
  SessionState: obj(
    {
      sessionId: ref('Id'),
      ttlMs: ref('TtlMs'),
      node: ref('NodeId'),
      pending: { type: 'boolean', description: 'True while the session holds no instance yet.' },
    },
    ['sessionId', 'ttlMs', 'node', 'pending'],
  ),
  WatchMessage: {
    description:
      'One WebSocket text frame (JSON). The first is a snapshot; every later one is a change the node applied, or a fresh snapshot (after the node re-synchronized from a peer) that replaces the whole state.',
    oneOf: [
      obj(
        {
          type: { const: 'snapshot' },
          service: {
            type: ['string', 'null'],
            description: 'null when every service is watched.',
          },
          instances: { type: 'array', items: ref('Instance') },
          revision: { ...ref('Vector'), description: 'One service watched.' },
          revisions: {
            type: 'object',
            additionalProperties: ref('Vector'),
            description: 'Every service watched: by service name.',
          },
        },
        ['type', 'service', 'instances'],
      ),
      obj(
        {
          type: { enum: ['added', 'updated', 'removed'] },
          service: ref('ServiceName'),
          instance: ref('Instance'),
          origin: ref('NodeId'),
          inc: int(0),
          seq: int(1),
          reason: { enum: [...REMOVE_REASONS, 'reconciled', 'snapshot'] },
        },
        ['type', 'service', 'instance', 'origin', 'inc', 'seq'],
      ),
    ],
  },
};
