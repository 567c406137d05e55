/**
 * Compiles benchmark entry points with the project's TypeScript compiler, so that a benchmark
 * runs the JavaScript `npm run build` ships (what `roster gateway` runs from the package)
 * rather than the same sources as tsx transforms them on the fly. The two differ where it
 * counts for a proxy: tsx compiles with esbuild's `keepNames`, which wraps every named function
 * expression in a call that defines its `name` property, so each per-connection listener
 * closure costs an Object.defineProperty and a 256-byte property dictionary (2.2 → 4.0 KB
 * retained per idle client connection in the gateway; docs/benchmarks.md, *Nineteenth day*).
 *
 * The output goes to a fresh directory under node_modules/.cache (so that its imports resolve
 * to the project's node_modules) and is removed by `remove()`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CACHE = join(ROOT, 'node_modules', '.cache', 'roster-bench');

export interface BenchBuild {
  /** The compiled form of a source file given to buildForBench (absolute path to its .js). */
  script(source: string): string;
  remove(): void;
}

/** The output path of `source` (a .ts file under the project root) below `outDir`. */
export function compiledPath(outDir: string, source: string): string {
  const rel = relative(ROOT, resolve(source));
  if (rel.startsWith('..') || !rel.endsWith('.ts')) {
    throw new Error(`${source}: not a TypeScript file of this project`);
  }
  return join(outDir, `${rel.slice(0, -'.ts'.length)}.js`);
}

/** Compiles `sources` (and what they import) with tsc; rejects with tsc's output on failure. */
export async function buildForBench(sources: readonly string[]): Promise<BenchBuild> {
  mkdirSync(CACHE, { recursive: true });
  const dir = mkdtempSync(join(CACHE, 'build-'));
  const outDir = join(dir, 'out');
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    for (const source of sources) compiledPath(outDir, source);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          noEmit: false,
          rootDir: ROOT,
          outDir,
          declaration: false,
          sourceMap: false,
        },
        include: sources.map((s) => resolve(s)),
      }),
    );
    await runTsc(join(dir, 'tsconfig.json'));
    // The output lies below node_modules, where no package.json of the project applies.
    writeFileSync(join(outDir, 'package.json'), '{"type":"module"}\n');
  } catch (err) {
    remove();
    throw err;
  }
  return { script: (source) => compiledPath(outDir, source), remove };
}

function runTsc(project: string): Promise<void> {
  // Its ESM entry itself: the extensionless bin/tsc loads as CommonJS first, which a loader hook
  // (a test runner's, passed on to child processes) turns into a require() cycle.
  const tsc = join(
    dirname(createRequire(import.meta.url).resolve('typescript/package.json')),
    'lib',
    'tsc.js',
  );
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', project], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`tsc -p ${project} exited ${code}:\n${output.slice(0, 4000)}`));
    });
  });
}
