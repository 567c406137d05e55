import fc from 'fast-check';
import t from 'tap';
import { OriginProgress } from '../../nodes/origin-progress.js';
import { RegistryStore } from '../../nodes/store.js';
import type { Change, Instance } from '../../protocol/index.js';
import { compare, type Version } from '../../protocol/index.js';

const SERVICES = ['api', 'web'] as const;
const IDS = ['a', 'b', 'c'] as const;
const NODES = ['n1', 'n2', 'n3'] as const;

function instance(service: string, id: string, hlc: number, owner: string): Instance {
  return {
    id,
    service,
    host: '127.0.0.1',
    port: 1000 + hlc,
    tags: [],
    meta: {},
    weight: 1,
    status: 'passing',
    sessionId: `s-${owner}`,
    ownerNode: owner,
    registeredAt: 0,
    hlc,
  };
}

/** The reference model: per key, the greatest put above the greatest removal is visible. */
class Model {
  readonly puts = new Map<string, Version>();
  readonly dels = new Map<string, Version>();
  put(key: string, v: Version): void {
    const cur = this.puts.get(key);
    if (!cur || compare(v, cur) > 0) this.puts.set(key, v);
  }
  del(key: string, v: Version): void {
    const cur = this.dels.get(key);
    if (!cur || compare(v, cur) > 0) this.dels.set(key, v);
  }
  visible(): Map<string, Version> {
    const out = new Map<string, Version>();
    for (const [key, v] of this.puts) {
      const d = this.dels.get(key);
      if (!d || compare(v, d) > 0) out.set(key, v);
    }
    return out;
  }
}

function storeView(store: RegistryStore): Map<string, Version> {
  const out = new Map<string, Version>();
  for (const i of store.allInstances())
    out.set(`${i.service}/${i.id}`, { hlc: i.hlc, node: i.ownerNode });
  return out;
}

const key = fc.tuple(fc.constantFrom(...SERVICES), fc.constantFrom(...IDS));
const version = fc.record({
  hlc: fc.integer({ min: 1, max: 30 }),
  node: fc.constantFrom(...NODES),
});

class PutCommand implements fc.Command<Model, RegistryStore> {
  constructor(
    readonly k: [string, string],
    readonly v: Version,
  ) {}
  check = () => true;
  run(model: Model, store: RegistryStore): void {
    store.apply(
      {
        op: 'put',
        origin: this.v.node,
        inc: 1,
        seq: 1,
        hlc: this.v.hlc,
        prev: 0,
        instance: instance(this.k[0], this.k[1], this.v.hlc, this.v.node),
      },
      0,
    );
    model.put(`${this.k[0]}/${this.k[1]}`, this.v);
    assertSame(model, store);
  }
  toString = () => `put(${this.k.join('/')}@${this.v.hlc}:${this.v.node})`;
}

class DelCommand implements fc.Command<Model, RegistryStore> {
  constructor(
    readonly k: [string, string],
    readonly v: Version,
  ) {}
  check = () => true;
  run(model: Model, store: RegistryStore): void {
    store.apply(
      {
        op: 'del',
        origin: 'n1',
        inc: 1,
        seq: 1,
        hlc: 99,
        prev: 0,
        service: this.k[0],
        id: this.k[1],
        ifHlc: this.v.hlc,
        ifNode: this.v.node,
        reason: 'deregister',
      },
      0,
    );
    model.del(`${this.k[0]}/${this.k[1]}`, this.v);
    assertSame(model, store);
  }
  toString = () => `del(${this.k.join('/')}@${this.v.hlc}:${this.v.node})`;
}

function assertSame(model: Model, store: RegistryStore): void {
  const expected = model.visible();
  const actual = storeView(store);
  if (expected.size !== actual.size)
    throw new Error(`size ${actual.size} != model ${expected.size}`);
  for (const [k, v] of expected) {
    const a = actual.get(k);
    if (!a || compare(a, v) !== 0)
      throw new Error(`${k}: store ${JSON.stringify(a)} != model ${JSON.stringify(v)}`);
  }
  let perService = 0;
  for (const [, instances] of store.services()) perService += instances.size;
  if (perService !== store.instanceCount) throw new Error('service index out of step');
}

t.test('model-based: the store matches the merge model after every command', async (t) => {
  const commands = [
    fc.tuple(key, version).map(([k, v]) => new PutCommand(k, v)),
    fc.tuple(key, version).map(([k, v]) => new DelCommand(k, v)),
  ];
  fc.assert(
    fc.property(fc.commands(commands, { maxCommands: 60 }), (cmds) => {
      fc.modelRun(() => ({ model: new Model(), real: new RegistryStore() }), cmds);
    }),
    { numRuns: 500 },
  );
  t.pass('500 command sequences matched the model');
});

/** Per-origin logs of changes with correct seq numbers, as origins would emit them. */
const originLogs = fc
  .array(fc.tuple(fc.constantFrom(...NODES), fc.boolean(), key, fc.integer({ min: 1, max: 40 })), {
    minLength: 1,
    maxLength: 40,
  })
  .map((ops) => {
    const seqs = new Map<string, number>();
    const prevBySvc = new Map<string, number>();
    const lastPut = new Map<string, Version>();
    const changes: Change[] = [];
    ops.forEach(([origin, isPut, [service, id], hlcBase], i) => {
      const seq = (seqs.get(origin) ?? 0) + 1;
      seqs.set(origin, seq);
      const prev = prevBySvc.get(`${origin}|${service}`) ?? 0;
      prevBySvc.set(`${origin}|${service}`, seq);
      const hlc = hlcBase * 100 + i; // distinct stamps
      const k = `${service}/${id}`;
      const seen = lastPut.get(k);
      if (isPut || !seen) {
        changes.push({
          op: 'put',
          origin,
          inc: 1,
          seq,
          hlc,
          prev,
          instance: instance(service, id, hlc, origin),
        });
        lastPut.set(k, { hlc, node: origin });
      } else {
        changes.push({
          op: 'del',
          origin,
          inc: 1,
          seq,
          hlc,
          prev,
          service,
          id,
          ifHlc: seen.hlc,
          ifNode: seen.node,
          reason: 'deregister',
        });
      }
    });
    return changes;
  });

