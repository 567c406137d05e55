/**
 * Tokens and verdicts for the JWT plugin's tests (test/unit/gateway-plugin-jwt*.test.ts): a
 * shared HS256 secret, a signer that adds a 5-minute expiry unless the payload sets one, a
 * request carrying a bearer token, and the check that a plugin refuses a token for a stated
 * reason (status, reason, no consumer, WWW-Authenticate, the reason in the body).
 */
import type { KeyObject } from 'node:crypto';
import { type CryptoKey, type JWTPayload, SignJWT } from 'jose';
import type { Test } from 'tap';
import type { createJwtPlugin } from '../../gateway/plugins/jwt.js';
import { fakeRequestContext, run } from './fake-request-context.js';

export const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';
export const enc = new TextEncoder();
export const nowSec = () => Math.floor(Date.now() / 1000);
export const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export async function sign(
  payload: JWTPayload,
  alg: string,
  key: CryptoKey | KeyObject | Uint8Array,
  header: Record<string, unknown> = {},
): Promise<string> {
  const jwt = new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT', ...header });
  if (payload.exp === undefined) jwt.setExpirationTime(nowSec() + 300);
  return jwt.sign(key);
}

export const bearer = (token: string) =>
  fakeRequestContext({ headers: { authorization: `Bearer ${token}` } });

export async function expectReject(
  t: Test,
  plugin: ReturnType<typeof createJwtPlugin>,
  token: string | undefined,
  reason: string,
  status = 401,
) {
  const ctx = token === undefined ? fakeRequestContext() : bearer(token);
  const out = await run(plugin, ctx);
  t.equal(out?.status, status, `${reason}: status ${status}`);
  t.equal(out?.reason, reason, `reason ${reason}`);
  t.equal(ctx.consumer, undefined, 'no consumer set');
  if (status === 401) {
    const www = out?.headers?.['www-authenticate'] ?? '';
    t.match(www, /^Bearer/, 'WWW-Authenticate: Bearer');
    if (reason !== 'jwt_missing') t.match(www, /error="invalid_token"/);
  }
  const body = JSON.parse(out?.body ?? '{}') as {
    error: { code: string; data: { reason: string } };
  };
  t.equal(body.error.data.reason, reason, 'reason in the body');
  return out;
}
