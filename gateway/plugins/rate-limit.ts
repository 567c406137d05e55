/**
 * Token-bucket rate limiting per consumer, client IP or route, cluster-aware without a shared
 * store: every gateway registers itself, and each one enforces its share of the limit,
 * `limit / liveGateways()` per window (and `burst / liveGateways()` capacity), with a floor of
 * one token per window. The divisor is read on every refill, so the share follows the cluster
 * as gateways come and go. This is exact when the load balancer in front spreads clients
 * evenly, and errs towards the limit otherwise; it never needs cross-gateway traffic.
 *
 * Cost per request is O(1): one Map lookup, a refill computed from the time since the bucket
 * was last touched (no timers per key), and an LRU touch. The Map is bounded (`maxKeys`): the
 * least recently seen key is evicted (it starts full if it comes back).
 *
 * Buckets outlive route-table rebuilds: plugin instances created through the factory for the
 * same config path and settings share one store (reference counted; a released store is kept
 * for a grace period, so a rebuild never resets the limits).
 */
import { isIPv6 } from 'node:net';
import { RosterError } from '../../protocol/errors.js';
import { clockNow } from '../read-clock.js';
import type { Plugin, PluginEnvironment, PluginFactory, RequestContext } from '../types.js';
import { JSON_CONTENT_TYPE } from './outcome.js';
import { SettingsReader } from './settings.js';

const SETTINGS = [
  'limit',
  'windowSec',
  'burst',
  'key',
  'maxKeys',
  'ipv6Prefix',
  'headers',
] as const;
export const RATE_LIMIT_KEYS = ['consumer', 'ip', 'route'] as const;
export type RateLimitKey = (typeof RATE_LIMIT_KEYS)[number];
export const DEFAULT_MAX_KEYS = 100_000;
const STORE_GRACE_MS = 60_000;

export interface RateLimitSettings {
  readonly limit: number;
  readonly windowSec: number;
  readonly burst: number;
  readonly key: RateLimitKey;
  readonly maxKeys: number;
  readonly ipv6Prefix: number;
  readonly headers: boolean;
}

