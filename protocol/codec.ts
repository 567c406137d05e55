/**
 * The one wire codec: msgpackr, envelope `[protocolVersion, type, body]`. Decoding checks the
 * size before parsing, the version and type after, then validates the body against its
 * schema, so callers only ever see a typed message or a RosterError.
 */
import { Packr } from 'msgpackr';
import { RosterError, type WireError } from './errors.js';
import { Limits } from './limits.js';
import { type MessageOf, MessageSchemas, type MessageType } from './messages.js';
import { PROTOCOL_VERSION } from './subjects.js';

const PACKR_OPTIONS = {
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'number',
} as const;

const packr = new Packr(PACKR_OPTIONS);
/**
 * For large messages of many like objects (snapshot pages): msgpackr records, i.e. each
 * object shape's keys written once per message, then only values. Every msgpackr decoder
 * (ours included, whatever its own options) reads them: the record definitions travel in the
 * message and are forgotten after it. A snapshot page is half the bytes and decodes faster.
 */
const recordPackr = new Packr({ ...PACKR_OPTIONS, useRecords: true });

const LARGE_MESSAGE_BYTES = 64 * 1024;
/** msgpackr's own starting size for its shared buffer. */
const SHARED_BUFFER_BYTES = 8192;

export interface CodecOptions {
  /** Largest accepted encoded message, default Limits.maxMessageBytes. */
  readonly maxBytes?: number;
}

export interface Decoded<T extends MessageType = MessageType> {
  readonly type: T;
  readonly body: MessageOf<T>;
}

/** Encodes a message after validating it (so a bad local value fails before it is sent). */
export function encode<T extends MessageType>(
  type: T,
  body: MessageOf<T>,
  options: CodecOptions = {},
): Uint8Array {
  const clean = MessageSchemas[type].parse(body, type);
  return encodeTrusted(type, clean as MessageOf<T>, options);
}

/** Encodes without validating: for hot paths whose body was built from validated parts. */
export function encodeTrusted<T extends MessageType>(
  type: T,
  body: MessageOf<T>,
  options: CodecOptions = {},
): Uint8Array {
  const packed = packr.pack([PROTOCOL_VERSION, type, body]);
  // msgpackr returns a view into a shared, growing buffer; a large message (a snapshot page)
  // is copied out so the view cannot keep a whole old buffer alive until the next GC.
  const bytes = packed.byteLength > LARGE_MESSAGE_BYTES ? new Uint8Array(packed) : packed;
  checkSize(type, bytes, options);
  return bytes;
}

function checkSize(type: MessageType, bytes: Uint8Array, options: CodecOptions): void {
  const max = options.maxBytes ?? Limits.maxMessageBytes;
  if (bytes.byteLength > max) {
    throw new RosterError(
      'ROSTER_ERR_MESSAGE_TOO_LARGE',
      `${type} message is ${bytes.byteLength} bytes, limit ${max}`,
      {
        bytes: bytes.byteLength,
        limit: max,
      },
    );
  }
}

/**
 * Encodes a stream of large messages (snapshot pages) into one buffer of its own, reused from
 * one message to the next, without validating (like encodeTrusted), with msgpackr records
 * (see recordPackr). encodeTrusted packs into
 * msgpackr's shared buffer, which grows to 4× the message and is replaced by a new one of
 * that size whenever full, and copies a large message out: two or three large allocations
 * per page, each freed only at the next GC (memory glibc then keeps). Here the buffer grows
 * to fit the largest message once and is reused.
 *
 * The bytes returned are a view into that buffer, valid until the next `encode()`: hand them
 * to something that copies them before then (nats.js copies a message into its outbound
 * buffer before the current task ends). `release()` drops the buffer.
 */
export class ReusableEncoder {
  private buffer: Buffer | undefined;

  constructor(private readonly initialBytes = 64 * 1024) {}

