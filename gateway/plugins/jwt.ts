/**
 * JWT bearer authentication with `jose`.
 *
 * Defences, in the order a token meets them:
 * - a bounded token (8 KiB) in the three-part compact shape, read from `Authorization: Bearer`
 *   (or a configured header or cookie);
 * - the header's `alg` must be one the route pins (`algorithms`, required). `none` is never
 *   accepted, and the route's key material fixes one family: a `secret` allows only HS*, a
 *   public key or JWKS allows only asymmetric algorithms. So the classic confusion attack (an
 *   HS256 token whose HMAC key is the RSA public key) fails on `alg` before any crypto runs,
 *   and jose would refuse it again (a public key is never used as an HMAC secret);
 * - the signature, then `exp` and `nbf` with a bounded clock tolerance (≤ 300 s), `iss` and
 *   `aud` when configured, and any required claims.
 *
 * A verified token is remembered (by its exact text) until it expires or for `cacheSec`,
 * whichever is first, so the steady state costs one Map lookup and no promise; the same header
 * as the last cached hit's (a client repeats its header) costs one string compare.
 *
 * The header that carried an accepted token is kept from the upstream unless `forward` is set
 * (Envoy's jwt_authn default; credentials.ts). A token read from a cookie stays in the Cookie
 * header, which carries the client's other cookies too.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  createRemoteJWKSet,
  errors,
  type JWSAlgorithm,
  type JWTVerifyGetKey,
  jwtVerify,
  type KeyInput,
} from 'jose';
import { isRosterError } from '../../protocol/errors.js';
import type { ProxyRequest } from '../proxy-io.js';
import type {
  Plugin,
  PluginEnvironment,
  PluginFactory,
  PluginOutcome,
  RequestContext,
} from '../types.js';
import { withholdHeaders } from './credentials.js';
import { headerValue, type Rejection, rejection } from './outcome.js';
import { configError, HEADER_NAME, isPlainObject, SettingsReader } from './settings.js';

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export const JWT_ALGORITHMS: readonly JWSAlgorithm[] = [
  ...HMAC_ALGORITHMS,
  ...ASYMMETRIC_ALGORITHMS,
];

/** Longest token accepted, in characters (tokens are ASCII). */
export const MAX_TOKEN_LENGTH = 8192;
export const MAX_CLOCK_TOLERANCE_SEC = 300;
const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
const DEFAULT_CACHE_SEC = 60;
const MAX_CACHED_TOKENS = 10_000;
const MIN_SECRET_BYTES = 32;
const MAX_CONSUMER_LENGTH = 256;

export type JwtReason =
  | 'jwt_missing'
  | 'jwt_malformed'
  | 'jwt_alg'
  | 'jwt_bad_signature'
  | 'jwt_expired'
  | 'jwt_not_yet_valid'
  | 'jwt_aud'
  | 'jwt_iss'
  | 'jwt_claims'
  | 'jwt_jwks_unavailable';

const MESSAGES: Record<JwtReason, string> = {
  jwt_missing: 'A bearer token is required',
  jwt_malformed: 'The token is malformed',
  jwt_alg: 'The token algorithm is not allowed',
  jwt_bad_signature: 'The token signature is invalid',
  jwt_expired: 'The token has expired',
  jwt_not_yet_valid: 'The token is not yet valid',
  jwt_aud: 'The token audience is not accepted',
  jwt_iss: 'The token issuer is not accepted',
  jwt_claims: 'The token lacks a required claim',
  jwt_jwks_unavailable: 'The signing keys are unavailable',
};

const SETTINGS = [
  'algorithms',
  'secret',
  'secretEncoding',
  'publicKey',
  'jwksUrl',
  'jwksCacheMaxAgeSec',
  'jwksCooldownSec',
  'jwksTimeoutMs',
  'issuer',
  'audience',
  'clockToleranceSec',
  'requiredClaims',
  'requireExp',
  'header',
  'cookie',
  'consumerClaim',
  'cacheSec',
  'forward',
] as const;

export interface JwtOptions {
  /** Wall clock in ms (tests); defaults to Date.now. */
  readonly now?: () => number;
}

type Key = KeyInput | JWTVerifyGetKey;

interface CachedToken {
  readonly consumer: string | undefined;
  /** Wall-clock ms after which the token must be verified again. */
  readonly until: number;
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;
const BEARER = /^Bearer +(\S+) *$/i;

export function createJwtPlugin(
  settings: unknown,
  env: PluginEnvironment,
  options: JwtOptions = {},
): Plugin {
  const s: SettingsReader = SettingsReader.of(settings, env.configPath, SETTINGS);
  const algorithms = s.requiredStringList('algorithms', { minItems: 1, maxItems: 16, max: 16 });
  algorithms.forEach((alg, i) => {
    if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
      configError(
        `${s.keyPath('algorithms')}[${i}]`,
        `unsupported algorithm ${JSON.stringify(alg)} (allowed: ${JWT_ALGORITHMS.join(', ')})`,
      );
    }
  });
  const allowed = new Set<string>(algorithms);

