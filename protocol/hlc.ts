/**
 * Hybrid logical clock (Kulkarni et al.). A timestamp packs wall-clock milliseconds and a
 * logical counter into one safe integer, `ms * 1024 + counter`, so stamps compare as plain
 * numbers and encode compactly; 53 bits hold milliseconds until the year 2248. Advancing a
 * stamp is `stamp + 1`: a counter that overflows within one millisecond carries into the
 * wall part, which then runs at most a few milliseconds ahead until physical time catches up.
 * Remote stamps more than `maxDriftMs` ahead of local time are refused, so one bad clock
 * cannot drag the cluster into the future.
 */
import { RosterError } from './errors.js';

export const HLC_LOGICAL_BITS = 10;
const LOGICAL_SPAN = 2 ** HLC_LOGICAL_BITS;

export type HlcStamp = number;

export function hlcPack(wallMs: number, logical: number): HlcStamp {
  return wallMs * LOGICAL_SPAN + logical;
}

export function hlcWall(stamp: HlcStamp): number {
  return Math.floor(stamp / LOGICAL_SPAN);
}

export function hlcLogical(stamp: HlcStamp): number {
  return stamp % LOGICAL_SPAN;
}

export interface HlcOptions {
  /** Physical clock in ms; injectable for tests. */
  readonly now?: () => number;
  /** Largest accepted lead of a remote stamp over local physical time. */
  readonly maxDriftMs?: number;
}

export class HybridLogicalClock {
  private last: HlcStamp = 0;
  private readonly now: () => number;
  private readonly maxDriftMs: number;

  constructor(options: HlcOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxDriftMs = options.maxDriftMs ?? 60_000;
  }

  /** The last stamp issued or observed. */
  get current(): HlcStamp {
    return this.last;
  }

  /** A new stamp for a local event, strictly greater than every stamp seen so far. */
  tick(): HlcStamp {
    const physical = hlcPack(this.now(), 0);
    this.last = physical > this.last ? physical : this.last + 1;
    return this.last;
  }

  /**
   * Merges a remote stamp (on receipt of a message) and returns the new local stamp.
   * Throws ROSTER_ERR_INVALID_ARGUMENT when the remote stamp is too far in the future.
   */
  observe(remote: HlcStamp): HlcStamp {
    const nowMs = this.now();
    if (!Number.isSafeInteger(remote) || remote < 0) {
      throw new RosterError(
        'ROSTER_ERR_INVALID_ARGUMENT',
        'HLC stamp must be a non-negative safe integer',
      );
    }
    if (hlcWall(remote) - nowMs > this.maxDriftMs) {
      throw new RosterError(
        'ROSTER_ERR_INVALID_ARGUMENT',
        `HLC stamp is ${hlcWall(remote) - nowMs} ms ahead of local time`,
        {
          driftMs: hlcWall(remote) - nowMs,
        },
      );
    }
    const physical = hlcPack(nowMs, 0);
    const max = Math.max(this.last, remote);
    this.last = physical > max ? physical : max + 1;
    return this.last;
  }
}

/** Compares two versions `(stamp, nodeId)`: stamp first, node id as the tie-breaker. */
export function compareVersions(
  aStamp: HlcStamp,
  aNode: string,
  bStamp: HlcStamp,
  bNode: string,
): number {
  if (aStamp !== bStamp) return aStamp < bStamp ? -1 : 1;
  return aNode < bNode ? -1 : aNode > bNode ? 1 : 0;
}
