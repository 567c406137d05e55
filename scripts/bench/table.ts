/** Plain-text tables for benchmark output. */

export type Cell = string | number;

/** Formats a number for people: thousands separators, at most `digits` decimals. */
export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

function cellText(cell: Cell): string {
  return typeof cell === 'number' ? formatNumber(cell) : cell;
}

/**
 * A table with a header row and aligned columns: numbers right-aligned, text left-aligned.
 * Every row must have one cell per header.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
): string {
  const texts = rows.map((row) => row.map(cellText));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...texts.map((row) => row[i]?.length ?? 0)),
  );
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number'),
  );
  const line = (cells: readonly string[], header: boolean) =>
    cells
      .map((cell, i) =>
        numeric[i] && !header ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [
    line(headers, true),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...texts.map((row) => line(row, false)),
  ].join('\n');
}

/** A two-column table of a result record (the human form of a bench's JSON line). */
export function formatRecord(record: Readonly<Record<string, Cell>>): string {
  return formatTable(
    ['metric', 'value'],
    Object.entries(record).map(([key, value]) => [key, value]),
  );
}