  const sources = (['secret', 'publicKey', 'jwksUrl'] as const).filter((k) => s.has(k));
  if (sources.length !== 1) {
    configError(
      s.path,
      sources.length === 0
        ? 'one of secret, publicKey or jwksUrl is required'
        : `give only one of ${sources.join(', ')}`,
    );
  }
  const hmac = algorithms.filter((a) => (HMAC_ALGORITHMS as readonly string[]).includes(a));
  let key: Key;
  let jwks = false;
  if (s.has('secret')) {
    if (hmac.length !== algorithms.length) {
      s.fail('algorithms', 'a secret verifies HS256/HS384/HS512 only');
    }
    const encoding = s.oneOf('secretEncoding', ['utf8', 'base64', 'base64url'] as const) ?? 'utf8';
    const secret = Buffer.from(s.requiredString('secret', { max: 4096 }), encoding);
    if (secret.length < MIN_SECRET_BYTES) {
      s.fail('secret', `must be at least ${MIN_SECRET_BYTES} bytes`);
    }
    key = new Uint8Array(secret);
  } else {
    if (s.has('secretEncoding')) s.fail('secretEncoding', 'only applies to secret');
    if (hmac.length > 0) {
      s.fail('algorithms', `${hmac.join(', ')} needs a secret, not a public key or JWKS`);
    }
    if (s.has('publicKey')) {
      const publicKey = readPublicKey(s);
      checkKeyFitsAlgorithms(publicKey, algorithms, s);
      key = publicKey;
    } else {
      key = sharedJwks(readJwksUrl(s, env), {
        cacheMaxAge: (s.number('jwksCacheMaxAgeSec', { min: 1, max: 86_400 }) ?? 600) * 1000,
        cooldownDuration: (s.number('jwksCooldownSec', { min: 0, max: 3600 }) ?? 30) * 1000,
        timeoutDuration:
          s.number('jwksTimeoutMs', { min: 100, max: 60_000, integer: true }) ?? 5000,
      });
      jwks = true;
    }
  }
  if (!jwks) {
    for (const k of ['jwksCacheMaxAgeSec', 'jwksCooldownSec', 'jwksTimeoutMs']) {
      if (s.has(k)) s.fail(k, 'only applies to jwksUrl');
    }
  }

  const issuer = s.stringList('issuer', { minItems: 1, maxItems: 32, max: 1024 });
  const audience = s.stringList('audience', { minItems: 1, maxItems: 32, max: 1024 });
  const clockTolerance =
    s.number('clockToleranceSec', { min: 0, max: MAX_CLOCK_TOLERANCE_SEC }) ??
    DEFAULT_CLOCK_TOLERANCE_SEC;
  const requiredClaims = new Set(s.stringList('requiredClaims', { maxItems: 32, max: 128 }) ?? []);
  if (s.boolean('requireExp') ?? true) requiredClaims.add('exp');
  const headerName = (s.string('header', HEADER_NAME) ?? 'authorization').toLowerCase();
  const cookieName = s.string('cookie', {
    max: 128,
    pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
    patternHint: 'a cookie name',
  });
  const consumerClaim = s.string('consumerClaim', { max: 128 }) ?? 'sub';
  /** The token's header, kept from the upstream once the token is accepted (unless `forward`). */
  const withheld = (s.boolean('forward') ?? false) ? undefined : new Set([headerName]);
  const cacheMs = (s.number('cacheSec', { min: 0, max: 3600 }) ?? DEFAULT_CACHE_SEC) * 1000;
  const now = options.now ?? Date.now;

  const verifyOptions = {
    algorithms: algorithms as JWSAlgorithm[],
    clockTolerance,
    requiredClaims: [...requiredClaims],
    ...(issuer ? { issuer } : {}),
    ...(audience ? { audience } : {}),
  };

  const outcomes = new Map<JwtReason, Rejection>();
  for (const reason of Object.keys(MESSAGES) as JwtReason[]) {
    outcomes.set(
      reason,
      reason === 'jwt_jwks_unavailable'
        ? rejection('ROSTER_ERR_INTERNAL', reason, MESSAGES[reason], { 'retry-after': '5' }, 503)
        : rejection('ROSTER_ERR_UNAUTHORIZED', reason, MESSAGES[reason], {
            // RFC 6750 §3.1: no error code when the request carried no credentials.
            'www-authenticate':
              reason === 'jwt_missing'
                ? 'Bearer'
                : `Bearer error="invalid_token", error_description="${reason}"`,
          }),
    );
  }
  const reject = (reason: JwtReason): Rejection => outcomes.get(reason)!;

