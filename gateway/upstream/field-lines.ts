/**
 * A request's field lines as the upstream client sends them: rendered once into one string
 * (`name: value` CRLF per field), with what the client needs to know of them — whether a Host
 * is among them, and the Content-Length they declare. The proxy renders its forwarded fields
 * straight into one (forwarding.ts, forwardedFieldLines); fieldLinesOf() renders a flat list.
 */

export interface FieldLines {
  /** `name: value` lines, each ending in CRLF. */
  readonly text: string;
  readonly hasHost: boolean;
  /** The Content-Length the lines declare (the last one when repeated), if any. */
  readonly contentLength: number | undefined;
}

/** Field lines built one field at a time. */
export class FieldLinesBuilder implements FieldLines {
  text = '';
  hasHost = false;
  contentLength: number | undefined = undefined;

  /** Adds a field line; Host and Content-Length are noted in any letter case. */
  add(name: string, value: string): void {
    if (name.length === 4 && name.toLowerCase() === 'host') this.hasHost = true;
    else if (name.length === 14 && name.toLowerCase() === 'content-length') {
      this.contentLength = Number(value);
    }
    this.text += `${name}: ${value}\r\n`;
  }
}

/** The field lines of a flat `[name, value, …]` list. */
export function fieldLinesOf(list: readonly string[]): FieldLines {
  const lines = new FieldLinesBuilder();
  for (let i = 0; i < list.length; i += 2) lines.add(list[i]!, list[i + 1]!);
  return lines;
}
