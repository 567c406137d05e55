/**
 * Summarises V8 CPU profiles (`.cpuprofile`, as written by `node --cpu-prof` or by the
 * benches' `--profile DIR`): busy time, self time by area of the code, and the top functions
 * by self and by inclusive time, as shares of busy (non-idle) time. Frames of the benches'
 * compiled copy of the sources show as `nodes/x.js:LINE` (line numbers of the compiled JS).
 *
 *   node --import=tsx scripts/bench/profile-summary.ts [--top N] FILE.cpuprofile…
 */

import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './build.js';
import { formatTable } from './table.js';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** The benches' compiled copy of the sources (scripts/bench/build.ts). */
const COMPILED = /^.*\/node_modules\/\.cache\/roster-bench-\d+(?:-\d+)?\//;

/** A frame's file relative to the repository (compiled copies: `nodes/x.js`, JS line numbers). */
function fileOf(frame: CallFrame): string {
  let url = frame.url.replace(/^file:\/\//, '');
  if (COMPILED.test(url)) return url.replace(COMPILED, '');
  if (url.startsWith(REPO_ROOT)) url = url.slice(REPO_ROOT.length + 1);
  return url.replace(/^.*node_modules\//, '');
}

function location(frame: CallFrame): string {
  if (frame.url === '') return '';
  return `${fileOf(frame)}:${frame.lineNumber + 1}`;
}

function keyOf(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  const loc = location(frame);
  return loc === '' ? name : `${name} ${loc}`;
}

/** The area of the code a frame belongs to, for the by-area table. */
function areaOf(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '');
  if (url === '') {
    if (frame.functionName === '(garbage collector)') return 'gc';
    if (frame.functionName === '(idle)') return 'idle';
    if (frame.functionName === '(program)') return 'program (native, unattributed)';
    return 'native';
  }
  if (url.startsWith('node:')) return 'node internals';
  if (COMPILED.test(url)) return `${fileOf(frame).split('/')[0]}/`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `dep ${nm[1]}`;
  if (url.startsWith(REPO_ROOT)) return url.slice(REPO_ROOT.length + 1).split('/')[0] + '/';
  return 'other';
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly busyMs: number;
  readonly byArea: [string, number][];
  readonly self: [string, number][];
  readonly inclusive: [string, number][];
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const area = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; the time of sample i is the next delta
    const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    total += dt;
    const a = areaOf(node.callFrame);
    area.set(a, (area.get(a) ?? 0) + dt);
    if (a === 'idle') {
      idle += dt;
      continue;
    }
    const k = keyOf(node.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      if (frame.functionName === '(root)') break;
      const key = keyOf(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  area.delete('idle');
  return {
    totalMs: total,
    busyMs: total - idle,
    byArea: sorted(area),
    self: sorted(self),
    inclusive: sorted(inclusive),
  };
}

export function formatSummary(name: string, s: ProfileSummary, top: number): string {
  const pct = (ms: number) => `${((ms / s.busyMs) * 100).toFixed(1)}%`;
  const rows = (list: [string, number][]) =>
    list.slice(0, top).map(([k, ms]) => [k, Math.round(ms), pct(ms)]);
  return [
    `== ${name}: ${Math.round(s.totalMs)} ms profiled, ${Math.round(s.busyMs)} ms busy (${((s.busyMs / s.totalMs) * 100).toFixed(0)}%)`,
    '',
    'self time by area (share of busy):',
    formatTable(['area', 'ms', 'share'], rows(s.byArea)),
    '',
    `top ${top} functions by self time:`,
    formatTable(['function', 'ms', 'share'], rows(s.self)),
    '',
    `top ${top} functions by inclusive time:`,
    formatTable(['function', 'ms', 'share'], rows(s.inclusive)),
    '',
  ].join('\n');
}

function main(argv: readonly string[]): void {
  let top = 25;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else files.push(argv[i]!);
  }
  if (files.length === 0) {
    process.stderr.write('usage: profile-summary.ts [--top N] FILE.cpuprofile…\n');
    process.exitCode = 2;
    return;
  }
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    process.stdout.write(`${formatSummary(basename(file), summarizeProfile(profile), top)}\n`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
