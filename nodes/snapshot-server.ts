/**
 * Serves this node's snapshot in pages. The first request captures a point-in-time copy
 * (records are immutable, so the copy is an array of references) together with the vector
 * it matches; later pages read from that copy by cursor. Copies expire and are bounded.
 */
import { randomBytes } from 'node:crypto';
import { encodeTrusted, type MessageOf, RosterError, type Vector } from '../protocol/index.js';
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
      return encodeTrusted('snapshotReply', body);
    }, limit);
    if (last >= total) this.captures.delete(id);
    return bytes;
  }

  close(): void {
    this.captures.clear();
  }

  /** Drops the transfer idle the longest, if idle for EVICT_IDLE_MS or more. */
  private evictIdle(now: number): boolean {
    let oldest: [string, Capture] | undefined;
    for (const entry of this.captures)
      if (!oldest || entry[1].expires < oldest[1].expires) oldest = entry;
    if (!oldest || oldest[1].expires - CAPTURE_TTL_MS > now - EVICT_IDLE_MS) return false;
    this.captures.delete(oldest[0]);
    return true;
  }

  private expire(now: number): void {
    for (const [id, c] of this.captures) if (c.expires < now) this.captures.delete(id);
  }
}

/** The part of `list` that falls in the global range [from, to), where list starts at `base`. */
function slice<T>(list: readonly T[], from: number, to: number, base: number): T[] {
  const start = Math.max(0, from - base);
  const end = Math.min(list.length, to - base);
  return end > start ? list.slice(start, end) : [];
}
