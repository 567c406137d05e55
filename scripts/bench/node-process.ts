/**
 * One registry node in its own process, for the cluster benchmarks (so each node has its own
 * event loop, heap and RSS, as in production). Started by scripts/bench/cluster.ts with an IPC
 * channel:
 *
 *   node --import=tsx scripts/bench/node-process.ts --nats URL --id ID [--heartbeat-ms N]
 *     [--discovery-ms N]
 *
 * It reports `{type:'ready', loadedAt, startCalledAt, readyAt}` (epoch ms, sub-ms resolution,
 * comparable with the parent's clock) once `start()` resolved, answers `{type:'info', seq}`
 * with the node's cluster-info state, memory usage and GC / event-loop-delay figures since the
 * last `{type:'resetStats'}`, writes a heap snapshot on `{type:'heapSnapshot', seq, path}`, and on `{type:'close'}` closes the node
 * and exits normally (so `--cpu-prof` writes its profile). It exits when the parent goes away.
 */

import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { RegistryNode } from '../../nodes/index.js';
import { connectNatsBus } from '../../transport/nats-bus.js';
import { epochMs, intArg, stringArg } from './util.js';

export type ParentMessage =
  | { type: 'info'; seq: number }
  | { type: 'resetStats' }
  | { type: 'heapSnapshot'; seq: number; path: string }
  | { type: 'close' };

/** Pauses and event-loop delay since the last resetStats (or since start). */
export interface RuntimeStats {
  readonly gcCount: number;
  readonly gcTotalMs: number;
  readonly gcMaxMs: number;
  /**
   * Event-loop delay percentiles (ms): how late a 10 ms timer fired (monitorEventLoopDelay,
   * with the 10 ms itself subtracted), i.e. how long the loop was blocked.
   */
  readonly loopDelayP50Ms: number;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

export type ChildMessage =
  | { type: 'ready'; pid: number; loadedAt: number; startCalledAt: number; readyAt: number }
  | {
      type: 'info';
      seq: number;
      info: ReturnType<RegistryNode['info']>;
      memory: NodeJS.MemoryUsage;
      stats: RuntimeStats;
    }
  | { type: 'heapSnapshot'; seq: number; path: string }
  | { type: 'heapSnapshot'; seq: number; error: string }
  | { type: 'error'; message: string };

const loadedAt = epochMs();

const LOOP_DELAY_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
loopDelay.enable();
let gcCount = 0;
let gcTotalMs = 0;
let gcMaxMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcCount++;
    gcTotalMs += e.duration;
    gcMaxMs = Math.max(gcMaxMs, e.duration);
  }
}).observe({ entryTypes: ['gc'] });

function runtimeStats(): RuntimeStats {
  // the histogram holds whole timer intervals: the delay is what exceeds the resolution
  const ms = (ns: number) => Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS);
  return {
    gcCount,
    gcTotalMs,
    gcMaxMs,
    loopDelayP50Ms: ms(loopDelay.percentile(50)),
    loopDelayP99Ms: ms(loopDelay.percentile(99)),
    loopDelayMaxMs: ms(loopDelay.max),
  };
}

function resetStats(): void {
  gcCount = 0;
  gcTotalMs = 0;
  gcMaxMs = 0;
  loopDelay.reset();
}

function send(msg: ChildMessage): void {
  process.send?.(msg);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const url = stringArg(args, '--nats');
  const id = stringArg(args, '--id');
  if (url === undefined || id === undefined) throw new Error('--nats URL and --id ID are required');
  const heartbeatMs = args.includes('--heartbeat-ms')
    ? intArg(args, '--heartbeat-ms', 1000)
    : undefined;
  const discoveryMs = args.includes('--discovery-ms')
    ? intArg(args, '--discovery-ms', 1500)
    : undefined;

  const bus = await connectNatsBus({ servers: url, name: `bench-node-${id}` });
  const node = new RegistryNode(bus, {
    id,
    ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
    ...(discoveryMs === undefined ? {} : { discoveryMs }),
  });
  let closing = false;
  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    await node.close();
    await bus.close();
    process.exit(0);
  };
  process.on('message', (msg: ParentMessage) => {
    if (msg.type === 'info') {
      send({
        type: 'info',
        seq: msg.seq,
        info: node.info(),
        memory: process.memoryUsage(),
        stats: runtimeStats(),
      });
    } else if (msg.type === 'resetStats') {
      resetStats();
    } else if (msg.type === 'heapSnapshot') {
      try {
        send({ type: 'heapSnapshot', seq: msg.seq, path: writeHeapSnapshot(msg.path) });
      } catch (err) {
        send({ type: 'heapSnapshot', seq: msg.seq, error: String(err) });
      }
    } else if (msg.type === 'close') {
      void shutdown();
    }
  });
  process.on('disconnect', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());

  const startCalledAt = epochMs();
  await node.start();
  send({ type: 'ready', pid: process.pid, loadedAt, startCalledAt, readyAt: epochMs() });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.stderr.write(`bench node failed: ${String(err)}\n`);
  process.exit(1);
});
