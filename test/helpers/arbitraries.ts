/** fast-check generators of valid protocol values (for property tests only). */
import fc from 'fast-check';
import type { Change, Instance, MessageOf, Session } from '../../protocol/index.js';
import { Limits } from '../../protocol/index.js';

const alnum = 'abcdefghijklmnopqrstuvwxyz0123456789';
const idChars = `${alnum}ABCDEFGHIJKLMNOPQRSTUVWXYZ_-`;

const fromChars = (chars: string, min: number, max: number) =>
  fc
    .array(fc.constantFrom(...chars.split('')), { minLength: min, maxLength: max })
    .map((a) => a.join(''));

export const serviceName = fc
  .tuple(fc.constantFrom(...alnum.split('')), fromChars(`${alnum}-_`, 0, 20))
  .map(([a, b]) => a + b);
export const nodeId = fromChars(idChars, 1, 16);
export const id = fromChars(idChars, 1, 24);
export const stamp = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
export const seq = fc.integer({ min: 1, max: 1_000_000_000 });

export const meta = fc
  .dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 40 }), {
    maxKeys: 8,
  })
  .filter(
    (m) =>
      !Object.keys(m).some((k) => k === '__proto__' || k === 'constructor' || k === 'prototype'),
  );

export const instance: fc.Arbitrary<Instance> = fc.record(
  {
    id,
    service: serviceName,
    host: fc.constantFrom('127.0.0.1', 'localhost', 'svc-1.internal', '::1'),
    port: fc.integer({ min: 1, max: 65_535 }),
    scheme: fc.constantFrom('http' as const, 'https' as const, 'grpc' as const),
    tags: fc.array(fc.string({ minLength: 1, maxLength: 16 }), { maxLength: 6 }),
    meta,
    weight: fc.integer({ min: 0, max: Limits.maxWeight }),
    zone: fc.constantFrom('eu-1', 'us-2'),
    version: fc.constantFrom('1.0.0', '2.3.1'),
    status: fc.constantFrom(
      'passing' as const,
      'warning' as const,
      'critical' as const,
      'draining' as const,
    ),
    check: fc.record({
      kind: fc.constantFrom('http' as const, 'tcp' as const),
      path: fc.constant('/health'),
      intervalMs: fc.integer({ min: 200, max: 60_000 }),
      timeoutMs: fc.integer({ min: 50, max: 60_000 }),
    }),
    sessionId: id,
    ownerNode: nodeId,
    registeredAt: fc.integer({ min: 0, max: 2 ** 45 }),
    hlc: stamp,
  },
  {
    requiredKeys: [
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
  },
);

export const session: fc.Arbitrary<Session> = fc.record({
  id,
  ownerNode: nodeId,
  ttlMs: fc.integer({ min: Limits.minTtlMs, max: Limits.maxTtlMs }),
  secretHash: fc.stringMatching(/^[0-9a-f]{64}$/),
  openedAt: fc.integer({ min: 0, max: 2 ** 45 }),
  hlc: stamp,
});

const header = { origin: nodeId, inc: fc.nat(), seq, hlc: stamp, prev: fc.nat() };

export const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ op: fc.constant('put' as const), ...header, instance }),
  fc.record({
    op: fc.constant('del' as const),
    ...header,
    service: serviceName,
    id,
    ifHlc: stamp,
    ifNode: nodeId,
    reason: fc.constantFrom(
      'deregister' as const,
      'expired' as const,
      'orphaned' as const,
      'superseded' as const,
    ),
  }),
  fc.record({ op: fc.constant('sput' as const), ...header, session }),
  fc.record({
    op: fc.constant('sdel' as const),
    ...header,
    id,
    ifHlc: stamp,
    ifNode: nodeId,
    reason: fc.constantFrom('deregister' as const, 'expired' as const),
  }),
);

const vector = fc.array(fc.tuple(nodeId, fc.nat(), fc.nat()), { maxLength: 5 });

export const heartbeat: fc.Arbitrary<MessageOf<'heartbeat'>> = fc.record({
  node: nodeId,
  inc: fc.nat(),
  seq: fc.nat(),
  hlc: stamp,
  vector,
  digest: fc.stringMatching(/^[0-9a-f]{16}$/),
  sessions: fc.nat(),
  instances: fc.nat(),
  ready: fc.boolean(),
  startedAt: fc.nat(),
  intervalMs: fc.integer({ min: 10, max: 60_000 }),
});

/** One valid message of a few representative types, as `[type, body]`. */
export const anyMessage = fc.oneof(
  change.map((b) => ['change', b] as const),
  heartbeat.map((b) => ['heartbeat', b] as const),
  fc
    .record({ origin: nodeId, inc: fc.nat(), from: fc.nat(), to: fc.nat() })
    .map((b) => ['pullRequest', b] as const),
  fc
    .record({ changes: fc.array(change, { maxLength: 5 }), gone: fc.boolean() })
    .map((b) => ['pullReply', b] as const),
  fc
    .record({
      instances: fc.array(instance, { maxLength: 4 }),
      sessions: fc.array(session, { maxLength: 4 }),
      revisions: fc.array(fc.tuple(serviceName, nodeId, fc.nat(), fc.nat()), { maxLength: 3 }),
      tombstones: fc.array(fc.tuple(fc.constantFrom('i:a/b', 's:x'), stamp, nodeId), {
        maxLength: 3,
      }),
      vector,
    })
    .map((b) => ['snapshotReply', b] as const),
);
