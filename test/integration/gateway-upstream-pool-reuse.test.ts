/**
 * The gateway's own HTTP/1.1 upstream client (gateway/upstream/) against real local servers:
 * what decides whether a keep-alive connection is used again. The stale keep-alive race (which
 * requests are sent again on a new connection, and which are not), an early response to a
 * streamed body, malformed responses, bytes after a complete response, the Keep-Alive timeout
 * hint and its cap, the idle timeout without a hint, and a connection paused at the very end.
 */
import t, { type Test } from 'tap';
import { UpstreamErrorCode } from '../../gateway/upstream/types.js';
import { eventually } from '../helpers/eventually.js';
import {
  httpUpstream,
  makePool,
  rawUpstream,
  req,
  run,
  sleep,
} from '../helpers/upstream-pool-rig.js';

/**
 * An upstream that answers the first request on each connection (keep-alive implied, no
 * Keep-Alive hint) and closes the connection right after; it records whatever else arrives.
 */
async function closingUpstream(t: Test) {
  const late: string[] = [];
  const up = await rawUpstream(t, (s) => {
    let head = '';
    let answered = false;
    s.on('data', (d: Buffer) => {
      if (answered) {
        late.push(d.toString('latin1'));
        return;
      }
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      answered = true;
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    s.on('error', () => {});
  });
  return { up, late };
}

t.test('stale keep-alive race: an idempotent request is sent again', async (t) => {
  const { up, late } = await closingUpstream(t);
  const pool = makePool(t, up.port);
  const first = await run(pool, req('GET', '/one'));
  t.equal(first.body.toString(), 'ok');
  // Right away, before the client has seen the upstream's FIN: the idle connection is reused.
  const second = await run(pool, req('GET', '/two'));
  t.equal(second.status, 200, 'the GET succeeded');
  t.equal(second.body.toString(), 'ok');
  t.same(second.calls, ['requestStart', 'requestStart', 'responseStart', 'data', 'end']);
  t.equal(up.accepted, 2, 'on a fresh connection');
  await eventually(() => late.join('').includes('GET /two'), {
    timeoutMs: 2000,
    what: 'the first attempt reached the closing connection',
  });
  // A buffered PUT is idempotent and replayable too.
  await run(pool, req('GET', '/three'));
  const put = await run(pool, req('PUT', '/four', { body: Buffer.from('x') }));
  t.equal(put.status, 200, 'the PUT was sent again');
});

t.test('stale keep-alive race with a single-connection pool', async (t) => {
  const { up, late } = await closingUpstream(t);
  const pool = makePool(t, up.port, { connections: 1 });
  await run(pool, req('GET', '/one'));
  const second = await run(pool, req('GET', '/two'));
  t.equal(second.body.toString(), 'ok', 'sent again once the closed connection is gone');
  t.equal(up.accepted, 2);
  await eventually(() => late.join('').includes('GET /two'), { timeoutMs: 2000, what: 'race' });
});

t.test('an early response to a streamed body ends the exchange; no reuse', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.once('data', () =>
      s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nnope'),
    );
    s.on('error', () => {});
  });
  const pool = makePool(t, up.port);
  let pulled = 0;
  async function* slow(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 50; i++) {
      pulled++;
      await sleep(20);
      yield Buffer.alloc(1000, 0x61);
    }
  }
  const o = await run(pool, req('POST', '/', { body: slow() }));
  t.equal(o.status, 413);
  t.equal(o.body.toString(), 'nope');
  t.equal(o.ended, true);
  await sleep(100);
  t.ok(pulled < 50, `the body stopped being read (${pulled} chunks)`);
  await eventually(() => up.open.size === 0, { timeoutMs: 2000, what: 'not kept' });
  await run(pool, req('GET', '/'));
  t.equal(up.accepted, 2, 'a half-sent request leaves the connection unusable');
});

t.test('stale keep-alive race: a POST is not sent again', async (t) => {
  const { up, late } = await closingUpstream(t);
  const pool = makePool(t, up.port);
  await run(pool, req('GET', '/one'));
  const post = await run(pool, req('POST', '/two', { body: Buffer.from('data') }));
  t.equal(post.ended, false);
  t.equal(post.errors.length, 1);
  t.ok(
    [UpstreamErrorCode.closed, 'ECONNRESET', 'EPIPE'].includes(post.errors[0]?.code ?? ''),
    `closed or reset (${post.errors[0]?.code})`,
  );
  t.same(post.calls, ['requestStart', 'error']);
  await eventually(() => late.join('').includes('POST /two'), {
    timeoutMs: 2000,
    what: 'the POST reached the closing connection',
  });
  t.equal(up.accepted, 1, 'no second attempt');
});

t.test('a request on a connection that never answered is not sent again', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.once('data', () => s.destroy());
  });
  const pool = makePool(t, up.port);
  const o = await run(pool, req('GET', '/'));
  t.ok(o.errors.length === 1, `fails (${o.errors[0]?.code})`);
  t.equal(up.accepted, 1, 'a fresh connection closing is no keep-alive race');
});

