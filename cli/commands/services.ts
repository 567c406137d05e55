/**
 * `roster services`: the service catalogue (every service with its instance counts), asked of
 * one registry node.
 */

import type { Command } from 'commander';
import {
  type ClientCommandOptions,
  openBus,
  print,
  printJson,
  renderTable,
  requestCatalog,
  stderrLogger,
  subjectsOf,
} from '../client-command.js';
import { configure } from '../config.js';
import { addConnectionOptions } from '../options.js';

export function registerServicesCommand(program: Command): Command {
  const command = program
    .command('services')
    .description('list the registered services with their instance counts (the catalog)');
  addConnectionOptions(command, 'services');
  configure(command, 'services')
    .option('--json', 'print a JSON array of {name, instances, passing}')
    .action(async (options: ClientCommandOptions) => {
      await runServices(options);
    });
  return command;
}

export async function runServices(options: ClientCommandOptions): Promise<void> {
  const logger = stderrLogger(options.logLevel);
  const subjects = subjectsOf(options);
  const bus = await openBus(options, { name: 'roster-services', logger });
  try {
    const catalog = await requestCatalog(bus, subjects, options.timeoutMs);
    if (options.json) {
      printJson(catalog.services);
      return;
    }
    if (catalog.services.length === 0) {
      print('no services registered');
      return;
    }
    print(
      renderTable(
        ['SERVICE', 'INSTANCES', 'PASSING'],
        catalog.services.map((s) => [s.name, String(s.instances), String(s.passing)]),
      ),
    );
  } finally {
    await bus.close();
  }
}
