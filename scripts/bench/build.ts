/**
 * Compiles benchmark entry points, and what they import, with the project's TypeScript compiler,
 * so that a benchmark's processes run the JavaScript `npm run build` ships rather than tsx's
 * on-the-fly transform. The two differ where benchmarks look:
 * - tsx runs a loader thread, a second V8 isolate that adds tens of MB to every process's RSS;
 * - tsx compiles with esbuild's `keepNames`, which wraps every named function expression in a
 *   call that defines its `name` property: each per-connection listener closure of the
 *   gateway's edge cost an Object.defineProperty and a 256-byte property dictionary (4.0 KB
 *   retained per idle client connection, against 2.2 KB in tsc's output);
 * - CPU profiles of compiled code have real line numbers (of the JavaScript).
 *
 * Each build goes to a directory of its own under node_modules/.cache (so that package imports
 * resolve from it), `roster-bench-<pid>-<n>`, removed by `remove()` or when the process exits;
 * a later build removes those of bench processes that were killed first.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root directory. */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CACHE = join(REPO_ROOT, 'node_modules', '.cache');
/** A build directory's name; the first group is the pid of the process that made it. */
export const BUILD_NAME = /^roster-bench-(\d+)(?:-\d+)?$/;

let builds = 0;

export interface BenchBuild {
  /** The directory the build wrote (the project's layout below it). */
  readonly dir: string;
  /** What tsc printed: type errors do not stop the emit, so a bench can run work in progress. */
  readonly compilerOutput: string;
  /** The compiled form of a source given to buildForBench: the absolute path of its .js. */
  script(source: string): string;
  remove(): void;
}

/** The output path of `source` (a .ts file of the project) in the build directory `dir`. */
export function compiledPath(dir: string, source: string): string {
  const rel = relative(REPO_ROOT, resolve(source));
  if (rel.startsWith('..') || !rel.endsWith('.ts')) {
    throw new Error(`${source}: not a TypeScript file of this project`);
  }
  return join(dir, `${rel.slice(0, -'.ts'.length)}.js`);
}

/**
 * Compiles `sources` (and what they import) with tsc. Rejects, with tsc's output, when a
 * source's JavaScript is missing afterwards.
 */
export async function buildForBench(sources: readonly string[]): Promise<BenchBuild> {
  removeStaleBuilds();
  const dir = join(CACHE, `roster-bench-${process.pid}-${++builds}`);
  for (const source of sources) compiledPath(dir, source);
  const remove = (): void => {
    process.off('exit', remove);
    rmSync(dir, { recursive: true, force: true });
  };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.once('exit', remove);
  try {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(REPO_ROOT, 'tsconfig.json'),
        compilerOptions: {
          noEmit: false,
          noEmitOnError: false,
          rootDir: REPO_ROOT,
          outDir: dir,
          declaration: false,
          sourceMap: false,
        },
        include: sources.map((s) => resolve(s)),
      }),
    );
    // The build lies below node_modules, where no package.json of the project applies.
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    const compilerOutput = await runTsc(join(dir, 'tsconfig.json'));
    for (const source of sources) {
      const script = compiledPath(dir, source);
      if (!existsSync(script)) {
        throw new Error(`compiling ${source} produced no ${script}:\n${compilerOutput}`);
      }
    }
    return { dir, compilerOutput, script: (source) => compiledPath(dir, source), remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Runs tsc on a project; resolves with what it printed (at most 4000 characters). */
function runTsc(project: string): Promise<string> {
  // Its ESM entry itself: the extensionless bin/tsc loads as CommonJS first, which a loader hook
  // (a test runner's, passed on to child processes) turns into a require() cycle.
  const tsc = join(
    dirname(createRequire(import.meta.url).resolve('typescript/package.json')),
    'lib',
    'tsc.js',
  );
  return new Promise((resolveOutput, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', project], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer): void => {
      if (output.length < 4000) output += chunk.toString().slice(0, 4000 - output.length);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('exit', () => resolveOutput(output));
  });
}

/** Removes the build directories of bench processes that are gone (killed before their exit hook). */
function removeStaleBuilds(): void {
  let names: string[] = [];
  try {
    names = readdirSync(CACHE);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(BUILD_NAME.exec(name)?.[1] ?? Number.NaN);
    if (Number.isNaN(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
        rmSync(join(CACHE, name), { recursive: true, force: true });
      }
    }
  }
}