export interface RateLimitOptions {
  /** Monotonic clock in ms (tests); defaults to the gateway's clockNow (read-clock.ts). */
  readonly now?: () => number;
  /**
   * Share buckets with other instances of the same config path and settings (what the
   * factory does, so limits survive route-table rebuilds). Off by default.
   */
  readonly shared?: boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets by key, in least-recently-used order (Map iteration order). */
class BucketStore {
  readonly buckets = new Map<string, Bucket>();
  refs = 0;
  releaseTimer: NodeJS.Timeout | undefined;
}

const sharedStores = new Map<string, BucketStore>();

function acquireStore(id: string): BucketStore {
  let store = sharedStores.get(id);
  if (store === undefined) {
    store = new BucketStore();
    sharedStores.set(id, store);
  }
  if (store.releaseTimer !== undefined) {
    clearTimeout(store.releaseTimer);
    store.releaseTimer = undefined;
  }
  store.refs++;
  return store;
}

function releaseStore(id: string, store: BucketStore): void {
  if (--store.refs > 0) return;
  store.releaseTimer = setTimeout(() => {
    if (store.refs === 0 && sharedStores.get(id) === store) sharedStores.delete(id);
  }, STORE_GRACE_MS);
  store.releaseTimer.unref();
}

export function readRateLimitSettings(settings: unknown, configPath: string): RateLimitSettings {
  const s: SettingsReader = SettingsReader.of(settings, configPath, SETTINGS);
  const limit = s.requiredNumber('limit', { min: 1, max: 1e9, integer: true });
  return {
    limit,
    windowSec: s.number('windowSec', { min: 0.001, max: 86_400 }) ?? 1,
    burst: s.number('burst', { min: 1, max: 1e9, integer: true }) ?? limit,
    key: s.oneOf('key', RATE_LIMIT_KEYS) ?? 'consumer',
    maxKeys: s.number('maxKeys', { min: 1, max: 10_000_000, integer: true }) ?? DEFAULT_MAX_KEYS,
    ipv6Prefix: s.number('ipv6Prefix', { min: 1, max: 128, integer: true }) ?? 64,
    headers: s.boolean('headers') ?? true,
  };
}

export function createRateLimitPlugin(
  settings: unknown,
  env: PluginEnvironment,
  options: RateLimitOptions = {},
): Plugin {
  const cfg = readRateLimitSettings(settings, env.configPath);
  const now = options.now ?? clockNow;
  const storeId = `${env.configPath}\n${JSON.stringify(cfg)}`;
  const store = options.shared ? acquireStore(storeId) : new BucketStore();
  const buckets = store.buckets;
  const windowMs = cfg.windowSec * 1000;
  const body = JSON.stringify({
    error: new RosterError('ROSTER_ERR_LIMIT_EXCEEDED', 'Rate limit exceeded', {
      reason: 'rate_limited',
    }).toWire(),
  });
  let closed = false;

  const keyOf = (ctx: RequestContext): string => {
    if (cfg.key === 'route') return '';
    if (cfg.key === 'consumer' && ctx.consumer !== undefined) return `c:${ctx.consumer}`;
    return `i:${ipKey(ctx.clientIp, cfg.ipv6Prefix)}`;
  };

  return {
    name: 'rate-limit',
    onRequest(ctx) {
      const gateways = Math.max(1, Math.floor(env.liveGateways()) || 1);
      const perWindow = Math.max(1, cfg.limit / gateways);
      const capacity = Math.max(1, cfg.burst / gateways);
      const rate = perWindow / windowMs; // tokens per ms
      const t = now();
      const key = keyOf(ctx);
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        bucket = { tokens: capacity, at: t };
        if (buckets.size >= cfg.maxKeys) buckets.delete(buckets.keys().next().value!);
      } else {
        buckets.delete(key); // re-inserted below: most recently used goes last
        bucket.tokens = Math.min(capacity, bucket.tokens + Math.max(0, t - bucket.at) * rate);
        bucket.at = t;
      }
      buckets.set(key, bucket);
      // A hair of slack so that float refills (0.1 + 0.2...) do not starve a due token.
      const allowed = bucket.tokens >= 1 - 1e-9;
      if (allowed) bucket.tokens = Math.max(0, bucket.tokens - 1);
      if (!cfg.headers && allowed) return undefined;
      const limitHeader = String(Math.floor(perWindow));
      const remaining = String(Math.floor(bucket.tokens + 1e-9));
      const reset = String(Math.ceil((capacity - bucket.tokens) / rate / 1000 - 1e-9));
      if (cfg.headers) {
        ctx.responseHeaders['ratelimit-limit'] = limitHeader;
        ctx.responseHeaders['ratelimit-remaining'] = remaining;
        ctx.responseHeaders['ratelimit-reset'] = reset;
      }
      if (allowed) return undefined;
      const retryAfter = String(Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000 - 1e-9)));
      return {
        status: 429,
        body,
        headers: (cfg.headers
          ? {
              'content-type': JSON_CONTENT_TYPE,
              'retry-after': retryAfter,
              'ratelimit-limit': limitHeader,
              'ratelimit-remaining': remaining,
              'ratelimit-reset': reset,
            }
          : { 'content-type': JSON_CONTENT_TYPE, 'retry-after': retryAfter }) as Record<
          string,
          string
        >,
        reason: 'rate_limited',
      };
    },
    close() {
      if (closed) return;
      closed = true;
      if (options.shared) releaseStore(storeId, store);
    },
  };
}

export const rateLimitPluginFactory: PluginFactory = {
  name: 'rate-limit',
  order: 40,
  create: (settings, env) => createRateLimitPlugin(settings, env, { shared: true }),
};

/**
 * The bucket key for a client address: IPv4 as is (also when IPv4-mapped), IPv6 cut to its
 * first `prefix` bits, since one subscriber usually holds a whole /64.
 */
export function ipKey(ip: string, prefix: number): string {
  if (!ip.includes(':')) return ip;
  const words = parseIPv6(ip);
  if (words === undefined) return ip;
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0) {
    if (words[5] === 0xffff) {
      const hi = words[6]!;
      const lo = words[7]!;
      return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
    }
  }
  const parts: string[] = [];
  for (let i = 0, bits = prefix; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    parts.push((words[i]! & mask).toString(16));
  }
  return `${parts.join(':')}/${prefix}`;
}

/** The eight 16-bit words of an IPv6 address (zone id ignored), or undefined if invalid. */
export function parseIPv6(text: string): number[] | undefined {
  const pct = text.indexOf('%');
  let s = pct >= 0 ? text.slice(0, pct) : text;
  if (!isIPv6(s)) return undefined;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const hi = (Number(v4[1]) << 8) | Number(v4[2]);
    const lo = (Number(v4[3]) << 8) | Number(v4[4]);
    s = `${s.slice(0, v4.index)}${hi.toString(16)}:${lo.toString(16)}`;
  }
  const gap = s.indexOf('::');
  let words: string[];
  if (gap < 0) {
    words = s.split(':');
  } else {
    const head = gap === 0 ? [] : s.slice(0, gap).split(':');
    const tailText = s.slice(gap + 2);
    const tail = tailText === '' ? [] : tailText.split(':');
    words = [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  }
  if (words.length !== 8) return undefined;
  return words.map((w) => Number.parseInt(w, 16));
}
