import t from 'tap';
import { FieldLinesBuilder } from '../../gateway/upstream/field-lines.js';
import { keepForwardedLines, keptForwardedLines } from '../../gateway/upstream-lines.js';

function lines(...pairs: [string, string][]): FieldLinesBuilder {
  const b = new FieldLinesBuilder();
  for (const [name, value] of pairs) b.add(name, value);
  return b;
}

t.test('lines are kept per head list and connection', async (t) => {
  const raw = ['Host', 'h', 'Accept', '*/*'];
  t.equal(keptForwardedLines(raw, '10.0.0.1', 0, false), undefined, 'nothing kept at first');
  const made = lines(['Host', 'h'], ['Content-Length', '0'], ['x-forwarded-for', '10.0.0.1']);
  const kept = keepForwardedLines(raw, '10.0.0.1', 0, false, made);
  t.equal(kept.text, made.text, 'the same text');
  t.equal(kept.hasHost, true);
  t.equal(kept.contentLength, 0);
  t.equal(keptForwardedLines(raw, '10.0.0.1', 0, false), kept, 'found again');
  t.equal(keptForwardedLines([...raw], '10.0.0.1', 0, false), undefined, 'another list: not');
  t.equal(keptForwardedLines(raw, '10.0.0.2', 0, false), undefined, 'another peer: not');
  t.equal(keptForwardedLines(raw, '10.0.0.1', 1, false), undefined, 'other trusted hops: not');
  t.equal(keptForwardedLines(raw, '10.0.0.1', 0, true), undefined, 'TLS: not');
  const other = keepForwardedLines(raw, '10.0.0.2', 0, false, lines(['a', 'b']));
  t.equal(keptForwardedLines(raw, '10.0.0.2', 0, false), other, 'replaced');
  t.equal(keptForwardedLines(raw, '10.0.0.1', 0, false), undefined, 'the old one is gone');
});
