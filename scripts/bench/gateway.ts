/**
 * The gateway benchmark (issue 5 item 8): one upstream process, wrk as the load generator, and
 * proxies each in one process — the Roster gateway, the Roster gateway with JWT and rate
 * limiting on its route, and nginx (one worker, upstream keep-alive) — measured alternately in
 * rounds so that drift hits all alike; then p99 of the gateway, of nginx and of a Node floor
 * (scripts/bench/proxy-variants.ts `net`: bare sockets passing bytes through, no HTTP work) at
 * half of the gateway's peak rate (wrk throttled with a Lua delay, since Debian's wrk has no -R),
 * in four rounds by default, each after a 2 s warm-up of its own target, the peers in a
 * balanced order (scripts/bench/util.ts balancedOrder; with six peers, four rounds put each in
 * four different positions, and a complete design would take six).
 * The floor shows how far above nginx any Node proxy starts on the machine at hand; a sixth
 * half-rate peer, the `handle` floor (scripts/bench/handle-floor.ts: the same pass-through on
 * libuv TCP handles, no net.Socket), shows how much of that is net.Socket. The gateway
 * processes run under the GC mode `roster gateway` picks on this machine (cli/gateway-runtime.ts:
 * single-threaded on ≤ 2 CPUs; ROSTER_GATEWAY_GC overrides it, as for the CLI); a fourth
 * half-rate peer is the same gateway under the other mode (`other_gc_*` in the result), so the
 * choice stays measured. A fifth, in the peak rounds too, is nginx setting the same forwarding
 * fields as the gateway (`nginx_forwarding_*`, `forwarding_*`; nginxConfig): the targets are
 * measured against nginx with its minimal fields, and this shows how much of the difference is
 * the work those fields cost both proxies and the upstream.
 *
 *   npm run bench -- gateway [--json] [--rounds N] [--half-rounds N] [--seconds N]
 *     [--connections N]
 *     [--profile DIR]   (V8 CPU profiles of both gateway processes; summarize with
 *                        scripts/bench/profile-summary.ts)
 *     [--access-log]    (one more peer in the peak rounds: the gateway writing an access log
 *                        line per request to a file; `rps_access_log`, `access_log_ratio`)
 *
 * Result: {"bench":"gateway","rps","nginx_rps","ratio","p99_ms","nginx_p99_ms","rps_plugins",…}.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { gatewayGcMode, gcModeFlags } from '../../cli/gateway-runtime.js';
import { connect } from '../../client/index.js';
import { RegistryNode } from '../../nodes/index.js';
import { connectNatsBus } from '../../transport/nats-bus.js';
import { buildForBench } from './build.js';
import { startBenchNats } from './cluster.js';
import type { BenchOptions, BenchResult, BenchTarget } from './run.js';
import { type ServerProcess, spawnServer } from './spawn-server.js';
import { balancedOrder, intArg, median, round, stringArg } from './util.js';
import { runWrk, runWrkWithCpu, type WrkResult } from './wrk.js';

export const targets: readonly BenchTarget[] = [
  { metric: 'ratio', op: '>=', value: 0.5 },
  { metric: 'p99_gap_ms', op: '<=', value: 1 },
  { metric: 'plugins_ratio', op: '>=', value: 0.8 },
];

const GATEWAY_SCRIPT = fileURLToPath(new URL('./gateway-process.ts', import.meta.url));
const FLOOR_SCRIPT = fileURLToPath(new URL('./proxy-variants.ts', import.meta.url));
const UPSTREAM_SCRIPT = fileURLToPath(new URL('./http-upstream.ts', import.meta.url));

/** Seconds of load on a target right before each of its half-rate rounds (reported, not counted). */
const REWARM_S = 2;

const SECRET = 'bench-secret-bench-secret-bench-secret!';

/**
 * What nginx sets on the upstream request. `minimal`: Host and X-Forwarded-For, a common
 * reverse-proxy setup and the peer the targets are measured against. `forwarding`: the same
 * forwarding fields the gateway sets on every request (X-Forwarded-Proto and -Host, Forwarded,
 * X-Request-Id, a W3C traceparent), so that both proxies, and the upstream behind them, do the
 * same work per request; it is reported beside the targets, not in their place.
 */
