/**
 * What the commands that talk to a running cluster share (services, instances, watch, nodes,
 * health, register, demo-service): their resolved options, a logger on stderr (stdout is
 * their output), the connection, cluster-wide requests with messages that say what to check,
 * and plain-text tables.
 */

import { pino } from 'pino';
import {
  decodeAs,
  encodeTrusted,
  isRosterError,
  type MessageOf,
  RosterError,
  Subjects,
} from '../protocol/index.js';
import type { Bus, Logger, NatsBus } from '../transport/index.js';
import type { LogLevel } from './config.js';
import { connectWithRetry } from './connect.js';
import { type NatsCliOptions, natsBusOptions } from './options.js';

/** The options every client command has after configuration layering. */
export interface ClientCommandOptions extends NatsCliOptions {
  prefix: string;
  timeoutMs: number;
  logLevel: LogLevel;
  /** Long-running commands only. */
  connectTimeoutMs?: number;
  json?: boolean;
}

/** JSON log lines on stderr, so stdout carries only the command's output. */
export function stderrLogger(level: LogLevel, name = 'roster'): Logger {
  return pino({ level, name }, pino.destination({ dest: 2, sync: true }));
}

/**
 * Connects to NATS: one-shot commands wait at most --timeout-ms, long-running ones
 * --connect-timeout-ms (retrying meanwhile).
 */
export async function openBus(
  options: ClientCommandOptions,
  context: { name: string; logger: Logger; signal?: AbortSignal },
): Promise<NatsBus> {
  const busOptions = natsBusOptions(options);
  const timeoutMs = options.connectTimeoutMs ?? options.timeoutMs;
  const bus = await connectWithRetry(
    { ...busOptions, name: context.name, logger: context.logger },
    {
      timeoutMs,
      logger: context.logger,
      ...(context.signal ? { signal: context.signal } : {}),
      initialDelayMs: Math.min(250, Math.max(10, Math.floor(timeoutMs / 8))),
    },
  );
  bus.onStatus((status) => {
    if (status.type === 'error' && isRosterError(status.error, 'ROSTER_ERR_FORBIDDEN')) {
      refusals.set(bus, status.error);
    }
  });
  return bus;
}

/** The last publish or subscribe NATS refused on `bus` (permissions), if any. */
const refusals = new WeakMap<Bus, RosterError>();

/** "; NATS refused …" when NATS refused something on this bus, else "". */
export function refusalNote(bus: Bus | undefined): string {
  const refused = bus === undefined ? undefined : refusals.get(bus);
  return refused === undefined
    ? ''
    : `; NATS refused: ${refused.message} (check this user's permissions)`;
}

/** Explains a failed request to the cluster in terms of what to check. */
export function clusterError(err: unknown, subject: string, prefix: string, bus?: Bus): Error {
  const refused = refusalNote(bus);
  if (refused !== '') {
    return new RosterError(
      'ROSTER_ERR_FORBIDDEN',
      `request on ${subject} failed${refused}`,
      { subject },
      { cause: err },
    );
  }
  if (isRosterError(err, 'ROSTER_ERR_NO_RESPONDERS')) {
    return new RosterError(
      'ROSTER_ERR_NO_RESPONDERS',
      `no registry node answered on ${subject} (is a node running with --prefix ${prefix}?)`,
      { subject },
      { cause: err },
    );
  }
  if (isRosterError(err, 'ROSTER_ERR_TIMEOUT')) {
    return new RosterError(
      'ROSTER_ERR_TIMEOUT',
      `no answer on ${subject} within the timeout (--timeout-ms); are registry nodes running, and may this NATS user publish there?`,
      { subject },
      { cause: err },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The service catalogue, from one node of the queue group. */
export async function requestCatalog(
  bus: Bus,
  subjects: Subjects,
  timeoutMs: number,
): Promise<MessageOf<'catalogReply'>> {
  try {
    const reply = await bus.request(subjects.catalog, encodeTrusted('catalogRequest', {}), {
      timeoutMs,
    });
    return decodeAs(reply.data, 'catalogReply');
  } catch (err) {
    throw clusterError(err, subjects.catalog, subjects.prefix, bus);
  }
}

export type NodeInfo = MessageOf<'clusterInfo'>;

/**
 * Every node's state: a scatter on the cluster-info subject, collecting answers for `waitMs`
 * (or until `expect` answered). Sorted by node id; invalid answers are skipped.
 */
export async function scatterClusterInfo(
  bus: Bus,
  subjects: Subjects,
  options: { waitMs: number; expect?: number | undefined },
): Promise<NodeInfo[]> {
  const replies = await bus.scatter(subjects.clusterInfo, encodeTrusted('clusterInfoRequest', {}), {
    deadlineMs: options.waitMs,
    ...(options.expect !== undefined ? { maxReplies: options.expect } : {}),
  });
  const byNode = new Map<string, NodeInfo>();
  for (const reply of replies) {
    try {
      const info = decodeAs(reply.data, 'clusterInfo');
      byNode.set(info.node, info);
    } catch {
      // not a node's answer: skipped
    }
  }
  return [...byNode.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

export function subjectsOf(options: { prefix: string }): Subjects {
  return new Subjects(options.prefix);
}

// ---------------------------------------------------------------------------------------------
// Output

export function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** "3s", "5m", "2h", "4d": how long ago `ms` (epoch ms) was. */
export function age(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7_200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3_600)}h`;
  return `${Math.round(s / 86_400)}d`;
}
