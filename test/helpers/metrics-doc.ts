/** Reading docs/metrics.md and a Prometheus scrape, for the tests that keep them in sync. */

export interface DocRow {
  readonly type: string;
  readonly labels: readonly string[];
  readonly onDemand: boolean;
}

/** `name → type` from the `# TYPE` lines of a scrape. */
export function declared(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/**
 * The metric rows of docs/metrics.md by `## ` section (`### ` subsections belong to theirs):
 * type, the backquoted label names of the Labels cell, and whether the row says "on demand".
 */
export function documented(doc: string): Map<string, Map<string, DocRow>> {
  const sections = new Map<string, Map<string, DocRow>>();
  let current = new Map<string, DocRow>();
  for (const line of doc.split('\n')) {
    const heading = /^## (.+)$/.exec(line);
    if (heading) {
      current = new Map();
      sections.set(heading[1]!.trim(), current);
      continue;
    }
    const row = /^\| `(roster_[a-z0-9_]+)` \| (counter|gauge|histogram) \|([^|]*)\|(.*)\|$/.exec(
      line,
    );
    if (!row) continue;
    current.set(row[1]!, {
      type: row[2]!,
      labels: [...row[3]!.matchAll(/`([a-zA-Z_][a-zA-Z0-9_]*)`/g)].map((m) => m[1]!).sort(),
      onDemand: /\bon demand\b/i.test(row[4]!),
    });
  }
  return sections;
}
