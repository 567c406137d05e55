/**
 * The one Bus conformance suite (DESIGN.md, "Transport contract"), run against every Bus
 * implementation: test/unit/bus-memory.test.ts (in-process) and test/integration/
 * bus-nats.test.ts (one nats-server, and a 3-server cluster with buses on different servers).
 *
 * Every subtest asks `makeBuses` for fresh buses (at least two; three or more spreads queue
 * members and scatter responders over more connections) and calls `cleanup` at its end.
 * Because a broker may route interest asynchronously (a NATS cluster does), a subtest first
 * proves that the publisher can reach the subscriber (awaitInterest) before it counts
 * anything.
 */

import type { Test } from 'tap';
import type { Bus, BusMessage, BusStatus, BusStatusType } from '../../transport/bus.js';
import {
  awaitInterest,
  EMPTY,
  readU32,
  rejectsWith,
  requestUntil,
  sleep,
  str,
  text,
  throwsWith,
  u32,
  uniqueToken,
  waitFor,
} from './bus-test-kit.js';

export interface BusFixture {
  /** At least two open buses on the same broker or cluster. */
  readonly buses: Bus[];
  /** Restarts the server buses[0] is connected to (omit when not applicable). */
  readonly restart?: () => Promise<void>;
  /** Closes the buses (and anything else the fixture made). */
  readonly cleanup: () => Promise<void>;
}

export type MakeBuses = () => Promise<BusFixture>;

function pick(buses: Bus[], i: number): Bus {
  return buses[i % buses.length]!;
}

