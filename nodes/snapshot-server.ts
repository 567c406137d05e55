/**
 * Serves this node's snapshot in pages. The first request captures a point-in-time copy
 * (records are immutable, so the copy is an array of references) together with the vector
 * it matches; later pages read from that copy by cursor. Copies expire and are bounded.
 *
 * Pages are encoded into one reused buffer (ReusableEncoder): serving 100 000 records
 * otherwise allocates ~60 MB of page-sized buffers in half a second, freed only at the next
 * GC and then mostly kept by malloc (docs/benchmarks.md, "The RSS gap"). A page's bytes are
 * a view into that buffer until the next page is encoded; the bus copies them into its
 * outbound buffer before the current task ends, and the next request of a transfer comes only
 * after the joiner received this page. Two pages encoded within one task (two transfers
 * whose requests arrived together) fall back to a copy of their own.
 */
import { randomBytes } from 'node:crypto';
import {
  encodeTrusted,
  type MessageOf,
  ReusableEncoder,
  RosterError,
  type Vector,
} from '../protocol/index.js';
import { encodePaged } from './paging.js';
import type { StoreSnapshot } from './store.js';

interface Capture {
  readonly snapshot: StoreSnapshot;
  readonly vector: Vector;
  expires: number;
}

/** A transfer idle this long is abandoned (pages are asked for back to back). */
const CAPTURE_TTL_MS = 10_000;
/** When full, a transfer idle this long gives its place to a new one. */
const EVICT_IDLE_MS = 1_000;
const MAX_CAPTURES = 4;

export class SnapshotServer {
  private readonly captures = new Map<string, Capture>();
  private readonly encoder = new ReusableEncoder();
  /** A page in the reused buffer was handed out during the current task. */
  private encoderBusy = false;

  constructor(private readonly take: () => { snapshot: StoreSnapshot; vector: Vector }) {}

  /** Encodes the page at `cursor` (a new capture when undefined). */
  page(cursor: string | undefined, limit: number): Uint8Array {
    const now = Date.now();
    this.expire(now);
    let id: string;
    let offset: number;
    if (cursor === undefined) {
      if (this.captures.size >= MAX_CAPTURES && !this.evictIdle(now)) {
        throw new RosterError(
          'ROSTER_ERR_LIMIT_EXCEEDED',
          'too many snapshot transfers in progress',
        );
      }
      id = randomBytes(6).toString('hex');
      offset = 0;
      this.captures.set(id, { ...this.take(), expires: now + CAPTURE_TTL_MS });
    } else {
      const m = /^([0-9a-f]{12}):(\d{1,9})$/.exec(cursor);
      if (!m) throw new RosterError('ROSTER_ERR_INVALID_ARGUMENT', 'bad snapshot cursor');
      id = m[1]!;
      offset = Number(m[2]);
    }
    const capture = this.captures.get(id);
    if (!capture) throw new RosterError('ROSTER_ERR_NOT_FOUND', 'snapshot expired; start again');
    capture.expires = now + CAPTURE_TTL_MS;
    const { sessions, instances, tombstones, revisions } = capture.snapshot;
    const total = sessions.length + instances.length + tombstones.length + revisions.length;
    let last = offset;
    const reuse = this.takeEncoder();
    const bytes = encodePaged((n) => {
      last = Math.min(total, offset + n);
      const body: MessageOf<'snapshotReply'> = {
        sessions: slice(sessions, offset, last, 0),
        instances: slice(instances, offset, last, sessions.length),
        tombstones: slice(tombstones, offset, last, sessions.length + instances.length),
        revisions: slice(
          revisions,
          offset,
          last,
          sessions.length + instances.length + tombstones.length,
        ),
        vector: capture.vector,
      };
      if (last < total) body.next = `${id}:${last}`;
      return reuse
        ? this.encoder.encode('snapshotReply', body)
        : encodeTrusted('snapshotReply', body);
    }, limit);
    if (last >= total) this.end(id);
    return bytes;
  }

  close(): void {
    this.captures.clear();
    this.encoder.release();
  }

  /** Whether the page about to be encoded may use the reused buffer (see above). */
  private takeEncoder(): boolean {
    if (this.encoderBusy) return false;
    this.encoderBusy = true;
    setImmediate(() => {
      this.encoderBusy = false;
    }).unref();
    return true;
  }

  private end(id: string): void {
    this.captures.delete(id);
    if (this.captures.size === 0) this.encoder.release();
  }

  /** Drops the transfer idle the longest, if idle for EVICT_IDLE_MS or more. */
  private evictIdle(now: number): boolean {
    let oldest: [string, Capture] | undefined;
    for (const entry of this.captures)
      if (!oldest || entry[1].expires < oldest[1].expires) oldest = entry;
    if (!oldest || oldest[1].expires - CAPTURE_TTL_MS > now - EVICT_IDLE_MS) return false;
    this.end(oldest[0]);
    return true;
  }

  private expire(now: number): void {
    for (const [id, c] of this.captures) if (c.expires < now) this.end(id);
  }
}

/** The part of `list` that falls in the global range [from, to), where list starts at `base`. */
function slice<T>(list: readonly T[], from: number, to: number, base: number): T[] {
  const start = Math.max(0, from - base);
  const end = Math.min(list.length, to - base);
  return end > start ? list.slice(start, end) : [];
}
