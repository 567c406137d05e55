import t from 'tap';
import { isRosterError } from '../../protocol/errors.js';
import type { BusStatusType } from '../../transport/bus.js';
import { createMemoryBuses, MemoryBroker } from '../../transport/memory-bus.js';
import { busConformance } from '../helpers/bus-conformance.js';
import { sleep, waitFor } from '../helpers/bus-test-kit.js';

const EMPTY = new Uint8Array(0);

t.test('conformance: memory bus', async (t) => {
  await busConformance(t, async () => {
    const { broker, buses } = createMemoryBuses(3);
    return { buses, restart: () => broker.restart(), cleanup: () => broker.close() };
  });
});

t.test('delivery is asynchronous', async (t) => {
  const { broker, buses } = createMemoryBuses(1);
  t.teardown(() => broker.close());
  const bus = buses[0]!;
  let got = 0;
  bus.subscribe('a', () => {
    got++;
  });
  bus.publish('a', EMPTY);
  t.equal(got, 0, 'not delivered inside publish()');
  await bus.flush();
  t.equal(got, 1, 'delivered by the time flush() resolves');
});

t.test('published bytes are copied', async (t) => {
  const { broker, buses } = createMemoryBuses(2);
  t.teardown(() => broker.close());
  const [a, b] = buses as [(typeof buses)[0], (typeof buses)[0]];
  const got: number[] = [];
  b.subscribe('copy', (m) => got.push(m.data[0]!));
  const buf = new Uint8Array([1]);
  a.publish('copy', buf);
  buf[0] = 2;
  await a.flush();
  t.same(got, [1], 'the subscriber sees the bytes as they were at publish time');
});

t.test('round-robin queue groups spread evenly', async (t) => {
  const broker = new MemoryBroker({ queueStrategy: 'roundRobin' });
  t.teardown(() => broker.close());
  const pub = broker.connect();
  const counts = [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    broker.connect().subscribe('work', () => counts[i]!++, { queue: 'q' });
  }
  for (let i = 0; i < 30; i++) pub.publish('work', EMPTY);
  await pub.flush();
  t.same(counts, [10, 10, 10]);
});

t.test('random queue groups still reach every member eventually', async (t) => {
  const { broker, buses } = createMemoryBuses(3);
  t.teardown(() => broker.close());
  const counts = [0, 0, 0];
  for (const [i, bus] of buses.entries()) {
    bus.subscribe('work', () => counts[i]!++, { queue: 'q' });
  }
  for (let i = 0; i < 300; i++) buses[0]!.publish('work', EMPTY);
  await buses[0]!.flush();
  t.equal(
    counts.reduce((a, b) => a + b, 0),
    300,
  );
  t.ok(
    counts.every((c) => c > 0),
    `every member got some (${counts.join('/')})`,
  );
});

t.test('payload limit', async (t) => {
  const broker = new MemoryBroker({ maxPayload: 16 });
  t.teardown(() => broker.close());
  const bus = broker.connect();
  bus.publish('ok', new Uint8Array(16));
  t.throws(() => bus.publish('big', new Uint8Array(17)), { code: 'ROSTER_ERR_MESSAGE_TOO_LARGE' });
  await t.rejects(bus.request('big', new Uint8Array(17), { timeoutMs: 100 }), {
    code: 'ROSTER_ERR_MESSAGE_TOO_LARGE',
  });
});

t.test('a simulated outage drops messages and reports status', async (t) => {
  const { broker, buses } = createMemoryBuses(2);
  t.teardown(() => broker.close());
  const [a, b] = buses as [(typeof buses)[0], (typeof buses)[0]];
  const statuses: BusStatusType[] = [];
  a.onStatus((s) => statuses.push(s.type));
  const got: number[] = [];
  b.subscribe('x', (m) => got.push(m.data[0]!));
  broker.simulateDisconnect();
  t.equal(broker.connected, false);
  a.publish('x', new Uint8Array([1]));
  const err = await a.request('x', EMPTY, { timeoutMs: 50 }).catch((e: unknown) => e);
  t.ok(isRosterError(err, 'ROSTER_ERR_TIMEOUT'), 'requests time out while disconnected');
  broker.simulateReconnect();
  a.publish('x', new Uint8Array([2]));
  await waitFor(() => got.length === 1, 'the message after reconnect');
  await sleep(5);
  t.same(got, [2], 'the message published during the outage was lost (at most once)');
  t.same(statuses, ['disconnect', 'reconnecting', 'reconnect']);
});

t.test('injected status events reach listeners; unsubscribing stops them', async (t) => {
  const { broker, buses } = createMemoryBuses(1);
  t.teardown(() => broker.close());
  const seen: BusStatusType[] = [];
  const off = buses[0]!.onStatus((s) => seen.push(s.type));
  broker.injectStatus({ type: 'lameDuck', server: 'memory' });
  broker.injectStatus({ type: 'slowConsumer', subject: 'x' });
  off();
  broker.injectStatus({ type: 'error', error: new Error('x') });
  t.same(seen, ['lameDuck', 'slowConsumer']);
});

t.test('closing a bus removes its subscriptions from the broker', async (t) => {
  const broker = new MemoryBroker();
  const bus = broker.connect();
  bus.subscribe('a', () => undefined);
  bus.subscribe('b.>', () => undefined, { queue: 'q' });
  t.equal(broker.subscriptionCount, 2);
  await bus.close();
  t.equal(broker.subscriptionCount, 0);
  await broker.close();
  t.throws(() => broker.connect(), { code: 'ROSTER_ERR_BUS_CLOSED' });
});
