/**
 * The node's WebSocket watch stream (`/v1/watch`) against a real nats-server and two
 * in-process nodes: the snapshot comes first, then every change the node applies, each once
 * (list+watch, as the client library); the stream reconstructs exactly the node's state even
 * when opened in the middle of churn; authentication by header or `?token=`; a consumer that
 * stops reading is dropped with close code 1013 once its send buffer passes the bound, and
 * one that stops answering pings is cut off.
 */
import type { Socket } from 'node:net';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { connect } from '../../client/index.js';
import { startNodeHttpServer, type WatchMessage } from '../../nodes/http/index.js';
import type { Instance } from '../../protocol/index.js';
import { eventually } from '../helpers/eventually.js';
import { natsServerFor } from '../helpers/nats-server.js';
import { call, startHttpNodes } from '../helpers/node-http.js';

const TOKEN = 'ws-test-token-0123456789';
const SLOW_BOUND = 64 * 1024;

interface Watch {
  readonly ws: WebSocket;
  readonly messages: WatchMessage[];
  readonly socket: () => Socket;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `count` messages have arrived. */
  until(count: number, timeoutMs?: number): Promise<WatchMessage[]>;
}

function openWatch(url: string, headers: Record<string, string> = {}): Promise<Watch> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers });
  const messages: WatchMessage[] = [];
  let socket: Socket | undefined;
  ws.on('upgrade', (res) => {
    socket = res.socket as Socket;
  });
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as WatchMessage));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
  });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += String(c);
      });
      res.on('end', () =>
        reject(
          Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body }),
        ),
      );
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        socket: () => socket!,
        closed,
        until: (count, timeoutMs = 5_000) =>
          eventually(() => (messages.length >= count ? messages.slice() : undefined), {
            what: `${count} watch messages (have ${messages.length})`,
            timeoutMs,
          }),
      }),
    );
  });
}

/** Applies a snapshot then events; fails on an event that cannot follow what came before. */
function replay(
  t: Test,
  messages: readonly WatchMessage[],
  service: string,
): Map<string, Instance> {
  const [first, ...rest] = messages;
  if (first?.type !== 'snapshot') throw new Error('the first message is not a snapshot');
  const state = new Map<string, Instance>();
  for (const i of first.instances) if (i.service === service) state.set(i.id, i);
  const revision =
    first.service === null
      ? (first.revisions[service] ?? [])
      : first.service === service
        ? first.revision
        : [];
  const floor = new Map(revision.map(([origin, inc, seq]) => [`${origin}/${inc}`, seq]));
  const seen = new Set<string>();
  for (const m of rest) {
    if (m.type === 'snapshot') throw new Error('a second snapshot');
    if (m.service !== service) continue;
    const at = `${m.origin}/${m.inc}/${m.seq}`;
    if (seen.has(at)) t.fail(`change ${at} sent twice`);
    seen.add(at);
    const before = floor.get(`${m.origin}/${m.inc}`) ?? 0;
    if (m.seq <= before) t.fail(`change ${at} is already in the snapshot (revision ${before})`);
    if (m.type === 'removed') state.delete(m.instance.id);
    else state.set(m.instance.id, m.instance);
  }
  return state;
}

const view = (m: Map<string, Instance>) =>
  [...m.values()].map((i) => `${i.id}@${i.hlc}:${i.status}`).sort();