  encode<T extends MessageType>(
    type: T,
    body: MessageOf<T>,
    options: CodecOptions = {},
  ): Uint8Array {
    this.buffer ??= Buffer.allocUnsafeSlow(this.initialBytes);
    // msgpackr's target buffer is one for all Packr instances: point it at ours, pack, then
    // at a fresh small buffer, so later messages neither write over this one nor inherit its
    // size (views already returned into the old shared buffer stay as they are).
    recordPackr.useBuffer(this.buffer);
    let packed: Uint8Array;
    try {
      packed = recordPackr.pack([PROTOCOL_VERSION, type, body]);
    } finally {
      packr.useBuffer(Buffer.allocUnsafeSlow(SHARED_BUFFER_BYTES));
    }
    // msgpackr moved to a buffer 4× the message when ours was too small: the next message
    // gets one a quarter larger than this one instead
    if (packed.buffer !== this.buffer.buffer)
      this.buffer = Buffer.allocUnsafeSlow(Math.ceil((packed.byteLength * 1.25) / 4096) * 4096);
    checkSize(type, packed, options);
    return packed;
  }

  /** Bytes held for reuse (0 after release()). */
  get capacity(): number {
    return this.buffer?.byteLength ?? 0;
  }

  release(): void {
    this.buffer = undefined;
  }
}

/** Encodes an error reply. */
export function encodeError(error: WireError): Uint8Array {
  const body: MessageOf<'error'> = {
    code: error.code,
    message: error.message.slice(0, Limits.maxTextLength),
  };
  if (error.data) {
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(error.data).slice(0, 32))
      data[k.slice(0, 64)] = String(v).slice(0, Limits.maxTextLength);
    body.data = data;
  }
  return encodeTrusted('error', body);
}

/** Decodes any message type. Throws RosterError (DECODE, MESSAGE_TOO_LARGE, UNSUPPORTED_VERSION, INVALID_MESSAGE). */
export function decode(bytes: Uint8Array, options: CodecOptions = {}): Decoded {
  const max = options.maxBytes ?? Limits.maxMessageBytes;
  if (!(bytes instanceof Uint8Array))
    throw new RosterError('ROSTER_ERR_DECODE', 'message is not bytes');
  if (bytes.byteLength > max) {
    throw new RosterError(
      'ROSTER_ERR_MESSAGE_TOO_LARGE',
      `message is ${bytes.byteLength} bytes, limit ${max}`,
      {
        bytes: bytes.byteLength,
        limit: max,
      },
    );
  }
  if (bytes.byteLength === 0) throw new RosterError('ROSTER_ERR_DECODE', 'empty message');
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new RosterError(
      'ROSTER_ERR_DECODE',
      `not msgpack: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown'}`,
    );
  }
  if (!Array.isArray(raw) || raw.length < 3)
    throw new RosterError('ROSTER_ERR_DECODE', 'not a Roster envelope');
  const [version, type, body] = raw as [unknown, unknown, unknown];
  if (version !== PROTOCOL_VERSION) {
    throw new RosterError(
      'ROSTER_ERR_UNSUPPORTED_VERSION',
      `protocol version ${String(version).slice(0, 20)} is not ${PROTOCOL_VERSION}`,
      {
        version: typeof version === 'number' ? version : String(version).slice(0, 20),
      },
    );
  }
  if (typeof type !== 'string' || !Object.hasOwn(MessageSchemas, type)) {
    throw new RosterError('ROSTER_ERR_DECODE', `unknown message type ${String(type).slice(0, 40)}`);
  }
  const t = type as MessageType;
  return { type: t, body: MessageSchemas[t].parse(body, t) } as Decoded;
}

/**
 * Decodes a reply that must be of type `type`. An `error` envelope is rebuilt and thrown as
 * the RosterError it carries; any other type is a ROSTER_ERR_DECODE.
 */
export function decodeAs<T extends MessageType>(
  bytes: Uint8Array,
  type: T,
  options: CodecOptions = {},
): MessageOf<T> {
  return expectType(decode(bytes, options), type, true);
}

/**
 * Decodes a request or broadcast that must be of type `type`: an `error` envelope is not an
 * answer here, so it is rejected like any other wrong type.
 */
export function decodeMessage<T extends MessageType>(
  bytes: Uint8Array,
  type: T,
  options: CodecOptions = {},
): MessageOf<T> {
  return expectType(decode(bytes, options), type, false);
}

function expectType<T extends MessageType>(
  msg: Decoded,
  type: T,
  rethrowErrors: boolean,
): MessageOf<T> {
  if (msg.type === type) return msg.body as MessageOf<T>;
  if (rethrowErrors && msg.type === 'error')
    throw RosterError.fromWire(msg.body as MessageOf<'error'>);
  throw new RosterError('ROSTER_ERR_DECODE', `expected a ${type} message, got ${msg.type}`);
}
