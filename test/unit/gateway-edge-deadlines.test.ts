/**
 * The edge connection's timeouts as pure logic: EdgeConnection.checkDeadline() against a
 * stand-in socket (the wire behaviour — idle close, 408 for a slow head — is covered in
 * test/integration/gateway-edge-connections.test.ts; this covers the slow-reader rule, which needs bytes
 * still queued in the socket at the moment the idle deadline passes).
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import t, { type Test } from 'tap';
import { EdgeConnection, type EdgeConnectionOwner } from '../../gateway/edge/edge-connection.js';

class StandInSocket extends EventEmitter {
  readonly remoteAddress = '::ffff:192.0.2.7';
  writableLength = 0;
  writableNeedDrain = false;
  destroyed = false;
  ended: string | undefined = undefined;
  written = '';
  write(data: string | Buffer): boolean {
    this.written += data.toString();
    return true;
  }
  cork(): void {}
  uncork(): void {}
  setNoDelay(): this {
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
  end(data?: string): this {
    this.ended = data ?? '';
    return this;
  }
  destroySoon(): void {}
  isPaused(): boolean {
    return false;
  }
}

const limits = { maxHeaderBytes: 16_384, headersTimeoutMs: 1_000, keepAliveTimeoutMs: 5_000 };

function connection(answer = false): {
  socket: StandInSocket;
  edge: EdgeConnection;
  requests: number[];
  timedOut: string[];
} {
  const socket = new StandInSocket();
  const requests: number[] = [];
  const timedOut: string[] = [];
  const owner: EdgeConnectionOwner = {
    limits,
    closing: false,
    request: (_req, res) => {
      requests.push(1);
      if (answer) res.writeHead(200, ['content-length', '2']).end('ok');
    },
    headTimedOut: (client) => {
      timedOut.push(client);
      return 'HTTP/1.1 408 Request Timeout\r\n\r\n';
    },
    fallback: () => undefined,
    released: () => undefined,
  };
  const edge = new EdgeConnection(socket as unknown as Socket, owner);
  t.teardown(() => socket.emit('close'));
  return { socket, edge, requests, timedOut };
}

/** From `now` (a passed deadline) with bytes queued: one idle period of grace, then closed. */
function expectGraceThenCut(t: Test, socket: StandInSocket, edge: EdgeConnection, now: number) {
  edge.checkDeadline(now);
  t.equal(socket.destroyed, false, 'one idle period of grace while bytes are queued');
  edge.checkDeadline(now + limits.keepAliveTimeoutMs + 1);
  t.equal(socket.destroyed, true, 'no progress for a whole idle period: closed');
}

t.test('an idle connection closes once the keep-alive time has passed, not before', async (t) => {
  const { socket, edge } = connection();
  const start = performance.now();
  edge.checkDeadline(start + limits.keepAliveTimeoutMs - 100);
  t.equal(socket.destroyed, false, 'not before the deadline');
  edge.checkDeadline(start + limits.keepAliveTimeoutMs + 1);
  t.equal(socket.destroyed, true);
});

t.test('a response still queued for a slow reader gets more time while it moves', async (t) => {
  const { socket, edge } = connection();
  let now = performance.now() + limits.keepAliveTimeoutMs + 1;
  socket.writableLength = 65_536;
  edge.checkDeadline(now);
  t.equal(socket.destroyed, false, 'bytes still queued: one more idle period');
  now += limits.keepAliveTimeoutMs + 1;
  socket.writableLength = 16_384;
  edge.checkDeadline(now);
  t.equal(socket.destroyed, false, 'the queue moved: another one');
  now += limits.keepAliveTimeoutMs + 1;
  edge.checkDeadline(now);
  t.equal(socket.destroyed, true, 'no progress for a whole idle period: closed');
});

t.test('a head that has not arrived in full by the headers timeout gets 408', async (t) => {
  const { socket, edge, requests, timedOut } = connection();
  const start = performance.now();
  socket.emit('data', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n'));
  edge.checkDeadline(start + limits.headersTimeoutMs - 100);
  t.equal(socket.ended, undefined, 'not before the headers timeout');
  t.same(timedOut, [], 'the owner is not told before it');
  edge.checkDeadline(start + limits.headersTimeoutMs + 100);
  t.match(socket.ended, /^HTTP\/1\.1 408 /, "the owner's answer is sent");
  t.same(timedOut, ['192.0.2.7'], 'the owner is told once, with the client address');
  t.equal(requests.length, 0, 'nothing was served');
});

t.test('while an exchange runs, the connection has no deadline of its own', async (t) => {
  const { socket, edge, requests } = connection();
  socket.emit('data', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
  t.equal(requests.length, 1);
  edge.checkDeadline(performance.now() + 10 * limits.keepAliveTimeoutMs);
  t.equal(socket.destroyed, false);
  t.equal(socket.ended, undefined);
});

t.test(
  'a client that stops reading a Connection: close response is cut after the grace',
  async (t) => {
    const { socket, edge, requests } = connection(true);
    socket.emit('data', Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
    t.equal(requests.length, 1);
    t.match(socket.written, /^HTTP\/1\.1 200 OK\r\n/);
    t.equal(socket.ended, '', 'the response was ended and the connection is closing');
    socket.writableLength = 4096; // the client reads nothing: it stays queued
    expectGraceThenCut(t, socket, edge, performance.now() + limits.keepAliveTimeoutMs + 1);
  },
);

t.test('a 408 the client does not read does not keep the connection forever', async (t) => {
  const { socket, edge } = connection();
  const start = performance.now();
  socket.emit('data', Buffer.from('GET / HTTP/1.1\r\n'));
  edge.checkDeadline(start + limits.headersTimeoutMs + 1);
  t.match(socket.ended, /^HTTP\/1\.1 408 /);
  socket.writableLength = 200; // the 408 stays queued
  expectGraceThenCut(t, socket, edge, start + 2 * limits.headersTimeoutMs + 2);
});
