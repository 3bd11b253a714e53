/**
 * @module bench/lib/callgrind
 * A worker child under valgrind's callgrind (bench/instructions.ts): its command line, and a
 * counter that zeroes the counts, then dumps and reads them through callgrind_control and
 * callgrind_annotate. With `functions`, node writes a map of the JIT's code
 * (`--perf-basic-prof`, /tmp/perf-<pid>.map), and the counts are also read function by
 * function, JS functions named from that map.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstructionWindow } from './types.js';

/** The instruction counter of a worker under callgrind, through callgrind_control. */
export interface CallgrindCounter {
  /** Zeroes the counts. */
  zero(): void;
  /** Dumps the counts since zero() and reads them (callgrind_annotate); the dump is removed after. */
  dump(): InstructionWindow;
}

/** Functions kept per window, by their own count. */
const FUNCTIONS = 60;

/** valgrind's command line and node's flags for a callgrind child, its counter, and the removal of what it writes. */
export function callgrindCommand(functions: boolean): { prefix: string[]; nodeArgs: string[]; counter(pid: number): CallgrindCounter; remove(): void } {
  const base = join(tmpdir(), `celeriac-bench-callgrind-${process.pid}-${randomBytes(4).toString('hex')}`);
  const file = `${base}.out`;
  let dumps = 0;
  let mapOf: string | undefined;
  const control = (pid: number, action: string) => execFileSync('callgrind_control', [action, String(pid)], { stdio: 'ignore' });
  const annotate = (args: readonly string[]) => execFileSync('callgrind_annotate', [...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return {
    prefix: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${file}`, '--quiet'],
    // V8's compiler and GC run on the main thread: valgrind runs one thread at a time, and
    // helper threads that spin while they wait counted 30-400 million instructions more in one
    // 2,000-task drain than in the next.
    // --perf-basic-prof also turns V8's log on: its file goes beside the profile, not into the cwd.
    nodeArgs: ['--single-threaded', ...(functions ? ['--perf-basic-prof', `--logfile=${base}.v8.log`, '--no-logfile-per-isolate'] : [])],
    counter: (pid) => ({
      zero: () => control(pid, '--zero'),
      dump: () => {
        control(pid, '--dump');
        // callgrind writes the k-th dump of a run to <file>.<k>.
        const part = `${file}.${++dumps}`;
        try {
          const window = parseAnnotation(annotate(['--inclusive=yes', part]));
          if (!functions) return window;
          mapOf = `/tmp/perf-${pid}.map`;
          return { ...window, functions: ownCounts(annotate(['--threshold=100', part]), window.total, codeMap(readFileSync(mapOf, 'utf8'))).slice(0, FUNCTIONS) };
        } finally {
          rmSync(part, { force: true });
        }
      },
    }),
    remove: () => {
      for (const path of [file, `${base}.v8.log`, mapOf]) if (path !== undefined) rmSync(path, { force: true });
    },
  };
}

/**
 * Frames callgrind charges with the instructions of code it saw no call into (the JIT's code
 * entered by a jump, and the like): the process's and threads' roots, not work of their own.
 */
const ROOTS = /^(|main|clone|start_thread|__libc_start_main.*|\(below main\)|0x[0-9a-f]+|node::(Start|NodeMainInstance::Run|SpinEventLoopInternal|worker::Worker::(Run|StartThread)))$/;

/** An annotation line: a count, its share, a name. */
const LINE = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/;

/**
 * The window's counts in `callgrind_annotate --inclusive=yes` output: its PROGRAM TOTALS and
 * the inclusive counts of V8's optimizing compiler and collector (0 when they did not run).
 * @throws when there is no PROGRAM TOTALS line (not an annotation).
 */
export function parseAnnotation(text: string): InstructionWindow {
  const count = (name: string): number | undefined => {
    const m = new RegExp(`^\\s*([\\d,]+)\\s+\\([^)]*\\)\\s+${name}`, 'm').exec(text);
    return m === null ? undefined : Number((m[1] as string).replaceAll(',', ''));
  };
  const total = count('PROGRAM TOTALS');
  if (total === undefined) throw new Error(`callgrind_annotate printed no PROGRAM TOTALS:\n${text.slice(0, 2000)}`);
  return { total, compiler: count('\\S*v8::internal::Compiler::CompileOptimized\\(') ?? 0, gc: count('\\S*v8::internal::Heap::CollectGarbage\\(') ?? 0 };
}

/** Where the JIT put each function's code: start, end, name (the lines of a perf map). */
export type CodeMap = readonly (readonly [start: number, end: number, name: string])[];

/** A perf map (`<start hex> <size hex> <name>` per line), sorted by start. */
export function codeMap(text: string): CodeMap {
  const entries: [number, number, string][] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m === null) continue;
    const start = Number.parseInt(m[1] as string, 16);
    entries.push([start, start + Number.parseInt(m[2] as string, 16), m[3] as string]);
  }
  return entries.sort((a, b) => a[0] - b[0]);
}

/** The name of the code at `address`, or undefined outside every entry (a binary search). */
function nameAt(map: CodeMap, address: number): string | undefined {
  let lo = 0;
  let hi = map.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [start, end, name] = map[mid] as CodeMap[number];
    if (address < start) hi = mid - 1;
    else if (address >= end) lo = mid + 1;
    else return name;
  }
  return undefined;
}

/**
 * Each function's own count in `callgrind_annotate` output (exclusive), most first, the JIT's
 * code named from `map` (`JS:*parse packages/celeriac/dist/protocol/envelope-reader.js`; `*`
 * optimized, `^` baseline, `~` interpreted) and the rest by symbol,
 * without argument lists. The roots of the process and its threads are left out (see
 * {@link ROOTS}): what they show is JIT code callgrind could not tell apart, so the table holds
 * what it could.
 */
export function ownCounts(text: string, total: number, map: CodeMap): [name: string, count: number][] {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (m === null) continue;
    const count = Number((m[1] as string).replaceAll(',', ''));
    const label = m[2] as string;
    if (count >= total || label.includes('PROGRAM TOTALS')) continue;
    const address = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/.exec(label);
    let name: string;
    if (address !== null) name = nameAt(map, Number.parseInt(address[1] as string, 16)) ?? 'JIT code not in the map';
    else name = (label.split(':').slice(1).join(':') || label).replace(/\(.*$/, '').replace(/ \[[^\]]*\]$/, '');
    // The path from packages/ or node_modules/ on, without line and column: the same function
    // of two builds, whose lines moved, is one row (two functions of a file with one name, too).
    name = name.replace(/(?:file:\/\/)?\/\S*?\/(packages|node_modules)\//, '$1/').replace(/(\.[cm]?js):\d+:\d+$/, '$1').trim();
    if (ROOTS.test(name)) continue;
    counts.set(name, (counts.get(name) ?? 0) + count);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}
