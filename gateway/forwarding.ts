/**
 * What the proxy sends upstream and back: hop-by-hop headers removed (Connection and the
 * headers it names, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade except on a
 * websocket upgrade), the client address from X-Forwarded-For under a trusted-hops rule, and
 * X-Forwarded-For/-Proto/-Host, RFC 7239 Forwarded, x-request-id and traceparent/tracestate set
 * by the gateway (the client's own copies of those are never passed on unchecked), and
 * x-consumer: the consumer an auth plugin accepted, percent-encoded, or nothing (a client's own
 * x-consumer never reaches an upstream, on any route).
 *
 * Trusted hops: with `trustedHops` = N, the last N addresses in front of the gateway are
 * trusted proxies. The client is the address N entries from the right of
 * `X-Forwarded-For + socket address` (or the leftmost one when the list is shorter); entries
 * left of it are whatever the client claimed and are dropped, both for the client address and
 * for the X-Forwarded-For sent upstream. With N = 0 (the default) the socket address is the
 * client and every incoming forwarding header is ignored.
 *
 * Header lists are flat `[name, value, name, value…]` arrays (the `rawHeaders` form), built
 * in one pass from the incoming raw headers; the proxy's upstream requests take the same
 * fields as ready field lines (forwardedFieldLines).
 */
import { isIP } from 'node:net';
import { type FieldLines, FieldLinesBuilder } from './upstream/field-lines.js';
import type { ResponseHead } from './upstream/response-head.js';

/** The header that tells the upstream who is calling (RequestContext.consumer). */
export const CONSUMER_HEADER = 'x-consumer';

const DROP = 1;
const UPGRADE = 2;
const REPLACED = 3;
const PROXY_PREFIX = 4;

/** Names the proxy never passes on as they came (lower-case). */
const SPECIAL = new Map<string, number>();
for (const name of [
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'expect',
  'http2-settings',
]) {
  SPECIAL.set(name, DROP);
}
SPECIAL.set('upgrade', UPGRADE);
for (const name of [
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'x-request-id',
  'traceparent',
  'tracestate',
  CONSUMER_HEADER,
]) {
  SPECIAL.set(name, REPLACED);
}
const LENGTHS = new Set<number>([...SPECIAL.keys()].map((k) => k.length));
// Common spellings, so most lookups need no toLowerCase().
for (const [name, kind] of [...SPECIAL]) {
  SPECIAL.set(
    name.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase()),
    kind,
  );
}
SPECIAL.set('X-Request-ID', REPLACED);
SPECIAL.set('TE', DROP);

function kindOf(name: string): number {
  const k = SPECIAL.get(name);
  if (k !== undefined) return k;
  const n = name.length;
  if (n > 6) {
    const c = name.charCodeAt(0) | 0x20;
    if (c === 112 && name.charCodeAt(5) === 45 && name.slice(0, 6).toLowerCase() === 'proxy-') {
      return PROXY_PREFIX;
    }
  }
  if (LENGTHS.has(n)) return SPECIAL.get(name.toLowerCase()) ?? 0;
  return 0;
}

/**
 * The extra names a Connection header lists (lower-case), or undefined when it lists only
 * `keep-alive`, `close` and `upgrade`.
 */
export function connectionListed(
  connection: string | string[] | undefined,
): Set<string> | undefined {
  if (connection === undefined) return undefined;
  const value = typeof connection === 'string' ? connection : connection.join(',');
  // The common values need no parsing.
  if (
    value.length <= 10 &&
    (value === 'keep-alive' ||
      value === 'close' ||
      value === 'Keep-Alive' ||
      value === 'Close' ||
      value === 'upgrade' ||
      value === 'Upgrade')
  ) {
    return undefined;
  }
  let out: Set<string> | undefined;
  for (const raw of value.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '' || token === 'keep-alive' || token === 'close' || token === 'upgrade') {
      continue;
    }
    out ??= new Set();
    out.add(token);
  }
  return out;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; undefined → ''. */
export function socketAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * The trusted chain, client first: `[client, proxy…, socket]`. With trustedHops 0 this is
 * `[socket]`. Invalid addresses end the chain (a trusted proxy writes valid ones).
 */
export function trustedChain(
  xff: string | string[] | undefined,
  socketIp: string,
  trustedHops: number,
): string[] {
  if (trustedHops <= 0 || xff === undefined) return [socketIp];
  const list = (typeof xff === 'string' ? xff : xff.join(',')).split(',');
  const chain = [socketIp];
  for (let i = list.length - 1; i >= 0 && chain.length <= trustedHops; i--) {
    const entry = socketAddress(stripPort(list[i]!.trim()));
    if (isIP(entry) === 0) break;
    chain.push(entry);
  }
  return chain.reverse();
}

