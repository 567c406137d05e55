/**
 * Writing responses: JSON bodies, `{ code, message, data }` errors with the status of the
 * error registry (protocol/errors.ts), and static text. Every response is `no-store` and
 * `nosniff`; nothing here throws once headers are sent.
 */
import type { ServerResponse } from 'node:http';
import { isRosterError, RosterError } from '../../protocol/index.js';
import type { Logger } from '../../transport/logger.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

/** Sends `body` as JSON with `status`. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  send(res, status, JSON_TYPE, JSON.stringify(body), headers);
}

/** Sends text (or an empty body) with a content type. */
export function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'content-type': type,
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** The RosterError an HTTP caller sees for `err` (anything unknown is an internal error). */
export function toRosterError(err: unknown): RosterError {
  return isRosterError(err) ? err : new RosterError('ROSTER_ERR_INTERNAL', 'internal error');
}

/** Sends `err` as `{ code, message, data }` with the registry's status; logs unknown errors. */
export function sendError(
  res: ServerResponse,
  err: unknown,
  logger: Logger,
  headers: Readonly<Record<string, string>> = {},
): number {
  const e = toRosterError(err);
  if (!isRosterError(err)) logger.error({ err, url: res.req.url }, 'HTTP request failed');
  sendJson(res, e.status, e.toWire(), headers);
  return e.status;
}

/** The text of an HTTP error response written straight to a socket (upgrade refusals). */
export function rawErrorResponse(err: RosterError, extraHeaders = ''): string {
  const body = JSON.stringify(err.toWire());
  return (
    `HTTP/1.1 ${err.status} ${STATUS_TEXT[err.status] ?? 'Error'}\r\n` +
    `content-type: ${JSON_TYPE}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'cache-control: no-store\r\n' +
    extraHeaders +
    'connection: close\r\n\r\n' +
    body
  );
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
