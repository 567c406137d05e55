/**
 * Hostile input on every subject a registry node listens to (DESIGN.md, "Wire encoding and
 * limits"; issue 3 item 6): random bytes, byte-level mutations of real messages and
 * structural mutations (wrong types, sizes, ranges, missing fields, hostile keys, bad
 * envelopes), about 300 per subject, published where the nodes only listen and requested where
 * they answer. Only inputs the codec itself rejects are sent (a mutation that happens to be
 * a valid message would be a legitimate write, not an attack the node can tell apart).
 *
 * No node process may crash; the store of every node is exactly as before (digest, counts,
 * version vector); every request gets a typed error reply, never silence; and the rejections
 * are counted in roster_node_rejections_total, exactly once per receiving node, for every
 * kind of subject. A watcher on the fuzzed service keeps its view too, and (like the nodes)
 * refuses a well-formed put of another service sent on its service's delta subject.
 *
 * FUZZ_SEED=<n> replays a run (the seed is printed as a comment).
 */

import fc from 'fast-check';
import t from 'tap';
import { connect } from '../../client/index.js';
import {
  type Change,
  decode,
  decodeAs,
  encode,
  isErrorCode,
  type MessageOf,
  type MessageType,
  PROTOCOL_VERSION,
} from '../../protocol/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { clientProcessFor } from '../helpers/client-process.js';
import { eventually } from '../helpers/eventually.js';
import { mutatedBytes, mutatedStructure, randomBytes, rawPack } from '../helpers/mutations.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { clusterInfo, nodeProcessFor } from '../helpers/node-process.js';
import { logWatch, promSeries } from '../helpers/watch-log.js';

const SERVICE = 'fuzzed';
const PER_KIND = 100; // random, byte-mutated and structure-mutated: 305 per subject with the classics
const NODE_IDS = ['n1', 'n2', 'n3'] as const;
const REJECTION_CODES = new Set([
  'ROSTER_ERR_DECODE',
  'ROSTER_ERR_INVALID_MESSAGE',
  'ROSTER_ERR_MESSAGE_TOO_LARGE',
  'ROSTER_ERR_UNSUPPORTED_VERSION',
]);

/** Would a node accept these bytes on `subject` as a valid `type`? (Then they are not fuzz.) */
function acceptable(bytes: Uint8Array, type: MessageType, subject: string): boolean {
  let body: unknown;
  try {
    body = decodeAs(bytes, type);
  } catch {
    return false;
  }
  if (type === 'change') {
    const c = body as Change;
    const expected =
      c.op === 'put'
        ? `roster.v1.delta.${c.instance.service}`
        : c.op === 'del'
          ? `roster.v1.delta.${c.service}`
          : 'roster.v1.sessions';
    return subject === expected;
  }
  if (type === 'registerRequest') {
    return (body as MessageOf<'registerRequest'>).instance.service === subject.split('.')[3];
  }
  if (type === 'queryRequest') {
    return (body as MessageOf<'queryRequest'>).service === subject.split('.')[3];
  }
  return true;
}

function payloads(seeds: readonly Uint8Array[], type: MessageType, subject: string, seed: number) {
  const hostile = (b: Uint8Array) => !acceptable(b, type, subject);
  return [
    // The classics, every time: empty, a newer protocol version, an unknown type, no envelope.
    new Uint8Array(0),
    rawPack([PROTOCOL_VERSION + 1, type, {}]),
    rawPack([PROTOCOL_VERSION, 'no-such-type', {}]),
    rawPack([PROTOCOL_VERSION, type]),
    rawPack({ type }),
    ...fc.sample(randomBytes.filter(hostile), { numRuns: PER_KIND, seed }),
    ...fc.sample(mutatedBytes(seeds).filter(hostile), { numRuns: PER_KIND, seed: seed + 1 }),
    ...fc.sample(mutatedStructure(seeds).filter(hostile), { numRuns: PER_KIND, seed: seed + 2 }),
  ];
}

