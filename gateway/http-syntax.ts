/**
 * Character-level HTTP/1.1 syntax checks shared by the edge's request reader and the upstream
 * client's response parser (RFC 9110 §5.6.2 tokens, field values, control characters).
 */

/** RFC 9110 token characters. */
export const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TOKEN_CHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN_CHAR[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN_CHAR[c] = 1;
for (let c = 97; c <= 122; c++) TOKEN_CHAR[c] = 1;

/** A non-empty RFC 9110 token (header names, methods). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN_CHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Whether a string holds control characters (CTL: 0x00–0x1f, 0x7f); a field value may hold
 * horizontal tabs (`allowTab`).
 */
export function hasControl(s: string, allowTab: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && !(allowTab && c === 9)) || c === 0x7f) return true;
  }
  return false;
}

/**
 * The value of the checked field line `text[from, to)` (CRLF excluded): what follows the colon,
 * without optional whitespace at either end (SP and HTAB only: String#trim would also eat
 * control characters).
 */
export function fieldValueAt(text: string, from: number, to: number): string {
  let a = text.indexOf(':', from) + 1;
  let b = to;
  while (a < b && (text.charCodeAt(a) === 32 || text.charCodeAt(a) === 9)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 32 || text.charCodeAt(b - 1) === 9)) b--;
  return text.slice(a, b);
}

/**
 * The longest read (in characters) whose head a parser remembers, to recognise the next head
 * of its connection as the same (startsWithWhole): the remembered head holds on to that read's
 * text, so this bounds what each connection keeps.
 */
export const REPEAT_READ_MAX = 2048;

/**
 * Whether `text` starts with the whole of `head`: one slice compared flat (`startsWith` goes one
 * character at a time, slower than parsing a short head again).
 */
export function startsWithWhole(text: string, head: string): boolean {
  return text.length >= head.length && text.slice(0, head.length) === head;
}
