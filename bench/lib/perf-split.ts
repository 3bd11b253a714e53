/**
 * @module bench/lib/perf-split
 * Where a Celeriac worker's CPU time went during a drain, read from `perf script` output of
 * a `perf record -g -e cpu-clock` run (bench/perf-split.ts): each worker process of the
 * recording, its samples from the first to the last one whose main thread was in the executor,
 * split by thread (main or V8's helpers) and by kind: the optimizing compiler, the collector,
 * the kernel, JS code, V8's builtins, other native code. Real time, where bench/instructions.ts
 * counts instructions: a call of a cached generic lookup is many instructions and little time,
 * a system call the reverse.
 */

/** One sample: its process and thread, when, and its frames from the leaf out. */
export interface Sample {
  readonly pid: number;
  readonly tid: number;
  readonly time: number;
  /** `[address, symbol]`, leaf first. */
  readonly frames: readonly (readonly [string, string])[];
}

/** What a sample was doing. */
export type Kind = 'compiler' | 'gc' | 'kernel' | 'js' | 'builtins' | 'native';
export const KINDS: readonly Kind[] = ['compiler', 'gc', 'kernel', 'js', 'builtins', 'native'];

/** A sample header: `  pid/tid  seconds.micros:`. */
const HEADER = /^\s*(\d+)\/(\d+)\s+(\d+\.\d+):/;
/** A frame: `\t<hex address> <symbol>` (perf script -F pid,tid,time,ip,sym). */
const FRAME = /^\t\s*([0-9a-f]+) (.*)$/;

/**
 * The samples of `perf script -F pid,tid,time,ip,sym` text.
 * @throws when the text holds no sample header (not that output: say how to make it).
 */
export function parsePerfScript(text: string): Sample[] {
  const samples: Sample[] = [];
  let frames: [string, string][] | null = null;
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line);
    if (header !== null) {
      frames = [];
      samples.push({ pid: Number(header[1]), tid: Number(header[2]), time: Number(header[3]), frames });
      continue;
    }
    const frame = FRAME.exec(line);
    if (frame !== null && frames !== null) frames.push([frame[1] as string, (frame[2] as string).trim()]);
  }
  if (samples.length === 0) throw new Error(`not the output of perf script -F pid,tid,time,ip,sym (no sample header in ${JSON.stringify(text.slice(0, 200))})`);
  return samples;
}

const COMPILER = /v8::internal::compiler::|v8::internal::maglev::|OptimizingCompileDispatcher|Compiler::Compile|CompileOptimized/;
const GC = /v8::internal::(Heap::|Scavenge|MarkCompact|ConcurrentMarking|Sweeper|IncrementalMarking|MinorMarkCompact|MarkingVisitor)|heap::base::/;

/**
 * The kind of a sample: the compiler or the collector anywhere on its stack (a collection a
 * JS allocation started is the collector's), else the kernel when its leaf is a kernel
 * address, else by the leaf's name (perf-basic-prof names JS code `JS:...` and regular
 * expressions `RegExp:...`).
 */
export function kindOf(frames: Sample['frames']): Kind {
  for (const [, symbol] of frames) {
    if (COMPILER.test(symbol)) return 'compiler';
    if (GC.test(symbol)) return 'gc';
  }
  const leaf = frames[0];
  if (leaf === undefined) return 'native';
  if (leaf[0].length === 16 && leaf[0].startsWith('ffff')) return 'kernel';
  if (leaf[1].startsWith('JS:') || leaf[1].startsWith('RegExp:')) return 'js';
  if (leaf[1].startsWith('Builtins_')) return 'builtins';
  return 'native';
}

/** Where the engine's compiled files are: `<root>/packages/celeriac/dist/<file>`. */
const ENGINE_FILE = /(?:file:\/\/)?(\S*?)\/packages\/celeriac\/dist\/(\S+?\.js)/;

/** A worker process's drain, split. */
export interface WorkerSplit {
  readonly pid: number;
  /** The folder its engine was loaded from (bench/ab.ts's base builds sit in their own). */
  readonly build: string;
  /** Whether it wrote task events (the event writer ran). */
  readonly events: boolean;
  /** Seconds from its first to its last sample in the executor. */
  readonly seconds: number;
  readonly main: Record<Kind, number>;
  readonly helpers: Record<Kind, number>;
  /** The main thread's samples by leaf, most first (paths from packages/ or node_modules/ on). */
  readonly leaves: readonly (readonly [string, number])[];
}

