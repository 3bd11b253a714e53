/**
 * @module bench/lib/probe-stats
 * The readings of bench/probe.ts, parsed: measures a loaded machine moves little (Redis
 * commands per task, bytes a worker allocates per task, CPU per thread), where the rates of a
 * drain swing several times over between rounds.
 */
import { readFileSync } from 'node:fs';
import { strictFlags, UsageError, wholeNumber } from './args.js';

export const PROBE_USAGE = `Usage: node --import tsx bench/probe.ts -- [flags]

One drain of --n no-op tasks through Celeriac's bench worker, on a redis-server of its own
(started on --port, removed after), for each build: the working tree's, and --base's first when
given. Prints per build: the time from the worker's start() to its first consume, the drain
rate after it, worker CPU per task by thread, the Redis server's CPU per task (INFO cpu: the
server is the probe's alone), the worker's socket writes and reads per task (/proc/<pid>/io
system calls), Redis commands per task (INFO commandstats), and bytes allocated
per task with the collections, full ones and pause time (V8 --trace-gc-nvp over the drain). With --rounds, the builds alternate round by round
(base first in odd rounds, last in even ones), a row each: one drain's rate on a shared
machine swings by a fifth or more between runs.

  --base <git rev>     also measure this commit's engine (built once under the temp dir)
  --n <tasks>          tasks per drain (default 20000)
  --concurrency <c>    the worker's concurrency (default 100)
  --events             task events on (-E), with a subscriber on the celeryev channels (a worker
                       drops task events nobody listens to) counting the messages per task
  --rounds <k>         drains per build, interleaved (default 1)
  --port <port>        the private redis-server's port; nothing may listen there (default 6400)
  --cpu-prof <dir>     write each drain's worker CPU profile (node --cpu-prof) into this directory
  --alloc-prof <dir>   write each drain's allocation profile (V8's sampling heap profiler, objects
                       collected since counted too) into this directory, and print the functions
                       that allocated most per task
  --jit                also run the worker with V8's --trace-opt --trace-deopt and print, per drain,
                       what its optimizing compiler did during the drain: the functions compiled and
                       the compile time on V8's helper threads (a short drain pays its warm-up there),
                       the functions compiled more than once, the deopts, and the code dropped
                       because an assumption it was built on changed (V8's "code dependencies")
  --help               this text
`;

export interface ProbeArgs {
  readonly help: boolean;
  readonly base: string | undefined;
  readonly n: number;
  readonly concurrency: number;
  readonly events: boolean;
  readonly port: number;
  readonly rounds: number;
  readonly cpuProf: string | undefined;
  readonly allocProf: string | undefined;
  readonly jit: boolean;
}

/** The probe's flags; a bad one is a UsageError naming it. */
export function parseProbeArgs(argv: readonly string[]): ProbeArgs {
  const v = strictFlags(argv, {
    base: { type: 'string' },
    n: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '100' },
    events: { type: 'boolean', default: false },
    port: { type: 'string', default: '6400' },
    rounds: { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
    'alloc-prof': { type: 'string' },
    jit: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  });
  if (v.base !== undefined && v.base.trim() === '') throw new UsageError('--base must name a commit');
  if (v['cpu-prof'] !== undefined && v['cpu-prof'].trim() === '') throw new UsageError('--cpu-prof must name a directory');
  if (v['alloc-prof'] !== undefined && v['alloc-prof'].trim() === '') throw new UsageError('--alloc-prof must name a directory');
  return {
    help: v.help,
    base: v.base,
    n: wholeNumber('--n', v.n, 1),
    concurrency: wholeNumber('--concurrency', v.concurrency, 1, 10_000),
    events: v.events,
    port: wholeNumber('--port', v.port, 1, 65535),
    rounds: wholeNumber('--rounds', v.rounds, 1, 100),
    cpuProf: v['cpu-prof'],
    allocProf: v['alloc-prof'],
    jit: v.jit,
  };
}

