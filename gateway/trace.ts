/**
 * Request ids and W3C Trace Context (https://www.w3.org/TR/trace-context/) for the proxy:
 * an incoming `x-request-id` is kept when well-formed, else one is generated; an incoming
 * `traceparent` is validated and propagated with a new span id (or a new trace is started);
 * `tracestate` is passed through, bounded, only with a valid traceparent.
 */
import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

/** Longest request id kept. */
export const MAX_REQUEST_ID = 128;
/** Longest tracestate passed on (W3C: propagate at least 512 characters); 32 members at most. */
export const MAX_TRACESTATE = 512;
const MAX_TRACESTATE_MEMBERS = 32;

/** A request id: the incoming one when it is 1..128 of `[A-Za-z0-9._-]`, else a new UUID. */
export function requestIdFor(incoming: string | string[] | undefined): string {
  return keptRequestId(incoming) ?? newUuid();
}

/** The incoming request id when it is one the gateway keeps (requestIdFor), else undefined. */
export function keptRequestId(incoming: string | string[] | undefined): string | undefined {
  return typeof incoming === 'string' && isValidRequestId(incoming) ? incoming : undefined;
}

export function isValidRequestId(id: string): boolean {
  const n = id.length;
  if (n === 0 || n > MAX_REQUEST_ID) return false;
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i);
    if (
      !(
        (c >= 97 && c <= 122) ||
        (c >= 65 && c <= 90) ||
        (c >= 48 && c <= 57) ||
        c === 45 ||
        c === 46 ||
        c === 95
      )
    ) {
      return false;
    }
  }
  return true;
}

// Random bytes come from a pool refilled in one call, so ids cost no syscall each.
const POOL = Buffer.allocUnsafe(16_384);
let poolOffset = POOL.length;

/** Refills the random pool when fewer than `bytes` are left in it. */
function reserveRandom(bytes: number): void {
  if (poolOffset + bytes > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
}

function randomHex(bytes: number): string {
  reserveRandom(bytes);
  const s = POOL.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return s;
}

const HEX = Buffer.from('0123456789abcdef');
const UUID_TEXT = Buffer.alloc(36);

/**
 * Writes a random (version 4) UUID as text into `target` at `at`, from the 16 pool bytes at
 * `from`.
 */
function writeUuid(target: Buffer, at: number, from: number): void {
  for (let i = 0; i < 16; i++) {
    let b = POOL[from + i]!;
    if (i === 6)
      b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // RFC 9562 variant
    target[at++] = HEX[b >> 4]!;
    target[at++] = HEX[b & 15]!;
    if (i === 3 || i === 5 || i === 7 || i === 9) target[at++] = 45; // 8-4-4-4-12
  }
}

/** Writes `n` pool bytes from `from` as lower-case hex into `target` at `at`. */
function writeHex(target: Buffer, at: number, from: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const b = POOL[from + i]!;
    target[at++] = HEX[b >> 4]!;
    target[at++] = HEX[b & 15]!;
  }
}

/**
 * A random (version 4) UUID from the pooled random bytes, written as text into one scratch
 * buffer and read out as a single flat string (crypto.randomUUID builds it from 20 pieces).
 */
export function newUuid(): string {
  reserveRandom(16);
  writeUuid(UUID_TEXT, 0, poolOffset);
  poolOffset += 16;
  return UUID_TEXT.toString('latin1', 0, 36);
}

const REQUEST_ID_LINE_START = 'x-request-id: '.length;
const REQUEST_ID_LINE_END = REQUEST_ID_LINE_START + 36 + 2;
const TRACE_ID_AT = REQUEST_ID_LINE_END + 'traceparent: 00-'.length;
const SPAN_ID_AT = TRACE_ID_AT + 32 + 1;
/** The template newTraceLines() fills in: a request id, then a new trace's traceparent. */
const TRACE_LINES = Buffer.from(
  `x-request-id: ${'0'.repeat(36)}\r\ntraceparent: 00-${'0'.repeat(32)}-${'0'.repeat(16)}-00\r\n`,
  'latin1',
);

