/**
 * `roster/client`: register this process's instances, discover and watch others.
 */

export { type ErrorCode, isRosterError, RosterError } from '../protocol/errors.js';
export { type ConnectOptions, connect, type RegisterInput, RosterClient } from './client.js';
export {
  compileFilter,
  DEFAULT_STATUSES,
  type InstanceFilter,
  type InstancePredicate,
} from './filter.js';
export { type Outcome, OutlierDetector, type OutlierOptions, type Selection } from './outlier.js';
export { type DoneFn, Pool, type PoolOptions, type PoolSource } from './pool.js';
export { type DeregisterOptions, type InstancePatch, Registration } from './registration.js';
export {
  compareVersions,
  MAX_RANGE_LENGTH,
  parseRange,
  parseVersion,
  type SemVer,
  type VersionRange,
} from './semver.js';
export { ServiceView, type ViewEvent } from './service-view.js';
export { ClientSession } from './session.js';
export {
  ConsistentHashStrategy,
  hash32,
  isStrategyName,
  LeastOutstandingStrategy,
  MaglevStrategy,
  newMember,
  type PoolMember,
  RandomStrategy,
  RoundRobinStrategy,
  STRATEGY_NAMES,
  type Strategy,
  type StrategyName,
  type StrategyOptions,
  strategyByName,
  WeightedStrategy,
  ZoneAwareStrategy,
} from './strategies/index.js';
export { ServiceWatch, type WatchEvent, type WatchOptions } from './watch.js';