/**
 * Read and write system calls of a process so far (`/proc/<pid>/io`), nearly all of them on
 * its Redis sockets for a worker or a client: on a VM a write to a local socket costs tens of
 * µs of CPU and wakes the reader, so how many a task takes matters as much as what is sent.
 */
export function processIo(pid: number | 'self'): { syscr: number; syscw: number } {
  return parseProcIo(readFileSync(`/proc/${pid}/io`, 'utf8'));
}

/** The syscr and syscw counts of `/proc/<pid>/io` text. */
export function parseProcIo(text: string): { syscr: number; syscw: number } {
  const field = (name: string): number => {
    const value = new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1];
    if (value === undefined) throw new Error(`no ${name} in /proc/<pid>/io`);
    return Number(value);
  };
  return { syscr: field('syscr'), syscw: field('syscw') };
}

/** Calls per command in `INFO commandstats` text (`cmdstat_evalsha:calls=12,...`), by command name. */
export function commandCalls(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_(\S+?):calls=(\d+),/gm)) calls.set(m[1] as string, Number(m[2]));
  return calls;
}

/** What V8's `--trace-gc-nvp` lines report, summed over the collections among `lines`. */
export interface GcTotals {
  readonly collections: number;
  /** Bytes allocated since the collection before each, summed. */
  readonly allocatedBytes: number;
  readonly promotedBytes: number;
  readonly pauseMs: number;
  /** Full collections (`gc=mc`): the ones whose pauses a drain feels. */
  readonly markCompacts: number;
}

/** Sums the `--trace-gc-nvp` lines (`pause=1.2 ... allocated=123 promoted=45 ...`) in `text`; other lines are skipped. */
export function gcTotals(text: string): GcTotals {
  let collections = 0;
  let allocatedBytes = 0;
  let promotedBytes = 0;
  let pauseMs = 0;
  let markCompacts = 0;
  for (const line of text.split('\n')) {
    const allocated = /\ballocated=(\d+)/.exec(line);
    if (allocated === null) continue;
    collections += 1;
    allocatedBytes += Number(allocated[1]);
    promotedBytes += Number(/\bpromoted=(\d+)/.exec(line)?.[1] ?? 0);
    pauseMs += Number(/\bpause=([\d.]+)/.exec(line)?.[1] ?? 0);
    if (/\bgc=mc\b/.test(line)) markCompacts += 1;
  }
  return { collections, allocatedBytes, promotedBytes, pauseMs, markCompacts };
}

/**
 * A thread's name and CPU (user + system, clock ticks) from its `/proc/<pid>/task/<tid>/stat`
 * text; the name is in parentheses and may hold spaces or parentheses itself.
 */
export function threadStat(text: string): { name: string; ticks: number } {
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  return { name: text.slice(text.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** CPU per thread name between two readings (names repeat: V8's helpers are all "node"), only those that used some. */
export function threadCpuDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, ticks] of after) {
    const used = ticks - (before.get(name) ?? 0);
    if (used > 0) out.set(name, used);
  }
  return out;
}

/** A node of V8's sampling heap profile (HeapProfiler.stopSampling's `head`). */
export interface AllocationNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children?: readonly AllocationNode[];
}

/**
 * The `limit` functions that allocated most in a sampling heap profile, by bytes per task
 * (`tasks` tasks ran while it sampled): `name file:line` (the file's last two path parts, the
 * line 1-based), every call site of a function summed.
 */
