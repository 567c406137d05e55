/**
 * The tightest Node floor for the gateway benchmark: a proxy on libuv's TCP handles alone, with
 * no net.Socket anywhere (scripts/bench/proxy-variants.ts `--variant handle`). Client and
 * upstream connections read into one shared buffer, each read goes straight to a function, and
 * writes hand a latin1 string to the handle (what the gateway's edge does for reads and writes,
 * without the net.Socket it still builds for every connection). Heads are passed through as
 * they arrive: a bodiless request in one read, one at a time per connection, and a response
 * whose head comes in one read and whose Content-Length says when it ends. Anything else closes
 * the connection — a floor to measure against, not a proxy to ship.
 *
 * Two options make it look like the gateway in one respect at a time (docs/benchmarks.md,
 * Gateway, twenty-third day), as `--burn-ns` and `--forwarded-headers` do for the `net` floor:
 * `work` runs before each of its two writes (a stand-in for the proxy's CPU per request), and
 * `requestFields` (latin1 field lines, each ending in CRLF) goes into every request head before
 * its blank line, so the upstream parses what it parses behind the gateway.
 *
 * It relies on `process.binding('tcp_wrap')` and `process.binding('stream_wrap')`, as the
 * gateway's handle reads and writes do (gateway/stream-binding.ts); `startHandleFloor` throws
 * where they are not what it expects.
 */
import { Buffer } from 'node:buffer';
import { isStateSlot, streamWrap, tcpWrap } from '../../gateway/stream-binding.js';

interface WriteRequest {
  handle: TcpHandle | null;
  oncomplete: (this: WriteRequest, status: number) => void;
  async: boolean;
}

interface ConnectRequest {
  oncomplete: (status: number, handle: TcpHandle) => void;
}

/** The parts of a libuv TCP handle (Node's TCPWrap) the floor uses. */
interface TcpHandle {
  onread: (this: TcpHandle) => void;
  onconnection: (status: number, client: TcpHandle) => void;
  /** The connection this handle belongs to (set by the floor). */
  side: ClientSide | UpstreamSide | undefined;
  useUserBuffer(buffer: Buffer): void;
  readStart(): number;
  readStop(): number;
  setNoDelay(on: boolean): number;
  writeLatin1String(req: WriteRequest, text: string): number;
  connect(req: ConnectRequest, host: string, port: number): number;
  bind(host: string, port: number): number;
  listen(backlog: number): number;
  getsockname(out: { port?: number }): number;
  close(): void;
}

interface TcpBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectRequest;
  constants: { SOCKET: number; SERVER: number };
}

interface Bindings {
  tcp: TcpBinding;
  WriteWrap: new () => WriteRequest;
  state: Int32Array;
  readSlot: number;
  asyncSlot: number;
}

function loadBindings(): Bindings {
  const tcp = (tcpWrap ?? {}) as Partial<TcpBinding>;
  const s = streamWrap;
  if (
    typeof tcp.TCP !== 'function' ||
    typeof tcp.TCPConnectWrap !== 'function' ||
    typeof tcp.constants?.SERVER !== 'number' ||
    s === undefined ||
    typeof s.WriteWrap !== 'function' ||
    !isStateSlot(s.streamBaseState, s.kReadBytesOrError) ||
    !isStateSlot(s.streamBaseState, s.kLastWriteWasAsync)
  ) {
    throw new Error('handle floor: this Node does not offer the TCP and stream bindings it needs');
  }
  return {
    tcp: tcp as TcpBinding,
    WriteWrap: s.WriteWrap as new () => WriteRequest,
    state: s.streamBaseState as Int32Array,
    readSlot: s.kReadBytesOrError,
    asyncSlot: s.kLastWriteWasAsync,
  };
}

const HEAD_END = '\r\n\r\n';
const CONTENT_LENGTH = /content-length: *(\d+)/i;

class ClientSide {
  closed = false;
  constructor(readonly handle: TcpHandle) {}
}

class UpstreamSide {
  closed = false;
  client: ClientSide | undefined = undefined;
  /** A request written once the connection is up. */
  queued: string | undefined = undefined;
  /** Response body bytes still to come (-1: the head has not arrived). */
  remaining = -1;
  constructor(readonly handle: TcpHandle) {}
}

export interface HandleFloorOptions {
  /** Runs before each write (to the upstream and to the client). */
  readonly work?: () => void;
  /** Field lines added to every request head, each ending in CRLF. */
  readonly requestFields?: string;
}

export interface HandleFloor {
  readonly port: number;
  /** Stops listening and closes every connection. */
  close(): void;
}

