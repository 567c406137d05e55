/**
 * Request body size limit. Sets ctx.bodyLimit (the proxy enforces it while streaming, for
 * chunked bodies and for bodies longer than they claimed) and refuses up front, with 413 and
 * without touching the upstream, a request whose Content-Length already exceeds it.
 */
import type { Plugin, PluginEnvironment, PluginFactory } from '../types.js';
import { headerValue, rejection } from './outcome.js';
import { SettingsReader } from './settings.js';

const SETTINGS = ['maxBytes'] as const;
/** 16 GiB: anything larger is not a body limit. */
export const MAX_BODY_LIMIT = 16 * 1024 ** 3;
const UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};
const DIGITS = /^\d+$/;
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/;

/** Reads a byte count: an integer, or a string such as `512`, `64kb`, `10MiB`, `1m` (k/m/g = KiB/MiB/GiB). */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || value.length > 32) return undefined;
  const m = SIZE.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  const unit = UNITS[m[2] || 'b'];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isFinite(bytes) ? bytes : undefined;
}

export function createBodyLimitPlugin(settings: unknown, env: PluginEnvironment): Plugin {
  const s: SettingsReader = SettingsReader.of(settings, env.configPath, SETTINGS);
  if (!s.has('maxBytes')) s.fail('maxBytes', 'is required');
  const maxBytes = parseByteSize(s.raw('maxBytes'));
  if (maxBytes === undefined || maxBytes > MAX_BODY_LIMIT) {
    s.fail('maxBytes', `expected a size from 0 to ${MAX_BODY_LIMIT} bytes (e.g. 1048576 or "1mb")`);
  }
  const tooLarge = rejection(
    'ROSTER_ERR_MESSAGE_TOO_LARGE',
    'body_too_large',
    `The request body exceeds ${maxBytes} bytes`,
    { connection: 'close' },
  );
  const badLength = rejection(
    'ROSTER_ERR_INVALID_ARGUMENT',
    'bad_content_length',
    'Content-Length is not a number',
    { connection: 'close' },
  );
  const digits = String(maxBytes).length;

  return {
    name: 'body-limit',
    onRequest(ctx) {
      ctx.bodyLimit = maxBytes;
      const length = headerValue(ctx.req.headers['content-length']);
      if (length === undefined) return undefined;
      // The gateway has already refused malformed or conflicting Content-Length values;
      // compare without parsing huge numbers: more digits than the limit means larger.
      const trimmed = length.trim().replace(/^0+(?=\d)/, '');
      if (!DIGITS.test(trimmed)) return badLength;
      if (trimmed.length > digits || (trimmed.length === digits && Number(trimmed) > maxBytes)) {
        return tooLarge;
      }
      return undefined;
    },
  };
}

export const bodyLimitPluginFactory: PluginFactory = {
  name: 'body-limit',
  order: 50,
  create: createBodyLimitPlugin,
};