const zero = (): Record<Kind, number> => ({ compiler: 0, gc: 0, kernel: 0, js: 0, builtins: 0, native: 0 });

/**
 * A symbol without the machine's paths, and a JS function's without its line and column: the
 * same function of two builds, whose lines moved, is one name.
 */
export function shortName(symbol: string): string {
  return symbol.replace(/(?:file:\/\/)?\/\S*?\/(packages|node_modules)\//, '$1/').replace(/(\.[cm]?js):\d+:\d+$/, '$1');
}

/**
 * Every worker process in the samples, in the order they started (by pid): a process whose
 * main thread ran the executor (packages/celeriac/dist/worker/executor.js). Its window runs
 * from the first to the last such sample; what its threads did outside it (loading, connecting,
 * closing) is left out.
 */
export function splitWorkers(samples: readonly Sample[]): WorkerSplit[] {
  const byPid = new Map<number, Sample[]>();
  for (const s of samples) {
    let list = byPid.get(s.pid);
    if (list === undefined) byPid.set(s.pid, (list = []));
    list.push(s);
  }
  const out: WorkerSplit[] = [];
  for (const [pid, list] of [...byPid].sort((a, b) => a[0] - b[0])) {
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    let build: string | undefined;
    for (const s of list) {
      if (s.tid !== pid) continue;
      for (const [, symbol] of s.frames) {
        const file = ENGINE_FILE.exec(symbol);
        if (file === null || file[2] !== 'worker/executor.js') continue;
        build ??= file[1] as string;
        first = Math.min(first, s.time);
        last = Math.max(last, s.time);
        break;
      }
    }
    if (build === undefined) continue;
    const main = zero();
    const helpers = zero();
    const leaves = new Map<string, number>();
    let events = false;
    for (const s of list) {
      if (s.time < first || s.time > last) continue;
      const kind = kindOf(s.frames);
      (s.tid === pid ? main : helpers)[kind]++;
      if (!events && s.frames.some(([, symbol]) => symbol.includes('/worker/events/event-text.js'))) events = true;
      if (s.tid === pid) {
        const leaf = shortName(s.frames[0]?.[1] ?? '[no frame]');
        leaves.set(leaf, (leaves.get(leaf) ?? 0) + 1);
      }
    }
    out.push({ pid, build, events, seconds: last - first, main, helpers, leaves: [...leaves].sort((a, b) => b[1] - a[1]) });
  }
  return out;
}

/**
 * A worker's split as a Markdown table: samples and, given the sampling rate and the tasks it
 * ran, µs of CPU per task, by kind, for the main thread and the helpers.
 */
export function splitTable(w: WorkerSplit, hz: number, tasks: number | undefined): string[] {
  const per = (n: number): string => (tasks === undefined ? '' : ` (${((n / hz / tasks) * 1e6).toFixed(1)} µs/task)`);
  const sum = (r: Record<Kind, number>): number => KINDS.reduce((t, k) => t + r[k], 0);
  return [
    `| pid ${w.pid}: ${w.build}, events ${w.events ? 'on' : 'off'}, ${w.seconds.toFixed(3)} s | main thread | helper threads |`,
    '| --- | ---: | ---: |',
    ...KINDS.map((k) => `| ${k} | ${w.main[k]}${per(w.main[k])} | ${w.helpers[k]}${per(w.helpers[k])} |`),
    `| all | ${sum(w.main)}${per(sum(w.main))} | ${sum(w.helpers)}${per(sum(w.helpers))} |`,
  ];
}

/**
 * The main thread's leaves whose samples moved most from worker `a` to worker `b` (two builds'
 * drains of one recording, say), the `top` largest moves first: name, a's samples, b's.
 */
export function movedLeaves(a: WorkerSplit, b: WorkerSplit, top: number): [name: string, a: number, b: number][] {
  const before = new Map(a.leaves);
  const after = new Map(b.leaves);
  return [...new Set([...before.keys(), ...after.keys()])]
    .map((name): [string, number, number] => [name, before.get(name) ?? 0, after.get(name) ?? 0])
    .sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]) || x[0].localeCompare(y[0]))
    .slice(0, top);
}
