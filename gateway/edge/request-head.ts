/**
 * The edge's request-head reader (docs/adr/0007-gateway-fast-edge.md). It accepts only a
 * strict, common subset of HTTP/1.1 — the shapes a fast path can serve without a body parser:
 *
 * - request line `METHOD SP origin-form SP HTTP/1.1` with a known method and a target of
 *   visible ASCII starting with `/`;
 * - header lines `name: value` ending in CRLF, names RFC 9110 tokens, values visible ASCII,
 *   space or tab; each name at most once; at most 100 of them; a Host header;
 * - no body: no Transfer-Encoding, Content-Length absent or `0`; no Upgrade, no Expect.
 *
 * Everything else — bodies, obs-fold, bare CR or LF, obs-text, repeated or odd headers,
 * HTTP/1.0, absolute-form targets, upgrades, and every malformed head — is *not judged here*:
 * the connection is handed, bytes untouched, to Node's strict HTTP server, which serves or
 * refuses it exactly as before. The edge therefore never accepts a request Node would refuse.
 */

import { Buffer } from 'node:buffer';
import { commonHeaderName, headerFields } from '../header-names.js';
import { fieldValueAt, REPEAT_READ_MAX, startsWithWhole } from '../http-syntax.js';

export interface RequestHead {
  readonly method: string;
  readonly url: string;
  /** Flat `[name, value, …]` as received. */
  readonly rawHeaders: string[];
  /** Lower-case names, one value each. */
  readonly headers: Record<string, string>;
  /** False when the client sent `Connection: close`. */
  readonly keepAlive: boolean;
  /** Bytes the head took, CRLFCRLF included. */
  readonly length: number;
  /**
   * The head's text, CRLFCRLF included, when it came in a read short enough to be remembered
   * (REPEAT_READ_MAX): the next head of the connection may be the same.
   */
  readonly text: string | undefined;
}

/** Not a whole head yet. */
export const INCOMPLETE = 0;
/** Outside the subset: hand the connection to Node's HTTP server. */
export const FALLBACK = 1;

export type HeadResult = RequestHead | typeof INCOMPLETE | typeof FALLBACK;

const MAX_HEADERS = 100;
const HEAD_END = Buffer.from('\r\n\r\n');
/**
 * The first this many bytes of a read are converted to text once, and a head that ends within
 * them is found and read in that text; a longer one is searched for in the bytes.
 */
const TEXT_SCAN_MAX = 4096;

/**
 * The subset's character rules for a whole head, each line ending in CRLF, up to the empty line
 * that ends it (what follows is not looked at): a known method, an origin-form target of
 * visible ASCII, HTTP/1.1, and field lines of a token name, a colon and a value of visible
 * ASCII, space and tab (so no obs-fold, bare CR or LF, other controls or obs-text). No line can
 * hold a CR or LF, so the match ends at the head's first CRLFCRLF. One scan of native regexp
 * code; linear, as names, values and line ends are disjoint.
 */
const SUBSET_HEAD =
  /^(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) \/[\x21-\x7e]* HTTP\/1\.1\r\n(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e]*\r\n)*\r\n/;

/** A LF not preceded by CR: the head would never end in CRLFCRLF, so let Node judge it. */
function hasBareLf(buf: Buffer): boolean {
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) {
    if (i === 0 || buf[i - 1] !== 13) return true;
  }
  return false;
}

/**
 * Reads one request head from the start of `buf`. `maxBytes` bounds the head: a larger one
 * (complete or not) is left to Node's server, which answers 431. A client sends the same head
 * again and again on a connection (the same page's assets, a poller, a load generator): when
 * `buf` starts with the bytes of `previous` (the connection's last head), that head is
 * returned as it is, and nothing is checked or read twice. Heads are never changed once read.
 */
export function readRequestHead(buf: Buffer, maxBytes: number, previous?: RequestHead): HeadResult {
  // The head's lines run from 0 to `end` in `text` (the last line's CRLF included), and the
  // empty line follows. A head within the scanned bytes is read in their text as it is, with
  // whatever came after the head: a slice of it would be a string V8 unwraps on every
  // character read.
  let text = buf.toString('latin1', 0, Math.min(buf.length, TEXT_SCAN_MAX));
  if (previous?.text !== undefined && startsWithWhole(text, previous.text)) return previous;
  let end = text.indexOf('\r\n\r\n');
  if (end < 0) {
    const later = buf.length > TEXT_SCAN_MAX ? buf.indexOf(HEAD_END, TEXT_SCAN_MAX - 3) : -1;
    if (later < 0) return buf.length > maxBytes || hasBareLf(buf) ? FALLBACK : INCOMPLETE;
    end = later;
    text = buf.toString('latin1', 0, end + 4);
  }
  end += 2;
  const length = end + 2;
  if (length > maxBytes || !SUBSET_HEAD.test(text)) return FALLBACK;
  const sp1 = text.indexOf(' ');
  const sp2 = text.indexOf(' ', sp1 + 1);
  const method = text.slice(0, sp1);
  const url = text.slice(sp1 + 1, sp2);
  const rawHeaders: string[] = [];
  const headers = headerFields<string>();
  let keepAlive = true;
  let count = 0;
  // The request line ends in ` HTTP/1.1` and CRLF.
  for (let at = sp2 + 11; at < end; ) {
    const colon = text.indexOf(':', at);
    const next = text.indexOf('\r\n', colon);
    if (++count > MAX_HEADERS) return FALLBACK;
    const name = text.slice(at, colon);
    const value = fieldValueAt(text, colon, next);
    const common = commonHeaderName(text, at, colon);
    const lower = common ?? name.toLowerCase();
    at = next + 2;
    // Repeats, and names of Object.prototype members (`__proto__`, `constructor`…): those are
    // left to Node, whose consumers may read headers as a plain object's.
    if (headers[lower] !== undefined || (common === undefined && lower in Object.prototype)) {
      return FALLBACK;
    }
    switch (lower) {
      case 'content-length':
        if (value !== '0') return FALLBACK;
        break;
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        return FALLBACK;
      case 'connection': {
        for (const token of value.toLowerCase().split(',')) {
          const t = token.trim();
          if (t === 'close') keepAlive = false;
          else if (t === 'upgrade') return FALLBACK;
        }
        break;
      }
    }
    headers[lower] = value;
    rawHeaders.push(name, value);
  }
  if (headers.host === undefined) return FALLBACK;
  const kept = buf.length <= REPEAT_READ_MAX ? text.slice(0, length) : undefined;
  return { method, url, rawHeaders, headers, keepAlive, length, text: kept };
}
