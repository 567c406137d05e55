/**
 * The configuration reference in docs/operations.md, generated from cli/config.ts's key table.
 *
 *   node --import=tsx scripts/config-reference.ts          print the reference
 *   node --import=tsx scripts/config-reference.ts --write  rewrite it in docs/operations.md
 *   node --import=tsx scripts/config-reference.ts --check  exit 1 when the doc is out of date
 *
 * test/unit/operations-doc.test.ts runs the same comparison as --check.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { REFERENCE_BEGIN, REFERENCE_END, renderConfigReference } from '../cli/config.js';

export const OPERATIONS_DOC = fileURLToPath(new URL('../docs/operations.md', import.meta.url));

/** The doc with its reference section replaced by the generated one. */
export function withReference(doc: string): string {
  const begin = doc.indexOf(REFERENCE_BEGIN);
  const end = doc.indexOf(REFERENCE_END);
  if (begin < 0 || end < begin) {
    throw new Error(`docs/operations.md has no ${REFERENCE_BEGIN} … ${REFERENCE_END} section`);
  }
  return doc.slice(0, begin) + renderConfigReference() + doc.slice(end + REFERENCE_END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2];
  if (mode === '--write' || mode === '--check') {
    const doc = readFileSync(OPERATIONS_DOC, 'utf8');
    const updated = withReference(doc);
    if (mode === '--check') {
      if (updated !== doc) {
        process.stderr.write(
          'docs/operations.md: the configuration reference is out of date; run `node --import=tsx scripts/config-reference.ts --write`\n',
        );
        process.exitCode = 1;
      }
    } else if (updated !== doc) {
      writeFileSync(OPERATIONS_DOC, updated);
      process.stdout.write('docs/operations.md: configuration reference updated\n');
    }
  } else {
    process.stdout.write(`${renderConfigReference()}\n`);
  }
}