/** `1.2.3.4:5678` → `1.2.3.4`, `[::1]:80` → `::1`; anything else unchanged. */
function stripPort(entry: string): string {
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    return end > 0 ? entry.slice(1, end) : entry;
  }
  const colon = entry.indexOf(':');
  if (colon !== -1 && colon === entry.lastIndexOf(':')) return entry.slice(0, colon);
  return entry;
}

function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

function quoted(value: string): string {
  const clean = value.includes('"') || value.includes('\\') ? value.replace(/["\\]/g, '') : value;
  return `"${clean}"`;
}

/** RFC 7239 Forwarded: one element per trusted hop, the last naming host and proto. */
export function forwardedHeader(chain: readonly string[], host: string, proto: string): string {
  let out = '';
  for (let i = 0; i < chain.length; i++) {
    if (i > 0) out += ', ';
    out += 'for=' + forwardedNode(chain[i]!);
  }
  if (host !== '') out += ';host=' + quoted(host);
  return out + ';proto=' + proto;
}

function lastValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = typeof v === 'string' ? v : v[v.length - 1];
  if (s === undefined) return undefined;
  const comma = s.lastIndexOf(',');
  const t = (comma === -1 ? s : s.slice(comma + 1)).trim();
  return t === '' ? undefined : t;
}

/**
 * What the gateway sets on the upstream request in place of the client's copies, but for the
 * request id and trace: the same for every request that repeats a head on one connection.
 */
export interface ForwardedContext {
  /** The trusted chain, client first (trustedChain()). */
  readonly chain: readonly string[];
  readonly trustedHops: number;
  /** Whether the client connection is TLS. */
  readonly encrypted: boolean;
  /** The tracestate passed on with a continued trace (boundedTracestate()), if any. */
  readonly tracestate: string | undefined;
  /** Keep Upgrade/Connection: upgrade (websocket handshakes). */
  readonly upgrade: boolean;
  /** Client headers the upstream does not get (lower-case): RequestContext.withheldHeaders. */
  readonly withheld?: ReadonlySet<string> | undefined;
}

/** All the gateway sets on the upstream request in place of the client's copies. */
export interface ForwardedValues extends ForwardedContext {
  readonly requestId: string;
  readonly traceparent: string;
  /** The consumer an auth plugin accepted (RequestContext.consumer), if any. */
  readonly consumer?: string | undefined;
}

/** A lone surrogate cannot be encoded: it becomes U+FFFD, as a UTF-8 encoder writes it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The last consumer encoded and its encoding: a client sends the same credential each time. */
let lastConsumer = '';
let lastEncoded = '';

/**
 * A consumer as the x-consumer value: percent-encoded as encodeURIComponent does (so an
 * upstream decodes it with decodeURIComponent), which leaves no control character, no
 * non-ASCII one and no comma in it, whatever a token's claim held.
 */
export function consumerValue(consumer: string): string {
  if (consumer !== lastConsumer) {
    lastEncoded = encodeURIComponent(consumer.replace(LONE_SURROGATE, '\uFFFD'));
    lastConsumer = consumer;
  }
  return lastEncoded;
}

/** The x-consumer field line for `consumer` (CRLF-terminated), or '' for none. */
export function consumerLine(consumer: string | undefined): string {
  return consumer === undefined ? '' : `${CONSUMER_HEADER}: ${consumerValue(consumer)}\r\n`;
}

const TOKEN_PROTO = /^(https?|wss?)$/;

/** Whether an incoming request header goes upstream as it came. */
function passesUpstream(
  name: string,
  listed: Set<string> | undefined,
  c: ForwardedContext,
): boolean {
  const kind = kindOf(name);
  if (kind === 0) {
    const withheld = c.withheld;
    if (listed === undefined && withheld === undefined) return true;
    const lower = name.toLowerCase();
    return !listed?.has(lower) && !withheld?.has(lower);
  }
  return kind === UPGRADE && c.upgrade;
}

/** The values of the forwarding fields the gateway sets. */
interface ForwardingFields {
  readonly xff: string;
  readonly proto: string;
  readonly forwarded: string;
  /** '' for none (no X-Forwarded-Host then). */
  readonly host: string;
}

function forwardingFields(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  v: ForwardedContext,
): ForwardingFields {
  const trusted = v.trustedHops > 0;
  let proto = v.encrypted ? 'https' : 'http';
  const claimedProto = trusted ? lastValue(headers['x-forwarded-proto'])?.toLowerCase() : undefined;
  if (claimedProto !== undefined && TOKEN_PROTO.test(claimedProto)) proto = claimedProto;
  const host = (trusted ? lastValue(headers['x-forwarded-host']) : undefined) ?? headers.host ?? '';
  const hostValue = typeof host === 'string' ? host : '';
  return {
    xff: v.chain.length === 1 ? v.chain[0]! : v.chain.join(', '),
    proto,
    forwarded: forwardedHeader(v.chain, hostValue, proto),
    host: hostValue,
  };
}

/**
 * The upstream request headers: the incoming raw headers minus hop-by-hop and replaced ones,
 * plus the gateway's forwarding headers. `headers` is `req.headers` (parsed, lower-case).
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  headers: Readonly<Record<string, string | string[] | undefined>>,
  v: ForwardedValues,
): string[] {
  const listed = connectionListed(headers.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (passesUpstream(name, listed, v)) out.push(name, raw[i + 1]!);
  }
  if (v.upgrade) out.push('connection', 'upgrade');
  const f = forwardingFields(headers, v);
  out.push('x-forwarded-for', f.xff, 'x-forwarded-proto', f.proto, 'forwarded', f.forwarded);
  if (f.host !== '') out.push('x-forwarded-host', f.host);
  if (v.tracestate !== undefined) out.push('tracestate', v.tracestate);
  if (v.consumer !== undefined) out.push(CONSUMER_HEADER, consumerValue(v.consumer));
  out.push('x-request-id', v.requestId, 'traceparent', v.traceparent);
  return out;
}

/**
 * The same headers as upstreamRequestHeaders but for the last three, x-consumer (consumerLine),
 * x-request-id and traceparent (trace.ts traceLines), rendered as the request's field lines in one string (no list is built
 * and walked again to write them), with what the upstream client needs to know of them. They
 * depend on the head and `c` alone, so a repeated head's may be kept (head-memo.ts).
 */
export function forwardedFieldLines(
  raw: readonly string[],
  headers: Readonly<Record<string, string | string[] | undefined>>,
  c: ForwardedContext,
): FieldLines {
  const listed = connectionListed(headers.connection);
  const lines = new FieldLinesBuilder();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (passesUpstream(name, listed, c)) lines.add(name, raw[i + 1]!);
  }
  // The gateway's own fields are neither Host nor Content-Length: appended as one text.
  let text = c.upgrade ? 'connection: upgrade\r\n' : '';
  const f = forwardingFields(headers, c);
  text += `x-forwarded-for: ${f.xff}\r\nx-forwarded-proto: ${f.proto}\r\nforwarded: ${f.forwarded}\r\n`;
  if (f.host !== '') text += `x-forwarded-host: ${f.host}\r\n`;
  if (c.tracestate !== undefined) text += `tracestate: ${c.tracestate}\r\n`;
  lines.text += text;
  return lines;
}