t.test('random and mutated bytes on every subject: no crash, no store change', async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  t.comment(`FUZZ_SEED=${seed}`);
  const server = await natsServerFor(t);
  const nodes = await Promise.all(
    NODE_IDS.map((id) => nodeProcessFor(t, { natsUrl: server.url, id, heartbeatMs: 500 })),
  );
  const raw = await connectNatsBus({ servers: server.url, name: 'fuzzer' });
  t.teardown(() => raw.close());

  // Capture real traffic to mutate: deltas, session changes and heartbeats.
  const captured: Uint8Array[] = [];
  for (const subject of ['roster.v1.delta.>', 'roster.v1.sessions', 'roster.v1.hb'])
    raw.subscribe(subject, (m) => captured.length < 400 && captured.push(Uint8Array.from(m.data)));
  await raw.flush();
  await eventually(
    async () => {
      const infos = await clusterInfo(raw);
      return infos.length === 3 && infos.every((i) => i.ready);
    },
    { what: 'three ready nodes' },
  );
  const client = await clientProcessFor(t, {
    natsUrl: server.url,
    service: SERVICE,
    count: 20,
    ttlMs: 3_000,
    idPrefix: 'fz',
  });
  const watcher = await connect({ servers: server.url, name: 'fuzz-watcher' });
  t.teardown(() => watcher.close());
  const watch = await watcher.watch(SERVICE);
  const log = logWatch(watch);
  await eventually(() => watch.instances().length === 20, { what: 'the watcher sees 20' });
  const settled = async () => {
    const infos = await clusterInfo(raw);
    return (
      infos.length === 3 &&
      new Set(infos.map((i) => i.digest)).size === 1 &&
      infos.every((i) => i.instances === 20 && i.sessions === 1) &&
      infos
    );
  };
  const before = await eventually(settled, { what: 'a settled cluster' });
  await eventually(() => captured.length >= 30, { what: 'captured traffic' });

  // Valid messages of every type the nodes take, to mutate.
  const inputSeeds: Uint8Array[] = [
    ...captured,
    encode('registerRequest', {
      session: { id: 's-fuzz', secret: 'f'.repeat(32), ttlMs: 3_000 },
      instance: {
        id: 'x',
        service: SERVICE,
        host: 'h',
        port: 1,
        tags: ['a'],
        meta: { k: 'v' },
        weight: 1,
      },
    }),
    encode('sessionRequest', { op: 'renew', sessionId: 's-fuzz', secret: 'f'.repeat(32) }),
    encode('sessionRequest', {
      op: 'update',
      sessionId: 's-fuzz',
      secret: 'f'.repeat(32),
      instanceId: 'x',
      service: SERVICE,
      tags: ['b'],
      weight: 3,
    }),
    encode('queryRequest', { service: SERVICE, cursor: '10' }),
    encode('pullRequest', { origin: 'n1', inc: 1, from: 1, to: 5 }),
    encode('snapshotRequest', { cursor: 'abc', limit: 10 }),
    encode('clusterInfoRequest', {}),
    encode('catalogRequest', {}),
  ];

  // How many rejections each `subject` label of roster_node_rejections_total must count.
  const expectedRejections = new Map<string, number>();
  const expect = (label: string, n: number) =>
    expectedRejections.set(label, (expectedRejections.get(label) ?? 0) + n);

  // --- subjects the nodes only listen to (every node receives every message) ---
  const published: Record<string, number> = {};
  const listenOnly: [string, MessageType][] = [
    [`roster.v1.delta.${SERVICE}`, 'change'],
    ['roster.v1.delta.other', 'change'],
    ['roster.v1.sessions', 'change'],
    ['roster.v1.hb', 'heartbeat'],
  ];
  let k = 0;
  for (const [subject, type] of listenOnly) {
    const batch = payloads(inputSeeds, type, subject, seed + 10 * k++);
    // Valid changes on the wrong subject must be refused too (permissions rely on it).
    if (type === 'change') {
      for (const c of captured) {
        if (!acceptable(c, 'change', subject) && isChange(c)) batch.push(c);
      }
    }
    for (const bytes of batch) raw.publish(subject, bytes);
    published[subject] = batch.length;
    expect(subject.split('.')[2]!, batch.length * NODE_IDS.length);
  }
  // A valid put of another service on this service's delta subject: the nodes refuse it (the
  // subject must name the record's service); a watcher of this service must not take it.
  const template = captured
    .filter(isChange)
    .map((bytes) => decodeAs(bytes, 'change'))
    .find((c): c is Extract<Change, { op: 'put' }> => c.op === 'put');
  if (!template) throw new Error('no put delta was captured');
  const alien = encode('change', {
    ...template,
    seq: template.seq + 1_000_000,
    instance: { ...template.instance, id: 'alien', service: 'other' },
  });
  raw.publish(`roster.v1.delta.${SERVICE}`, alien);
  expect('delta', NODE_IDS.length);
  await raw.flush();

  // --- subjects that answer: every request must get a typed error ---
  const requestSubjects: [string, MessageType][] = [
    [`roster.v1.reg.${SERVICE}`, 'registerRequest'],
    [`roster.v1.query.${SERVICE}`, 'queryRequest'],
    ['roster.v1.catalog', 'catalogRequest'],
  ];
  for (const id of NODE_IDS) {
    requestSubjects.push(
      [`roster.v1.reg.${SERVICE}.${id}`, 'registerRequest'],
      [`roster.v1.node.${id}.pull`, 'pullRequest'],
      [`roster.v1.node.${id}.snapshot`, 'snapshotRequest'],
      [`roster.v1.node.${id}.session`, 'sessionRequest'],
    );
  }
  const badReplies: string[] = [];
  const replyCodes = new Map<string, number>();
  const noteReply = (subject: string, data: Uint8Array): void => {
    let code: string;
    try {
      const msg = decode(data);
      code =
        msg.type === 'error' ? (msg.body as MessageOf<'error'>).code : `not an error: ${msg.type}`;
    } catch (err) {
      code = `undecodable reply: ${(err as Error).message}`;
    }
    replyCodes.set(code, (replyCodes.get(code) ?? 0) + 1);
    if (!isErrorCode(code) || !REJECTION_CODES.has(code)) badReplies.push(`${subject}: ${code}`);
  };
  const labelOf = (subject: string): string => {
    const parts = subject.split('.');
    if (parts[2] === 'reg') return 'register';
    if (parts[2] === 'node') return parts[4] === 'session' ? 'session' : 'node';
    return parts[2]!;
  };
  let requests = 0;
  for (const [subject, type] of requestSubjects) {
    const batch = payloads(inputSeeds, type, subject, seed + 10 * k++);
    expect(labelOf(subject), batch.length);
    for (const bytes of batch) {
      requests++;
      try {
        const reply = await raw.request(subject, bytes, { timeoutMs: 2_000 });
        noteReply(subject, reply.data);
      } catch (err) {
        badReplies.push(`${subject}: no reply (${(err as Error).message})`);
      }
    }
  }
  // Scatter-gather: every node must answer every bad cluster-info request with an error.
  const infoBatch = payloads(
    inputSeeds,
    'clusterInfoRequest',
    'roster.v1.cluster.info',
    seed + 999,
  );
  expect('clusterInfo', infoBatch.length * NODE_IDS.length);
  for (const bytes of infoBatch) {
    requests++;
    const replies = await raw.scatter('roster.v1.cluster.info', bytes, {
      deadlineMs: 2_000,
      maxReplies: 3,
    });
    if (replies.length !== 3) badReplies.push(`cluster.info: ${replies.length} replies, not 3`);
    for (const r of replies) noteReply('roster.v1.cluster.info', r.data);
  }
  t.comment(`${requests} requests; reply codes: ${JSON.stringify(Object.fromEntries(replyCodes))}`);
  t.comment(`published: ${JSON.stringify(published)}`);
  t.same(badReplies.slice(0, 20), [], 'every bad request got a typed rejection as its reply');

  // The clusterInfo replies below come after everything we sent, on the same connection.
  for (const node of nodes) t.ok(node.running, `node ${node.id} is still running`);
  const after = await clusterInfo(raw);
  t.equal(after.length, 3, 'all three nodes answer');
  for (const info of after) {
    const was = before.find((b) => b.node === info.node)!;
    t.equal(info.digest, was.digest, `${info.node}: digest unchanged`);
    t.equal(info.instances, was.instances, `${info.node}: instance count unchanged`);
    t.equal(info.sessions, was.sessions, `${info.node}: session count unchanged`);
    t.same(sortVector(info.vector), sortVector(was.vector), `${info.node}: vector unchanged`);
    t.equal(info.inc, was.inc, `${info.node}: same incarnation (no restart)`);
  }
  t.same(log.removalsOf(client.ids), [], 'the watcher saw no removal');
  t.same(
    client.ids.filter((id) => watch.view.get(id) === undefined),
    [],
    'the watcher still has every instance',
  );
  t.same(
    watch
      .instances()
      .filter((i) => i.service !== SERVICE)
      .map((i) => `${i.service}/${i.id}`),
    [],
    'the watcher holds only instances of its own service',
  );

  // Every rejected message was counted, once per node that received it, for every subject.
  const counted = new Map<string, number>();
  for (const node of nodes) {
    for (const [labels, value] of promSeries(await node.metrics(), 'roster_node_rejections_total'))
      counted.set(labels.subject ?? '', (counted.get(labels.subject ?? '') ?? 0) + value);
  }
  t.comment(`rejections counted: ${JSON.stringify(Object.fromEntries(counted))}`);
  t.comment(`rejections sent:    ${JSON.stringify(Object.fromEntries(expectedRejections))}`);
  const total = [...counted.values()].reduce((a, b) => a + b, 0);
  t.ok(total > 0, `roster_node_rejections_total > 0 (${total})`);
  for (const [label, n] of expectedRejections)
    t.equal(
      counted.get(label) ?? 0,
      n,
      `roster_node_rejections_total{subject="${label}"} counts all ${n}`,
    );

  // And the cluster still works.
  const probe = await connect({ servers: server.url, name: 'fuzz-probe' });
  t.teardown(() => probe.close());
  await probe.register({ service: SERVICE, id: 'after-fuzz', host: '127.0.0.1', port: 1 });
  await eventually(() => watch.instances().some((i) => i.id === 'after-fuzz'), {
    what: 'a registration after the fuzz reaches the watcher',
  });
});

function isChange(bytes: Uint8Array): boolean {
  try {
    decodeAs(bytes, 'change');
    return true;
  } catch {
    return false;
  }
}

function sortVector(v: readonly (readonly [string, number, number])[]): string[] {
  return v.map((e) => e.join(':')).sort();
}