/** Listens on a free port of 127.0.0.1, proxying to `upstreamPort`. */
export function startHandleFloor(
  upstreamPort: number,
  options: HandleFloorOptions = {},
): HandleFloor {
  const work = options.work;
  const requestFields = options.requestFields ?? '';
  const b = loadBindings();
  const { TCP, TCPConnectWrap, constants } = b.tcp;
  const state = b.state;
  const shared = Buffer.allocUnsafeSlow(64 * 1024);
  const idle: UpstreamSide[] = [];
  const open = new Set<ClientSide | UpstreamSide>();
  let spare: WriteRequest | undefined;

  function writeDone(this: WriteRequest, status: number): void {
    const side = this.handle?.side;
    this.handle = null;
    if (status < 0) {
      close(side); // not reused: a failed queued write has native state attached
      return;
    }
    spare = this;
  }

  function close(side: ClientSide | UpstreamSide | undefined): void {
    if (side === undefined || side.closed) return;
    side.closed = true;
    open.delete(side);
    side.handle.readStop();
    side.handle.close();
  }

  function write(side: ClientSide | UpstreamSide, text: string): void {
    const req = spare ?? new b.WriteWrap();
    spare = undefined;
    req.handle = side.handle;
    req.oncomplete = writeDone;
    req.async = false;
    if (side.handle.writeLatin1String(req, text) !== 0) {
      close(side);
      return;
    }
    // A write the kernel took at once leaves its request free; a queued one frees it when done.
    if (state[b.asyncSlot] === 0) spare = req;
  }

  function onConnect(status: number, handle: TcpHandle): void {
    const up = handle.side as UpstreamSide;
    if (status !== 0) {
      close(up.client);
      close(up);
      return;
    }
    handle.setNoDelay(true);
    handle.readStart();
    const request = up.queued;
    up.queued = undefined;
    if (request !== undefined) write(up, request);
  }

  function upstreamFor(client: ClientSide, request: string): void {
    let up = idle.pop();
    while (up?.closed) up = idle.pop();
    if (up !== undefined) {
      up.client = client;
      up.remaining = -1;
      write(up, request);
      return;
    }
    const handle = new TCP(constants.SOCKET);
    up = new UpstreamSide(handle);
    open.add(up);
    handle.side = up;
    up.client = client;
    up.queued = request;
    handle.useUserBuffer(shared);
    handle.onread = onUpstreamRead;
    const req = new TCPConnectWrap();
    req.oncomplete = onConnect;
    if (handle.connect(req, '127.0.0.1', upstreamPort) !== 0) {
      close(client);
      close(up);
    }
  }

  function onClientRead(this: TcpHandle): void {
    const client = this.side as ClientSide;
    const n = state[b.readSlot]!;
    if (n <= 0) {
      if (n < 0) close(client); // end of stream or an error
      return;
    }
    const request = shared.toString('latin1', 0, n);
    if (!request.endsWith(HEAD_END)) {
      close(client); // a head over two reads, or a body: outside the floor's subset
      return;
    }
    work?.();
    upstreamFor(
      client,
      requestFields === '' ? request : request.slice(0, -2) + requestFields + '\r\n',
    );
  }

  function onUpstreamRead(this: TcpHandle): void {
    const up = this.side as UpstreamSide;
    const n = state[b.readSlot]!;
    if (n <= 0) {
      if (n < 0) {
        close(up);
        close(up.client);
      }
      return;
    }
    const chunk = shared.toString('latin1', 0, n);
    if (up.remaining < 0) {
      const end = chunk.indexOf(HEAD_END);
      if (end < 0) {
        close(up); // a head over two reads: outside the floor's subset
        close(up.client);
        return;
      }
      const length = CONTENT_LENGTH.exec(chunk.slice(0, end))?.[1];
      up.remaining = Number(length ?? 0) - (n - end - HEAD_END.length);
    } else {
      up.remaining -= n;
    }
    const client = up.client;
    work?.();
    if (client !== undefined && !client.closed) write(client, chunk);
    if (up.remaining <= 0) {
      up.client = undefined;
      idle.push(up);
    }
  }

  const server = new TCP(constants.SERVER);
  server.onconnection = (status, handle) => {
    if (status !== 0) return;
    const client = new ClientSide(handle);
    open.add(client);
    handle.side = client;
    handle.useUserBuffer(shared);
    handle.onread = onClientRead;
    handle.setNoDelay(true);
    handle.readStart();
  };
  if (server.bind('127.0.0.1', 0) !== 0 || server.listen(511) !== 0) {
    throw new Error('handle floor: cannot listen on 127.0.0.1');
  }
  const address: { port?: number } = {};
  server.getsockname(address);
  if (address.port === undefined) throw new Error('handle floor: no port');
  return {
    port: address.port,
    close() {
      server.close();
      for (const side of [...open]) close(side);
    },
  };
}