const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'x-request-id',
]);

/**
 * Appends an upstream response's headers (the parsed form: lower-case names, repeated
 * headers as arrays) to `out`, without hop-by-hop headers and without x-request-id (the
 * gateway sets its own).
 */
export function appendResponseHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  out: string[],
): string[] {
  const listed = connectionListed(headers.connection);
  for (const name in headers) {
    if (RESPONSE_DROP.has(name)) continue;
    if (listed?.has(name)) continue;
    const value = headers[name];
    if (typeof value === 'string') out.push(name, value);
    else if (value !== undefined) for (let i = 0; i < value.length; i++) out.push(name, value[i]!);
  }
  return out;
}

/**
 * The field lines of an upstream response head that go on to the client, as they came (each
 * ending in CRLF): all but the hop-by-hop ones (as appendResponseHeaders) and those named in
 * `replaced` (lower-case: headers the gateway writes itself). Runs of kept lines are cut out
 * of the head's text whole.
 */
export function passedResponseLines(
  head: ResponseHead,
  replaced: readonly string[] | undefined,
): string {
  // Names the head does not have replace nothing: a plugin's own headers usually are such.
  if (replaced !== undefined && !replaced.some((name) => head.has(name))) replaced = undefined;
  if (replaced === undefined && head.passedLines !== undefined) return head.passedLines;
  const { text, names, starts } = head;
  const listed = names.includes('connection')
    ? connectionListed(head.get('connection'))
    : undefined;
  let out = '';
  let run = -1;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const drop =
      RESPONSE_DROP.has(name) || listed?.has(name) === true || replaced?.includes(name) === true;
    if (!drop) {
      if (run < 0) run = starts[i]!;
    } else if (run >= 0) {
      out += text.slice(run, starts[i]);
      run = -1;
    }
  }
  if (run >= 0) out += text.slice(run, starts[names.length]);
  if (replaced === undefined) head.passedLines = out;
  return out;
}

/** The same for a raw (flat, any-case) response header list, e.g. a websocket 101. */
export function appendRawResponseHeaders(
  raw: readonly string[],
  out: string[],
  keepUpgrade: boolean,
): string[] {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') listed = connectionListed(raw[i + 1]);
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (keepUpgrade && (name === 'upgrade' || name === 'connection')) {
      out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    if (RESPONSE_DROP.has(name) || name.startsWith('proxy-')) continue;
    if (listed?.has(name)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}