t.test('WebSocket watch stream', async (t) => {
  const server = await natsServerFor(t);
  const [a, b] = await startHttpNodes(t, server.url, [
    {
      id: 'w1',
      http: { token: TOKEN, watch: { maxBufferedBytes: SLOW_BOUND, closeGraceMs: 60_000 } },
    },
    { id: 'w2' },
  ]);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const svc = await connect({ servers: server.url, name: 'ws-test-service', ttlMs: 10_000 });
  t.teardown(() => svc.close());
  const nodeState = async (service: string) => {
    const res = await call<{ instances: Instance[] }>(b!.url, 'GET', `/v1/services/${service}`);
    return new Map(res.body.instances.map((i) => [i.id, i]));
  };

  await t.test('snapshot first, then each change once', async (t) => {
    const o1 = await svc.register({ service: 'orders', id: 'o-1', host: '10.0.0.1', port: 80 });
    await eventually(() => a!.node.store.getInstance('orders', 'o-1'), { what: 'w1 has o-1' });
    const w = await openWatch(`${a!.url}/v1/watch?service=orders`, auth);
    t.teardown(() => w.ws.terminate());
    const [snap] = await w.until(1);
    t.match(snap, { type: 'snapshot', service: 'orders' }, 'the first message is the snapshot');
    t.same(
      snap?.type === 'snapshot' ? snap.instances.map((i) => i.id) : [],
      ['o-1'],
      'with the instance registered before',
    );
    t.ok(
      snap?.type === 'snapshot' && snap.service !== null && snap.revision.length > 0,
      'and a revision',
    );

    const o2 = await svc.register({ service: 'orders', id: 'o-2', host: '10.0.0.2', port: 80 });
    await svc.register({ service: 'other', id: 'x-1', host: '10.0.0.3', port: 80 });
    await o2.setStatus('warning');
    await o1.deregister();
    const got = await w.until(4);
    t.same(
      got.slice(1).map((m) => (m.type === 'snapshot' ? 'snapshot' : `${m.type} ${m.instance.id}`)),
      ['added o-2', 'updated o-2', 'removed o-1'],
      'added, updated, removed, in order; the other service is not sent',
    );
    t.match(got[2], { type: 'updated', instance: { status: 'warning' } });
    t.match(got[3], { type: 'removed', reason: 'deregister' });
    t.same(view(replay(t, got, 'orders')), view(await nodeState('orders')), 'replay = the node');
  });

  await t.test(
    'after a snapshot sync of the node, a fresh snapshot replaces the state',
    async (t) => {
      const w = await openWatch(`${a!.url}/v1/watch?service=orders`, auth);
      t.teardown(() => w.ws.terminate());
      const [first] = await w.until(1);
      await a!.node.replicator.syncFrom('w2', 'digest'); // as after a digest mismatch
      const [, again] = await w.until(2, 3_000);
      t.equal(again?.type, 'snapshot', 'a second snapshot follows the sync');
      t.same(again, first, 'with the same state (nothing had diverged)');
    },
  );

  await t.test('opened during churn: the replay equals the node, nothing twice', async (t) => {
    const churner = await connect({ servers: server.url, name: 'ws-churn', ttlMs: 10_000 });
    t.teardown(() => churner.close());
    const regs = [];
    const churn = (async () => {
      for (let i = 0; i < 120; i++) {
        regs.push(
          await churner.register({
            service: 'churn',
            id: `c-${i}`,
            host: '10.9.0.1',
            port: 1000 + i,
          }),
        );
        if (i % 3 === 2) await regs[i - 1]!.deregister();
        if (i % 5 === 4) await regs[i]!.setStatus('critical');
      }
    })();
    await eventually(() => (a!.node.store.service('churn')?.size ?? 0) >= 30, {
      what: 'churn under way',
    });
    const w = await openWatch(`${a!.url}/v1/watch?token=${TOKEN}`); // every service, browser-style token
    t.teardown(() => w.ws.terminate());
    await churn;
    const expected = await eventually(
      async () => {
        const fromA = view(new Map([...(a!.node.store.service('churn') ?? new Map())]));
        const fromB = view(await nodeState('churn'));
        return fromA.length === 80 && fromA.join() === fromB.join() ? fromA : undefined;
      },
      { what: 'both nodes hold the final 80 instances' },
    );
    await eventually(() => view(replay(t, w.messages, 'churn')).join() === expected.join(), {
      what: 'the stream caught up',
    });
    const first = w.messages[0];
    t.ok(first?.type === 'snapshot' && first.service === null, 'an all-services snapshot first');
    const snapCount =
      first?.type === 'snapshot' ? first.instances.filter((i) => i.service === 'churn').length : 0;
    t.ok(snapCount >= 30 && snapCount < 120, `the snapshot held part of the churn (${snapCount})`);
    t.same(view(replay(t, w.messages, 'churn')), expected, 'snapshot + events = the node, exactly');
  });

  await t.test('authentication and bad requests', async (t) => {
    const refused = (url: string, headers: Record<string, string> = {}) =>
      openWatch(url, headers).then(
        (w) => {
          w.ws.terminate();
          return { status: 101, body: '' };
        },
        (err: { status: number; body: string }) => err,
      );
    t.equal((await refused(`${a!.url}/v1/watch`)).status, 401, 'no token: 401');
    t.equal((await refused(`${a!.url}/v1/watch?token=wrong`)).status, 401, 'a wrong ?token: 401');
    t.equal(
      (await refused(`${a!.url}/v1/watch`, { authorization: 'Bearer wrong' })).status,
      401,
      'a wrong header: 401',
    );
    const bad = await refused(`${a!.url}/v1/watch?service=Not_Valid`, auth);
    t.equal(bad.status, 400, 'an invalid service name: 400');
    t.match(JSON.parse(bad.body), { code: 'ROSTER_ERR_INVALID_MESSAGE' }, 'a JSON error body');
    t.equal((await refused(`${a!.url}/v1/other`, auth)).status, 404, 'another path: 404');
    const open = await openWatch(`${b!.url}/v1/watch?service=orders`);
    t.equal((await open.until(1))[0]?.type, 'snapshot', 'a node without a token: open');
    open.ws.close();
    await open.closed;
  });

  await t.test('a consumer that stops reading is dropped with 1013', async (t) => {
    const w = await openWatch(`${a!.url}/v1/watch?service=bulk`, auth);
    t.teardown(() => w.ws.terminate());
    await w.until(1);
    w.socket().pause(); // stop reading: the kernel buffers fill, then the node's send buffer
    const secret = 's'.repeat(32);
    const meta: Record<string, string> = {};
    for (let k = 0; k < 60; k++) meta[`k${k}`] = 'v'.repeat(1_000);
    const dropped = () => {
      const m = /roster_node_http_watch_dropped_total\{reason="slow"\} (\d+)/.exec(
        a!.node.metrics.registry.render(),
      );
      return Number(m?.[1] ?? 0);
    };
    let sent = 0;
    for (; sent < 3_000 && dropped() === 0; sent++) {
      a!.node.sessions.register(
        {
          session: { id: 'bulk-session', secret, ttlMs: 30_000 },
          instance: {
            id: `b-${sent % 10}`,
            service: 'bulk',
            host: '10.5.0.1',
            port: 80,
            tags: [],
            meta: { ...meta, n: String(sent) },
            weight: 1,
          },
        },
        Date.now(),
      );
      if (sent % 10 === 9) await yieldToIo();
    }
    t.equal(dropped(), 1, `dropped as slow after ${sent} changes of ~60 KB`);
    const bulk = (n: number) =>
      a!.node.sessions.register(
        {
          session: { id: 'bulk-session', secret, ttlMs: 30_000 },
          instance: {
            id: `late-${n}`,
            service: 'bulk',
            host: '10.5.0.2',
            port: 80,
            tags: [],
            meta: {},
            weight: 1,
          },
        },
        Date.now(),
      );
    for (let n = 0; n < 5; n++) bulk(n); // after the drop: never sent
    w.socket().resume();
    const closed = await w.closed;
    t.equal(closed.code, 1013, 'close code 1013 (try again later)');
    t.equal(
      w.messages.length,
      sent,
      `the snapshot and ${sent - 1} changes arrived; the one that found the buffer full and every later one did not`,
    );
    t.notOk(
      w.messages.some((m) => m.type !== 'snapshot' && m.instance.id.startsWith('late-')),
      'nothing after the drop',
    );
    a!.node.sessions.endSession('bulk-session', 'deregister');
  });

  await t.test('a consumer that stops answering pings is cut off', async (t) => {
    const quick = await startNodeHttpServer({
      node: b!.node,
      host: '127.0.0.1',
      port: 0,
      watch: { heartbeatMs: 100 },
    });
    t.teardown(() => quick.close());
    const alive = await openWatch(`${quick.url}/v1/watch?service=orders`);
    const silent = await openWatch(`${quick.url}/v1/watch?service=orders`);
    silent.socket().pause();
    const heartbeatDrops = () =>
      Number(
        /roster_node_http_watch_dropped_total\{reason="heartbeat"\} (\d+)/.exec(
          b!.node.metrics.registry.render(),
        )?.[1] ?? 0,
      );
    await eventually(() => heartbeatDrops() === 1, { what: 'the silent stream cut off' });
    silent.socket().resume();
    t.equal((await silent.closed).code, 1006, 'the silent one: connection cut');
    t.equal(alive.ws.readyState, WebSocket.OPEN, 'the one answering pings stays open');
    alive.ws.close();
    await alive.closed;
  });
});