t.test('malformed responses fail with invalidResponse', async (t) => {
  const responses = [
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 2OO OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n',
  ];
  for (const response of responses) {
    const up = await rawUpstream(t, (s) => {
      s.once('data', () => s.write(response));
      s.on('error', () => {});
    });
    const pool = makePool(t, up.port);
    const o = await run(pool, req('GET', '/'));
    t.equal(o.errors[0]?.code, UpstreamErrorCode.invalidResponse, JSON.stringify(response));
    t.equal(o.ended, false);
    await eventually(() => up.open.size === 0, { timeoutMs: 2000, what: 'closed' });
  }
  // A head over maxHeadBytes.
  const up = await rawUpstream(t, (s) => {
    s.once('data', () => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`));
    s.on('error', () => {});
  });
  const pool = makePool(t, up.port, { maxHeadBytes: 1024 });
  const o = await run(pool, req('GET', '/'));
  t.equal(o.errors[0]?.code, UpstreamErrorCode.invalidResponse, 'head over the limit');
});

t.test('bytes after a complete response: delivered, connection not reused', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE'));
    s.on('error', () => {});
  });
  const pool = makePool(t, up.port);
  const a = await run(pool, req('GET', '/'));
  t.equal(a.body.toString(), 'ok');
  t.equal(a.ended, true);
  const b = await run(pool, req('GET', '/'));
  t.equal(b.body.toString(), 'ok');
  t.equal(up.accepted, 2);
});

t.test('Keep-Alive timeout hint sets the idle time', async (t) => {
  const up = await httpUpstream(t, (req, res) => {
    res.setHeader('keep-alive', `timeout=${req.url === '/one' ? 1 : 2}`);
    res.end('x');
  });
  // timeout=1: one second minus the 1 s margin leaves nothing; the connection closes at once.
  const pool1 = makePool(t, up.port);
  await run(pool1, req('GET', '/one'));
  await eventually(() => up.open.size === 0, { timeoutMs: 1000, what: 'closed by the client' });
  await run(pool1, req('GET', '/one'));
  t.equal(up.accepted, 2, 'not reused');
  await eventually(() => up.open.size === 0, { timeoutMs: 1000, what: 'closed again' });

  // timeout=2: reused at once, closed after about one idle second.
  const pool2 = makePool(t, up.port);
  await run(pool2, req('GET', '/two'));
  await run(pool2, req('GET', '/two'));
  t.equal(up.accepted, 3, 'reused while fresh');
  const idleSince = Date.now();
  await eventually(() => up.open.size === 0, { timeoutMs: 3000, what: 'idle close' });
  const idle = Date.now() - idleSince;
  t.ok(idle >= 800 && idle < 2000, `closed by the client after about 1 s (${idle} ms)`);
  await run(pool2, req('GET', '/two'));
  t.equal(up.accepted, 4, 'the closed connection is not reused');
  await eventually(() => up.open.size === 0, { timeoutMs: 3000, what: 'idle close' });

  // A longer hint than the default idle time is taken: still reused after 500 ms idle...
  const pool3 = makePool(t, up.port, { idleTimeoutMs: 200 });
  await run(pool3, req('GET', '/two'));
  await sleep(500);
  await run(pool3, req('GET', '/two'));
  t.equal(up.accepted, 5, 'timeout=2 keeps the connection past idleTimeoutMs');
  await eventually(() => up.open.size === 0, { timeoutMs: 3000, what: 'idle close' });
});

t.test('a Keep-Alive hint grants at most idleTimeoutMaxMs', async (t) => {
  const up = await httpUpstream(t, (_req, res) => {
    res.setHeader('keep-alive', 'timeout=60');
    res.end('x');
  });
  const pool = makePool(t, up.port, { idleTimeoutMaxMs: 300 });
  await run(pool, req('GET', '/'));
  const idleSince = Date.now();
  await eventually(() => up.open.size === 0, { timeoutMs: 3000, what: 'idle close' });
  const idle = Date.now() - idleSince;
  t.ok(idle >= 250 && idle < 1500, `closed after about 300 ms, not 59 s (${idle} ms)`);
});

t.test('idle timeout from the options when the upstream gives no hint', async (t) => {
  const up = await rawUpstream(t, (s) => {
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'));
    s.on('error', () => {});
  });
  const pool = makePool(t, up.port, { idleTimeoutMs: 200 });
  await run(pool, req('GET', '/'));
  t.equal(up.open.size, 1);
  await eventually(() => up.open.size === 0, { timeoutMs: 2000, what: 'idle close' });
  await eventually(() => pool.connections === 0, { timeoutMs: 1000, what: 'pool forgot it' });
});

t.test('a connection paused by the handler at the very end reads again when reused', async (t) => {
  const up = await httpUpstream(t, (_req, res) => res.end('done'));
  const pool = makePool(t, up.port, { connections: 1 });
  const first = await run(pool, req('GET', '/first'), {
    // Backpressure on the last chunk, and the handler never resumes: its exchange is over.
    onResponseData: (controller) => controller.pause(),
  });
  t.equal(first.body.toString(), 'done');
  t.ok(first.ended, 'the first exchange completed while paused');
  const second = await run(pool, req('GET', '/second'), undefined, 3000);
  t.same(second.errors, [], 'no timeout on the reused connection');
  t.equal(second.body.toString(), 'done');
  t.equal(up.accepted, 1, 'the same connection served both');
});
