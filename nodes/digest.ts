/**
 * An order-independent digest of a set of `(key, version)` pairs, kept up to date in O(1)
 * per change: each pair hashes to 64 bits (two independent 32-bit FNV-1a variants) and the
 * digest is the XOR of all of them. Two replicas with the same records and versions have the
 * same digest whatever order they applied changes in.
 */
export class SetDigest {
  private hi = 0;
  private lo = 0;

  /** Adds or removes a pair (XOR is its own inverse). */
  toggle(key: string, hlc: number, node: string): void {
    const text = `${key}@${hlc}:${node}`;
    let a = 0x811c9dc5;
    let b = 0x01000193 ^ text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 13;
    }
    this.hi = (this.hi ^ a) >>> 0;
    this.lo = (this.lo ^ (b ^ (b >>> 15))) >>> 0;
  }

  reset(): void {
    this.hi = 0;
    this.lo = 0;
  }

  /** 16 hex digits. */
  toString(): string {
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }
}
