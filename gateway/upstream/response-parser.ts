/**
 * An incremental, strict HTTP/1.1 response parser for the gateway's upstream connections
 * (RFC 9112): status line, header fields, and the body framing rules of §6.3 —
 * no body for HEAD, 1xx, 204 and 304; chunked when Transfer-Encoding ends in `chunked`;
 * Content-Length; otherwise read until the connection closes. Interim 1xx responses are
 * skipped. Chunked bodies are decoded (the data reaches the listener without framing).
 *
 * Anything malformed — a bad status line, obsolete line folding, a header name that is not a
 * token, control characters in a value, a head over the size limit, Content-Length together
 * with Transfer-Encoding, differing Content-Length values, bad chunk sizes — throws a
 * ResponseParseError; the connection is then unusable and the exchange fails with 502.
 *
 * Body chunks handed to the listener are views of the socket's buffers (no copies); a body
 * that ends in the read of its head comes as latin1 text instead (onBodyText).
 */

import { Buffer } from 'node:buffer';
import { commonHeaderName } from '../header-names.js';
import { fieldValueAt, REPEAT_READ_MAX, startsWithWhole, TOKEN_CHAR } from '../http-syntax.js';
import { ResponseHead } from './response-head.js';

export interface ResponseListener {
  /** The final response head (interim 1xx heads are not reported). */
  onHead(head: ResponseHead): void;
  /** `last`: the body's declared length is complete with this chunk (onComplete follows). */
  onBody(chunk: Buffer, last: boolean): void;
  /**
   * The body's last bytes as latin1 text (one character per byte), in place of onBody when the
   * read that completes the body was read as text (onComplete follows).
   */
  onBodyText(text: string): void;
  /** The body is complete; `keepAlive` tells whether the connection may carry another request. */
  onComplete(keepAlive: boolean): void;
}

export class ResponseParseError extends Error {
  override readonly name = 'ResponseParseError';
}

const HEAD_END = Buffer.from('\r\n\r\n');
/**
 * A read of up to this many bytes from a head on is read as text whole: the head's end is
 * found in the text, and a body that ends within it goes on as text (onBodyText), which is
 * what a client write takes, so no Buffer is cut out, copied and converted for it.
 */
const TEXT_READ_MAX = 16_384;
const MAX_CHUNK_LINE = 1024;
const MAX_TRAILER_BYTES = 16_384;
/** Chunk extensions are passed over, but may not hold control characters either. */
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;

/**
 * The last final head a parser read, with what was read from it. An upstream answers the same
 * kind of request with the same head, byte for byte, until its Date line turns over; a read
 * that starts with the same bytes holds the same head, so that head's parse (its lines checked,
 * its names and framing fields read, its passed lines cut, which ResponseHead memoizes) is
 * taken over whole. Only the request's method may differ, so the framing is applied again.
 */
interface RepeatedHead {
  /** The head's text up to and including the empty line. */
  readonly text: string;
  readonly head: ResponseHead;
  readonly te: string | string[] | undefined;
  readonly cl: string | string[] | undefined;
  /** What Connection and the HTTP version allow (the framing may still close). */
  readonly keepAlive: boolean;
}

enum State {
  /** Waiting for (more of) a response head. */
  Head = 0,
  /** Reading exactly `remaining` body bytes. */
  Length = 1,
  /** Reading a chunk-size line. */
  ChunkSize = 2,
  /** Reading `remaining` bytes of chunk data. */
  ChunkData = 3,
  /** Reading the CRLF after chunk data. */
  ChunkDataEnd = 4,
  /** Reading trailer fields up to the empty line. */
  Trailers = 5,
  /** Body runs until the connection closes. */
  UntilClose = 6,
  /** The response is complete; no more bytes are expected. */
  Done = 7,
}

