/**
 * A raw HTTP/1.1 client for tests on the wire: writes bytes as given and parses responses
 * strictly as they arrive (Content-Length, chunked, or to the end of the connection), so
 * framing, keep-alive, pipelining and closes are seen exactly as a client sees them.
 */
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';

/** How long a response or a close is waited for by default. */
export const WIRE_WAIT_MS = 10_000;

export interface WireResponse {
  readonly status: number;
  /** Lower-case names; repeated names joined with ', '. */
  readonly headers: Record<string, string>;
  readonly head: string;
  readonly body: Buffer;
  /** The body as framed on the wire (chunked encoding included). */
  readonly wireBody: Buffer;
  readonly chunked: boolean;
}

export class WireError extends Error {}

/** Parses one response from the start of `buf`: undefined when it is not all there yet. */
function parseResponse(
  buf: Buffer,
  method: string,
  ended: boolean,
): { response: WireResponse; used: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.toString('latin1', 0, end);
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) .*$/.exec(lines[0]!);
  if (!m) throw new WireError(`bad status line ${JSON.stringify(lines[0])}`);
  const status = Number(m[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new WireError(`bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const start = end + 4;
  const done = (bodyEnd: number, body: Buffer, chunked: boolean) => ({
    response: {
      status,
      headers,
      head,
      body,
      wireBody: buf.subarray(start, bodyEnd),
      chunked,
    },
    used: bodyEnd,
  });
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) {
    return done(start, Buffer.alloc(0), false);
  }
  if (headers['transfer-encoding'] !== undefined) {
    if (headers['transfer-encoding'] !== 'chunked') throw new WireError('unexpected coding');
    if (headers['content-length'] !== undefined) throw new WireError('chunked with a length');
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return undefined;
      const sizeText = buf.toString('latin1', at, eol);
      if (!/^[0-9a-f]+$/i.test(sizeText)) throw new WireError(`bad chunk size ${sizeText}`);
      const size = Number.parseInt(sizeText, 16);
      if (size === 0) {
        if (buf.length < eol + 4) return undefined;
        if (buf.toString('latin1', eol + 2, eol + 4) !== '\r\n') throw new WireError('trailers');
        return done(eol + 4, Buffer.concat(parts), true);
      }
      if (buf.length < eol + 2 + size + 2) return undefined;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      if (buf.toString('latin1', eol + 2 + size, eol + 4 + size) !== '\r\n') {
        throw new WireError('chunk not followed by CRLF');
      }
      at = eol + 4 + size;
    }
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const n = Number(cl);
    if (buf.length < start + n) return undefined;
    return done(start + n, buf.subarray(start, start + n), false);
  }
  if (!ended) return undefined;
  return done(buf.length, buf.subarray(start), false);
}

export class Wire {
  private buf = Buffer.alloc(0);
  private more: Buffer[] = [];
  private wake: (() => void) | undefined;
  ended = false;
  closed = false;
  readonly closedAt: Promise<number>;

  constructor(readonly socket: Duplex) {
    socket.on('data', (d: Buffer) => {
      this.more.push(d);
      this.wake?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.closedAt = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.ended = true;
        this.wake?.();
        resolve(Date.now());
      }),
    );
  }

  static async tcp(port: number): Promise<Wire> {
    const socket = tcpConnect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new Wire(socket);
  }

  /** Bytes received and not yet parsed as responses. */
  get buffered(): number {
    return this.buf.length + this.more.reduce((n, b) => n + b.length, 0);
  }

  write(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** The next whole response (parsed for a request with `method`). */
  async response(method = 'GET', timeoutMs = WIRE_WAIT_MS): Promise<WireResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.more.length > 0) {
        this.buf = Buffer.concat([this.buf, ...this.more]);
        this.more = [];
      }
      const parsed = parseResponse(this.buf, method, this.ended);
      if (parsed !== undefined) {
        this.buf = this.buf.subarray(parsed.used);
        return parsed.response;
      }
      if (this.ended) {
        throw new WireError(`connection ended with ${this.buf.length} unparsed bytes`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new WireError(`no whole response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Resolves with the time the connection closed; rejects when it stays open `timeoutMs`. */
  async closes(timeoutMs = WIRE_WAIT_MS): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new WireError(`still open after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.closedAt, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
