#!/usr/bin/env node
/**
 * The `roster` executable (package.json "bin": dist/cli/main.js). From a clone:
 * `node --import=tsx cli/main.ts --help`.
 */

import { run } from './program.js';

const code = await run(process.argv);
process.exitCode = code;
// Everything is closed by now; should a stray handle keep the event loop alive, do not hang.
setTimeout(() => process.exit(code), 3_000).unref();
