import type { Test } from 'tap';
import { type ErrorCode, RosterError } from '../../protocol/index.js';

/** Asserts that fn throws a RosterError with `code` (and, if given, data.path); returns it. */
export function expectRosterError(
  t: Test,
  fn: () => unknown,
  code: ErrorCode,
  path?: string,
): RosterError | undefined {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof RosterError)) {
      t.fail(`expected RosterError ${code}, got ${String(err)}`);
      return undefined;
    }
    t.equal(err.code, code, `throws ${code}`);
    if (path !== undefined) t.equal(err.data?.path, path, `at ${path}`);
    return err;
  }
  t.fail(`expected RosterError ${code}, nothing was thrown`);
  return undefined;
}

/** The async form of expectRosterError. */
export async function expectRosterRejection(
  t: Test,
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<RosterError | undefined> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof RosterError)) {
      t.fail(`expected RosterError ${code}, got ${String(err)}`);
      return undefined;
    }
    t.equal(err.code, code, `rejects with ${code}`);
    return err;
  }
  t.fail(`expected rejection with ${code}, it resolved`);
  return undefined;
}