/** Runs the whole suite as subtests of `t`. */
export async function busConformance(t: Test, makeBuses: MakeBuses): Promise<void> {
  const withBuses = (name: string, fn: (t: Test, fx: BusFixture) => Promise<void>) =>
    t.test(name, async (t) => {
      const fx = await makeBuses();
      t.teardown(() => fx.cleanup());
      t.ok(fx.buses.length >= 2, 'fixture provides at least two buses');
      await fn(t, fx);
    });

  await withBuses('declares itself', async (t, { buses }) => {
    const bus = buses[0]!;
    t.type(bus.kind, 'string');
    t.ok(bus.kind.length > 0, 'kind is not empty');
    for (const key of ['brokered', 'nativeQueueGroups', 'nativeRequest', 'crossProcess'] as const) {
      t.type(bus.capabilities[key], 'boolean', `capabilities.${key}`);
    }
    t.equal(bus.isOpen, true, 'open after creation');
    const inboxes = new Set(Array.from({ length: 100 }, () => bus.createInbox()));
    t.equal(inboxes.size, 100, 'createInbox gives distinct subjects');
    await bus.flush();
  });

  await withBuses('rejects invalid timeouts and deadlines', async (t, { buses }) => {
    const bus = buses[0]!;
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await rejectsWith(
        t,
        bus.request('conf.args', EMPTY, { timeoutMs }),
        'ROSTER_ERR_INVALID_ARGUMENT',
        `request timeoutMs ${timeoutMs}`,
      );
      await rejectsWith(
        t,
        bus.scatter('conf.args', EMPTY, { deadlineMs: timeoutMs }),
        'ROSTER_ERR_INVALID_ARGUMENT',
        `scatter deadlineMs ${timeoutMs}`,
      );
    }
  });

  await withBuses('preserves per-publisher order', async (t, { buses }) => {
    const a = pick(buses, 0);
    const b = pick(buses, 1);
    const c = pick(buses, 2);
    const subject = `conf.order.${uniqueToken()}`;
    const count = 2000;
    const remote: number[] = [];
    const local: number[] = [];
    b.subscribe(subject, (m) => remote.push(readU32(m.data)));
    a.subscribe(subject, (m) => local.push(readU32(m.data)));
    await awaitInterest(b, a);
    for (let i = 0; i < count; i++) a.publish(subject, u32(i));
    await waitFor(() => remote.length >= count && local.length >= count, `${count} messages`);
    t.equal(remote.length, count, 'remote subscriber got every message');
    t.ok(
      remote.every((v, i) => v === i),
      'remote subscriber got them in publish order',
    );
    t.ok(
      local.every((v, i) => v === i),
      'subscriber on the publishing bus got them in publish order',
    );

    // Two publishers interleaved: each one's sequence stays ordered at the receiver.
    const subject2 = `conf.order2.${uniqueToken()}`;
    const seen = new Map<number, number[]>([
      [0, []],
      [1, []],
    ]);
    b.subscribe(subject2, (m) => seen.get(m.data[0]!)!.push(readU32(m.data, 1)));
    await awaitInterest(b, a);
    await awaitInterest(b, c);
    const frame = (pub: number, i: number) => {
      const f = new Uint8Array(5);
      f[0] = pub;
      f.set(u32(i), 1);
      return f;
    };
    for (let i = 0; i < 1000; i++) {
      a.publish(subject2, frame(0, i));
      c.publish(subject2, frame(1, i));
    }
    await waitFor(
      () => seen.get(0)!.length >= 1000 && seen.get(1)!.length >= 1000,
      '1000 messages from each publisher',
    );
    for (const [pub, seqs] of seen) {
      t.ok(
        seqs.every((v, i) => v === i),
        `publisher ${pub}: 1000 messages in order`,
      );
    }
  });

  await withBuses('a queue group delivers each message exactly once', async (t, { buses }) => {
    const publisher = pick(buses, 0);
    const subject = `conf.queue.${uniqueToken()}`;
    const count = 300;
    const groups = {
      workers: [] as number[][],
      auditors: [] as number[][],
    };
    const plain: number[] = [];
    for (let i = 0; i < 3; i++) {
      const got: number[] = [];
      groups.workers.push(got);
      pick(buses, i).subscribe(subject, (m) => got.push(readU32(m.data)), { queue: 'workers' });
    }
    for (let i = 1; i < 3; i++) {
      const got: number[] = [];
      groups.auditors.push(got);
      pick(buses, i).subscribe(subject, (m) => got.push(readU32(m.data)), { queue: 'auditors' });
    }
    pick(buses, 1).subscribe(subject, (m) => plain.push(readU32(m.data)));
    for (let i = 0; i < 3; i++) await awaitInterest(pick(buses, i), publisher);

    for (let i = 0; i < count; i++) publisher.publish(subject, u32(i));
    const total = (members: number[][]) => members.reduce((n, got) => n + got.length, 0);
    await waitFor(
      () =>
        plain.length >= count && total(groups.workers) >= count && total(groups.auditors) >= count,
      'all deliveries',
    );
    await sleep(100); // a duplicate would show up here
    t.equal(plain.length, count, 'a plain subscriber gets every message');
    for (const [name, members] of Object.entries(groups)) {
      const all = members.flat().sort((x, y) => x - y);
      t.equal(all.length, count, `${name}: ${count} deliveries in total`);
      t.ok(
        all.every((v, i) => v === i),
        `${name}: each message delivered to exactly one member`,
      );
      t.comment(`${name} spread: ${members.map((m) => m.length).join('/')}`);
    }
  });

  await withBuses('request gets one reply', async (t, { buses }) => {
    const a = pick(buses, 0);
    const b = pick(buses, 1);
    const subject = `conf.echo.${uniqueToken()}`;
    let sawReply: string | undefined;
    b.subscribe(subject, (m) => {
      sawReply = m.reply;
      m.respond(text(`echo:${str(m.data)}`));
    });
    await awaitInterest(b, a);
    const reply = await a.request(subject, text('hi'), { timeoutMs: 2000 });
    t.equal(str(reply.data), 'echo:hi', 'reply payload');
    t.type(sawReply, 'string', 'the responder saw a reply subject');

    // concurrent requests are matched to their own replies
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        a.request(subject, text(String(i)), { timeoutMs: 5000 }),
      ),
    );
    t.ok(
      replies.every((r, i) => str(r.data) === `echo:${i}`),
      '50 concurrent requests each get their own reply',
    );
  });

  await withBuses('request times out with ROSTER_ERR_TIMEOUT', async (t, { buses }) => {
    const a = pick(buses, 0);
    const b = pick(buses, 1);
    const subject = `conf.silent.${uniqueToken()}`;
    let received = 0;
    b.subscribe(subject, () => {
      received++;
    });
    await awaitInterest(b, a);
    const started = Date.now();
    await rejectsWith(
      t,
      a.request(subject, text('x'), { timeoutMs: 200 }),
      'ROSTER_ERR_TIMEOUT',
      'silent responder',
    );
    const elapsed = Date.now() - started;
    t.ok(elapsed >= 180, `waited the timeout (${elapsed} ms)`);
    t.ok(elapsed < 2000, `did not wait much longer (${elapsed} ms)`);
    t.equal(received, 1, 'the request reached the silent responder');
  });

  await withBuses(
    'request without listeners fails with ROSTER_ERR_NO_RESPONDERS',
    async (t, { buses }) => {
      const a = pick(buses, 0);
      const started = Date.now();
      await rejectsWith(
        t,
        a.request(`conf.nobody.${uniqueToken()}`, text('x'), { timeoutMs: 5000 }),
        'ROSTER_ERR_NO_RESPONDERS',
        'nobody listening',
      );
      const elapsed = Date.now() - started;
      t.ok(elapsed < 2000, `failed fast, not at the timeout (${elapsed} ms)`);
    },
  );

  await withBuses('scatter collects every reply inside its deadline', async (t, { buses }) => {
    const asker = pick(buses, 0);
    const subject = `conf.scatter.${uniqueToken()}`;
    const deadlineMs = 500;
    for (let i = 0; i < 3; i++) {
      pick(buses, i).subscribe(subject, (m) => {
        m.respond(text(`r${i}`));
      });
    }
    const late: Promise<void>[] = [];
    pick(buses, 1).subscribe(subject, (m) => {
      late.push(
        sleep(deadlineMs + 300).then(() => {
          try {
            m.respond(text('late'));
          } catch {
            // the bus may be closing; the reply is unwanted anyway
          }
        }),
      );
    });
    for (let i = 0; i < 3; i++) await awaitInterest(pick(buses, i), asker);

    let started = Date.now();
    const replies = await asker.scatter(subject, text('who'), { deadlineMs });
    let elapsed = Date.now() - started;
    const names = replies.map((r) => str(r.data)).sort();
    t.same(names, ['r0', 'r1', 'r2'], 'every prompt reply, not the late one');
    t.ok(elapsed >= deadlineMs - 20, `waited for the deadline (${elapsed} ms)`);
    t.ok(elapsed < deadlineMs + 1000, `resolved at the deadline (${elapsed} ms)`);

    started = Date.now();
    const two = await asker.scatter(subject, text('who'), { deadlineMs: 5000, maxReplies: 2 });
    elapsed = Date.now() - started;
    t.equal(two.length, 2, 'maxReplies caps the replies');
    t.ok(elapsed < 2000, `maxReplies resolves early (${elapsed} ms)`);

    started = Date.now();
    const quiet = await asker.scatter(subject, text('who'), {
      deadlineMs: 5000,
      quietMs: 100,
      minReplies: 3,
    });
    elapsed = Date.now() - started;
    t.same(quiet.map((r) => str(r.data)).sort(), ['r0', 'r1', 'r2'], 'quietMs: every prompt reply');
    t.ok(elapsed < 2000, `quietMs ends the wait once replies stop (${elapsed} ms)`);

    started = Date.now();
    const none = await asker.scatter(`conf.scatter.none.${uniqueToken()}`, text('who'), {
      deadlineMs: 3000,
    });
    elapsed = Date.now() - started;
    t.same(none, [], 'no listeners: no replies');
    t.ok(elapsed < 3500, `no listeners resolves by the deadline (${elapsed} ms)`);
    await waitFor(() => late.length === 3, 'the late responder to see all three scatters');
    await Promise.all(late);
  });

  await withBuses('wildcards follow NATS semantics', async (t, { buses }) => {
    const a = pick(buses, 0);
    const b = pick(buses, 1);
    const root = `conf.w${uniqueToken()}`;
    const got: Record<string, string[]> = {};
    const patterns = [`${root}.*`, `${root}.>`, `${root}.*.end`, `${root}.a`, `${root}.*.*`];
    for (const p of patterns) {
      got[p] = [];
      b.subscribe(p, (m) => got[p]!.push(m.subject.slice(root.length + 1)));
    }
    await awaitInterest(b, a);
    for (const s of ['a', 'b.end', 'b.c.end', 'x.y']) a.publish(`${root}.${s}`, EMPTY);
    await waitFor(() => got[`${root}.>`]!.length >= 4, 'the > subscription to get all four');
    await sleep(50);
    t.same(got[`${root}.*`], ['a'], '* matches exactly one token');
    t.same(got[`${root}.>`], ['a', 'b.end', 'b.c.end', 'x.y'], '> matches one or more tokens');
    t.same(got[`${root}.*.end`], ['b.end'], '* in the middle');
    t.same(got[`${root}.a`], ['a'], 'literal subject');
    t.same(got[`${root}.*.*`], ['b.end', 'x.y'], 'two * tokens');

    throwsWith(
      t,
      () => a.publish(`${root}.*`, EMPTY),
      'ROSTER_ERR_INVALID_SUBJECT',
      'publish to a wildcard',
    );
    throwsWith(
      t,
      () => a.publish(`${root}..x`, EMPTY),
      'ROSTER_ERR_INVALID_SUBJECT',
      'empty token',
    );
    throwsWith(t, () => a.publish('', EMPTY), 'ROSTER_ERR_INVALID_SUBJECT', 'empty subject');
    throwsWith(t, () => a.publish('a b', EMPTY), 'ROSTER_ERR_INVALID_SUBJECT', 'whitespace');
    throwsWith(
      t,
      () => a.subscribe(`${root}.>.x`, () => undefined),
      'ROSTER_ERR_INVALID_SUBJECT',
      '> must be the last token',
    );
  });

  await withBuses('unsubscribe stops delivery', async (t, { buses }) => {
    const a = pick(buses, 0);
    const b = pick(buses, 1);
    const subject = `conf.unsub.${uniqueToken()}`;
    const first: number[] = [];
    const second: number[] = [];
    const s1 = b.subscribe(subject, (m) => first.push(readU32(m.data)));
    b.subscribe(subject, (m) => second.push(readU32(m.data)));
    t.equal(s1.subject, subject, 'subscription knows its subject');
    t.equal(s1.queue, undefined, 'no queue group');
    await awaitInterest(b, a);
    a.publish(subject, u32(1));
    await waitFor(() => first.length === 1 && second.length === 1, 'first message on both');
    s1.unsubscribe();
    s1.unsubscribe(); // idempotent
    a.publish(subject, u32(2));
    await waitFor(() => second.length === 2, 'second message on the remaining subscription');
    await sleep(50);
    t.same(first, [1], 'the unsubscribed handler got nothing more');
    t.same(second, [1, 2], 'the other subscription still receives');
  });

  await withBuses('a throwing handler does not break the bus', async (t, { buses }) => {
    const a = pick(buses, 0);
    const b = pick(buses, 1);
    const subject = `conf.throw.${uniqueToken()}`;
    const got: number[] = [];
    b.subscribe(subject, (m) => {
      const n = readU32(m.data);
      got.push(n);
      if (n === 0) throw new Error('handler failure (expected by the test)');
    });
    await awaitInterest(b, a);
    a.publish(subject, u32(0));
    a.publish(subject, u32(1));
    await waitFor(() => got.length === 2, 'both messages');
    t.same(got, [0, 1], 'delivery continues after a handler throws');
    const msg = await new Promise<BusMessage>((resolve) => {
      const s = b.subscribe(`${subject}.plain`, (m) => {
        s.unsubscribe();
        resolve(m);
      });
      void awaitInterest(b, a).then(() => a.publish(`${subject}.plain`, EMPTY));
    });
    t.equal(msg.reply, undefined, 'a plain publish has no reply subject');
    t.equal(msg.respond(EMPTY), false, 'respond() without a reply subject returns false');
  });

  await withBuses(
    'close drains, then everything fails with ROSTER_ERR_BUS_CLOSED',
    async (t, { buses }) => {
      const a = pick(buses, 0);
      const b = pick(buses, 1);
      const subject = `conf.close.${uniqueToken()}`;
      const got: number[] = [];
      b.subscribe(subject, (m) => got.push(readU32(m.data)));
      await awaitInterest(b, a);
      const statuses: BusStatusType[] = [];
      a.onStatus((s) => statuses.push(s.type));
      for (let i = 0; i < 100; i++) a.publish(subject, u32(i));
      await a.close();
      await waitFor(() => got.length === 100, 'messages published just before close');
      t.equal(got.length, 100, 'close() delivered what was published before it');
      t.equal(a.isOpen, false, 'isOpen is false');
      t.ok(statuses.includes('closed'), "a 'closed' status event");
      throwsWith(
        t,
        () => a.publish(subject, EMPTY),
        'ROSTER_ERR_BUS_CLOSED',
        'publish after close',
      );
      throwsWith(
        t,
        () => a.subscribe(subject, () => undefined),
        'ROSTER_ERR_BUS_CLOSED',
        'subscribe after close',
      );
      await rejectsWith(
        t,
        a.request(subject, EMPTY, { timeoutMs: 100 }),
        'ROSTER_ERR_BUS_CLOSED',
        'request after close',
      );
      await rejectsWith(
        t,
        a.scatter(subject, EMPTY, { deadlineMs: 100 }),
        'ROSTER_ERR_BUS_CLOSED',
        'scatter after close',
      );
      await rejectsWith(t, a.flush(), 'ROSTER_ERR_BUS_CLOSED', 'flush after close');
      await a.close();
      t.pass('a second close() resolves');
      await b[Symbol.asyncDispose]();
      t.equal(b.isOpen, false, 'Symbol.asyncDispose closes');
    },
  );

  const probe = await makeBuses();
  const canRestart = probe.restart !== undefined;
  await probe.cleanup();
  if (!canRestart) {
    t.comment('restart: not applicable to this fixture');
    return;
  }

  await withBuses('clients reconnect after a server restart', async (t, fx) => {
    const a = pick(fx.buses, 0);
    const b = pick(fx.buses, 1);
    const statuses: BusStatus[] = [];
    a.onStatus((s) => statuses.push(s));
    const subject = `conf.restart.${uniqueToken()}`;
    const onB: number[] = [];
    const onA: number[] = [];
    b.subscribe(subject, (m) => onB.push(readU32(m.data)));
    a.subscribe(`${subject}.back`, (m) => onA.push(readU32(m.data)));
    await awaitInterest(b, a);
    await awaitInterest(a, b);

    await fx.restart!();
    const types = () => statuses.map((s) => s.type);
    await waitFor(() => types().includes('disconnect'), "'disconnect' status", 15_000);
    await waitFor(() => types().includes('reconnect'), "'reconnect' status", 15_000);
    t.ok(
      types().indexOf('disconnect') < types().indexOf('reconnect'),
      'disconnect before reconnect',
    );
    t.ok(a.isOpen, 'still open after reconnecting');

    // Subscriptions made before the restart work again, both ways. Delivery is at most once,
    // so keep publishing until one arrives.
    let n = 0;
    await waitFor(
      () => {
        if (onB.length === 0 && n % 10 === 0) a.publish(subject, u32(n));
        n++;
        return onB.length > 0;
      },
      'a → b after the restart',
      15_000,
    );
    n = 0;
    await waitFor(
      () => {
        if (onA.length === 0 && n % 10 === 0) b.publish(`${subject}.back`, u32(n));
        n++;
        return onA.length > 0;
      },
      'b → a after the restart',
      15_000,
    );
    t.pass('pub/sub works again in both directions');
    const reply = await requestUntil(a, b, `${subject}.rr`);
    t.equal(str(reply.data), 'pong', 'request/reply works again');
  });
}
