/**
 * Runs Debian's `wrk` against a URL and parses its summary (requests/s, latency percentiles,
 * errors). Used by the gateway benchmarks.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface WrkOptions {
  readonly url: string;
  readonly connections?: number;
  readonly threads?: number;
  readonly durationS?: number;
  readonly headers?: readonly string[];
  /** A Lua script (wrk -s). */
  readonly script?: string;
}

export interface WrkResult {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  readonly errors: number;
  readonly raw: string;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  if (unit === 'us') return v / 1000;
  if (unit === 's') return v * 1000;
  if (unit === 'm') return v * 60_000;
  return v;
}

export function parseWrk(raw: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? Number.NaN);
  const requests = Number(/(\d+) requests in/.exec(raw)?.[1] ?? Number.NaN);
  const pct = (p: string): number => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s|m)\\b`).exec(raw);
    return m ? toMs(m[1]!, m[2]!) : Number.NaN;
  };
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  if (sock) errors += sock.slice(1).reduce((a, b) => a + Number(b), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(raw);
  if (non2xx) errors += Number(non2xx[1]);
  return { rps, p50Ms: pct('50'), p90Ms: pct('90'), p99Ms: pct('99'), requests, errors, raw };
}

export function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads ?? 1}`,
    `-c${options.connections ?? 50}`,
    `-d${options.durationS ?? 5}s`,
    '--latency',
  ];
  for (const h of options.headers ?? []) args.push('-H', h);
  if (options.script !== undefined) args.push('-s', options.script);
  args.push(options.url);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`wrk exited ${code}: ${out}`));
      else resolve(parseWrk(out));
    });
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Runs wrk and also measures the CPU time `pid` used per request, in microseconds. */
export async function runWrkWithCpu(
  options: WrkOptions,
  pid: number | undefined,
): Promise<WrkResult & { readonly cpuUsPerRequest: number }> {
  const before = processCpuSeconds(pid);
  const result = await runWrk(options);
  const used = processCpuSeconds(pid) - before;
  return { ...result, cpuUsPerRequest: Math.round((used / result.requests) * 1e6 * 10) / 10 };
}
