/**
 * `roster watch SERVICE`: list+watch of one service until Ctrl-C: the current instances first,
 * then one line per change (added, updated, removed; stale and fresh when the cluster or NATS
 * comes and goes). `--json` prints one JSON object per line (the snapshot included), for
 * piping into jq or a log shipper.
 */

import type { Command } from 'commander';
import { connect, type WatchEvent } from '../../client/index.js';
import type { Instance } from '../../protocol/index.js';
import type { NatsBus } from '../../transport/index.js';
import {
  type ClientCommandOptions,
  clusterError,
  openBus,
  print,
  renderTable,
  stderrLogger,
  subjectsOf,
} from '../client-command.js';
import { configure } from '../config.js';
import { stopOnSignals } from '../lifecycle.js';
import { addConnectionOptions } from '../options.js';
import { INSTANCE_HEADERS, instanceRow, parseServiceArgument } from './instances.js';

export function registerWatchCommand(program: Command): Command {
  const command = program
    .command('watch')
    .description(
      'watch one service live until Ctrl-C: its instances now, then every change as it happens',
    )
    .argument('<service>', 'service name', parseServiceArgument);
  addConnectionOptions(command, 'watch');
  configure(command, 'watch')
    .option(
      '--json',
      'print one JSON object per line: {"type":"snapshot","instances":[…]}, then {"type":"added"|"updated"|"removed","instance":{…}}, {"type":"stale"|"fresh"}',
    )
    .action(async (service: string, options: ClientCommandOptions) => {
      await runWatch(service, options);
    });
  return command;
}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

function brief(i: Instance): string {
  const host = i.host.includes(':') ? `[${i.host}]` : i.host;
  return `${i.id}  ${host}:${i.port}  ${i.status}  owner ${i.ownerNode}`;
}

function changes(now: Instance, before: Instance): string {
  const out: string[] = [];
  if (now.status !== before.status) out.push(`status ${before.status} → ${now.status}`);
  if (now.weight !== before.weight) out.push(`weight ${before.weight} → ${now.weight}`);
  if (now.ownerNode !== before.ownerNode) out.push(`owner ${before.ownerNode} → ${now.ownerNode}`);
  if (now.host !== before.host || now.port !== before.port) {
    out.push(`address ${before.host}:${before.port} → ${now.host}:${now.port}`);
  }
  if (now.tags.join(',') !== before.tags.join(',')) out.push(`tags [${now.tags.join(',')}]`);
  if (JSON.stringify(now.meta) !== JSON.stringify(before.meta)) out.push('meta changed');
  return out.length > 0 ? out.join(', ') : 'refreshed';
}

/** One event as a human line. */
export function eventLine(event: WatchEvent): string {
  switch (event.type) {
    case 'snapshot':
      return `${time()}  = ${event.instances.length} instance(s)`;
    case 'added':
      return `${time()}  + added    ${brief(event.instance)}`;
    case 'updated':
      return `${time()}  ~ updated  ${event.instance.id}  ${changes(event.instance, event.previous)}`;
    case 'removed':
      return `${time()}  - removed  ${event.instance.id}  ${event.instance.host}:${event.instance.port}`;
    case 'stale':
      return `${time()}  ! stale: ${event.reason} (keeping the last known instances)`;
    case 'fresh':
      return `${time()}  ✓ fresh again`;
  }
}

/** One event as a JSON line. */
export function eventJson(service: string, event: WatchEvent): string {
  return JSON.stringify({ at: new Date().toISOString(), service, ...event });
}

export async function runWatch(service: string, options: ClientCommandOptions): Promise<void> {
  const logger = stderrLogger(options.logLevel);
  const subjects = subjectsOf(options);
  const stop = stopOnSignals({
    onForce: (reason) => process.stderr.write(`roster watch: ${reason}\n`),
  });
  let bus: NatsBus | undefined;
  try {
    try {
      bus = await openBus(options, {
        name: `roster-watch-${service}`,
        logger,
        signal: stop.signal,
      });
    } catch (err) {
      if (stop.signal.aborted) return;
      throw err;
    }
    const client = await connect({
      bus,
      prefix: options.prefix,
      requestTimeoutMs: options.timeoutMs,
      logger,
    });
    try {
      const watch = await client.watch(service).catch((err: unknown) => {
        throw clusterError(err, subjects.query(service), options.prefix, bus);
      });
      const emit = (event: WatchEvent): void => {
        print(options.json ? eventJson(service, event) : eventLine(event));
      };
      const snapshot: WatchEvent = { type: 'snapshot', instances: watch.instances() };
      if (options.json) {
        emit(snapshot);
      } else {
        print(`watching ${service} (Ctrl-C to stop)`);
        emit(snapshot);
        if (snapshot.instances.length > 0) {
          const rows = [...snapshot.instances]
            .sort((a, b) => (a.id < b.id ? -1 : 1))
            .map((i) => instanceRow(i));
          print(renderTable(INSTANCE_HEADERS, rows));
        }
      }
      const off = watch.on(emit);
      const lost = new Promise<never>((_resolve, reject) => {
        bus!.onStatus((status) => {
          if (status.type === 'closed' && !stop.signal.aborted) {
            reject(new Error(`NATS connection lost: ${status.error?.message ?? 'closed'}`));
          }
        });
      });
      lost.catch(() => undefined);
      await Promise.race([stop.requested, lost]);
      off();
    } finally {
      stop.stopping();
      await client.close();
    }
  } finally {
    await bus?.close();
    stop.dispose();
  }
}
