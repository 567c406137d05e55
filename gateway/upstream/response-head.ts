/**
 * A parsed upstream response head: its status, the head's text with every field line already
 * validated, and the lower-case name of each line. The proxy passes most field lines on to the
 * client as they came (docs/adr/0007-gateway-hot-path.md), so a field's value is cut out of
 * the text only when something asks for it: `get()`, `value()` or the `headers` object.
 */

import { headerFields } from '../header-names.js';
import { fieldValueAt } from '../http-syntax.js';

export class ResponseHead {
  private fields: Record<string, string | string[]> | undefined = undefined;
  /** passedResponseLines' result with nothing replaced, once cut (a head may be read again). */
  passedLines: string | undefined = undefined;

  constructor(
    readonly status: number,
    /**
     * The status line and the field lines, each ending in CRLF; more may follow them (the empty
     * line, and in a read taken as text the body's bytes), up to `starts`' last entry.
     */
    readonly text: string,
    /** The lower-case name of each field line. */
    readonly names: readonly string[],
    /** Where each field line starts in `text`, and one more entry: where the lines end. */
    readonly starts: readonly number[],
  ) {}

  /** Whether a field of this lower-case name is present. */
  has(name: string): boolean {
    return this.names.includes(name);
  }

  /** The value of field line `i`, without the optional whitespace around it. */
  value(i: number): string {
    return fieldValueAt(this.text, this.starts[i]!, this.starts[i + 1]! - 2);
  }

  /** A field's value (lower-case name); an array when the field is repeated. */
  get(name: string): string | string[] | undefined {
    const names = this.names;
    let found: string | string[] | undefined;
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== name) continue;
      const v = this.value(i);
      if (found === undefined) found = v;
      else if (typeof found === 'string') found = [found, v];
      else found.push(v);
    }
    return found;
  }

  /** All fields by lower-case name, repeated fields as arrays (built on first use). */
  get headers(): Record<string, string | string[]> {
    if (this.fields !== undefined) return this.fields;
    const fields = headerFields<string | string[]>();
    const names = this.names;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const v = this.value(i);
      const prev = fields[name];
      if (prev === undefined) fields[name] = v;
      else if (typeof prev === 'string') fields[name] = [prev, v];
      else prev.push(v);
    }
    this.fields = fields;
    return fields;
  }
}