  const cache = new Map<string, CachedToken>();
  /**
   * The header of the last request whose token was found in the cache, and that entry. A
   * client sends the same header with every request: the same value again holds the same
   * token, already read, shaped and verified, so only the entry's time is checked again.
   */
  let lastHeader: string | undefined;
  let lastEntry: CachedToken | undefined;
  let lastJwksWarning = -Infinity;

  /** The token is accepted: `consumer` calls, and the header that carried it stays here. */
  const accept = (ctx: RequestContext, consumer: string | undefined, fromHeader: boolean) => {
    ctx.consumer = consumer;
    if (fromHeader && withheld !== undefined) withholdHeaders(ctx, withheld);
  };

  const verify = async (
    ctx: RequestContext,
    token: string,
    fromHeader: boolean,
  ): Promise<PluginOutcome> => {
    const started = now();
    try {
      const { payload } = await jwtVerify(token, key, {
        ...verifyOptions,
        currentDate: new Date(started),
      });
      const raw = payload[consumerClaim];
      const consumer =
        typeof raw === 'string' && raw.length > 0 && raw.length <= MAX_CONSUMER_LENGTH
          ? raw
          : typeof raw === 'number' && Number.isFinite(raw)
            ? String(raw)
            : undefined;
      accept(ctx, consumer, fromHeader);
      if (cacheMs > 0) {
        const exp =
          typeof payload.exp === 'number' ? (payload.exp + clockTolerance) * 1000 : Infinity;
        const until = Math.min(started + cacheMs, exp);
        if (cache.size >= MAX_CACHED_TOKENS) cache.delete(cache.keys().next().value!);
        cache.set(token, { consumer, until });
      }
      return undefined;
    } catch (err) {
      const reason = reasonOf(err, jwks);
      if (reason === 'jwt_jwks_unavailable') {
        const t = now();
        if (t - lastJwksWarning > 10_000) {
          lastJwksWarning = t;
          env.logger.warn({ err, path: env.configPath }, 'JWKS could not be fetched');
        }
      }
      return reject(reason);
    }
  };

  return {
    name: 'jwt',
    onRequest(ctx) {
      const header = headerValue(ctx.req.headers[headerName]);
      if (header !== undefined && header === lastHeader && now() < lastEntry!.until) {
        accept(ctx, lastEntry!.consumer, true);
        return undefined;
      }
      const fromHeader = tokenOfHeader(header, headerName);
      const token = fromHeader ?? tokenOfCookie(ctx.req, cookieName);
      if (token === undefined) return reject('jwt_missing');
      if (token.length > MAX_TOKEN_LENGTH || !TOKEN_SHAPE.test(token)) {
        return reject('jwt_malformed');
      }
      const hit = cache.get(token);
      if (hit !== undefined) {
        if (now() < hit.until) {
          accept(ctx, hit.consumer, fromHeader !== undefined);
          if (fromHeader !== undefined) {
            lastHeader = header;
            lastEntry = hit;
          }
          return undefined;
        }
        cache.delete(token);
      }
      const alg = headerAlg(token);
      if (alg === undefined) return reject('jwt_malformed');
      if (!allowed.has(alg)) return reject('jwt_alg');
      return verify(ctx, token, fromHeader !== undefined);
    },
    close() {
      cache.clear();
      lastHeader = undefined;
      lastEntry = undefined;
    },
  };
}

export const jwtPluginFactory: PluginFactory = {
  name: 'jwt',
  order: 30,
  create: (settings, env) => createJwtPlugin(settings, env),
};

/** The token in the configured header's value (Bearer scheme for Authorization), if any. */
function tokenOfHeader(header: string | undefined, headerName: string): string | undefined {
  if (header === undefined || header === '') return undefined;
  const m = BEARER.exec(header);
  if (m) return m[1];
  return headerName === 'authorization' ? undefined : header.trim();
}

/** The token in the configured cookie, if any. */
function tokenOfCookie(req: ProxyRequest, cookieName: string | undefined): string | undefined {
  if (cookieName === undefined) return undefined;
  const cookies = headerValue(req.headers.cookie);
  return cookies === undefined ? undefined : readCookie(cookies, cookieName);
}

function readCookie(header: string, name: string): string | undefined {
  if (header.length > 16_384) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
      value = value.slice(1, -1);
    return value === '' ? undefined : value;
  }
  return undefined;
}

