/**
 * Bearer-token authentication for the node's HTTP API. The token is compared in constant
 * time (both sides hashed to a fixed length first, so even the length does not leak).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Parts of the HTTP surface that may be served without the token. */
export const PUBLIC_PARTS = ['metrics', 'ui', 'openapi', 'health'] as const;
export type PublicPart = (typeof PUBLIC_PARTS)[number];

/** What a route needs: the token (`api`), nothing (`open`), or the token unless its part is public. */
export type Access = 'api' | 'open' | PublicPart;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A constant-time check of a presented token against the configured one. */
export class TokenCheck {
  private readonly expected: Buffer | undefined;

  constructor(token: string | undefined) {
    this.expected = token === undefined || token === '' ? undefined : digest(token);
  }

  /** False when no token is configured (everything is open). */
  get enabled(): boolean {
    return this.expected !== undefined;
  }

  matches(presented: string | undefined): boolean {
    if (this.expected === undefined) return true;
    if (presented === undefined) return false;
    return timingSafeEqual(this.expected, digest(presented));
  }
}

/** The token of an `Authorization: Bearer …` header, if any. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

/** Parses `metrics,ui` (comma-separated) into public parts; throws on an unknown one. */
export function parsePublicParts(text: string): PublicPart[] {
  const out: PublicPart[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim().toLowerCase();
    if (part === '' || part === 'none') continue;
    if (!(PUBLIC_PARTS as readonly string[]).includes(part)) {
      throw new Error(`unknown public part "${part}" (use ${PUBLIC_PARTS.join(', ')} or none)`);
    }
    if (!out.includes(part as PublicPart)) out.push(part as PublicPart);
  }
  return out;
}
