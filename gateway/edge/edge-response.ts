/**
 * The edge's request and response objects: just what the proxy's exchange uses (ProxyRequest,
 * ProxyResponse), written straight to the client socket. A small first body chunk is held
 * until end() or the next tick, so a typical response — head and body — leaves in a single
 * write; a response without Content-Length is sent chunked; HEAD, 1xx, 204 and 304 responses
 * carry no body. A Date header is added when the upstream gave none (formatted once per
 * second). Listeners: one 'close' and one 'drain' listener at a time (all the exchange uses).
 */
import { Buffer } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import process from 'node:process';
import type { HandleWriter } from '../handle-writes.js';
import type { ProxyRequest, ProxyResponse, ResponseOwner } from '../proxy-io.js';
import type { EdgeSocket } from './edge-socket.js';
import type { RequestHead } from './request-head.js';

export class EdgeRequest implements ProxyRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly rawHeaders: string[];
  constructor(
    head: RequestHead,
    readonly socket: EdgeSocket,
    readonly clientAddress: string,
    /** The connection's previous request had this same head (readRequestHead). */
    readonly repeatedHead: boolean,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
  }
}

/** What a response reports to its connection. */
export interface ResponseSink {
  /** The response was handed to the socket in full. */
  finished(response: EdgeResponse): void;
  /** The response was abandoned: close the connection. */
  abandoned(response: EdgeResponse): void;
}

const statusLines: string[] = [];
function statusLine(status: number): string {
  let line = statusLines[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (status >= 100 && status < 600) statusLines[status] = line;
  }
  return line;
}

let dateSecond = 0;
let dateValue = '';
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/** Bodies up to this size are held back to share one write with the head. */
const HOLD_MAX = 16_384;

type Listener = (this: ProxyResponse) => void;

function flushHeld(response: EdgeResponse): void {
  response.flush();
}

export class EdgeResponse implements ProxyResponse {
  owner: ResponseOwner | undefined = undefined;
  statusCode = 200;
  headersSent = false;
  shouldKeepAlive: boolean;
  writableFinished = false;
  /** True once the response is over (finished or abandoned). */
  done = false;
  private head: string | undefined = undefined;
  /** A small first chunk waiting to go out with the head. */
  private held: Buffer | undefined = undefined;
  private chunked = false;
  private bodyless: boolean;
  private onClose: Listener | undefined = undefined;
  private onDrain: Listener | undefined = undefined;

  constructor(
    private readonly socket: EdgeSocket,
    /** Writes a whole response in one go (to the socket's handle when it can). */
    private readonly writer: HandleWriter,
    private readonly sink: ResponseSink,
    method: string,
    keepAlive: boolean,
  ) {
    this.bodyless = method === 'HEAD';
    this.shouldKeepAlive = keepAlive;
  }

  writeHead(status: number, headers: string[]): this {
    if (this.headersSent) return this;
    // Concatenated, not joined from an array: the socket copies the rope out without
    // flattening it, and no growing array of parts is allocated.
    let lines = '';
    let length = false;
    let date = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
      lines += `${name}: ${headers[i + 1]!}\r\n`;
    }
    return this.writeHeadLines(status, lines, length, date);
  }

  /**
   * The head from ready field lines (each ending in CRLF), e.g. an upstream's passed on as
   * they came; `contentLength` and `date` tell whether the lines hold those fields.
   */
  writeHeadLines(status: number, lines: string, contentLength: boolean, date: boolean): this {
    if (this.headersSent) return this;
    this.statusCode = status;
    this.headersSent = true;
    if (status < 200 || status === 204 || status === 304) this.bodyless = true;
    let head = statusLine(status) + lines;
    if (!date) head += `date: ${httpDate()}\r\n`;
    if (!contentLength && !this.bodyless) {
      this.chunked = true;
      head += 'transfer-encoding: chunked\r\n';
    }
    if (!this.shouldKeepAlive) head += 'connection: close\r\n';
    this.head = `${head}\r\n`;
    return this;
  }

  write(chunk: Buffer): boolean {
    if (this.done) return false;
    if (this.bodyless || chunk.length === 0) {
      this.flush();
      return !this.socket.writableNeedDrain;
    }
    if (this.head !== undefined && this.held === undefined && chunk.length <= HOLD_MAX) {
      this.held = chunk;
      process.nextTick(flushHeld, this);
      return true;
    }
    this.flush();
    this.send(chunk);
    return !this.socket.writableNeedDrain;
  }

  /** `body` as a string is UTF-8, or latin1 text (one character per byte) with 'latin1'. */
  end(body?: Buffer | string, encoding?: 'latin1'): this {
    if (this.done) return this;
    // Bytes as a Buffer or as latin1 text.
    const chunk: Buffer | string | undefined =
      body === undefined || body.length === 0
        ? undefined
        : typeof body === 'string' && encoding !== 'latin1'
          ? Buffer.from(body)
          : body;
    const socket = this.socket;
    if (this.head === undefined && !this.headersSent) this.writeHead(this.statusCode, []);
    const head = this.head;
    if (head !== undefined && !this.chunked && !this.bodyless) {
      // The whole response in one write (held chunk, if any, then the final one).
      this.head = undefined;
      const held = this.held;
      this.held = undefined;
      let out = head;
      if (held !== undefined) out += held.toString('latin1');
      if (typeof chunk === 'string') out += chunk;
      else if (chunk !== undefined) out += chunk.toString('latin1');
      this.writer.write(out);
    } else {
      socket.cork();
      this.flush();
      if (chunk !== undefined && !this.bodyless) this.send(chunk);
      if (this.chunked) socket.write('0\r\n\r\n', 'latin1');
      socket.uncork();
    }
    this.writableFinished = true;
    this.done = true;
    this.sink.finished(this);
    return this;
  }

  on(event: 'close', listener: Listener): this {
    if (event === 'close') this.onClose = listener;
    return this;
  }

  once(event: 'drain', listener: Listener): this {
    if (event === 'drain') this.onDrain = listener;
    return this;
  }

  /** The response is over (finished, abandoned or its connection closed). */
  emitClose(): void {
    const listener = this.onClose;
    this.onClose = undefined;
    this.onDrain = undefined;
    listener?.call(this);
  }

  /** Writes the head and any held chunk now. */
  flush(): void {
    if (this.done && !this.writableFinished) return; // abandoned
    if (!this.headersSent) this.writeHead(this.statusCode, []);
    const head = this.head;
    const held = this.held;
    if (head === undefined) return;
    this.head = undefined;
    this.held = undefined;
    if (held === undefined || this.bodyless) {
      this.writer.write(head);
    } else if (!this.chunked) {
      this.writer.write(head + held.toString('latin1'));
    } else {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.send(held);
      this.socket.uncork();
    }
  }

  /** Sends body bytes (a Buffer, or latin1 text: one character per byte). */
  private send(chunk: Buffer | string): void {
    const socket = this.socket;
    if (this.chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk, 'latin1');
      socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      socket.write(chunk, 'latin1');
    }
  }

  destroy(): this {
    if (!this.done) {
      this.done = true;
      this.sink.abandoned(this);
    }
    return this;
  }

  /** Called by the connection when the client socket drains. */
  drained(): void {
    const listener = this.onDrain;
    this.onDrain = undefined;
    if (!this.done) listener?.call(this);
  }
}
