/**
 * The gateway's own answers: JSON error bodies `{code, message, data?}` (the wire form of
 * RosterError), prepared once at load so the hot path serializes nothing.
 */
import type { ErrorCode } from '../protocol/index.js';

export interface GatewayError {
  readonly status: number;
  readonly code: ErrorCode;
  /** Why the gateway answered (the access log's `reason`). */
  readonly kind: string;
  readonly body: Buffer;
  readonly length: string;
}

function prepared(
  status: number,
  code: ErrorCode,
  message: string,
  kind: string,
  reason?: string,
): GatewayError {
  const body = Buffer.from(
    JSON.stringify(reason === undefined ? { code, message } : { code, message, data: { reason } }),
  );
  return Object.freeze({ status, code, kind, body, length: String(body.length) });
}

export const GatewayErrors = {
  notFound: prepared(404, 'ROSTER_ERR_NOT_FOUND', 'no route matches this request', 'no_route'),
  noUpstream: prepared(
    503,
    'ROSTER_ERR_NO_RESPONDERS',
    'no healthy instance of the service',
    'no_upstream',
  ),
  notSynced: prepared(
    503,
    'ROSTER_ERR_NOT_READY',
    'the service pool has not synced yet',
    'pool_not_synced',
  ),
  badGateway: prepared(
    502,
    'ROSTER_ERR_NO_RESPONDERS',
    'the upstream failed to answer',
    'upstream_failed',
  ),
  overloaded: prepared(
    503,
    'ROSTER_ERR_NO_RESPONDERS',
    'too many requests wait for the upstream',
    'upstream_overflow',
  ),
  timeout: prepared(
    504,
    'ROSTER_ERR_TIMEOUT',
    'the upstream did not answer in time',
    'upstream_timeout',
  ),
  tooLarge: prepared(
    413,
    'ROSTER_ERR_MESSAGE_TOO_LARGE',
    'request body too large',
    'body_too_large',
  ),
  internal: prepared(500, 'ROSTER_ERR_INTERNAL', 'gateway error', 'internal_error'),
  shuttingDown: prepared(
    503,
    'ROSTER_ERR_NOT_READY',
    'the gateway is shutting down',
    'shutting_down',
  ),
  unsupportedUpgrade: prepared(
    400,
    'ROSTER_ERR_INVALID_ARGUMENT',
    'only websocket upgrades are proxied',
    'unsupported_upgrade',
  ),
} as const;

const badPathCache = new Map<string, GatewayError>();

/** 400 for a refused request target, naming the reason. */
export function badPath(reason: string): GatewayError {
  let e = badPathCache.get(reason);
  if (e === undefined) {
    e = prepared(400, 'ROSTER_ERR_INVALID_ARGUMENT', 'invalid request target', reason, reason);
    badPathCache.set(reason, e);
  }
  return e;
}

/** Writes a prepared error with the request id (and any extra headers, flat list). */
export function sendError(
  res: { writeHead(status: number, headers: string[]): unknown; end(body: Buffer): unknown },
  error: GatewayError,
  requestId: string | undefined,
  extra?: readonly string[],
): void {
  const headers: string[] = [
    'content-type',
    'application/json',
    'content-length',
    error.length,
    'cache-control',
    'no-store',
  ];
  if (requestId !== undefined) headers.push('x-request-id', requestId);
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
  res.writeHead(error.status, headers);
  res.end(error.body);
}

/**
 * The raw HTTP/1.1 answer for a connection the parser refused (no response object exists);
 * `requestId` (a valid one: trace.ts) names it as the access log does.
 */
export function rawErrorResponse(
  status: number,
  reason: string,
  code: ErrorCode,
  requestId?: string,
): string {
  const body = JSON.stringify({ code, message: reason });
  const id = requestId === undefined ? '' : `X-Request-Id: ${requestId}\r\n`;
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\n${id}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