export class ResponseParser {
  private state = State.Done;
  private pending: Buffer | undefined = undefined;
  private remaining = 0;
  private noBody = false;
  private keepAlive = true;
  private trailerBytes = 0;
  /** Where the search for the end of a partial head resumes (bytes already scanned). */
  private headScanned = 0;
  /** The current read from `readTextAt` to its end as latin1 text, when read as text. */
  private readText: string | undefined = undefined;
  private readTextAt = 0;
  private repeated: RepeatedHead | undefined = undefined;

  constructor(
    private readonly listener: ResponseListener,
    /** Largest response head accepted (bytes). */
    private readonly maxHeadBytes = 65_536,
  ) {}

  /** Prepares for the response to a request with this method. */
  expect(method: string): void {
    this.state = State.Head;
    this.pending = undefined;
    this.noBody = method === 'HEAD';
    this.keepAlive = true;
    this.headScanned = 0;
  }

  /** True while a response (or its body) is still expected. */
  get busy(): boolean {
    return this.state !== State.Done;
  }

  /** True once the head of the current response was parsed. */
  get headSeen(): boolean {
    return this.state !== State.Head && this.state !== State.Done;
  }

  /** Feeds bytes from the socket. Throws ResponseParseError on malformed input. */
  execute(data: Buffer): void {
    let buf = data;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    try {
      this.parse(buf);
    } finally {
      this.readText = undefined;
    }
  }

