import fc from 'fast-check';
import { Packr } from 'msgpackr';
import t from 'tap';
import {
  decode,
  decodeAs,
  encode,
  encodeError,
  encodeTrusted,
  type Instance,
  isRosterError,
  Limits,
  type MessageOf,
  PROTOCOL_VERSION,
  ReusableEncoder,
  RosterError,
} from '../../protocol/index.js';
import { anyMessage, change, instance } from '../helpers/arbitraries.js';

const raw = new Packr({ useRecords: false, mapsAsObjects: true });

/** Calls fn and returns the RosterError it threw; fails the test for any other outcome. */
function rosterErrorOf(fn: () => unknown): RosterError | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof RosterError) return err;
    throw new Error(`threw a non-Roster error: ${String(err)}`);
  }
  return undefined;
}

t.test('decode(encode(x)) equals x for valid messages', async (t) => {
  fc.assert(
    fc.property(anyMessage, ([type, body]) => {
      const decoded = decode(encode(type, body as never));
      t.equal(decoded.type, type);
      t.same(decoded.body, body);
    }),
    { numRuns: 300 },
  );
});

t.test('random bytes yield a typed error or a valid message, never anything else', async (t) => {
  let errors = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      if (rosterErrorOf(() => decode(bytes))) errors++;
    }),
    { numRuns: 3000 },
  );
  t.ok(errors > 2900, `almost all random inputs are rejected (${errors})`);
});

t.test('mutated valid messages yield a typed error or a valid message', async (t) => {
  let rejected = 0;
  // Accepted mutations are counted, not asserted one by one, so that the test makes the same
  // number of assertions in every run (how many mutations are accepted varies).
  let untyped = 0;
  fc.assert(
    fc.property(
      change,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      (c, mutations) => {
        const bytes = Uint8Array.from(encode('change', c));
        for (const [pos, value] of mutations) bytes[pos % bytes.length] = value;
        const err = rosterErrorOf(() => decode(bytes));
        if (err) rejected++;
        else if (!decode(bytes).type) untyped++;
      },
    ),
    { numRuns: 1500 },
  );
  t.ok(rejected > 0, `some mutations are rejected (${rejected})`);
  t.equal(untyped, 0, 'every accepted mutation decodes to a typed message');
});

t.test('truncated messages are rejected with a typed error', async (t) => {
  fc.assert(
    fc.property(change, fc.nat(), (c, cut) => {
      const bytes = encode('change', c);
      const err = rosterErrorOf(() => decode(bytes.subarray(0, cut % bytes.length)));
      t.ok(err, 'truncated change rejected');
    }),
    { numRuns: 300 },
  );
});

t.test('size, version and type are checked', async (t) => {
  const big = new Uint8Array(Limits.maxMessageBytes + 1);
  t.equal(rosterErrorOf(() => decode(big))?.code, 'ROSTER_ERR_MESSAGE_TOO_LARGE');
  t.equal(rosterErrorOf(() => decode(new Uint8Array(0)))?.code, 'ROSTER_ERR_DECODE');
  t.equal(
    rosterErrorOf(() => decode(raw.pack([99, 'ok', {}])))?.code,
    'ROSTER_ERR_UNSUPPORTED_VERSION',
  );
  t.equal(
    rosterErrorOf(() => decode(raw.pack([PROTOCOL_VERSION, 'nope', {}])))?.code,
    'ROSTER_ERR_DECODE',
  );
  t.equal(rosterErrorOf(() => decode(raw.pack({ a: 1 })))?.code, 'ROSTER_ERR_DECODE');
  t.equal(
    rosterErrorOf(() => decode(raw.pack([PROTOCOL_VERSION, 'ok', 'x'])))?.code,
    'ROSTER_ERR_INVALID_MESSAGE',
  );
  t.equal(
    rosterErrorOf(() => decode(encode('ok', {}), { maxBytes: 2 }))?.code,
    'ROSTER_ERR_MESSAGE_TOO_LARGE',
  );
});

t.test('encode refuses invalid bodies and oversized messages', async (t) => {
  const bad = { node: 'a b' } as unknown as MessageOf<'heartbeat'>;
  t.equal(rosterErrorOf(() => encode('heartbeat', bad))?.code, 'ROSTER_ERR_INVALID_MESSAGE');
  const sample = fc.sample(instance, 1)[0]!;
  const many = Array.from({ length: Limits.maxBatch }, (_, i) => ({
    ...sample,
    id: `i${i}`,
    meta: { pad: 'x'.repeat(400) },
  }));
  const err = rosterErrorOf(() =>
    encode('snapshotReply', {
      instances: many,
      sessions: [],
      tombstones: [],
      revisions: [],
      vector: [],
    }),
  );
  t.equal(err?.code, 'ROSTER_ERR_MESSAGE_TOO_LARGE');
});

