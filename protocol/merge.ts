/**
 * The merge rule every replica applies (registry nodes and client watchers alike), per key:
 * a last-writer-wins register with conditional removal.
 *
 * - A record's version is `(hlc, node)`; a put replaces the current record only when its
 *   version is greater.
 * - A removal names the version it removes (`ifHlc`, `ifNode`): it removes the current record
 *   only when that record's version is not greater, and leaves a tombstone at that version.
 * - A put whose version is not greater than the key's tombstone is ignored, so a replayed or
 *   late put never resurrects a removed record, while a later re-registration (a newer
 *   version) is accepted.
 *
 * The visible record for a key is therefore the greatest put above the greatest removal,
 * whatever order the changes arrive in and however often each is repeated: replicas that
 * saw the same changes agree. Tombstones are kept for a bounded time and count.
 */
import { compareVersions, type HlcStamp } from './hlc.js';

export interface Version {
  readonly hlc: HlcStamp;
  readonly node: string;
}

export interface Tombstone extends Version {
  /** Local time the tombstone was written, for expiry. */
  readonly at: number;
}

export type PutOutcome = 'added' | 'updated' | 'ignored';
export type DelOutcome = 'removed' | 'ignored';

export interface LwwMapOptions {
  /** Most tombstones kept; the oldest go first. */
  readonly maxTombstones?: number;
}

export function compare(a: Version, b: Version): number {
  return compareVersions(a.hlc, a.node, b.hlc, b.node);
}

export class LwwMap<T> {
  private readonly records = new Map<string, T>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly maxTombstones: number;

  constructor(
    private readonly versionOf: (record: T) => Version,
    options: LwwMapOptions = {},
  ) {
    this.maxTombstones = options.maxTombstones ?? 200_000;
  }

  get size(): number {
    return this.records.size;
  }

  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  get(key: string): T | undefined {
    return this.records.get(key);
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  values(): IterableIterator<T> {
    return this.records.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.records.entries();
  }

  keys(): IterableIterator<string> {
    return this.records.keys();
  }

  /** The tombstone of a key, if any. */
  tombstone(key: string): Tombstone | undefined {
    return this.tombstones.get(key);
  }

  /**
   * Offers a record. Returns what happened and, when it replaced one, the previous record
   * (through `onReplace`, so the caller can update indexes).
   */
  put(key: string, record: T, onReplace?: (previous: T) => void): PutOutcome {
    const version = this.versionOf(record);
    const tomb = this.tombstones.get(key);
    if (tomb && compare(version, tomb) <= 0) return 'ignored';
    const current = this.records.get(key);
    if (current !== undefined) {
      if (compare(version, this.versionOf(current)) <= 0) return 'ignored';
      onReplace?.(current);
    }
    if (tomb) this.tombstones.delete(key);
    this.records.set(key, record);
    return current === undefined ? 'added' : 'updated';
  }

  /** Removes the record at `version` (or an older one) and remembers the removal. */
  del(key: string, version: Version, now: number, onRemove?: (previous: T) => void): DelOutcome {
    const tomb = this.tombstones.get(key);
    if (!tomb || compare(version, tomb) > 0)
      this.setTombstone(key, { hlc: version.hlc, node: version.node, at: now });
    const current = this.records.get(key);
    if (current === undefined || compare(this.versionOf(current), version) > 0) return 'ignored';
    this.records.delete(key);
    onRemove?.(current);
    return 'removed';
  }

  tombstoneEntries(): IterableIterator<[string, Tombstone]> {
    return this.tombstones.entries();
  }

  /** Drops tombstones written before `before`. Returns how many were dropped. */
  expireTombstones(before: number): number {
    let dropped = 0;
    // Map iteration is in insertion order, and setTombstone re-inserts, so the oldest come first.
    for (const [key, tomb] of this.tombstones) {
      if (tomb.at >= before) break;
      this.tombstones.delete(key);
      dropped++;
    }
    return dropped;
  }

  /** Removes everything (records and tombstones). */
  clear(): void {
    this.records.clear();
    this.tombstones.clear();
  }

  private setTombstone(key: string, tomb: Tombstone): void {
    this.tombstones.delete(key);
    this.tombstones.set(key, tomb);
    if (this.tombstones.size > this.maxTombstones) {
      const oldest = this.tombstones.keys().next();
      if (!oldest.done) this.tombstones.delete(oldest.value);
    }
  }
}