/** The protected header's `alg`, or undefined when the header is not a JSON object with one. */
function headerAlg(token: string): string | undefined {
  const dot = token.indexOf('.');
  try {
    const header: unknown = JSON.parse(
      Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'),
    );
    if (!isPlainObject(header)) return undefined;
    return typeof header.alg === 'string' ? header.alg : undefined;
  } catch {
    return undefined;
  }
}

function reasonOf(err: unknown, jwks: boolean): JwtReason {
  if (err instanceof errors.JWTExpired) return 'jwt_expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'jwt_aud';
    if (err.claim === 'iss') return 'jwt_iss';
    if (err.reason === 'missing') return 'jwt_claims';
    if (err.reason === 'invalid') return 'jwt_malformed';
    return err.claim === 'nbf' ? 'jwt_not_yet_valid' : 'jwt_claims';
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'jwt_alg';
  if (
    err instanceof errors.JWSSignatureVerificationFailed ||
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JWKInvalid
  ) {
    return 'jwt_bad_signature';
  }
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
    return 'jwt_jwks_unavailable';
  }
  if (
    err instanceof errors.JWSInvalid ||
    err instanceof errors.JWTInvalid ||
    err instanceof errors.JOSENotSupported
  ) {
    return 'jwt_malformed';
  }
  // What is left comes from fetching the JWKS (network errors, non-200, bad JSON).
  return jwks ? 'jwt_jwks_unavailable' : 'jwt_malformed';
}

function readPublicKey(s: SettingsReader): KeyObject {
  const raw = s.raw('publicKey');
  let keyObject: KeyObject;
  try {
    if (typeof raw === 'string') {
      if (raw.length > 16_384) s.fail('publicKey', 'is too long');
      if (raw.includes('PRIVATE KEY')) s.fail('publicKey', 'is a private key; give the public key');
      keyObject = createPublicKey(raw);
    } else if (isPlainObject(raw)) {
      if ('d' in raw || raw.kty === 'oct') {
        s.fail('publicKey', 'must be a public JWK (no "d", not "oct")');
      }
      keyObject = createPublicKey({ key: raw as import('node:crypto').JsonWebKey, format: 'jwk' });
    } else {
      s.fail('publicKey', 'expected a PEM string or a JWK object');
    }
  } catch (err) {
    if (isRosterError(err)) throw err;
    s.fail('publicKey', `is not a valid public key (${(err as Error).message})`);
  }
  return keyObject;
}

const CURVES: Record<string, string> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
};

/** Every pinned algorithm must be usable with the configured key (caught at load, not per request). */
function checkKeyFitsAlgorithms(key: KeyObject, algorithms: readonly string[], s: SettingsReader) {
  const type = key.asymmetricKeyType;
  for (const alg of algorithms) {
    const family = alg.slice(0, 2);
    const fits =
      family === 'RS'
        ? type === 'rsa'
        : family === 'PS'
          ? type === 'rsa' || type === 'rsa-pss'
          : family === 'ES'
            ? type === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[alg]
            : type === 'ed25519';
    if (!fits) s.fail('algorithms', `${alg} cannot be verified with the configured ${type} key`);
  }
}

function readJwksUrl(s: SettingsReader, env: PluginEnvironment): URL {
  const text = s.requiredString('jwksUrl', { max: 2048 });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    s.fail('jwksUrl', 'is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') s.fail('jwksUrl', 'must be http(s)');
  if (url.username !== '' || url.password !== '') s.fail('jwksUrl', 'must not carry credentials');
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    env.logger.warn({ path: s.keyPath('jwksUrl') }, 'JWKS fetched over plain http');
  }
  return url;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}

interface JwksOptions {
  readonly cacheMaxAge: number;
  readonly cooldownDuration: number;
  readonly timeoutDuration: number;
}

/**
 * Remote key sets shared by URL and options, so that rebuilding the route table (on every
 * registry change) keeps the fetched keys instead of fetching again. Bounded.
 */
const jwksSets = new Map<string, JWTVerifyGetKey>();
const MAX_JWKS_SETS = 256;

function sharedJwks(url: URL, options: JwksOptions): JWTVerifyGetKey {
  const id = `${url.href} ${options.cacheMaxAge} ${options.cooldownDuration} ${options.timeoutDuration}`;
  let set = jwksSets.get(id);
  if (set === undefined) {
    set = createRemoteJWKSet(url, options);
    if (jwksSets.size >= MAX_JWKS_SETS) jwksSets.delete(jwksSets.keys().next().value!);
    jwksSets.set(id, set);
  }
  return set;
}
