/**
 * The forwarded field lines of a repeated head, kept (docs/adr/0007-gateway-hot-path.md,
 * *Repeated heads*). On a keep-alive connection a client sends the same head again and again,
 * and the edge then hands the proxy the same header list, unchanged (ProxyRequest.sharedHead).
 * The upstream request's field lines but the request id and trace (forwardedFieldLines) depend
 * on that list and on the connection alone — its peer address, whether it is TLS — and on the
 * gateway's trusted hops: so they are made once per head and connection and kept under the
 * list, as one flat string that the upstream write copies out in one piece.
 */
import { Buffer } from 'node:buffer';
import type { FieldLines } from './upstream/field-lines.js';

interface KeptLines {
  readonly lines: FieldLines;
  readonly socketIp: string;
  readonly trustedHops: number;
  readonly encrypted: boolean;
}

/** Keyed by the head's header list: an entry goes when its head does. */
const kept = new WeakMap<readonly string[], KeptLines>();

/** The lines kept for `raw` from a connection like this one, if any. */
export function keptForwardedLines(
  raw: readonly string[],
  socketIp: string,
  trustedHops: number,
  encrypted: boolean,
): FieldLines | undefined {
  const entry = kept.get(raw);
  if (
    entry === undefined ||
    entry.socketIp !== socketIp ||
    entry.trustedHops !== trustedHops ||
    entry.encrypted !== encrypted
  ) {
    return undefined;
  }
  return entry.lines;
}

/** Keeps `lines` for `raw` (replacing what was kept for it) and returns the kept copy. */
export function keepForwardedLines(
  raw: readonly string[],
  socketIp: string,
  trustedHops: number,
  encrypted: boolean,
  lines: FieldLines,
): FieldLines {
  const flat: FieldLines = {
    // Built up from many pieces: copied once into one flat string.
    text: Buffer.from(lines.text, 'latin1').toString('latin1'),
    hasHost: lines.hasHost,
    contentLength: lines.contentLength,
  };
  kept.set(raw, { lines: flat, socketIp, trustedHops, encrypted });
  return flat;
}
