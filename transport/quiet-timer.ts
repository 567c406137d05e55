import type { ScatterOptions } from './bus.js';

/**
 * The quiet-period rule of `scatter`: once `minReplies` replies are in, a pause of `quietMs`
 * with no new reply ends the gathering early. Without `quietMs` it never fires.
 */
export function quietTimer(
  options: ScatterOptions,
  finish: () => void,
): { arm(replies: number): void } {
  const quietMs = options.quietMs;
  const minReplies = options.minReplies ?? 1;
  let timer: NodeJS.Timeout | undefined;
  return {
    arm(replies: number): void {
      if (quietMs === undefined || replies < minReplies) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
      timer.unref();
    },
  };
}
