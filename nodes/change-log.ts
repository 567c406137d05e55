/**
 * A bounded in-memory log of recent changes per origin (this node's own and every peer's),
 * so any node can serve a pull of a missing range even when the origin itself is gone. When
 * a range has left the log, the puller falls back to a snapshot.
 */
import type { Change } from '../protocol/index.js';
import { ownString } from './intern.js';

interface OriginLog {
  /** The origin's id: kept changes share this one copy. */
  readonly origin: string;
  inc: number;
  /** seq of entries[head]. */
  firstSeq: number;
  /** Slots before `head` are evicted and emptied (so the changes they held are released). */
  entries: (Change | undefined)[];
  head: number;
}

export interface ChangeLogOptions {
  /** Most changes kept per origin. */
  readonly maxPerOrigin?: number;
}

export type RangeResult =
  | { readonly kind: 'ok'; readonly changes: Change[] }
  | { readonly kind: 'gone' };

export class ChangeLog {
  private readonly logs = new Map<string, OriginLog>();
  private readonly maxPerOrigin: number;

  constructor(options: ChangeLogOptions = {}) {
    this.maxPerOrigin = options.maxPerOrigin ?? 100_000;
  }

  /** Appends a change applied in order (seq = last + 1 within its incarnation). */
  append(change: Change): void {
    let log = this.logs.get(change.origin);
    if (
      !log ||
      change.inc > log.inc ||
      change.seq !== log.firstSeq + log.entries.length - log.head
    ) {
      if (log && change.inc < log.inc) return;
      // New origin, new incarnation, or a jump (after a snapshot): restart the log here.
      log = {
        origin: ownString(change.origin),
        inc: change.inc,
        firstSeq: change.seq,
        entries: [],
        head: 0,
      };
      this.logs.set(change.origin, log);
    }
    change.origin = log.origin;
    log.entries.push(change);
    if (log.entries.length - log.head > this.maxPerOrigin) {
      // the evicted change is released at once; its empty slot goes once half a log's worth
      // of them has piled up at the front (the copy is amortized O(1))
      log.entries[log.head] = undefined;
      log.head++;
      log.firstSeq++;
      if (log.head >= Math.max(64, this.maxPerOrigin / 2)) {
        log.entries = log.entries.slice(log.head);
        log.head = 0;
      }
    }
  }

  /** Changes `from..to` (inclusive) of one origin's incarnation, at most `max` of them. */
  range(origin: string, inc: number, from: number, to: number, max: number): RangeResult {
    const log = this.logs.get(origin);
    if (!log || log.inc !== inc || from < log.firstSeq) return { kind: 'gone' };
    const last = log.firstSeq + (log.entries.length - log.head) - 1;
    const end = Math.min(to, last, from + max - 1);
    const changes: Change[] = [];
    for (let seq = from; seq <= end; seq++)
      changes.push(log.entries[log.head + (seq - log.firstSeq)]!);
    return { kind: 'ok', changes };
  }

  forget(origin: string): void {
    this.logs.delete(origin);
  }

  /** Number of changes kept across origins. */
  get size(): number {
    let n = 0;
    for (const log of this.logs.values()) n += log.entries.length - log.head;
    return n;
  }
}
