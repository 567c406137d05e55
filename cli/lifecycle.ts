/**
 * Stopping long-running commands: the first SIGINT/SIGTERM (SIGHUP too, so closing a terminal
 * stops children instead of orphaning them) asks for a graceful stop; a second one, or a
 * graceful stop that takes too long, exits at once with code 1.
 */

export interface StopRequest {
  /** Aborted on the first stop signal. */
  readonly signal: AbortSignal;
  /** Resolves with the first stop signal received. */
  readonly requested: Promise<NodeJS.Signals>;
  /** Call once the graceful stop has begun: arms the force-exit timer. */
  stopping(): void;
  /** Removes the signal handlers. */
  dispose(): void;
}

export interface StopRequestOptions {
  readonly signals?: readonly NodeJS.Signals[];
  /** Longest graceful stop before a forced exit (ms, default 15 s). */
  readonly graceMs?: number;
  /** Reports a forced exit (one line), before process.exit(1). */
  readonly onForce: (reason: string) => void;
}

export function stopOnSignals(options: StopRequestOptions): StopRequest {
  const signals = options.signals ?? ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const controller = new AbortController();
  let resolveRequested: (signal: NodeJS.Signals) => void = () => undefined;
  const requested = new Promise<NodeJS.Signals>((resolve) => {
    resolveRequested = resolve;
  });
  let timer: NodeJS.Timeout | undefined;
  const force = (reason: string): void => {
    options.onForce(reason);
    process.exit(1);
  };
  const handler = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      force(`${signal} received again: exiting without a clean stop`);
      return;
    }
    controller.abort(new Error(`stopped by ${signal}`));
    resolveRequested(signal);
  };
  for (const signal of signals) process.on(signal, handler);
  return {
    signal: controller.signal,
    requested,
    stopping() {
      if (timer !== undefined) return;
      const graceMs = options.graceMs ?? 15_000;
      timer = setTimeout(() => force(`clean stop took longer than ${graceMs} ms`), graceMs);
      timer.unref();
    },
    dispose() {
      for (const signal of signals) process.off(signal, handler);
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
