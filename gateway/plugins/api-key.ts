/**
 * API key authentication. Keys live in the config as `sha256:<hex>` digests (a plain `key`
 * is accepted, hashed at load and warned about), so the config file never has to hold a
 * usable credential. A request's key is hashed and looked up in a Map from digest to consumer.
 *
 * Why no constant-time comparison: the only attacker-controlled value is the presented key,
 * and it is hashed before anything is compared. Timing differences in the Map lookup can at
 * most reveal something about the SHA-256 digest of the attacker's own guess relative to the
 * stored digests; turning that into a key would need a SHA-256 preimage. (Comparing the raw
 * key byte by byte would leak a prefix; comparing digests does not.)
 *
 * An accepted key is kept from the upstream unless `forward` is set (credentials.ts): its
 * header is withheld, or its query parameter taken out of the query the upstream gets.
 */
import { createHash } from 'node:crypto';
import type { Plugin, PluginEnvironment, PluginFactory } from '../types.js';
import { queryWithout, withholdHeaders } from './credentials.js';
import { headerValue, rejection } from './outcome.js';
import {
  checkString,
  configError,
  HEADER_NAME,
  isPlainObject,
  SettingsReader,
} from './settings.js';

const SETTINGS = ['keys', 'header', 'queryParam', 'forward'] as const;
const KEY_SETTINGS = ['consumer', 'hash', 'key'] as const;

export const MIN_PLAIN_KEY_LENGTH = 16;
/** Longest key read from a request (longer ones are unknown without hashing them). */
export const MAX_PRESENTED_KEY_LENGTH = 1024;
const MAX_KEYS = 100_000;
const HASH = /^sha256:[0-9a-fA-F]{64}$/;

/** The config form of a key: `sha256:<64 hex>`. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

export function createApiKeyPlugin(settings: unknown, env: PluginEnvironment): Plugin {
  const s: SettingsReader = SettingsReader.of(settings, env.configPath, SETTINGS);
  const list = s.raw('keys');
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_KEYS) {
    s.fail('keys', `expected a list of 1..${MAX_KEYS} { consumer, hash | key } entries`);
  }
  const consumers = new Map<string, string>();
  let plain = 0;
  (list as unknown[]).forEach((entry, i) => {
    const path = `${s.keyPath('keys')}[${i}]`;
    if (!isPlainObject(entry)) configError(path, 'expected an object { consumer, hash | key }');
    const k: SettingsReader = SettingsReader.of(entry, path, KEY_SETTINGS);
    const consumer = k.requiredString('consumer', { max: 256 });
    if (k.has('hash') === k.has('key')) configError(path, 'give exactly one of hash or key');
    let digest: string;
    if (k.has('hash')) {
      digest = k
        .requiredString('hash', { max: 71, pattern: HASH, patternHint: 'sha256:<64 hex digits>' })
        .toLowerCase();
    } else {
      const key = checkString(k.raw('key'), k.keyPath('key'), {
        min: MIN_PLAIN_KEY_LENGTH,
        max: MAX_PRESENTED_KEY_LENGTH,
      });
      digest = hashApiKey(key);
      plain++;
    }
    if (consumers.has(digest)) configError(path, 'the same key is listed twice');
    consumers.set(digest, consumer);
  });
  if (plain > 0) {
    env.logger.warn(
      { path: s.keyPath('keys'), count: plain },
      'plain API keys in the config were hashed at load; store them as sha256:<hex> instead',
    );
  }
  const header = (s.string('header', HEADER_NAME) ?? 'x-api-key').toLowerCase();
  const queryParam = s.string('queryParam', { max: 128 });
  /** Keep the key from the upstream once it is accepted (unless `forward`; credentials.ts). */
  const withheld = (s.boolean('forward') ?? false) ? undefined : new Set([header]);

  const missing = rejection(
    'ROSTER_ERR_UNAUTHORIZED',
    'api_key_missing',
    'An API key is required',
    {
      'www-authenticate': `ApiKey header="${header}"`,
    },
  );
  const unknown = rejection(
    'ROSTER_ERR_UNAUTHORIZED',
    'api_key_invalid',
    'The API key is not valid',
    {
      'www-authenticate': `ApiKey header="${header}", error="invalid_key"`,
    },
  );

  return {
    name: 'api-key',
    onRequest(ctx) {
      let key = headerValue(ctx.req.headers[header]);
      const fromHeader = key !== undefined && key !== '';
      if (!fromHeader && queryParam !== undefined && ctx.query.length > 1) {
        key = new URLSearchParams(ctx.query).get(queryParam) ?? undefined;
      }
      if (key === undefined || key === '') return missing;
      if (key.length > MAX_PRESENTED_KEY_LENGTH) return unknown;
      const consumer = consumers.get(hashApiKey(key));
      if (consumer === undefined) return unknown;
      ctx.consumer = consumer;
      if (withheld !== undefined) {
        if (fromHeader) withholdHeaders(ctx, withheld);
        else ctx.query = queryWithout(ctx.query, queryParam!);
      }
      return undefined;
    },
  };
}

export const apiKeyPluginFactory: PluginFactory = {
  name: 'api-key',
  order: 31,
  create: createApiKeyPlugin,
};