  private parse(buf: Buffer): void {
    let at = 0;
    while (at < buf.length) {
      switch (this.state) {
        case State.Head:
          at = this.readHead(buf, at);
          if (at < 0) return;
          break;
        case State.Length: {
          const n = Math.min(this.remaining, buf.length - at);
          this.remaining -= n;
          const text = this.readText;
          if (this.remaining === 0 && text !== undefined) {
            // The text runs from a head at or before `at` to the end of `buf`: all n bytes.
            const from = at - this.readTextAt;
            this.listener.onBodyText(text.slice(from, from + n));
          } else {
            this.listener.onBody(
              at === 0 && n === buf.length ? buf : buf.subarray(at, at + n),
              this.remaining === 0,
            );
          }
          at += n;
          if (this.remaining === 0) this.complete();
          break;
        }
        case State.ChunkSize:
        case State.ChunkDataEnd:
        case State.Trailers: {
          const eol = buf.indexOf(10, at);
          if (eol < 0) {
            this.keepPartialLine(buf, at);
            return;
          }
          if (eol === at || buf[eol - 1] !== 13) {
            throw new ResponseParseError('line not terminated by CRLF in chunked body');
          }
          const line = buf.toString('latin1', at, eol - 1);
          at = eol + 1;
          this.chunkLine(line);
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, buf.length - at);
          this.remaining -= n;
          this.listener.onBody(buf.subarray(at, at + n), false);
          at += n;
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        }
        case State.UntilClose:
          this.listener.onBody(at === 0 ? buf : buf.subarray(at), false);
          return;
        case State.Done:
          throw new ResponseParseError('unexpected bytes after the response');
      }
    }
  }

  /** The connection ended: completes a close-delimited body, or throws when cut short. */
  finish(): void {
    if (this.state === State.UntilClose) {
      this.keepAlive = false;
      this.complete();
      return;
    }
    if (this.state !== State.Done) throw new ResponseParseError('connection closed mid-response');
  }

  private keepPartialLine(buf: Buffer, at: number): void {
    const rest = buf.length - at;
    // `rest` may end in the line's CR; the complete line is checked again in chunkLine.
    if (this.state === State.Trailers) {
      // Not added to trailerBytes: these bytes come back with the next read.
      if (this.trailerBytes + rest > MAX_TRAILER_BYTES)
        throw new ResponseParseError('trailers too large');
    } else if (rest > MAX_CHUNK_LINE + 1) {
      throw new ResponseParseError('chunk size line too long');
    }
    this.pending = Buffer.from(buf.subarray(at));
  }

  private chunkLine(line: string): void {
    if (this.state === State.ChunkDataEnd) {
      if (line !== '') throw new ResponseParseError('chunk data longer than its size');
      this.state = State.ChunkSize;
      return;
    }
    if (this.state === State.Trailers) {
      this.trailerBytes += line.length + 2;
      if (this.trailerBytes > MAX_TRAILER_BYTES) throw new ResponseParseError('trailers too large');
      if (line === '') this.complete();
      else fieldName(line, 0, line.length);
      return;
    }
    if (line.length > MAX_CHUNK_LINE) throw new ResponseParseError('chunk size line too long');
    const m = CHUNK_SIZE.exec(line);
    if (m === null) throw new ResponseParseError('invalid chunk size');
    const size = Number.parseInt(m[1]!, 16);
    if (size === 0) {
      this.state = State.Trailers;
      this.trailerBytes = 0;
    } else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
  }

  /** Parses a head starting at `at`; returns the offset after it, or -1 when incomplete. */
  private readHead(buf: Buffer, at: number): number {
    // A partial head was scanned before (it is at the start of `buf` now): resume near its end,
    // without reading it as text again.
    const scanned = this.headScanned;
    this.headScanned = 0;
    const read =
      scanned === 0 && buf.length - at <= TEXT_READ_MAX ? buf.toString('latin1', at) : undefined;
    this.readText = read;
    this.readTextAt = at;
    const repeated = this.repeated;
    if (read !== undefined && repeated !== undefined && startsWithWhole(read, repeated.text)) {
      this.headRead(repeated.head, repeated.te, repeated.cl, repeated.keepAlive);
      return at + repeated.text.length;
    }
    let end: number;
    if (read !== undefined) {
      const found = read.indexOf('\r\n\r\n');
      end = found < 0 ? -1 : at + found;
    } else {
      end = buf.indexOf(HEAD_END, Math.max(at, scanned - 3));
    }
    if (end < 0) {
      // Up to 3 bytes of the terminating CRLFCRLF may be here without the head being too large.
      if (buf.length - at > this.maxHeadBytes + 3)
        throw new ResponseParseError('response head too large');
      this.pending = Buffer.from(buf.subarray(at));
      this.headScanned = this.pending.length;
      return -1;
    }
    if (end - at > this.maxHeadBytes) throw new ResponseParseError('response head too large');
    // The head's lines run from 0 to `length` in `text` (its last line's CRLF included), and the
    // empty line follows. A read taken as text is used as it is, with the body's bytes after the
    // head: a slice of it would be a string V8 unwraps on every character read.
    const length = end + 2 - at;
    const text = read ?? buf.toString('latin1', at, end + 4);
    const eol = text.indexOf('\r\n');
    // One native scan checks the whole head; only a head it refuses is gone through line by
    // line, for the error that names what is wrong.
    const checked = VALID_HEAD.test(text);
    const status = checked ? statusCode(text) : statusOf(text, eol);
    const next = end + 4;
    if (status < 200) {
      if (status === 101) throw new ResponseParseError('unexpected protocol switch');
      if (!checked) validateFields(text, eol + 2, length);
      // Interim response: the final one follows.
      return next;
    }
    const names: string[] = [];
    const starts: number[] = [];
    // The framing fields, read as the lines go by.
    let te: string | string[] | undefined;
    let cl: string | string[] | undefined;
    let connection: string | string[] | undefined;
    for (let from = eol + 2; from < length; ) {
      let to: number;
      let name: string;
      if (checked) {
        const colon = text.indexOf(':', from);
        to = text.indexOf('\r\n', colon);
        name = lowerName(text, from, colon);
      } else {
        to = text.indexOf('\r\n', from);
        name = fieldName(text, from, to);
      }
      names.push(name);
      starts.push(from);
      if (name === 'content-length') cl = addValue(cl, text, from, to);
      else if (name === 'transfer-encoding') te = addValue(te, text, from, to);
      else if (name === 'connection') connection = addValue(connection, text, from, to);
      from = to + 2;
    }
    starts.push(length);
    const http10 = text.charCodeAt(7) === 48;
    // Transfer-Encoding in an HTTP/1.0 message: faulty framing, never reuse (RFC 9112 §6.1).
    const keepAlive = connectionKeepsAlive(connection, http10) && !(http10 && te !== undefined);
    const head = new ResponseHead(status, text, names, starts);
    const repeatable = read !== undefined && read.length <= REPEAT_READ_MAX;
    // Remembered only once the framing fields passed (headRead throws on bad ones).
    this.repeated = undefined;
    this.headRead(head, te, cl, keepAlive);
    if (repeatable) this.repeated = { text: read.slice(0, next - at), head, te, cl, keepAlive };
    return next;
  }

  /** A final head was read: frames its body and reports it. */
  private headRead(
    head: ResponseHead,
    te: string | string[] | undefined,
    cl: string | string[] | undefined,
    keepAlive: boolean,
  ): void {
    this.keepAlive = keepAlive;
    this.frame(head.status, te, cl);
    this.listener.onHead(head);
    if (this.state === State.Done) this.listener.onComplete(this.keepAlive);
  }

  private frame(
    status: number,
    te: string | string[] | undefined,
    cl: string | string[] | undefined,
  ): void {
    if (this.noBody || status === 204 || status === 304) {
      this.state = State.Done;
      return;
    }
    if (te !== undefined) {
      if (cl !== undefined)
        throw new ResponseParseError('both Content-Length and Transfer-Encoding');
      const codings = (typeof te === 'string' ? te : te.join(',')).toLowerCase();
      const last = codings.slice(codings.lastIndexOf(',') + 1).trim();
      if (last === 'chunked') {
        this.state = State.ChunkSize;
      } else {
        this.state = State.UntilClose;
        this.keepAlive = false;
      }
      return;
    }
    if (cl !== undefined) {
      const length = contentLength(cl);
      this.remaining = length;
      this.state = length === 0 ? State.Done : State.Length;
      return;
    }
    this.state = State.UntilClose;
    this.keepAlive = false;
  }

  private complete(): void {
    this.state = State.Done;
    this.listener.onComplete(this.keepAlive);
  }
}

