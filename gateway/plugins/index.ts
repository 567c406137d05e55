/**
 * The gateway's built-in plugins. Each factory validates its own settings strictly (unknown
 * keys and out-of-range values are ROSTER_ERR_CONFIG naming `${env.configPath}.<key>`) when a
 * route is built, so the hot path never re-checks configuration.
 *
 * Chain order (lower first): ip-filter 10, cors 20, jwt 30, api-key 31, rate-limit 40,
 * body-limit 50. CORS runs before authentication so that preflights, which carry no
 * credentials, are answered; rate limiting runs after it so that it can key on the consumer.
 */
import type { Plugin, PluginEnvironment, PluginFactory, PluginSettings } from '../types.js';
import { apiKeyPluginFactory } from './api-key.js';
import { bodyLimitPluginFactory } from './body-limit.js';
import { corsPluginFactory } from './cors.js';
import { ipFilterPluginFactory } from './ip-filter.js';
import { jwtPluginFactory } from './jwt.js';
import { rateLimitPluginFactory } from './rate-limit.js';
import { configError } from './settings.js';

export const pluginFactories: readonly PluginFactory[] = Object.freeze(
  [
    ipFilterPluginFactory,
    corsPluginFactory,
    jwtPluginFactory,
    apiKeyPluginFactory,
    rateLimitPluginFactory,
    bodyLimitPluginFactory,
  ].sort((a, b) => a.order - b.order),
);

const byName = new Map(pluginFactories.map((f) => [f.name, f]));

/** The factory for a plugin name, or undefined when there is no such plugin. */
export function pluginFactory(name: string): PluginFactory | undefined {
  return byName.get(name);
}

/** Everything a chain needs from the gateway except the config path, which is per plugin. */
export type PluginChainEnvironment = Omit<PluginEnvironment, 'configPath'>;

/**
 * Builds a route's plugin chain from its merged settings (`{ jwt: {...}, cors: {...} }`),
 * sorted by order. `configPath` is where the settings sit (`routes.api.plugins`); each plugin
 * gets `${configPath}.${name}`. A plugin set to `false` is left out (a route switching off a
 * gateway default); an unknown name is ROSTER_ERR_CONFIG. If one plugin's settings are
 * invalid, the plugins already built are closed before the error is rethrown.
 */
export function createPluginChain(
  settings: PluginSettings | undefined,
  configPath: string,
  env: PluginChainEnvironment,
): Plugin[] {
  if (settings === undefined) return [];
  const chosen: { factory: PluginFactory; settings: unknown; path: string }[] = [];
  for (const [name, value] of Object.entries(settings)) {
    const path = `${configPath}.${name}`;
    const factory = Object.hasOwn(settings, name) ? byName.get(name) : undefined;
    if (factory === undefined) {
      configError(path, `unknown plugin (known: ${[...byName.keys()].join(', ')})`);
    }
    if (value === false) continue;
    chosen.push({ factory, settings: value === true ? {} : value, path });
  }
  chosen.sort((a, b) => a.factory.order - b.factory.order);
  const chain: Plugin[] = [];
  try {
    for (const c of chosen) {
      chain.push(
        c.factory.create(c.settings, {
          configPath: c.path,
          liveGateways: env.liveGateways,
          logger: env.logger,
        }),
      );
    }
  } catch (err) {
    for (const plugin of chain) plugin.close?.();
    throw err;
  }
  return chain;
}

export { hashApiKey } from './api-key.js';
export { parseByteSize } from './body-limit.js';
export { JWT_ALGORITHMS, MAX_CLOCK_TOLERANCE_SEC, MAX_TOKEN_LENGTH } from './jwt.js';
export { configError, SettingsReader } from './settings.js';
