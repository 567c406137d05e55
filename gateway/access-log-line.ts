/**
 * One access log line: a JSON object on one line, in printable ASCII only (anything else in a
 * string is written as a \u escape), so a line's length is its size in bytes and no client
 * input can start a line of its own. Strings from the request are cut to a bounded length.
 */

/** What the log says of one finished request. */
export interface AccessLogRecord {
  /** When the response ended (Unix milliseconds). */
  readonly time: number;
  readonly requestId: string;
  /** The client address after the trusted-hops rule. */
  readonly client: string;
  /** Undefined for a head the gateway refused before reading it as a request. */
  readonly method: string | undefined;
  /** The Host header, if any. */
  readonly host: string | undefined;
  /**
   * The normalized path (routed requests), else the request target as it came; no query.
   * Undefined for a head refused before it was read as a request.
   */
  readonly path: string | undefined;
  /** The route's name; undefined when none matched. */
  readonly route: string | undefined;
  /** The status sent; 499 when the client went away first. */
  readonly status: number;
  /** From the read that carried the request to the response's end; undefined for a refused head. */
  readonly durationMs: number | undefined;
  /** The instance of the last attempt (`host:port`), if one was picked. */
  readonly upstream: string | undefined;
  /** Time to the last attempt's response head, if one came. */
  readonly upstreamMs: number | undefined;
  /** Upstream attempts made (retries included). */
  readonly attempts: number;
  /** Who called, as an auth plugin found. */
  readonly consumer: string | undefined;
  /** Why the gateway answered itself (a plugin's reason, `no_route`, `timeout`…). */
  readonly reason: string | undefined;
  /** The response was a WebSocket tunnel (status 101). */
  readonly websocket?: boolean;
}

/** Longest request string written (characters); longer ones are cut and marked with `…`. */
export const MAX_LOGGED_STRING = 1024;

// Anything outside printable ASCII (JSON.stringify has escaped the controls already).
const NOT_ASCII = /[^\x20-\x7e]/g;

function escapeNonAscii(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

// Printable ASCII but `"` and `\`: such a string is its own JSON literal between quotes.
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string literal in printable ASCII, of at most MAX_LOGGED_STRING characters' input. */
export function asciiJsonString(value: string): string {
  if (value.length <= MAX_LOGGED_STRING && PLAIN.test(value)) return `"${value}"`;
  const bounded =
    value.length > MAX_LOGGED_STRING ? `${value.slice(0, MAX_LOGGED_STRING - 1)}…` : value;
  const json = JSON.stringify(bounded);
  NOT_ASCII.lastIndex = 0;
  return NOT_ASCII.test(json) ? json.replace(NOT_ASCII, escapeNonAscii) : json;
}

/** A request target without its query (the path logged for a request no route took). */
export function pathOfTarget(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function ms(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The record as one line (with its `\n`); absent values are left out. */
export function accessLogLine(r: AccessLogRecord): string {
  let line =
    `{"time":${r.time},"requestId":${asciiJsonString(r.requestId)}` +
    `,"client":${asciiJsonString(r.client)}`;
  if (r.method !== undefined) line += `,"method":${asciiJsonString(r.method)}`;
  if (r.host !== undefined) line += `,"host":${asciiJsonString(r.host)}`;
  if (r.path !== undefined) line += `,"path":${asciiJsonString(r.path)}`;
  if (r.route !== undefined) line += `,"route":${asciiJsonString(r.route)}`;
  line += `,"status":${r.status}`;
  if (r.durationMs !== undefined) line += `,"durationMs":${ms(r.durationMs)}`;
  if (r.upstream !== undefined) line += `,"upstream":${asciiJsonString(r.upstream)}`;
  if (r.upstreamMs !== undefined) line += `,"upstreamMs":${ms(r.upstreamMs)}`;
  line += `,"attempts":${r.attempts}`;
  if (r.consumer !== undefined) line += `,"consumer":${asciiJsonString(r.consumer)}`;
  if (r.reason !== undefined) line += `,"reason":${asciiJsonString(r.reason)}`;
  if (r.websocket === true) line += `,"websocket":true`;
  return `${line}}\n`;
}
