/**
 * The benchmarks' build (scripts/bench/build.ts): entry points compile with the project's tsc
 * into a directory of their own, run under plain node (no tsx), carry none of esbuild's
 * keepNames wrappers, and are gone after remove(). Type errors are reported but do not stop
 * the emit; a file outside the project is refused; the builds of bench processes that died
 * before their exit hook are removed by the next build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { BUILD_NAME, buildForBench, compiledPath } from '../../scripts/bench/build.js';
import { spawnServer } from '../../scripts/bench/spawn-server.js';

const UPSTREAM = fileURLToPath(new URL('../../scripts/bench/http-upstream.ts', import.meta.url));
const EDGE = fileURLToPath(new URL('../../gateway/edge/edge-connection.ts', import.meta.url));

t.test('a compiled upstream runs under plain node and is removed afterwards', async (t) => {
  const build = await buildForBench([UPSTREAM]);
  const script = build.script(UPSTREAM);
  t.ok(script.endsWith('/scripts/bench/http-upstream.js'), script);
  const server = await spawnServer(process.execPath, [script, '--size', '5']);
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/`);
    t.equal(response.status, 200);
    t.equal(await response.text(), 'xxxxx');
  } finally {
    await server.stop();
    build.remove();
  }
  t.notOk(existsSync(script), 'the build is gone');
});

t.test('the compiled gateway is tsc output, without keepNames wrappers', async (t) => {
  const build = await buildForBench([EDGE]);
  t.teardown(() => build.remove());
  const code = readFileSync(build.script(EDGE), 'utf8');
  t.match(code, /class EdgeConnection/);
  t.notMatch(code, /__name\(/, 'no esbuild __name calls');
});

t.test('only TypeScript files of the project can be built', async (t) => {
  t.throws(() => compiledPath('/tmp/out', '/etc/passwd'), /not a TypeScript file of this project/);
  t.throws(() => compiledPath('/tmp/out', UPSTREAM.replace(/\.ts$/, '.js')), /not a TypeScript/);
  await t.rejects(buildForBench(['/tmp/elsewhere.ts']), /not a TypeScript file of this project/);
});

t.test('a type error does not stop the build; tsc reports it', async (t) => {
  // Written at run time, in a directory the project ignores (.gitignore's `.scratch*`): a
  // broken file in test/ would fail the project's own type check.
  const dir = mkdtempSync(fileURLToPath(new URL('../../.scratch-bench-build-', import.meta.url)));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const broken = join(dir, 'broken.ts');
  writeFileSync(broken, "export const count: number = 'not a number';\n");
  const build = await buildForBench([broken]);
  t.teardown(() => build.remove());
  t.match(build.compilerOutput, /TS2322/);
  const compiled = (await import(build.script(broken))) as { count: unknown };
  t.equal(compiled.count, 'not a number', 'the JavaScript was emitted all the same');
});

t.test('builds get directories of their own, named for the process', async (t) => {
  const a = await buildForBench([UPSTREAM]);
  const b = await buildForBench([UPSTREAM]);
  t.teardown(() => {
    a.remove();
    b.remove();
  });
  t.not(a.dir, b.dir);
  for (const build of [a, b]) {
    t.equal(BUILD_NAME.exec(basename(build.dir))?.[1], String(process.pid), build.dir);
  }
  a.remove();
  t.notOk(existsSync(a.dir));
  t.ok(existsSync(b.script(UPSTREAM)), 'removing one build leaves the other');
});

t.test('a build removes the builds of processes that are gone, and only theirs', async (t) => {
  const cache = fileURLToPath(new URL('../../node_modules/.cache/', import.meta.url));
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  const ofGone = join(cache, `roster-bench-${gone}-1`);
  const ofGoneOldName = join(cache, `roster-bench-${gone}`);
  const ofParent = join(cache, `roster-bench-${process.ppid}-1`);
  for (const dir of [ofGone, ofGoneOldName, ofParent]) mkdirSync(dir, { recursive: true });
  t.teardown(() => {
    for (const dir of [ofGone, ofGoneOldName, ofParent])
      rmSync(dir, { recursive: true, force: true });
  });
  const build = await buildForBench([UPSTREAM]);
  t.teardown(() => build.remove());
  t.notOk(existsSync(ofGone), 'the build of an exited process is removed');
  t.notOk(existsSync(ofGoneOldName), 'also under the older name without a sequence number');
  t.ok(existsSync(ofParent), 'the build of a running process stays');
});
