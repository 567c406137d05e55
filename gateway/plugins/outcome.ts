/**
 * Plugin answers. A rejection's body is the Roster wire error (`{code, message, data}`) with
 * the machine-readable reason in `data.reason`, the same shape every Roster API uses. The
 * outcomes are built once (per plugin instance and reason) and reused on the hot path.
 */
import { type ErrorCode, RosterError } from '../../protocol/errors.js';
import type { PluginOutcome } from '../types.js';

export type Rejection = NonNullable<PluginOutcome>;

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** A frozen rejection: `status` from the error code, JSON body, extra headers. */
export function rejection(
  code: ErrorCode,
  reason: string,
  message: string,
  headers: Readonly<Record<string, string>> = {},
  status?: number,
): Rejection {
  const error = new RosterError(code, message, { reason });
  return Object.freeze({
    status: status ?? error.status,
    body: JSON.stringify({ error: error.toWire() }),
    headers: Object.freeze({ 'content-type': JSON_CONTENT_TYPE, ...headers }),
    reason,
  });
}

/** The first value of a request header (Node joins most duplicates; a few stay arrays). */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
