/**
 * What a reload may change: a running gateway applies a new config except for the keys that
 * need a restart (listener addresses, the admin address, NATS, ids, pools, the access log…),
 * which keep their current values and are reported.
 */
import type { GatewayConfig } from './config.js';

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The keys of `next` that differ from `current` but cannot change without a restart, and the
 * config to apply: `next` with those keys kept as they are.
 */
export function reloadable(
  current: GatewayConfig,
  next: GatewayConfig,
  following: boolean,
): { effective: GatewayConfig; restartRequired: string[] } {
  const restartRequired: string[] = [];
  const keep = <K extends keyof GatewayConfig>(key: K): GatewayConfig[K] => {
    if (!same(current[key], next[key])) restartRequired.push(key);
    return current[key];
  };
  // Listeners: certificate files may move; addresses and TLS on/off may not.
  const listenersShape = (c: GatewayConfig) =>
    c.listeners.map((l) => [l.port, l.host, l.tls !== undefined]);
  let listeners = next.listeners;
  if (!same(listenersShape(current), listenersShape(next))) {
    restartRequired.push('listeners');
    listeners = current.listeners;
  }
  // Admin: the token and the public switches reload; the address does not.
  let admin = next.admin;
  if (current.admin === undefined || next.admin === undefined) {
    if (current.admin !== next.admin) restartRequired.push('admin');
    admin = current.admin;
  } else if (current.admin.port !== next.admin.port || current.admin.host !== next.admin.host) {
    restartRequired.push('admin.port/host');
    admin = { ...next.admin, port: current.admin.port, host: current.admin.host };
  }
  const gateway = { ...next.gateway };
  for (const k of ['id', 'name', 'advertiseHost'] as const) {
    if (current.gateway[k] !== next.gateway[k]) {
      restartRequired.push(`gateway.${k}`);
      if (current.gateway[k] === undefined) delete gateway[k];
      else gateway[k] = current.gateway[k] as string;
    }
  }
  let registryRoutes = next.registryRoutes;
  if (current.registryRoutes.resyncMs !== next.registryRoutes.resyncMs) {
    restartRequired.push('registryRoutes.resyncMs');
    registryRoutes = { ...registryRoutes, resyncMs: current.registryRoutes.resyncMs };
  }
  if (!following && next.registryRoutes.enabled) {
    if (current.registryRoutes.enabled !== next.registryRoutes.enabled) {
      restartRequired.push('registryRoutes.enabled');
    }
    registryRoutes = { ...registryRoutes, enabled: false };
  }
  // The access log stays open across reloads (each opens its path again): another needs a restart.
  let accessLog = next.accessLog;
  if (!same(current.accessLog, next.accessLog)) {
    restartRequired.push('accessLog');
    accessLog = current.accessLog;
  }
  const effective: GatewayConfig = {
    gateway,
    listeners,
    nats: keep('nats'),
    prefix: keep('prefix'),
    ...(admin ? { admin } : {}),
    trustedHops: keep('trustedHops'),
    server: keep('server'),
    upstream: keep('upstream'),
    pools: keep('pools'),
    defaults: next.defaults,
    registryRoutes,
    routes: next.routes,
    ...(accessLog ? { accessLog } : {}),
  };
  return { effective, restartRequired };
}