t.test('unknown fields are ignored and dropped; forbidden keys never reach objects', async (t) => {
  const body = { hlc: 5, extra: { deep: true } };
  const decoded = decode(raw.pack([PROTOCOL_VERSION, 'ok', body]));
  t.same(decoded.body, { hlc: 5 });
  const sample = fc.sample(instance, 1)[0]!;
  const polluted = raw.pack([
    PROTOCOL_VERSION,
    'change',
    {
      op: 'put',
      origin: 'n',
      inc: 1,
      seq: 1,
      hlc: 1,
      prev: 0,
      instance: { ...sample, meta: JSON.parse('{"__proto__":{"x":1}}') },
    },
  ]);
  const err = rosterErrorOf(() => decode(polluted));
  t.ok(err, 'a __proto__ meta key is refused');
  t.equal(({} as Record<string, unknown>).x, undefined, 'Object.prototype is untouched');
  for (const key of ['constructor', 'prototype']) {
    const msg = raw.pack([
      PROTOCOL_VERSION,
      'change',
      {
        op: 'put',
        origin: 'n',
        inc: 1,
        seq: 1,
        hlc: 1,
        prev: 0,
        instance: { ...sample, meta: { [key]: 'x' } },
      },
    ]);
    t.equal(rosterErrorOf(() => decode(msg))?.code, 'ROSTER_ERR_INVALID_MESSAGE', `${key} refused`);
  }
});

t.test('error replies round-trip and are rethrown by decodeAs', async (t) => {
  const wire = new RosterError('ROSTER_ERR_UNKNOWN_SESSION', 'session s1 expired', {
    sessionId: 's1',
    n: 3,
  }).toWire();
  const err = rosterErrorOf(() => decodeAs(encodeError(wire), 'sessionReply'));
  t.ok(isRosterError(err, 'ROSTER_ERR_UNKNOWN_SESSION'));
  t.equal(err?.message, 'session s1 expired');
  t.same(err?.data, { sessionId: 's1', n: '3' });
  t.equal(err?.status, 404);
  const mismatch = rosterErrorOf(() => decodeAs(encode('ok', {}), 'sessionReply'));
  t.equal(mismatch?.code, 'ROSTER_ERR_DECODE');
  const unknown = RosterError.fromWire({ code: 'SOMETHING_ELSE', message: 'x' });
  t.equal(unknown.code, 'ROSTER_ERR_INTERNAL');
});

t.test('ReusableEncoder: one buffer reused, messages of the shared encoder untouched', (t) => {
  const enc = new ReusableEncoder(4096);
  const page = (n: number): MessageOf<'snapshotReply'> => ({
    instances: [],
    sessions: [],
    tombstones: Array.from(
      { length: n },
      (_, i) => [`i:svc/i-${i}`, i, 'n1'] as [string, number, string],
    ),
    revisions: [],
    vector: [['n1', 1, n]],
  });
  const before = encodeTrusted('clusterInfoRequest', {});
  const beforeCopy = Buffer.from(before);
  const first = enc.encode('snapshotReply', page(2000));
  t.same(decodeAs(first, 'snapshotReply'), page(2000), 'decodes to what was encoded');
  t.same(raw.unpack(first), [PROTOCOL_VERSION, 'snapshotReply', page(2000)], 'by any msgpackr');
  const grown = enc.capacity;
  t.ok(grown >= first.byteLength, 'the buffer grew to fit the page');
  t.ok(grown < first.byteLength * 2, 'not to 4× the page');
  const between = encodeTrusted('clusterInfoRequest', {});
  const betweenCopy = Buffer.from(between);
  const second = enc.encode('snapshotReply', page(1500));
  t.equal(decodeAs(second, 'snapshotReply').tombstones.length, 1500);
  t.equal(enc.capacity, grown, 'the same buffer is reused');
  t.equal(Buffer.compare(before, beforeCopy), 0, 'a message encoded before is not written over');
  t.equal(Buffer.compare(between, betweenCopy), 0, 'nor one encoded in between');
  const after = encodeTrusted('clusterInfoRequest', {});
  t.ok(after.buffer !== second.buffer, 'the shared encoder does not write into the reused buffer');
  t.ok(after.buffer.byteLength < 64 * 1024, 'and its buffer did not inherit the page size');
  t.throws(() => enc.encode('snapshotReply', page(2000), { maxBytes: 100 }), /too large|bytes/);
  enc.release();
  t.equal(enc.capacity, 0);
  t.end();
});

t.test('ReusableEncoder writes each record shape once: smaller, same content', (t) => {
  const enc = new ReusableEncoder();
  const inst = (i: number): Instance => ({
    id: `i-${i}`,
    service: 'svc-a',
    host: '10.0.0.1',
    port: 80,
    tags: i % 2 ? ['x'] : [],
    meta: (i % 3 ? { az: `az-${i % 3}` } : {}) as Record<string, string>,
    weight: 1,
    status: 'passing' as const,
    sessionId: 's-1',
    ownerNode: 'n1',
    registeredAt: 1_700_000_000_000,
    hlc: 3_400_000_000_000 + i,
    ...(i % 5 ? { zone: 'z1' } : {}),
  });
  const body: MessageOf<'snapshotReply'> = {
    instances: Array.from({ length: 500 }, (_, i) => inst(i)),
    sessions: [],
    tombstones: [],
    revisions: [],
    vector: [['n1', 1, 500]],
    next: 'abc:500',
  };
  const plain = encodeTrusted('snapshotReply', body);
  const compact = enc.encode('snapshotReply', body);
  t.ok(
    compact.byteLength < plain.byteLength * 0.7,
    `${compact.byteLength} < 0.7 × ${plain.byteLength}`,
  );
  t.same(decodeAs(compact, 'snapshotReply'), decodeAs(plain, 'snapshotReply'));
  // a later message with other shapes does not depend on the earlier one's definitions
  const other: MessageOf<'snapshotReply'> = { ...body, instances: [inst(1)], next: undefined };
  delete other.next;
  t.same(raw.unpack(enc.encode('snapshotReply', other)), [
    PROTOCOL_VERSION,
    'snapshotReply',
    other,
  ]);
  t.end();
});
