#!/usr/bin/env node
/**
 * The `roster` executable (package.json "bin": dist/cli/main.js). From a clone:
 * `node --import=tsx cli/main.ts --help`. `roster gateway` may re-execute itself under the GC
 * mode its machine wants (cli/gateway-runtime.ts).
 */
import { availableParallelism } from 'node:os';
import { reexecFlags, runReexecuted } from './gateway-runtime.js';
import { run } from './program.js';

async function main(): Promise<number> {
  let flags: string[];
  try {
    flags = reexecFlags(process.argv, process.execArgv, process.env, availableParallelism());
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`); // a bad ROSTER_GATEWAY_GC
    return 2;
  }
  return flags.length > 0 ? runReexecuted(flags) : run(process.argv);
}

const code = await main();
process.exitCode = code;
// Everything is closed by now; should a stray handle keep the event loop alive, do not hang.
setTimeout(() => process.exit(code), 3_000).unref();
