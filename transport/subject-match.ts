/**
 * NATS subject syntax and wildcard matching, shared by every Bus implementation so they all
 * accept and route exactly the same subjects.
 *
 * A subject is a non-empty list of non-empty tokens separated by `.`, without whitespace.
 * Subscriptions may use wildcards as whole tokens: `*` matches exactly one token, `>` matches
 * one or more tokens and may only be the last token. Published subjects are literal.
 */

const DOT = 0x2e;
const STAR = 0x2a;
const GT = 0x3e;

function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d || code === 0x0c;
}

/**
 * Checks the syntax of `subject`. With `wildcards` false (a publish subject) no `*` or `>`
 * token is allowed; with `wildcards` true (a subscription) they are allowed as whole tokens,
 * `>` only at the end. Runs in one pass without allocating: it sits on the publish path.
 */
export function isValidSubject(subject: string, wildcards: boolean): boolean {
  const n = subject.length;
  if (n === 0) return false;
  let tokenStart = 0;
  let sawTail = false;
  for (let i = 0; i <= n; i++) {
    const code = i === n ? DOT : subject.charCodeAt(i);
    if (code === DOT) {
      const len = i - tokenStart;
      if (len === 0 || sawTail) return false;
      if (len === 1) {
        const c = subject.charCodeAt(tokenStart);
        if (c === STAR || c === GT) {
          if (!wildcards) return false;
          if (c === GT) sawTail = true;
        }
      }
      tokenStart = i + 1;
    } else if (isWhitespace(code)) {
      return false;
    } else if ((code === STAR || code === GT) && !wildcards) {
      return false;
    }
  }
  return true;
}

/** True when `subject` is a valid literal subject to publish to. */
export function isValidPublishSubject(subject: string): boolean {
  return isValidSubject(subject, false);
}

/** True when `subject` is a valid subscription subject (wildcards allowed). */
export function isValidSubscribeSubject(subject: string): boolean {
  return isValidSubject(subject, true);
}

/** True when the subscription subject contains a `*` or `>` token. */
export function hasWildcard(pattern: string): boolean {
  return pattern.split('.').some((t) => t === '*' || t === '>');
}

/**
 * True when the literal `subject` matches the subscription `pattern`. Both are assumed valid
 * (see isValidSubject); a pattern without wildcards matches only itself.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}
