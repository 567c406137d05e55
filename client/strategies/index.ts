/**
 * Balancer strategies by name: `strategyByName('maglev')`. Each call returns a fresh object
 * (strategies keep per-pool state).
 */
import { RosterError } from '../../protocol/index.js';
import { ConsistentHashStrategy } from './consistent-hash.js';
import { LeastOutstandingStrategy } from './least-outstanding.js';
import { MaglevStrategy } from './maglev.js';
import { RandomStrategy } from './random.js';
import { RoundRobinStrategy } from './round-robin.js';
import type { RandomSource, Strategy } from './types.js';
import { WeightedStrategy } from './weighted.js';
import { ZoneAwareStrategy } from './zone-aware.js';

export { ConsistentHashStrategy, DEFAULT_VNODES } from './consistent-hash.js';
export { hash32 } from './hash.js';
export { LeastOutstandingStrategy } from './least-outstanding.js';
export { DEFAULT_TABLE_SIZE, MaglevStrategy } from './maglev.js';
export { RandomStrategy } from './random.js';
export { RoundRobinStrategy } from './round-robin.js';
export { newMember, type PoolMember, type RandomSource, type Strategy } from './types.js';
export { WeightedStrategy } from './weighted.js';
export { DEFAULT_MIN_ZONE_HEALTHY_PERCENT, ZoneAwareStrategy } from './zone-aware.js';

export const STRATEGY_NAMES = [
  'random',
  'round-robin',
  'weighted',
  'least-outstanding',
  'consistent-hash',
  'maglev',
  'zone-aware',
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export interface StrategyOptions {
  /** Random source for `random`, `least-outstanding` and keyless hashing picks (tests). */
  readonly random?: RandomSource;
  /** `consistent-hash`: virtual nodes per member (default 160). */
  readonly vnodes?: number;
  /** `maglev`: lookup table size, a prime (default 65537). */
  readonly tableSize?: number;
  /** `zone-aware`: the local zone. */
  readonly zone?: string;
  /** `zone-aware`: least share of the local zone that must be healthy to stay local (default 70). */
  readonly minHealthyPercent?: number;
  /** `zone-aware`: the strategy used within the chosen set (default `round-robin`). */
  readonly inner?: StrategyName | Strategy;
}

export function isStrategyName(name: unknown): name is StrategyName {
  return typeof name === 'string' && (STRATEGY_NAMES as readonly string[]).includes(name);
}

/** A new strategy; throws ROSTER_ERR_INVALID_ARGUMENT for an unknown name or bad options. */
export function strategyByName(name: string, options: StrategyOptions = {}): Strategy {
  if (!isStrategyName(name)) {
    throw new RosterError(
      'ROSTER_ERR_INVALID_ARGUMENT',
      `unknown strategy ${JSON.stringify(String(name).slice(0, 64))}; known: ${STRATEGY_NAMES.join(', ')}`,
      { path: 'strategy' },
    );
  }
  switch (name) {
    case 'random':
      return new RandomStrategy(options.random);
    case 'round-robin':
      return new RoundRobinStrategy();
    case 'weighted':
      return new WeightedStrategy();
    case 'least-outstanding':
      return new LeastOutstandingStrategy(options.random);
    case 'consistent-hash':
      return new ConsistentHashStrategy(options.vnodes, options.random);
    case 'maglev':
      return new MaglevStrategy(options.tableSize, options.random);
    case 'zone-aware': {
      const inner = options.inner ?? 'round-robin';
      if (inner === 'zone-aware') {
        throw new RosterError('ROSTER_ERR_INVALID_ARGUMENT', 'zone-aware cannot wrap zone-aware', {
          path: 'inner',
        });
      }
      return new ZoneAwareStrategy(
        typeof inner === 'string' ? strategyByName(inner, options) : inner,
        options.zone ?? '',
        options.minHealthyPercent,
      );
    }
  }
}
