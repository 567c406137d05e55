/**
 * `roster instances SERVICE`: one service's instances, asked of the cluster now (query
 * discovery, every page).
 */

import { type Command, InvalidArgumentError } from 'commander';
import { connect } from '../../client/index.js';
import { type Instance, isServiceName, Limits } from '../../protocol/index.js';
import {
  age,
  type ClientCommandOptions,
  clusterError,
  openBus,
  print,
  printJson,
  renderTable,
  stderrLogger,
  subjectsOf,
} from '../client-command.js';
import { configure } from '../config.js';
import { addConnectionOptions } from '../options.js';

/** Parses a SERVICE argument (a usage error, exit 2, when it is not a service name). */
export function parseServiceArgument(value: string): string {
  const name = value.trim();
  if (!isServiceName(name)) {
    throw new InvalidArgumentError(
      `not a service name: use 1-${Limits.maxServiceNameLength} characters of [a-z0-9_-], starting with a letter or digit.`,
    );
  }
  return name;
}

export function registerInstancesCommand(program: Command): Command {
  const command = program
    .command('instances')
    .description("list one service's instances (address, status, owner node, tags, metadata)")
    .argument('<service>', 'service name', parseServiceArgument);
  addConnectionOptions(command, 'instances');
  configure(command, 'instances')
    .option('--json', 'print a JSON array of the instance records')
    .action(async (service: string, options: ClientCommandOptions) => {
      await runInstances(service, options);
    });
  return command;
}

function address(i: Instance): string {
  const host = i.host.includes(':') ? `[${i.host}]` : i.host;
  return `${i.scheme ? `${i.scheme}://` : ''}${host}:${i.port}`;
}

function metaText(meta: Readonly<Record<string, string>>): string {
  return Object.entries(meta)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function instanceRow(i: Instance, now = Date.now()): string[] {
  return [
    i.id,
    address(i),
    i.status,
    String(i.weight),
    i.zone ?? '-',
    i.version ?? '-',
    i.ownerNode,
    age(i.registeredAt, now),
    i.tags.length > 0 ? i.tags.join(',') : '-',
    Object.keys(i.meta).length > 0 ? metaText(i.meta) : '-',
  ];
}

export const INSTANCE_HEADERS = [
  'ID',
  'ADDRESS',
  'STATUS',
  'WEIGHT',
  'ZONE',
  'VERSION',
  'OWNER',
  'AGE',
  'TAGS',
  'META',
] as const;

export async function runInstances(service: string, options: ClientCommandOptions): Promise<void> {
  const logger = stderrLogger(options.logLevel);
  const subjects = subjectsOf(options);
  const bus = await openBus(options, { name: 'roster-instances', logger });
  try {
    const client = await connect({
      bus,
      prefix: options.prefix,
      requestTimeoutMs: options.timeoutMs,
      logger,
    });
    let instances: Instance[];
    try {
      instances = await client.discover(service);
    } catch (err) {
      throw clusterError(err, subjects.query(service), options.prefix, bus);
    } finally {
      await client.close();
    }
    instances.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (options.json) {
      printJson(instances);
      return;
    }
    if (instances.length === 0) {
      print(`no instances of ${service}`);
      return;
    }
    print(
      renderTable(
        INSTANCE_HEADERS,
        instances.map((i) => instanceRow(i)),
      ),
    );
  } finally {
    await bus.close();
  }
}
