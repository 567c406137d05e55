/**
 * client.pool() end to end on the in-process bus: one registry node, one registering client,
 * one pool. (The same path over real NATS is covered by the integration suites' watches.)
 */
import t from 'tap';
import { connect } from '../../client/client.js';
import { RegistryNode } from '../../nodes/registry-node.js';
import { createMemoryBuses } from '../../transport/memory-bus.js';
import { expectRosterRejection } from '../helpers/expect-error.js';

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

t.test('a pool follows registrations, drops draining instances, closes its watch', async (t) => {
  const { buses } = createMemoryBuses(3);
  const node = new RegistryNode(buses[0]!, { id: 'n1' });
  await node.start();
  t.teardown(() => node.close());
  const svc = await connect({ bus: buses[1]! });
  const gw = await connect({ bus: buses[2]! });
  t.teardown(async () => {
    await gw.close();
    await svc.close();
  });

  const regs = await Promise.all(
    ['a', 'b', 'c'].map((id, i) =>
      svc.register({
        service: 'api',
        host: '127.0.0.1',
        port: 9000 + i,
        id,
        tags: ['http'],
        version: '1.2.0',
      }),
    ),
  );
  const pool = await gw.pool('api', {
    strategy: 'round-robin',
    filter: { version: '^1', tags: { all: ['http'] } },
  });
  t.equal(pool.size, 3);
  t.same(new Set([pool.pick()?.id, pool.pick()?.id, pool.pick()?.id]), new Set(['a', 'b', 'c']));

  await regs[1]!.setStatus('draining');
  await until(() => pool.size === 2, 'draining instance to leave');
  for (let i = 0; i < 6; i++) t.not(pool.pick()?.id, 'b');

  await regs[2]!.update({ tags: ['grpc'] });
  await until(() => pool.size === 1, 'filtered-out update to leave');
  t.equal(pool.pick()?.id, 'a');

  await expectRosterRejection(
    t,
    gw.pool('api', { strategy: 'fastest' }),
    'ROSTER_ERR_INVALID_ARGUMENT',
  );
  await pool.close();
  await regs[0]!.deregister();
  t.equal(pool.size, 1, 'a closed pool no longer follows the watch');
});