/**
 * A head whose status line (RFC 9112 §4) and field lines (token name, colon, value without
 * control characters; no obs-fold) are all valid, each line ending in CRLF, up to the empty line
 * that ends it (what follows is not looked at): the same rules statusOf and fieldName apply one
 * character at a time, in one scan of native regexp code. No line can hold a CR or LF, so the
 * match ends at the head's first CRLFCRLF. Linear: names, values and line ends are disjoint,
 * so nothing is tried twice.
 */
const VALID_HEAD =
  /^HTTP\/1\.[01] [1-9]\d\d(?: [\t\x20-\x7e\x80-\xff]*)?\r\n(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*\r\n/;

/** The status code of a head VALID_HEAD accepted. */
function statusCode(text: string): number {
  return (
    (text.charCodeAt(9) - 48) * 100 + (text.charCodeAt(10) - 48) * 10 + text.charCodeAt(11) - 48
  );
}

/** The lower-case name of the valid field name `text[from, colon)`. */
function lowerName(text: string, from: number, colon: number): string {
  return commonHeaderName(text, from, colon) ?? text.slice(from, colon).toLowerCase();
}

/** Validates the field lines of `text[from, to)` (each ends in CRLF); nothing is kept. */
function validateFields(text: string, from: number, to: number): void {
  while (from < to) {
    const to = text.indexOf('\r\n', from);
    fieldName(text, from, to);
    from = to + 2;
  }
}

/**
 * Checks the field line `text[from, to)` — a token name, a colon, a value without control
 * characters (tabs allowed) — and returns its name in lower case (no obs-fold: a line that
 * starts with whitespace has no valid name).
 */
function fieldName(text: string, from: number, to: number): string {
  let colon = -1;
  let upper = false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) {
      colon = i;
      break;
    }
    if (c >= 128 || TOKEN_CHAR[c] === 0) throw new ResponseParseError('invalid header name');
    if (c >= 65 && c <= 90) upper = true;
  }
  if (colon <= from) throw new ResponseParseError('invalid header line');
  for (let i = colon + 1; i < to; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f) throw new ResponseParseError('invalid header value');
  }
  const name = commonHeaderName(text, from, colon);
  if (name !== undefined) return name;
  const rawName = text.slice(from, colon);
  return upper ? rawName.toLowerCase() : rawName;
}

