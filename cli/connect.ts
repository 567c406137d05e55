/**
 * The first connection to NATS for long-running commands: retried with backoff until it
 * succeeds, a deadline passes or the command is stopped, so a node started together with its
 * NATS servers (compose, systemd) waits for them instead of failing. Once connected, the bus
 * itself reconnects forever.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { isRosterError, RosterError } from '../protocol/index.js';
import {
  connectNatsBus,
  type Logger,
  type NatsBus,
  type NatsBusOptions,
} from '../transport/index.js';

export interface ConnectRetryOptions {
  /** Give up after this long (ms). */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** Stops retrying (the attempt under way finishes first). */
  readonly signal?: AbortSignal;
  /** First wait between attempts (ms, default 250), doubled up to maxDelayMs. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

const ATTEMPT_TIMEOUT_MS = 5_000;

function describeServers(servers: NatsBusOptions['servers']): string {
  if (servers === undefined) return 'nats://127.0.0.1:4222';
  return typeof servers === 'string' ? servers : servers.join(',');
}

/**
 * Connects, retrying while the servers are unreachable. Rejects at once when the server
 * refuses the credentials (retrying would not help), with ROSTER_ERR_NOT_CONNECTED after the
 * deadline, and with the signal's AbortError when `signal` fires.
 */
export async function connectWithRetry(
  options: NatsBusOptions,
  retry: ConnectRetryOptions,
): Promise<NatsBus> {
  const started = Date.now();
  const deadline = started + retry.timeoutMs;
  const maxDelay = retry.maxDelayMs ?? 2_000;
  let delay = retry.initialDelayMs ?? 250;
  let attempts = 0;
  let lastWarn = 0;
  for (;;) {
    retry.signal?.throwIfAborted();
    attempts += 1;
    const remaining = Math.max(1, deadline - Date.now());
    try {
      return await connectNatsBus({
        ...options,
        connectTimeoutMs: Math.min(options.connectTimeoutMs ?? ATTEMPT_TIMEOUT_MS, remaining),
      });
    } catch (err) {
      if (isRosterError(err, 'ROSTER_ERR_UNAUTHORIZED')) throw err;
      const now = Date.now();
      if (now >= deadline) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new RosterError(
          'ROSTER_ERR_NOT_CONNECTED',
          `could not connect to NATS at ${describeServers(options.servers)} within ${Math.round(
            retry.timeoutMs / 1000,
          )} s (${attempts} attempts; last error: ${reason})`,
          { servers: describeServers(options.servers) },
          { cause: err },
        );
      }
      if (attempts === 1 || now - lastWarn >= 5_000) {
        lastWarn = now;
        retry.logger.warn(
          {
            servers: describeServers(options.servers),
            error: err instanceof Error ? err.message : String(err),
            attempts,
          },
          'NATS not reachable yet; retrying',
        );
      }
      const wait = Math.min(delay, Math.max(0, deadline - now));
      delay = Math.min(delay * 2, maxDelay);
      await sleep(wait, undefined, retry.signal ? { signal: retry.signal } : undefined);
    }
  }
}
