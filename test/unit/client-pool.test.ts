import t from 'tap';
import { Pool, type PoolSource } from '../../client/pool.js';
import type { WatchEvent } from '../../client/watch.js';
import type { Instance } from '../../protocol/index.js';
import { expectRosterError } from '../helpers/expect-error.js';
import { instance } from '../helpers/synthetic-instances.js';

/** A hand-driven stand-in for a ServiceWatch. */
class FakeWatch implements PoolSource {
  stale = false;
  closed = false;
  private readonly set = new Map<string, Instance>();
  private readonly listeners = new Set<(e: WatchEvent) => void>();

  constructor(initial: Instance[] = []) {
    for (const i of initial) this.set.set(i.id, i);
  }
  instances(): Instance[] {
    return [...this.set.values()];
  }
  on(listener: (e: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  put(i: Instance): void {
    const previous = this.set.get(i.id);
    this.set.set(i.id, i);
    this.emit(
      previous ? { type: 'updated', instance: i, previous } : { type: 'added', instance: i },
    );
  }
  remove(id: string): void {
    const i = this.set.get(id);
    if (!i) return;
    this.set.delete(id);
    this.emit({ type: 'removed', instance: i });
  }
  emit(e: WatchEvent): void {
    if (e.type === 'stale') this.stale = true;
    if (e.type === 'fresh') this.stale = false;
    for (const l of this.listeners) l(e);
  }
}

const ids = (pool: Pool) =>
  pool
    .members()
    .map((m) => m.instance.id)
    .sort();

t.test('pick on an empty pool is undefined; members follow the watch', async (t) => {
  const w = new FakeWatch();
  const pool = new Pool(w);
  t.equal(pool.pick(), undefined);
  t.equal(pool.size, 0);
  w.put(instance('a'));
  w.put(instance('b'));
  t.equal(pool.size, 2);
  t.same(
    new Set([pool.pick()?.id, pool.pick()?.id]),
    new Set(['a', 'b']),
    'round-robin by default',
  );
  w.remove('a');
  t.equal(pool.pick()?.id, 'b');
  t.equal(pool.pick()?.id, 'b');
});

t.test('member statistics survive an update of the same instance', async (t) => {
  const w = new FakeWatch([instance('a', { port: 1 })]);
  const pool = new Pool(w);
  const a = pool.pick()!;
  const done = pool.start(a);
  pool.report(a, { ok: true, latencyMs: 40 });
  w.put(instance('a', { port: 2, hlc: 2, weight: 7 }));
  const [m] = pool.members();
  t.equal(m?.instance.port, 2, 'the record is replaced');
  t.equal(m?.outstanding, 1, 'outstanding kept');
  t.equal(m?.ewmaMs, 40, 'latency EWMA kept');
  t.equal(pool.pick()?.port, 2, 'picks return the new record');
  done({ ok: true, latencyMs: 40 });
  done({ ok: false });
  t.equal(m?.outstanding, 0, 'done counts once');
  t.equal(m?.consecutiveFailures, 0, 'a second done call is ignored');
});

t.test('draining and filtered-out instances are excluded at once', async (t) => {
  const w = new FakeWatch([
    instance('a', { version: '1.4.0' }),
    instance('b', { version: '1.5.0' }),
    instance('c', { version: '2.0.0' }),
    instance('d', { version: '1.6.0', status: 'critical' }),
  ]);
  const pool = new Pool(w, { filter: { version: '^1.4' } });
  t.same(ids(pool), ['a', 'b']);
  w.put(instance('b', { version: '1.5.0', status: 'draining', hlc: 2 }));
  t.same(ids(pool), ['a'], 'draining leaves on the update');
  for (let i = 0; i < 5; i++) t.equal(pool.pick()?.id, 'a');
  w.put(instance('a', { version: '3.0.0', hlc: 3 }));
  t.equal(pool.pick(), undefined, 'an update out of the filter leaves too');
  w.put(instance('d', { version: '1.6.0', status: 'passing', hlc: 2 }));
  t.equal(pool.pick()?.id, 'd', 'a member that recovers joins');
  const everything = new Pool(w, { filter: { statuses: ['passing', 'draining'] } });
  t.notOk(ids(everything).includes('b'), 'draining is excluded even when the filter allows it');
});

t.test('staleness never empties a pool', async (t) => {
  const w = new FakeWatch([instance('a'), instance('b')]);
  const pool = new Pool(w);
  w.emit({ type: 'stale', reason: 'bus disconnected' });
  t.ok(pool.stale);
  t.equal(pool.size, 2);
  t.ok(pool.pick());
  w.emit({ type: 'fresh' });
  t.notOk(pool.stale);
});

t.test(
  'failures eject from picks; back after the ejection; panic keeps the pool usable',
  async (t) => {
    const clock = { now: 0 };
    const w = new FakeWatch(['a', 'b', 'c', 'd'].map((id) => instance(id)));
    const pool = new Pool(w, { outlier: { now: () => clock.now, maxEjectedPercent: 100 } });
    const b = w.instances()[1]!;
    for (let i = 0; i < 5; i++) pool.report(b, { ok: false });
    t.equal(pool.healthy, 3);
    const picked = new Set(Array.from({ length: 30 }, () => pool.pick()?.id));
    t.notOk(picked.has('b'), 'the ejected member is not picked');
    clock.now += 1000;
    t.equal(pool.healthy, 4);
    t.ok(new Set(Array.from({ length: 8 }, () => pool.pick()?.id)).has('b'), 'back after 1 s');

    for (const i of w.instances().slice(0, 3))
      for (let k = 0; k < 5; k++) pool.report(i, { ok: false });
    t.equal(pool.healthy, 1);
    t.ok(pool.panic, '25% healthy < 50%: panic');
    t.equal(new Set(Array.from({ length: 8 }, () => pool.pick()?.id)).size, 4, 'panic: all picked');
  },
);

t.test('strategies by name or object, zone preference, typed errors', async (t) => {
  const w = new FakeWatch([
    instance('a', { zone: 'z1' }),
    instance('b', { zone: 'z2' }),
    instance('c', { zone: 'z1' }),
  ]);
  const pool = new Pool(w, { strategy: 'least-outstanding', zone: 'z1' });
  t.equal(pool.strategy.name, 'zone-aware');
  for (let i = 0; i < 20; i++) t.not(pool.pick()?.id, 'b', 'local zone preferred');
  const hashed = new Pool(w, { strategy: 'maglev', strategyOptions: { tableSize: 251 } });
  t.equal(hashed.pick('user-1')?.id, hashed.pick('user-1')?.id);
  expectRosterError(t, () => new Pool(w, { strategy: 'nope' }), 'ROSTER_ERR_INVALID_ARGUMENT');
  expectRosterError(
    t,
    () => new Pool(w, { filter: { version: '>>1' } }),
    'ROSTER_ERR_INVALID_ARGUMENT',
  );
  expectRosterError(t, () => new Pool(w, { panicThreshold: -1 }), 'ROSTER_ERR_INVALID_ARGUMENT');
});

t.test('least-outstanding through start/done prefers the idle member', async (t) => {
  const w = new FakeWatch([instance('a'), instance('b')]);
  const pool = new Pool(w, { strategy: 'least-outstanding' });
  const busy = w.instances()[0]!;
  const dones = Array.from({ length: 3 }, () => pool.start(busy));
  for (let i = 0; i < 10; i++) t.equal(pool.pick()?.id, 'b');
  for (const d of dones) d({ ok: true });
  t.equal(pool.members().find((m) => m.instance.id === 'a')?.outstanding, 0);
});

t.test('close stops following and closes an owned source', async (t) => {
  const w = new FakeWatch([instance('a')]);
  const pool = new Pool(w, {}, true);
  await pool.close();
  w.put(instance('z'));
  t.equal(pool.size, 1, 'no longer follows');
  t.ok(w.closed);
  const w2 = new FakeWatch();
  await new Pool(w2).close();
  t.notOk(w2.closed, 'a source the pool does not own stays open');
});
