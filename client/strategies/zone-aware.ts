/**
 * Zone preference, wrapping another strategy: candidates in the local zone are preferred while
 * at least `minHealthyPercent` of the local zone's members are healthy (not ejected); below
 * that, or with no local candidate, the inner strategy chooses among all candidates. The
 * choice is made when the candidates change, so a pick costs what the inner pick costs.
 */
import { RosterError } from '../../protocol/index.js';
import type { PoolMember, Strategy } from './types.js';

export const DEFAULT_MIN_ZONE_HEALTHY_PERCENT = 70;

export class ZoneAwareStrategy implements Strategy {
  readonly name = 'zone-aware';
  private built: readonly PoolMember[] | undefined;
  private subset: readonly PoolMember[] = [];
  private local = false;

  constructor(
    readonly inner: Strategy,
    readonly zone: string,
    readonly minHealthyPercent: number = DEFAULT_MIN_ZONE_HEALTHY_PERCENT,
  ) {
    if (typeof zone !== 'string' || zone.length === 0) {
      throw new RosterError('ROSTER_ERR_INVALID_ARGUMENT', 'zone-aware needs a zone', {
        path: 'zone',
      });
    }
    if (!(minHealthyPercent >= 0 && minHealthyPercent <= 100)) {
      throw new RosterError(
        'ROSTER_ERR_INVALID_ARGUMENT',
        'minHealthyPercent must be within 0..100',
        { path: 'minHealthyPercent' },
      );
    }
  }

  /** True while picks stay in the local zone. */
  get preferringLocal(): boolean {
    return this.local;
  }

  rebuild(members: readonly PoolMember[], all: readonly PoolMember[] = members): void {
    let localTotal = 0;
    for (const m of all) if (m.instance.zone === this.zone) localTotal++;
    const local = members.filter((m) => m.instance.zone === this.zone);
    this.local =
      local.length > 0 && local.length * 100 >= this.minHealthyPercent * Math.max(1, localTotal);
    this.subset = this.local ? local : members;
    this.built = members;
    this.inner.rebuild?.(this.subset);
  }

  pick(members: readonly PoolMember[], key?: string): PoolMember | undefined {
    if (members !== this.built) this.rebuild(members);
    return this.inner.pick(this.subset, key);
  }
}
