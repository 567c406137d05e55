/**
 * The bus floor, the figure every later benchmark is compared against: in one run against one
 * nats-server (NATS_URL when set, otherwise a fresh local server that is stopped at the end),
 *
 * - publish→subscribe throughput: MESSAGES (default 200 000) messages of 200 bytes, publisher
 *   and subscriber on separate connections, timed from the first publish until the subscriber
 *   holds the last message; after a 20 000-message warm-up, ROUNDS (default 3) rounds, the
 *   median reported;
 * - request-reply latency: REQUESTS (default 5000) sequential requests of 200 bytes after a
 *   warm-up, each timed with process.hrtime.bigint(); p50/p90/p99/max in milliseconds.
 *
 * Arguments: --messages N, --rounds N, --requests N, --size BYTES.
 */

import { ensureNatsServerBinary, natsUrlFromEnv } from '../../cli/nats-server-binary.js';
import { type NatsServerHandle, startNatsServer } from '../../test/helpers/nats-server.js';
import { connectNatsBus, type NatsBus } from '../../transport/nats-bus.js';
import type { BenchOptions, BenchResult } from './run.js';

const PUBLISH_CHUNK = 5000;
const PUBSUB_TIMEOUT_MS = 30_000;
const WARMUP_REQUESTS = 500;
const WARMUP_MESSAGES = 20_000;

function intArg(args: readonly string[], flag: string, fallback: number): number {
  const i = args.indexOf(flag);
  if (i === -1) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${flag} needs a positive integer`);
  return value;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The q-quantile (0..1) of sorted values, nearest-rank. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

async function pubsub(
  publisher: NatsBus,
  subscriber: NatsBus,
  messages: number,
  size: number,
): Promise<{ seconds: number; msgsPerSecond: number }> {
  const subject = `bench.bus.pubsub.${Math.random().toString(36).slice(2)}`;
  const payload = new Uint8Array(size).fill(0x61);
  let received = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  const sub = subscriber.subscribe(subject, () => {
    received++;
    if (received === messages) resolveDone();
  });
  await subscriber.flush();

  const started = process.hrtime.bigint();
  for (let sent = 0; sent < messages; ) {
    const end = Math.min(messages, sent + PUBLISH_CHUNK);
    for (; sent < end; sent++) publisher.publish(subject, payload);
    // let the subscriber's socket be read: both ends live in this process
    await yieldToIo();
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), PUBSUB_TIMEOUT_MS);
  });
  const outcome = await Promise.race([done.then(() => 'done' as const), timeout]);
  const elapsed = process.hrtime.bigint() - started;
  clearTimeout(timer);
  sub.unsubscribe();
  if (outcome === 'timeout') {
    throw new Error(
      `subscriber got ${received} of ${messages} messages in ${PUBSUB_TIMEOUT_MS} ms`,
    );
  }
  const seconds = Number(elapsed) / 1e9;
  return { seconds, msgsPerSecond: messages / seconds };
}

async function requestReply(
  requester: NatsBus,
  responder: NatsBus,
  requests: number,
  size: number,
): Promise<number[]> {
  const subject = 'bench.bus.rr';
  const payload = new Uint8Array(size).fill(0x62);
  const sub = responder.subscribe(subject, (msg) => {
    msg.respond(msg.data);
  });
  await responder.flush();
  for (let i = 0; i < WARMUP_REQUESTS; i++) {
    await requester.request(subject, payload, { timeoutMs: 5000 });
  }
  const latencies: number[] = new Array(requests);
  for (let i = 0; i < requests; i++) {
    const t0 = process.hrtime.bigint();
    await requester.request(subject, payload, { timeoutMs: 5000 });
    latencies[i] = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  sub.unsubscribe();
  return latencies.sort((a, b) => a - b);
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const messages = intArg(options.args, '--messages', 200_000);
  const rounds = intArg(options.args, '--rounds', 3);
  const requests = intArg(options.args, '--requests', 5000);
  const size = intArg(options.args, '--size', 200);

  let server: NatsServerHandle | undefined;
  let url = natsUrlFromEnv();
  const buses: NatsBus[] = [];
  try {
    if (url === undefined) {
      await ensureNatsServerBinary({ log: options.log });
      server = await startNatsServer({ jetstream: false });
      url = server.url;
      options.log(`started nats-server at ${url}`);
    } else {
      options.log(`using NATS_URL=${url}`);
    }
    const publisher = await connectNatsBus({ servers: url, name: 'bench-publisher' });
    buses.push(publisher);
    const subscriber = await connectNatsBus({ servers: url, name: 'bench-subscriber' });
    buses.push(subscriber);

    options.log(`pub→sub: warm-up, then ${rounds} × ${messages} messages of ${size} bytes`);
    await pubsub(publisher, subscriber, WARMUP_MESSAGES, size);
    const runs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      runs.push((await pubsub(publisher, subscriber, messages, size)).msgsPerSecond);
    }
    const sortedRuns = [...runs].sort((a, b) => a - b);
    const median = quantile(sortedRuns, 0.5);
    options.log(`request-reply: ${WARMUP_REQUESTS} warm-up + ${requests} sequential requests`);
    const lat = await requestReply(publisher, subscriber, requests, size);

    return {
      pubsub_msgs_per_s: Math.round(median),
      pubsub_mb_per_s: round((median * size) / 1e6, 1),
      pubsub_rounds: runs.map((r) => Math.round(r)).join('/'),
      rr_p50_ms: round(quantile(lat, 0.5), 3),
      rr_p90_ms: round(quantile(lat, 0.9), 3),
      rr_p99_ms: round(quantile(lat, 0.99), 3),
      rr_max_ms: round(lat.at(-1) ?? Number.NaN, 3),
      rr_mean_ms: round(lat.reduce((a, b) => a + b, 0) / lat.length, 3),
      messages,
      rounds,
      message_bytes: size,
      requests,
      nats_server: publisher.raw.info?.version ?? 'unknown',
      node: process.version,
    };
  } finally {
    await Promise.all(buses.map((bus) => bus.close()));
    await server?.stop();
  }
}