/** Delivers changes through OriginProgress (in-order per origin, duplicates dropped) into a store. */
function replica(deliveries: Change[]): RegistryStore {
  const store = new RegistryStore();
  const progress = new OriginProgress();
  for (const c of deliveries) {
    const r = progress.offer(c);
    if (r.kind === 'apply') for (const ready of r.changes) store.apply(ready, 0);
  }
  return store;
}

t.test(
  'any interleaving and duplication of the same deltas converges to the same state',
  async (t) => {
    fc.assert(
      fc.property(
        originLogs.chain((changes) =>
          fc.tuple(
            fc.constant(changes),
            fc.shuffledSubarray(changes, { minLength: 0 }),
            fc.array(fc.nat(), { maxLength: changes.length * 2 }),
            fc.array(fc.nat(), { maxLength: changes.length * 2 }),
          ),
        ),
        ([changes, dupes, orderA, orderB]) => {
          const shuffle = (list: Change[], order: number[]) => {
            const out = [...list];
            order.forEach((n, i) => {
              const a = i % out.length;
              const b = n % out.length;
              [out[a], out[b]] = [out[b]!, out[a]!];
            });
            return out;
          };
          const a = replica(shuffle([...changes, ...dupes], orderA));
          const b = replica(shuffle([...changes, ...dupes, ...changes], orderB));
          const inOrder = replica(changes);
          if (a.digest !== inOrder.digest || b.digest !== inOrder.digest)
            throw new Error('digests differ');
          const va = storeView(a);
          const vi = storeView(inOrder);
          if (va.size !== vi.size) throw new Error('views differ');
          for (const [k, v] of vi)
            if (compare(va.get(k)!, v) !== 0) throw new Error(`${k} differs`);
          // Raw store without ordering converges too: the merge rule is order-independent.
          const raw = new RegistryStore();
          for (const c of shuffle([...dupes, ...changes], orderB)) raw.apply(c, 0);
          if (raw.digest !== inOrder.digest) throw new Error('order-free merge differs');
        },
      ),
      { numRuns: 400 },
    );
    t.pass('converged');
  },
);

t.test(
  'a deregistered instance is not resurrected by a replayed put; a newer one is accepted',
  async (t) => {
    const store = new RegistryStore();
    const put: Change = {
      op: 'put',
      origin: 'n1',
      inc: 1,
      seq: 1,
      hlc: 10,
      prev: 0,
      instance: instance('api', 'a', 10, 'n1'),
    };
    const del: Change = {
      op: 'del',
      origin: 'n1',
      inc: 1,
      seq: 2,
      hlc: 11,
      prev: 1,
      service: 'api',
      id: 'a',
      ifHlc: 10,
      ifNode: 'n1',
      reason: 'deregister',
    };
    t.equal(store.apply(put, 0)?.kind, 'instance-added');
    t.equal(store.apply(del, 0)?.kind, 'instance-removed');
    t.equal(store.apply(put, 0), undefined, 'replayed put ignored');
    t.equal(store.instanceCount, 0);
    const again: Change = { ...put, seq: 3, hlc: 12, instance: instance('api', 'a', 12, 'n2') };
    t.equal(store.apply(again, 0)?.kind, 'instance-added', 're-registration accepted');
    t.same(store.revision('api'), [['n1', 1, 3]]);
    t.equal(store.lastSeqFor('api', 'n1', 1), 3);
    t.equal(store.expireTombstones(1), 0, 'the tombstone was cleared by the newer put');
  },
);

t.test('snapshot and load reproduce the store, tombstones included', async (t) => {
  const a = new RegistryStore();
  a.apply(
    {
      op: 'put',
      origin: 'n1',
      inc: 1,
      seq: 1,
      hlc: 10,
      prev: 0,
      instance: instance('api', 'a', 10, 'n1'),
    },
    0,
  );
  a.apply(
    {
      op: 'put',
      origin: 'n1',
      inc: 1,
      seq: 2,
      hlc: 11,
      prev: 1,
      instance: instance('api', 'b', 11, 'n1'),
    },
    0,
  );
  a.apply(
    {
      op: 'del',
      origin: 'n1',
      inc: 1,
      seq: 3,
      hlc: 12,
      prev: 2,
      service: 'api',
      id: 'b',
      ifHlc: 11,
      ifNode: 'n1',
      reason: 'expired',
    },
    0,
  );
  a.apply(
    {
      op: 'sput',
      origin: 'n1',
      inc: 1,
      seq: 4,
      hlc: 13,
      prev: 0,
      session: {
        id: 's-n1',
        ownerNode: 'n1',
        ttlMs: 5000,
        secretHash: 'a'.repeat(64),
        openedAt: 0,
        hlc: 13,
      },
    },
    0,
  );
  const b = new RegistryStore();
  b.load(a.snapshot(), 0);
  t.equal(b.digest, a.digest);
  t.equal(b.sessionCount, 1);
  t.equal(b.instancesOfSession('s-n1').length, 1);
  t.equal(
    b.apply(
      {
        op: 'put',
        origin: 'n1',
        inc: 1,
        seq: 2,
        hlc: 11,
        prev: 1,
        instance: instance('api', 'b', 11, 'n1'),
      },
      0,
    ),
    undefined,
    'tombstone carried over',
  );
});