export function topAllocations(head: AllocationNode, tasks: number, limit: number): { frame: string; bytesPerTask: number }[] {
  const bytes = new Map<string, number>();
  const stack: AllocationNode[] = [head];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      const frame = `${functionName === '' ? '(anonymous)' : functionName} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
      bytes.set(frame, (bytes.get(frame) ?? 0) + node.selfSize);
    }
    if (node.children !== undefined) stack.push(...node.children);
  }
  return [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([frame, total]) => ({ frame, bytesPerTask: total / tasks }));
}

/** What V8's `--trace-opt --trace-deopt` lines report of its optimizing compiler (TurboFan). */
export interface JitTotals {
  /** Optimized compiles completed. */
  readonly compiles: number;
  /** Their compile time on V8's helper threads (the middle figure of "took a, b, c ms"), summed. */
  readonly backgroundMs: number;
  /** Background compile ms by function (every compile of it summed; named as V8 names it, without its address), most first. */
  readonly byFunction: readonly (readonly [name: string, ms: number, compiles: number])[];
  /** Deoptimizations: the function and V8's reason. */
  readonly deopts: readonly { readonly name: string; readonly reason: string }[];
  /** Functions whose optimized code was dropped because an assumption it was built on changed (a field's type, an allocation site's tenuring...). */
  readonly invalidated: readonly string[];
}

const anonymous = (name: string | undefined): string => (name === undefined || name === '' ? '(anonymous)' : name);

/** Sums the `--trace-opt --trace-deopt` lines in `text`; other lines are skipped. */
export function jitTotals(text: string): JitTotals {
  const byFunction = new Map<string, [ms: number, compiles: number]>();
  const deopts: { name: string; reason: string }[] = [];
  const invalidated: string[] = [];
  let compiles = 0;
  let backgroundMs = 0;
  for (const line of text.split('\n')) {
    const compiled = /^\[completed compiling 0x[0-9a-f]+ <JSFunction ?(.*?) ?\(sfi = ([^)]*)\)>.* took [\d.]+, ([\d.]+), [\d.]+ ms\]/.exec(line);
    if (compiled !== null) {
      // By function, not by name: anonymous functions (and methods of one name) are many.
      const key = `${anonymous(compiled[1])} ${compiled[2] ?? ''}`;
      const ms = Number(compiled[3]);
      compiles += 1;
      backgroundMs += ms;
      const seen = byFunction.get(key) ?? [0, 0];
      byFunction.set(key, [seen[0] + ms, seen[1] + 1]);
      continue;
    }
    const deopt = /^\[bailout \(kind: [\w-]+, reason: ([^)]*)\): begin\. deoptimizing 0x[0-9a-f]+ <JSFunction ?(.*?) ?\(sfi = /.exec(line);
    if (deopt !== null) {
      deopts.push({ name: anonymous(deopt[2]), reason: deopt[1] ?? '' });
      continue;
    }
    const dropped = /^\[marking dependent code 0x[0-9a-f]+ <Code \w+> \(0x[0-9a-f]+ <SharedFunctionInfo ?([^>]*)>\)/.exec(line);
    if (dropped !== null) invalidated.push(anonymous(dropped[1]));
  }
  return {
    compiles,
    backgroundMs,
    byFunction: [...byFunction].sort((a, b) => b[1][0] - a[1][0]).map(([key, [ms, n]]) => [key.slice(0, key.lastIndexOf(' ')), ms, n] as const),
    deopts,
    invalidated,
  };
}

/** {@link jitTotals} as the probe prints it under its table, a line each. */
export function jitNote(label: string, t: JitTotals, top = 8): string[] {
  const twice = t.byFunction.filter(([, , n]) => n > 1);
  return [
    `${label}: TurboFan compiled ${t.compiles} functions, ${t.backgroundMs.toFixed(0)} ms on helper threads; most: ${t.byFunction
      .slice(0, top)
      .map(([name, ms, n]) => `${name} ${ms.toFixed(1)}${n > 1 ? ` (x${n})` : ''}`)
      .join(', ')}`,
    `  compiled more than once: ${twice.length === 0 ? 'none' : twice.map(([name, , n]) => `${name} x${n}`).join(', ')}`,
    `  deopts: ${t.deopts.length === 0 ? 'none' : t.deopts.map((d) => `${d.name} (${d.reason})`).join(', ')}`,
    `  code dropped for a changed assumption: ${t.invalidated.length === 0 ? 'none' : t.invalidated.join(', ')}`,
  ];
}
