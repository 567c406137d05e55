/**
 * The upstream-client micro-benchmark behind docs/adr/0006-gateway-upstream-client.md:
 * one upstream process, one minimal proxy process per client variant, wrk as the load
 * generator; the variants are measured alternately (rounds) so drift hits all alike.
 *
 *   node --import=tsx scripts/bench/gateway-client.ts [--rounds N] [--seconds N] [--connections N]
 */

import { NODE_TSX, spawnServer } from './spawn-server.js';
import { formatTable } from './table.js';
import { intArg, median, round } from './util.js';
import { runWrk, runWrkWithCpu } from './wrk.js';

const args = process.argv.slice(2);
const rounds = intArg(args, '--rounds', 3);
const seconds = intArg(args, '--seconds', 8);
const connections = intArg(args, '--connections', 50);
const VARIANTS = ['agent', 'undici-request', 'undici-dispatch', 'roster', 'edge', 'net'] as const;
const script = new URL('./proxy-variants.ts', import.meta.url).pathname;
const upstreamScript = new URL('./http-upstream.ts', import.meta.url).pathname;

const upstream = await spawnServer(NODE_TSX[0]!, [...NODE_TSX.slice(1), upstreamScript]);
const results = new Map<string, { rps: number[]; p99: number[]; cpu: number[] }>();
try {
  for (let r = 0; r < rounds; r++) {
    for (const name of ['direct', ...VARIANTS]) {
      const proxy =
        name === 'direct'
          ? undefined
          : await spawnServer(NODE_TSX[0]!, [
              ...NODE_TSX.slice(1),
              script,
              '--variant',
              name,
              '--upstream',
              String(upstream.port),
            ]);
      try {
        const url = `http://127.0.0.1:${proxy?.port ?? upstream.port}/bench`;
        await runWrk({ url, connections, durationS: 2 }); // warm-up
        const w = await runWrkWithCpu(
          { url, connections, durationS: seconds },
          (proxy ?? upstream).child.pid,
        );
        if (w.errors > 0) process.stderr.write(`${name}: ${w.errors} errors\n`);
        const entry = results.get(name) ?? { rps: [], p99: [], cpu: [] };
        entry.rps.push(w.rps);
        entry.p99.push(w.p99Ms);
        entry.cpu.push(w.cpuUsPerRequest);
        results.set(name, entry);
        process.stderr.write(
          `round ${r + 1} ${name}: ${Math.round(w.rps)} rps, p99 ${w.p99Ms} ms\n`,
        );
      } finally {
        await proxy?.stop();
      }
    }
  }
} finally {
  await upstream.stop();
}

const rows = [...results].map(([name, e]) => ({
  client: name,
  rps_median: Math.round(median(e.rps)),
  rps_all: e.rps.map((x) => Math.round(x)).join(' '),
  p99_ms_median: round(median(e.p99), 2),
  cpu_us_per_request: round(median(e.cpu), 1),
}));
process.stdout.write(
  `${formatTable(
    ['client', 'rps (median)', 'rps (rounds)', 'p99 ms (median)', 'CPU µs/request (median)'],
    rows.map((r) => [r.client, r.rps_median, r.rps_all, r.p99_ms_median, r.cpu_us_per_request]),
  )}\n`,
);
process.stdout.write(`${JSON.stringify({ bench: 'gateway-client', rows })}\n`);
