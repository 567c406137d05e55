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
import { commonHeaderName } from '../header-names.js';
import { isToken, isVisibleAscii, trimOws } from '../http-syntax.js';

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
}

/** Not a whole head yet. */
export const INCOMPLETE = 0;
/** Outside the subset: hand the connection to Node's HTTP server. */
export const FALLBACK = 1;

export type HeadResult = RequestHead | typeof INCOMPLETE | typeof FALLBACK;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
const MAX_HEADERS = 100;
const HEAD_END = Buffer.from('\r\n\r\n');

/** A field value: visible ASCII, space and tab. */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c > 0x7e) return false;
  }
  return true;
}

/** A LF not preceded by CR: the head would never end in CRLFCRLF, so let Node judge it. */
function hasBareLf(buf: Buffer): boolean {
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) {
    if (i === 0 || buf[i - 1] !== 13) return true;
  }
  return false;
}

/**
 * Reads one request head from the start of `buf`. `maxBytes` bounds the head: a larger one
 * (complete or not) is left to Node's server, which answers 431.
 */
export function readRequestHead(buf: Buffer, maxBytes: number): HeadResult {
  const end = buf.indexOf(HEAD_END);
  if (end < 0) return buf.length > maxBytes || hasBareLf(buf) ? FALLBACK : INCOMPLETE;
  if (end + 4 > maxBytes) return FALLBACK;
  const text = buf.toString('latin1', 0, end);
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const sp1 = text.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || sp2 >= eol) return FALLBACK;
  const method = text.slice(0, sp1);
  if (!METHODS.has(method)) return FALLBACK;
  if (text.charCodeAt(sp1 + 1) !== 47 /* / */ || !isVisibleAscii(text, sp1 + 1, sp2))
    return FALLBACK;
  if (eol - sp2 !== 9 || !text.startsWith('HTTP/1.1', sp2 + 1)) return FALLBACK;
  const url = text.slice(sp1 + 1, sp2);
  const rawHeaders: string[] = [];
  const headers: Record<string, string> = {};
  let keepAlive = true;
  let count = 0;
  let at = eol + 2;
  while (at < text.length) {
    let next = text.indexOf('\r\n', at);
    if (next < 0) next = text.length;
    const line = text.slice(at, next);
    at = next + 2;
    if (++count > MAX_HEADERS) return FALLBACK;
    const colon = line.indexOf(':');
    if (colon <= 0) return FALLBACK;
    const name = line.slice(0, colon);
    if (!isToken(name)) return FALLBACK; // also refuses obs-fold (leading space or tab)
    const value = trimOws(line.slice(colon + 1));
    if (!isFieldValue(value)) return FALLBACK; // bare CR or LF, other controls, obs-text
    const lower = commonHeaderName(line, 0, colon) ?? name.toLowerCase();
    // Repeats, and names that are Object.prototype members (`__proto__`, `constructor`…).
    if (lower in headers) return FALLBACK;
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
  return { method, url, rawHeaders, headers, keepAlive, length: end + 4 };
}
