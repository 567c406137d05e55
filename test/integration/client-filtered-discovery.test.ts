/**
 * discover(service, filter) and watch(service, { filter }): only matching instances are
 * seen, and an update across the filter's edge is reported as added or removed.
 */
import t from 'tap';
import { connect, type WatchEvent } from '../../client/index.js';
import { RegistryNode } from '../../nodes/index.js';
import { connectNatsBus } from '../../transport/index.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';

t.test('filtered discovery and watch', async (t) => {
  const server = await natsServerFor(t);
  const nodeBus = await connectNatsBus({ servers: server.url });
  const node = new RegistryNode(nodeBus, { id: 'f1' });
  t.teardown(async () => {
    await node.close();
    await nodeBus.close();
  });
  await node.start();

  const svc = await connect({ servers: server.url, ttlMs: 3000 });
  t.teardown(() => svc.close());
  const blue = await svc.register({
    service: 'shop',
    host: '127.0.0.1',
    port: 9001,
    id: 'blue',
    tags: ['blue'],
  });
  await svc.register({
    service: 'shop',
    host: '127.0.0.1',
    port: 9002,
    id: 'green',
    tags: ['green'],
    zone: 'z2',
  });
  await svc.register({
    service: 'shop',
    host: '127.0.0.1',
    port: 9003,
    id: 'blue-2',
    tags: ['blue'],
    version: '2.1.0',
  });

  const watcher = await connect({ servers: server.url });
  t.teardown(() => watcher.close());

  t.same(
    (await watcher.discover('shop')).map((i) => i.id).sort(),
    ['blue', 'blue-2', 'green'],
    'unfiltered: all',
  );
  t.same((await watcher.discover('shop', { tags: { any: ['blue'] } })).map((i) => i.id).sort(), [
    'blue',
    'blue-2',
  ]);
  t.same(
    (await watcher.discover('shop', { zone: 'z2' })).map((i) => i.id),
    ['green'],
  );
  t.same(
    (await watcher.discover('shop', { version: '^2.0.0' })).map((i) => i.id),
    ['blue-2'],
  );

  const watch = await watcher.watch('shop', { filter: { tags: { all: ['blue'] } } });
  t.same(
    watch
      .instances()
      .map((i) => i.id)
      .sort(),
    ['blue', 'blue-2'],
    'the watch starts with matching instances',
  );
  const events: WatchEvent[] = [];
  watch.on((e) => events.push(e));

  await blue.update({ tags: ['red'] });
  await eventually(() => events.some((e) => e.type === 'removed' && e.instance.id === 'blue'), {
    what: 'blue leaves the filtered watch when its tags change',
  });
  t.same(
    watch.instances().map((i) => i.id),
    ['blue-2'],
  );
  await blue.update({ tags: ['blue', 'red'] });
  await eventually(() => events.some((e) => e.type === 'added' && e.instance.id === 'blue'), {
    what: 'blue comes back when it matches again',
  });
  t.notOk(
    events.some(
      (e) =>
        (e.type === 'added' || e.type === 'updated' || e.type === 'removed') &&
        e.instance.id === 'green',
    ),
    'a non-matching instance never shows up',
  );
});
