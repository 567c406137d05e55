/**
 * What the proxy's exchange derives from a repeated head, kept (docs/adr/0007-gateway-hot-path.md,
 * *Repeated heads*). On a keep-alive connection a client sends the same head again and again,
 * and the edge then hands the proxy the same header list and fields, unchanged
 * (ProxyRequest.repeatedHead). Two things the exchange makes of each request depend on that head
 * alone, with the connection and the gateway's settings:
 *
 * - its route: the normalized path and query, the route hit and the route's runtime, for one
 *   route table (a reload brings another, and the kept route is not used with it);
 * - the upstream request's field lines but the request id and trace (forwardedFieldLines), for
 *   one peer address, TLS or not, one count of trusted hops and one set of headers withheld
 *   from the upstream (the same set object: a route's auth plugin passes the same each time).
 *
 * So they are made at the head's first repeat and kept under its header list (a WeakMap: an
 * entry goes when its head does), the field lines as one flat string that the upstream write
 * copies out in one piece. A head that never repeats keeps nothing.
 */
import { Buffer } from 'node:buffer';
import type { RequestRoute, TableRuntime } from './route-runtime.js';
import type { FieldLines } from './upstream/field-lines.js';

export class HeadMemo {
  private routeTables: TableRuntime | undefined = undefined;
  private route: RequestRoute | undefined = undefined;
  private lines: FieldLines | undefined = undefined;
  private socketIp = '';
  private trustedHops = 0;
  private encrypted = false;
  private withheld: ReadonlySet<string> | undefined = undefined;

  /** The route kept for this head under `tables`, if any. */
  keptRoute(tables: TableRuntime): RequestRoute | undefined {
    return this.routeTables === tables ? this.route : undefined;
  }

  keepRoute(tables: TableRuntime, route: RequestRoute): void {
    this.routeTables = tables;
    this.route = route;
  }

  /** The forwarded field lines kept for this head from a connection like this one, if any. */
  keptLines(
    socketIp: string,
    trustedHops: number,
    encrypted: boolean,
    withheld: ReadonlySet<string> | undefined,
  ): FieldLines | undefined {
    if (
      this.socketIp !== socketIp ||
      this.trustedHops !== trustedHops ||
      this.encrypted !== encrypted ||
      this.withheld !== withheld
    ) {
      return undefined;
    }
    return this.lines;
  }

  /** Keeps `lines` (replacing what was kept) and returns the kept copy. */
  keepLines(
    socketIp: string,
    trustedHops: number,
    encrypted: boolean,
    withheld: ReadonlySet<string> | undefined,
    lines: FieldLines,
  ): FieldLines {
    const flat: FieldLines = {
      // Built up from many pieces: copied once into one flat string.
      text: Buffer.from(lines.text, 'latin1').toString('latin1'),
      hasHost: lines.hasHost,
      contentLength: lines.contentLength,
    };
    this.socketIp = socketIp;
    this.trustedHops = trustedHops;
    this.encrypted = encrypted;
    this.withheld = withheld;
    this.lines = flat;
    return flat;
  }
}

const memos = new WeakMap<readonly string[], HeadMemo>();

/** The memo of the head whose header list is `raw` (made on first use). */
export function headMemo(raw: readonly string[]): HeadMemo {
  let memo = memos.get(raw);
  if (memo === undefined) {
    memo = new HeadMemo();
    memos.set(raw, memo);
  }
  return memo;
}
