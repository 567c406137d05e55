/**
 * The `roster` command line: the program (commands and their options) and run(), which parses
 * argv, runs the command and turns the outcome into an exit code:
 * 0 success (and --help, --version), 1 a failure while running, 2 a usage error (unknown flag,
 * bad value, missing companion flag), always as one `error: …` line on stderr.
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { isRosterError } from '../protocol/index.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerDemoServiceCommand } from './commands/demo-service.js';
import { registerGatewayCommand } from './commands/gateway.js';
import { registerHealthCommand } from './commands/health.js';
import { registerInstancesCommand } from './commands/instances.js';
import { registerNodeCommand } from './commands/node.js';
import { registerNodesCommand } from './commands/nodes.js';
import { registerRegisterCommand } from './commands/register.js';
import { registerServicesCommand } from './commands/services.js';
import { registerWatchCommand } from './commands/watch.js';
import { dropEmptyEnv, UsageError } from './options.js';

/** The version in the package.json above this file (cli/ from source, dist/cli/ when built). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'roster' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: look further up
    }
    const parent = dirname(dir);
    if (parent === dir) return '0.0.0-unknown';
    dir = parent;
  }
}

export function createProgram(): Command {
  const program = new Command('roster')
    .description(
      'Roster: service registry, discovery cluster and API gateway over NATS.\n' +
        'Run `roster demo` for a local cluster, `roster node` for one registry node,\n' +
        '`roster gateway --config gateway.yaml` for the API gateway.',
    )
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command')
    .exitOverride()
    .showSuggestionAfterError(true);
  // Subcommands created with .command() inherit exitOverride and the output settings above.
  registerNodeCommand(program);
  registerGatewayCommand(program);
  registerDemoCommand(program);
  registerServicesCommand(program);
  registerInstancesCommand(program);
  registerWatchCommand(program);
  registerNodesCommand(program);
  registerHealthCommand(program);
  registerRegisterCommand(program);
  registerDemoServiceCommand(program);
  return program;
}

function errorLine(text: string): void {
  process.stderr.write(`error: ${text}\n`);
}

/** Runs the command line `argv` (process.argv form) and returns the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  dropEmptyEnv();
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    // commander has already printed its message (or the help / version)
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      errorLine(err.message);
      return 2;
    }
    // A config that cannot work (bad key, routes that conflict) is a usage error too.
    if (isRosterError(err, 'ROSTER_ERR_CONFIG') || isRosterError(err, 'ROSTER_ERR_CONFLICT')) {
      errorLine(err.message);
      return 2;
    }
    errorLine(err instanceof Error ? err.message : String(err));
    return 1;
  }
}
