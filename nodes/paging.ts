import { isRosterError } from '../protocol/index.js';

/**
 * Encodes a page of up to `count` items, halving the count while the encoded message is too
 * large (records with big metadata). `build(n)` encodes the first n items.
 */
export function encodePaged(build: (n: number) => Uint8Array, count: number): Uint8Array {
  let n = Math.max(1, count);
  for (;;) {
    try {
      return build(n);
    } catch (err) {
      if (!isRosterError(err, 'ROSTER_ERR_MESSAGE_TOO_LARGE') || n === 1) throw err;
      n = Math.ceil(n / 2);
    }
  }
}
