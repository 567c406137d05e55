/**
 * Reading a request body: at most `maxBytes` (checked against Content-Length before reading
 * and counted while reading), JSON only (`application/json`, which also keeps a foreign web
 * page from posting here without a CORS preflight), parsed into plain data.
 */
import type { IncomingMessage } from 'node:http';
import { RosterError } from '../../protocol/index.js';

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

function tooLarge(maxBytes: number): RosterError {
  return new RosterError('ROSTER_ERR_MESSAGE_TOO_LARGE', `request body exceeds ${maxBytes} bytes`, {
    limit: maxBytes,
  });
}

/** True when the request announces or carries a body. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * The parsed JSON body, or undefined when there is none. Throws ROSTER_ERR_MESSAGE_TOO_LARGE
 * (the connection should then be closed: the rest of the body is not read) or
 * ROSTER_ERR_INVALID_MESSAGE.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new RosterError('ROSTER_ERR_INVALID_MESSAGE', 'request body must be application/json', {
      contentType: type || null,
    });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(buf);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
  } catch {
    throw new RosterError('ROSTER_ERR_INVALID_MESSAGE', 'request body is not valid JSON');
  }
}