/**
 * A new request id (a UUID, as requestIdFor makes) and a new trace's traceparent (as
 * newTraceparent makes), drawn together, as the upstream request's two field lines
 * `x-request-id: …` and `traceparent: …` (each ending in CRLF) in one flat string: one draw from
 * the random pool and one string, where the two made apart and then joined cost ~1.5 times as
 * much. traceLinesRequestId() and traceLinesRequestIdLine() read the id back out.
 */
export function newTraceLines(): string {
  reserveRandom(40);
  writeUuid(TRACE_LINES, REQUEST_ID_LINE_START, poolOffset);
  writeHex(TRACE_LINES, TRACE_ID_AT, poolOffset + 16, 16);
  writeHex(TRACE_LINES, SPAN_ID_AT, poolOffset + 32, 8);
  poolOffset += 40;
  return TRACE_LINES.toString('latin1');
}

/** The request id in a newTraceLines() text. */
export function traceLinesRequestId(lines: string): string {
  return lines.slice(REQUEST_ID_LINE_START, REQUEST_ID_LINE_END - 2);
}

/** The `x-request-id: …` line (CRLF included) of a newTraceLines() text. */
export function traceLinesRequestIdLine(lines: string): string {
  return lines.slice(0, REQUEST_ID_LINE_END);
}

/** The same two field lines for a request id and traceparent made apart. */
export function traceLines(requestId: string, traceparent: string): string {
  return `x-request-id: ${requestId}\r\ntraceparent: ${traceparent}\r\n`;
}

function isLowerHex(s: string, from: number, to: number): boolean {
  let nonZero = false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
    if (c !== 48) nonZero = true;
  }
  return nonZero;
}

/** A traceparent for a new trace (flags `00`: not sampled by the gateway). */
export function newTraceparent(): string {
  const hex = randomHex(24);
  return `00-${hex.slice(0, 32)}-${hex.slice(32)}-00`;
}

/** The trace of a valid incoming traceparent, continued with a new span id (version 00). */
export function continueTraceparent(valid: string): string {
  return `00-${valid.slice(3, 35)}-${randomHex(8)}-${valid.slice(53, 55)}`;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

/** `version-traceid-parentid-flags`; version 00 is exactly 55 chars, later ones may extend. */
export function isValidTraceparent(v: string): boolean {
  const n = v.length;
  if (n < 55) return false;
  const c0 = v.charCodeAt(0);
  const c1 = v.charCodeAt(1);
  if (!isHex(c0) || !isHex(c1) || (c0 === 102 && c1 === 102)) return false;
  if (c0 === 48 && c1 === 48 ? n !== 55 : n > 55 && v.charCodeAt(55) !== 45) return false;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return false;
  if (!isLowerHex(v, 3, 35) || !isLowerHex(v, 36, 52)) return false;
  return isHex(v.charCodeAt(53)) && isHex(v.charCodeAt(54));
}

/**
 * The tracestate to pass on (undefined: none): printable ASCII only, at most 32 members and
 * MAX_TRACESTATE characters, dropping members from the end (the oldest) to fit.
 */
export function boundedTracestate(incoming: string | string[] | undefined): string | undefined {
  if (incoming === undefined) return undefined;
  const value = typeof incoming === 'string' ? incoming : incoming.join(',');
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return undefined;
  }
  if (value.length <= MAX_TRACESTATE && value.split(',').length <= MAX_TRACESTATE_MEMBERS) {
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }
  const members = value
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '')
    .slice(0, MAX_TRACESTATE_MEMBERS);
  while (members.length > 0 && members.join(',').length > MAX_TRACESTATE) members.pop();
  return members.length > 0 ? members.join(',') : undefined;
}