/** `prev` with the value of the field line `text[from, to)` added (OWS trimmed). */
function addValue(
  prev: string | string[] | undefined,
  text: string,
  from: number,
  to: number,
): string | string[] {
  const value = fieldValueAt(text, from, to);
  if (prev === undefined) return value;
  if (typeof prev === 'string') return [prev, value];
  prev.push(value);
  return prev;
}

/** The status code of the status line `text[0, eol)`; throws when the line is malformed. */
function statusOf(text: string, eol: number): number {
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (
    eol < 12 ||
    !text.startsWith('HTTP/1.', 0) ||
    (text.charCodeAt(7) !== 48 && text.charCodeAt(7) !== 49) ||
    text.charCodeAt(8) !== 32
  ) {
    throw new ResponseParseError('invalid status line');
  }
  const d0 = text.charCodeAt(9) - 48;
  const d1 = text.charCodeAt(10) - 48;
  const d2 = text.charCodeAt(11) - 48;
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
    throw new ResponseParseError('invalid status line');
  }
  if (eol > 12) {
    if (text.charCodeAt(12) !== 32) throw new ResponseParseError('invalid status line');
    // Reason phrase: HTAB, SP, VCHAR, obs-text (no control characters).
    for (let i = 13; i < eol; i++) {
      const c = text.charCodeAt(i);
      if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) {
        throw new ResponseParseError('invalid status line');
      }
    }
  }
  return d0 * 100 + d1 * 10 + d2;
}

/** One Content-Length (repeats allowed only when all equal), digits only. */
function contentLength(value: string | string[]): number {
  if (typeof value === 'string' && value.length > 0 && value.length <= 15) {
    let n = 0;
    let i = 0;
    for (; i < value.length; i++) {
      const c = value.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      n = n * 10 + c;
    }
    if (i === value.length) return n;
  }
  const parts = (typeof value === 'string' ? value : value.join(',')).split(',');
  let length = -1;
  for (const p of parts) {
    const t = p.trim();
    if (!/^\d{1,15}$/.test(t)) throw new ResponseParseError('invalid Content-Length');
    const n = Number(t);
    if (length !== -1 && n !== length)
      throw new ResponseParseError('differing Content-Length values');
    length = n;
  }
  return length;
}

function connectionKeepsAlive(value: string | string[] | undefined, http10: boolean): boolean {
  if (value === undefined) return !http10;
  if (value === 'keep-alive' || value === 'Keep-Alive') return true;
  if (value === 'close' || value === 'Close') return false;
  const tokens = (typeof value === 'string' ? value : value.join(',')).toLowerCase().split(',');
  let keepAlive = !http10;
  for (const t of tokens) {
    const token = t.trim();
    if (token === 'close') return false;
    if (token === 'keep-alive') keepAlive = true;
  }
  return keepAlive;
}

/** The last Keep-Alive value read and its hint: an upstream sends the same one every time. */
let lastKeepAlive = '';
let lastHintMs: number | undefined;

/** The idle time an upstream announces in a Keep-Alive field (`timeout=N`, in ms), if any. */
export function keepAliveHintMs(v: string | string[] | undefined): number | undefined {
  if (v === undefined) return undefined;
  const value = typeof v === 'string' ? v : v.join(',');
  if (value === lastKeepAlive) return lastHintMs;
  const m = /(?:^|[,\s])timeout=(\d{1,6})/.exec(value);
  lastKeepAlive = value;
  lastHintMs = m === null ? undefined : Number(m[1]) * 1000;
  return lastHintMs;
}
