/**
 * Canonical copies of the values records repeat. At 100 000 instances most strings of a
 * record are one of a few thousand (service names, session ids, node ids, tags, metadata),
 * and every tag list and metadata object is one of a few; decoded records each bring their
 * own copies. The store swaps a record's fields for canonical ones when it keeps the record
 * (the values are equal, so nothing observable changes), which saves ~200 B per instance.
 *
 * Strings decoded by msgpackr can be slices of one string holding a whole message (or a
 * whole snapshot page); a kept slice keeps that string alive. Canonical values and the long
 * strings that are kept but not shared (ids, hosts, secret hashes) are therefore flat copies.
 *
 * Each table is bounded: when it is full it starts again empty (records keep the values they
 * already have; later ones share new copies).
 */
import type { Instance, Session } from '../protocol/index.js';

/** V8 makes a slice of a string of this length or more a view into its parent. */
const MIN_SLICE_LENGTH = 13;
const LATIN1 = /^[\0-\xff]*$/;

/**
 * A copy of `s` that shares no memory with any other string (a slice keeps its parent
 * alive). Short strings are never slices and are returned as they are.
 */
export function ownString(s: string): string {
  if (s.length < MIN_SLICE_LENGTH) return s;
  return LATIN1.test(s)
    ? Buffer.from(s, 'latin1').toString('latin1')
    : Buffer.from(s, 'utf16le').toString('utf16le');
}

export interface InternerOptions {
  /** Most distinct values kept per table. */
  readonly maxEntries?: number;
}

export class Interner {
  private readonly strings = new Map<string, string>();
  private readonly tagLists = new Map<string, readonly string[]>();
  private readonly metas = new Map<string, Readonly<Record<string, string>>>();
  private readonly maxEntries: number;

  constructor(options: InternerOptions = {}) {
    this.maxEntries = options.maxEntries ?? 65_536;
  }

  /** The canonical copy of `s`. */
  string(s: string): string {
    const found = this.strings.get(s);
    if (found !== undefined) return found;
    if (this.strings.size >= this.maxEntries) this.strings.clear();
    const own = ownString(s);
    this.strings.set(own, own);
    return own;
  }

  /** Replaces the repeated fields of an instance (about to be kept) with canonical values. */
  instance(inst: Instance): void {
    inst.id = ownString(inst.id);
    inst.host = ownString(inst.host);
    inst.service = this.string(inst.service);
    inst.sessionId = this.string(inst.sessionId);
    inst.ownerNode = this.string(inst.ownerNode);
    inst.tags = this.tags(inst.tags) as string[];
    inst.meta = this.meta(inst.meta) as Record<string, string>;
    if (inst.zone !== undefined) inst.zone = this.string(inst.zone);
    if (inst.version !== undefined) inst.version = this.string(inst.version);
    if (inst.check?.path !== undefined) inst.check.path = this.string(inst.check.path);
  }

  /** Same for a session. */
  session(s: Session): void {
    s.id = this.string(s.id);
    s.ownerNode = this.string(s.ownerNode);
    s.secretHash = ownString(s.secretHash);
    if (s.name !== undefined) s.name = this.string(s.name);
  }

  /** The canonical (frozen) copy of a tag list. */
  tags(tags: readonly string[]): readonly string[] {
    if (tags.length === 0) return EMPTY_TAGS;
    const key = tags.length === 1 ? tags[0]! : tags.join('\n');
    const found = this.tagLists.get(key);
    if (found !== undefined && sameList(found, tags)) return found;
    if (this.tagLists.size >= this.maxEntries) this.tagLists.clear();
    const own = Object.freeze(tags.map((t) => this.string(t)));
    this.tagLists.set(ownString(key), own);
    return own;
  }

  /** The canonical (frozen) copy of a metadata object (same keys in the same order). */
  meta(meta: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    let key = '';
    let n = 0;
    for (const k in meta) {
      key += n++ === 0 ? `${k}\n${meta[k]}` : `\n${k}\n${meta[k]}`;
    }
    if (n === 0) return EMPTY_META;
    const found = this.metas.get(key);
    if (found !== undefined && sameRecord(found, meta)) return found;
    if (this.metas.size >= this.maxEntries) this.metas.clear();
    const own: Record<string, string> = {};
    for (const k in meta) own[this.string(k)] = this.string(meta[k]!);
    Object.freeze(own);
    this.metas.set(ownString(key), own);
    return own;
  }

  /** Distinct values held (strings, tag lists, metadata objects). */
  get size(): number {
    return this.strings.size + this.tagLists.size + this.metas.size;
  }
}

const EMPTY_TAGS: readonly string[] = Object.freeze([]);
const EMPTY_META: Readonly<Record<string, string>> = Object.freeze({});

/** Tags may contain `\n`, so a key match is confirmed element by element. */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameRecord(
  a: Readonly<Record<string, string>>,
  b: Readonly<Record<string, string>>,
): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i] || a[ka[i]!] !== b[kb[i]!]) return false;
  return true;
}