export type NginxFields = 'minimal' | 'forwarding';

const FORWARDING_FIELDS = `
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header Forwarded 'for=$remote_addr;host="$http_host";proto=$scheme';
      proxy_set_header X-Request-Id $request_id;
      proxy_set_header traceparent 00-$request_id-$span_id-01;`;

export function nginxConfig(
  dir: string,
  port: number,
  upstreamPort: number,
  fields: NginxFields = 'minimal',
): string {
  return `worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 128; }${
    fields === 'forwarding'
      ? `
  # A span id for traceparent: 16 hex digits of the request id (nginx has no other source).
  map $request_id $span_id { "~^(?<id>[0-9a-f]{16})" $id; }`
      : ''
  }
  server {
    listen 127.0.0.1:${port} reuseport;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;${fields === 'forwarding' ? FORWARDING_FIELDS : ''}
    }
  }
}
`;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startNginx(
  parent: string,
  upstreamPort: number,
  fields: NginxFields,
): Promise<ServerProcess> {
  const port = await freePort();
  const dir = join(parent, `nginx-${fields}`);
  mkdirSync(dir);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, upstreamPort, fields));
  const child = spawn('nginx', ['-p', dir, '-c', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      await runWrk({ url: `http://127.0.0.1:${port}/`, connections: 1, durationS: 1 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    port,
    child,
    stop: async () => {
      child.kill('SIGQUIT');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * A wrk Lua script that waits a random 0..2×`ms` (mean `ms`) before each request on each
 * connection: an open-ish load at connections × 1000 / (ms + latency) requests per second,
 * without the connections marching in step (which would send bursts).
 */
function delayScript(dir: string, ms: number): string {
  const file = join(dir, `delay-${ms}.lua`);
  writeFileSync(
    file,
    `math.randomseed(os.time())\nfunction delay() return math.random(0, ${2 * ms}) end\n`,
  );
  return file;
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const { log, args } = options;
  const rounds = intArg(args, '--rounds', 3);
  const halfRounds = intArg(args, '--half-rounds', 4);
  const seconds = intArg(args, '--seconds', 8);
  const connections = intArg(args, '--connections', 50);
  // The Node processes run the JavaScript the package ships (build.ts), not tsx's transform.
  const build = await buildForBench([GATEWAY_SCRIPT, FLOOR_SCRIPT, UPSTREAM_SCRIPT]);
  const dir = mkdtempSync(join(tmpdir(), 'roster-bench-gw-'));
  const nats = await startBenchNats(log);
  const bus = await connectNatsBus({ servers: nats.url, name: 'bench-gw-node' });
  const node = new RegistryNode(bus, { id: 'bench-gw' });
  const stops: (() => Promise<unknown>)[] = [];
  try {
    await node.start();
    const upstream = await spawnServer(process.execPath, [build.script(UPSTREAM_SCRIPT)]);
    stops.push(() => upstream.stop());
    const services = await connect({ servers: nats.url, name: 'bench-gw-services' });
    stops.push(() => services.close());
    await services.register({ service: 'bench', host: '127.0.0.1', port: upstream.port });
    const profileDir = stringArg(args, '--profile');
    const gcMode = gatewayGcMode(process.env.ROSTER_GATEWAY_GC, availableParallelism());
    const otherGcMode = gcMode === 'parallel' ? 'single-threaded' : 'parallel';
    const startGateway = (
      plugins?: object,
      nodeFlags = gcModeFlags(gcMode),
      extra: readonly string[] = [],
    ) =>
      spawnServer(process.execPath, [
        ...nodeFlags,
        ...(profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        build.script(GATEWAY_SCRIPT),
        '--nats',
        nats.url,
        '--service',
        'bench',
        ...(plugins ? ['--plugins', JSON.stringify(plugins)] : []),
        ...extra,
      ]);
    const gateway = await startGateway();
    stops.push(() => gateway.stop());
    const gatewayPlugins = await startGateway({
      jwt: { algorithms: ['HS256'], secret: SECRET },
      'rate-limit': { limit: 1_000_000_000, windowSec: 1, key: 'consumer' },
    });
    stops.push(() => gatewayPlugins.stop());
    const gatewayOtherGc = await startGateway(undefined, gcModeFlags(otherGcMode));
    stops.push(() => gatewayOtherGc.stop());
    const nginx = await startNginx(dir, upstream.port, 'minimal');
    stops.push(() => nginx.stop());
    const nginxForwarding = await startNginx(dir, upstream.port, 'forwarding');
    stops.push(() => nginxForwarding.stop());
    // The Node floor for the latency target: bare sockets passing bytes through, no HTTP work.
    const floor = await spawnServer(process.execPath, [
      build.script(FLOOR_SCRIPT),
      '--variant',
      'net',
      '--upstream',
      String(upstream.port),
    ]);
    stops.push(() => floor.stop());
    const handleFloor = await spawnServer(process.execPath, [
      build.script(FLOOR_SCRIPT),
      '--variant',
      'handle',
      '--upstream',
      String(upstream.port),
    ]);
    stops.push(() => handleFloor.stop());
    const token = await new SignJWT({ sub: 'bench-user' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('2h')
      .sign(new TextEncoder().encode(SECRET));
    const auth = [`Authorization: Bearer ${token}`];

    const targetsToRun: [string, number, string[], number | undefined][] = [
      ['gateway', gateway.port, [], gateway.child.pid],
      ['nginx', nginx.port, [], nginx.child.pid],
      ['gateway_plugins', gatewayPlugins.port, auth, gatewayPlugins.child.pid],
      ['nginx_forwarding', nginxForwarding.port, [], nginxForwarding.child.pid],
      ['direct', upstream.port, [], upstream.child.pid],
    ];
    const accessLogFile = join(dir, 'access.log');
    if (args.includes('--access-log')) {
      const logged = await startGateway(undefined, gcModeFlags(gcMode), [
        '--access-log',
        accessLogFile,
      ]);
      stops.push(() => logged.stop());
      targetsToRun.push(['gateway_access_log', logged.port, [], logged.child.pid]);
    }
    const results = new Map<string, (WrkResult & { cpuUsPerRequest: number })[]>();
    for (const [, port, headers] of targetsToRun) {
      await runWrk({ url: `http://127.0.0.1:${port}/bench`, connections, durationS: 2, headers });
    }
    for (let r = 0; r < rounds; r++) {
      for (const [name, port, headers, pid] of targetsToRun) {
        const w = await runWrkWithCpu(
          { url: `http://127.0.0.1:${port}/bench`, connections, durationS: seconds, headers },
          pid,
        );
        if (w.errors > 0) log(`${name}: ${w.errors} errors/non-2xx`);
        log(
          `round ${r + 1} ${name}: ${Math.round(w.rps)} rps, p99 ${w.p99Ms} ms, ${w.cpuUsPerRequest} µs CPU/request`,
        );
        results.set(name, [...(results.get(name) ?? []), w]);
      }
    }
    const rps = (name: string) => Math.round(median(results.get(name)!.map((w) => w.rps)));
    const cpu = (name: string) => median(results.get(name)!.map((w) => w.cpuUsPerRequest));
    const peak = rps('gateway');

    // Latency at half of the gateway's peak: connections × 1000 / (delay + latency) ≈ rate.
    const half = Math.round(peak / 2);
    const delayMs = 20;
    const conns = Math.max(4, Math.round((half * (delayMs + 0.5)) / 1000));
    const script = delayScript(dir, delayMs);
    const halfResults = new Map<string, WrkResult[]>();
    const rewarmResults = new Map<string, WrkResult[]>();
    const halfTargets = [
      ['gateway', gateway.port],
      ['nginx', nginx.port],
      ['floor', floor.port],
      ['handle_floor', handleFloor.port],
      ['other_gc', gatewayOtherGc.port],
      ['nginx_forwarding', nginxForwarding.port],
    ] as const;
    // More rounds than at the peak (one round's p99 can be two or three times another's in the
    // same run), in a balanced order: with a fixed order each peer would always run right after
    // the same neighbour and take what it leaves behind.
    for (let r = 0; r < halfRounds; r++) {
      for (const i of balancedOrder(halfTargets.length, r)) {
        const [name, port] = halfTargets[i]!;
        const load = { url: `http://127.0.0.1:${port}/bench`, connections: conns, script };
        // Each round follows a warm-up of its own target at the same load: a peer waits 30–50 s
        // between its rounds, and a Node process back from that long a lull first uncommits and
        // refaults its young generation (V8 shrinks it after a GC that finds the allocation rate
        // low), which stalls its first seconds — a start-up cost, not the rate's latency.
        // The warm-ups' p99s are reported too (`*_rewarm_p99s_ms`).
        const warm = await runWrk({ ...load, durationS: REWARM_S });
        rewarmResults.set(name, [...(rewarmResults.get(name) ?? []), warm]);
        const w = await runWrk({ ...load, durationS: seconds });
        log(
          `half-rate round ${r + 1} ${name}: ${Math.round(w.rps)} rps, p99 ${w.p99Ms} ms (warm-up p99 ${warm.p99Ms} ms)`,
        );
        halfResults.set(name, [...(halfResults.get(name) ?? []), w]);
      }
    }
    const p99 = (name: string) => round(median(halfResults.get(name)!.map((w) => w.p99Ms)), 3);
    /** Every round's p99, in order (the median hides how they spread). */
    const p99s = (name: string, from = halfResults) =>
      from
        .get(name)!
        .map((w) => w.p99Ms)
        .join(' ');
    const nginxRps = rps('nginx');
    const pluginsRps = rps('gateway_plugins');
    const accessLogFigures: BenchResult = results.has('gateway_access_log')
      ? {
          rps_access_log: rps('gateway_access_log'),
          access_log_ratio: round(rps('gateway_access_log') / peak, 3),
          access_log_cpu_us_per_request: cpu('gateway_access_log'),
          access_log_bytes: statSync(accessLogFile).size,
        }
      : {};
    return {
      rps: peak,
      nginx_rps: nginxRps,
      ratio: round(peak / nginxRps, 3),
      p99_ms: p99('gateway'),
      nginx_p99_ms: p99('nginx'),
      p99_gap_ms: round(p99('gateway') - p99('nginx'), 3),
      floor_p99_ms: p99('floor'),
      floor_p99_gap_ms: round(p99('floor') - p99('nginx'), 3),
      handle_floor_p99_ms: p99('handle_floor'),
      handle_floor_p99_gap_ms: round(p99('handle_floor') - p99('nginx'), 3),
      gc_mode: gcMode,
      other_gc_mode: otherGcMode,
      other_gc_p99_ms: p99('other_gc'),
      other_gc_p99_gap_ms: round(p99('other_gc') - p99('nginx'), 3),
      nginx_forwarding_rps: rps('nginx_forwarding'),
      forwarding_ratio: round(peak / rps('nginx_forwarding'), 3),
      nginx_forwarding_p99_ms: p99('nginx_forwarding'),
      forwarding_p99_gap_ms: round(p99('gateway') - p99('nginx_forwarding'), 3),
      rps_plugins: pluginsRps,
      plugins_ratio: round(pluginsRps / peak, 3),
      direct_rps: rps('direct'),
      cpu_us_per_request: cpu('gateway'),
      nginx_cpu_us_per_request: cpu('nginx'),
      plugins_cpu_us_per_request: cpu('gateway_plugins'),
      nginx_forwarding_cpu_us_per_request: cpu('nginx_forwarding'),
      ...accessLogFigures,
      half_rate_rps: Math.round(median(halfResults.get('gateway')!.map((w) => w.rps))),
      half_rate_p99s_ms: p99s('gateway'),
      nginx_half_rate_p99s_ms: p99s('nginx'),
      floor_half_rate_p99s_ms: p99s('floor'),
      handle_floor_half_rate_p99s_ms: p99s('handle_floor'),
      other_gc_half_rate_p99s_ms: p99s('other_gc'),
      nginx_forwarding_half_rate_p99s_ms: p99s('nginx_forwarding'),
      half_rate_rewarm_p99s_ms: p99s('gateway', rewarmResults),
      nginx_half_rate_rewarm_p99s_ms: p99s('nginx', rewarmResults),
      connections,
      seconds,
      rounds,
      half_rounds: halfRounds,
      loadavg_1m: round(loadavg()[0]!, 2),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await node.close();
    await bus.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
    build.remove();
  }
}
