/**
 * @module bench/lib/proc
 * Worker child processes and their memory. Every worker runs in its own process so its
 * resident set can be read from /proc: VmHWM (the kernel's own peak) for a single process,
 * or the peak of the summed VmRSS of the process tree, sampled every 100 ms, for a worker
 * made of several processes (Celery prefork).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildMemory, ChildMessage, ParentMessage } from './worker-protocol.js';
import { nowMs, sleep, StepTimeout } from './stats.js';
import { callgrindCommand, type CallgrindCounter } from './callgrind.js';
import type { RssResult } from './types.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));
const WORKER_CHILD = fileURLToPath(new URL('../dist/worker-child.js', import.meta.url));

/**
 * Compiles worker-child.ts and the peers' worker modules to bench/dist/ (tsconfig.workers.json),
 * so a worker child is plain `node` + its library: a TypeScript loader would add ~35 MB to
 * every JS worker's resident set.
 */
export function buildWorkers(): void {
  // Once per process: the sources do not change under a run, and each build is seconds of tsc.
  if (workersBuilt) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', `${BENCH_DIR}tsconfig.workers.json`], { stdio: 'inherit' });
  workersBuilt = true;
}
let workersBuilt = false;

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The resident set of pid now (VmRSS), MiB; 0 once it is gone. */
export function vmRssMb(pid: number): number {
  return statusKb(pid, 'VmRSS') / 1024;
}

/** CPU seconds (user + system) used so far by pid, 0 once it is gone. */
function cpuOf(pid: number): number {
  return cpuOfStat(`/proc/${pid}/stat`);
}

/**
 * CPU seconds used so far by a process's main thread alone (its thread id is the pid), 0 once
 * it is gone. What a Node process spends besides is on V8's and libuv's threads: the
 * optimizing compiler, the GC's helpers.
 */
export function mainThreadCpuSeconds(pid: number): number {
  return cpuOfStat(`/proc/${pid}/task/${pid}/stat`);
}

/** utime + stime of a /proc stat file (a process's or one thread's), in seconds; 0 if unreadable. */
function cpuOfStat(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    // Fields after the parenthesised command start at field 3 (state); utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every Linux we run on). */
const CLOCK_TICKS = 100;

/** CPU seconds used so far by a worker: the process, or its whole tree (Celery prefork). */
export function cpuSeconds(pid: number, tree: boolean): number {
  return tree ? processTree(pid).reduce((sum, p) => sum + cpuOf(p), 0) : cpuOf(pid);
}

/** pid and every descendant, from /proc/<pid>/stat parent links. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command: state ppid ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // Exited while we looked.
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Samples a worker's memory until stopped. */
export class RssSampler {
  #peakKb = 0;
  readonly #timer: NodeJS.Timeout;

  /** @param tree sum the whole process tree (Celery prefork) instead of reading VmHWM of pid. */
  constructor(readonly pid: number, readonly tree: boolean) {
    this.#timer = setInterval(() => this.#sample(), 100);
    this.#sample();
  }

  #sample(): void {
    const kb = this.tree ? processTree(this.pid).reduce((sum, p) => sum + statusKb(p, 'VmRSS'), 0) : statusKb(this.pid, 'VmRSS');
    if (kb > this.#peakKb) this.#peakKb = kb;
  }

  /** Call while the worker is still alive. */
  stop(): RssResult {
    clearInterval(this.#timer);
    this.#sample();
    if (this.tree) return { peakMb: this.#peakKb / 1024, method: 'peak of summed VmRSS over the process tree, sampled every 100 ms' };
    const hwm = statusKb(this.pid, 'VmHWM');
    return { peakMb: Math.max(hwm, this.#peakKb) / 1024, method: 'VmHWM of the worker process' };
  }
}

/** A running worker, whatever its language. */
export interface WorkerHandle {
  readonly pid: number;
  /** Lets it consume (Node children wait for this); returns the start instant (ms, monotonic). */
  go(): Promise<number>;
  /** Peak memory so far; stops sampling. */
  rss(): RssResult;
  /** CPU seconds (user + system) the worker used so far (the process tree for Celery). */
  cpu(): number;
  /** CPU seconds its main thread used so far; for Node workers only. */
  readonly mainThreadCpu?: () => number;
  /** Its instruction counter: a worker started with `callgrind` only. */
  readonly callgrind?: CallgrindCounter;
  /** The child's own process.memoryUsage() over IPC; for Node workers only. */
  readonly memory?: () => Promise<ChildMemory>;
  /** Stops it (SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Output it printed (for error reports). */
  output(): string;
}

/** Waits for the child to exit, killing it after graceMs. */
export async function stopChild(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Starts `dist/worker-child.js` (see buildWorkers) for a JS peer and resolves once it has connected (not consuming yet). */
export async function startNodeWorker(
  peer: string,
  env: { host: string; port: number; db: number; prefix: string; queue: string; concurrency: number; events?: boolean },
  options: {
    cpuProf?: string;
    /** A file for the child's allocation profile from 'go' to 'stop' (worker-child.ts BENCH_ALLOC_PROF). */
    allocProf?: string;
    /** More node flags for the child (bench/probe.ts: --trace-gc-nvp). */
    nodeArgs?: readonly string[];
    /** Everything the child prints, as it comes (output() keeps only the last 20,000 characters). */
    onOutput?: (text: string) => void;
    /**
     * Runs the child under valgrind's callgrind (bench/instructions.ts): tens of times slower,
     * but what it counts, instructions, the machine's load moves far less than time.
     */
    callgrind?: boolean;
    /** Under callgrind, name the JIT's code too (node --perf-basic-prof), for {@link InstructionWindow.functions}. */
    callgrindFunctions?: boolean;
  } = {},
): Promise<WorkerHandle> {
  const nodeArgs: string[] = [...(options.nodeArgs ?? [])];
  if (options.cpuProf !== undefined) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProf}`);
  const callgrind = options.callgrind === true ? callgrindCommand(options.callgrindFunctions === true) : null;
  const [command, ...args] = [...(callgrind?.prefix ?? []), process.execPath, ...(callgrind?.nodeArgs ?? []), ...nodeArgs, WORKER_CHILD];
  const child = spawn(command as string, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      ...process.env,
      BENCH_PEER: peer,
      ...(options.allocProf === undefined ? {} : { BENCH_ALLOC_PROF: options.allocProf }),
      BENCH_REDIS_HOST: env.host,
      BENCH_REDIS_PORT: String(env.port),
      BENCH_REDIS_DB: String(env.db),
      BENCH_PREFIX: env.prefix,
      BENCH_QUEUE: env.queue,
      BENCH_CONCURRENCY: String(env.concurrency),
      BENCH_EVENTS: env.events === true ? '1' : '0',
    },
  });
  let out = '';
  const onData = (d: Buffer): void => {
    const text = d.toString();
    options.onOutput?.(text);
    out = (out + text).slice(-20_000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const waitFor = (type: ChildMessage['type'], ms: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new StepTimeout(`${peer} worker did not send '${type}' within ${ms} ms:\n${out}`));
      }, ms);
      const onMessage = (m: ChildMessage) => {
        if (m.type === type) {
          cleanup();
          resolve();
        } else if (m.type === 'error') {
          cleanup();
          reject(new Error(`${peer} worker failed: ${m.message}\n${out}`));
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`${peer} worker exited (${code}) before '${type}':\n${out}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  try {
    // Loading the engine under callgrind takes ten to thirty seconds on a 2-vCPU VM.
    await waitFor('ready', callgrind === null ? 30_000 : 300_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const sampler = new RssSampler(child.pid as number, false);
  let rss: RssResult | undefined;
  const send = (m: ParentMessage) => child.send(m);
  const handle: WorkerHandle = {
    pid: child.pid as number,
    async go() {
      const t0 = nowMs();
      const started = waitFor('started', 30_000);
      send({ type: 'go' });
      await started;
      return t0;
    },
    rss() {
      rss ??= sampler.stop();
      return rss;
    },
    cpu: () => cpuSeconds(child.pid as number, false),
    mainThreadCpu: () => mainThreadCpuSeconds(child.pid as number),
    ...(callgrind === null ? {} : { callgrind: callgrind.counter(child.pid as number) }),
    memory: () =>
      new Promise<ChildMemory>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.off('message', onMessage);
          reject(new StepTimeout(`${peer} worker did not report its memory within 10 s`));
        }, 10_000);
        const onMessage = (m: ChildMessage) => {
          if (m.type !== 'memory') return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(m);
        };
        child.on('message', onMessage);
        send({ type: 'memory' });
      }),
    async stop() {
      handle.rss();
      if (child.exitCode === null && child.signalCode === null && child.connected) {
        const closed = waitFor('closed', 15_000).catch(() => undefined);
        send({ type: 'stop' });
        await closed;
        // It exits by itself after 'closed' (writing its --cpu-prof profile): give it time to.
        await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(3_000)]);
      }
      await stopChild(child, callgrind === null ? 5_000 : 60_000);
      callgrind?.remove();
    },
    output: () => out,
  };
  return handle;
}

/**
 * Polls `remaining()` until it reports 0 or the deadline passes; returns the instant (monotonic
 * ms) the last poll saw 0, or null on timeout with the last count.
 */
export async function waitUntilDone(
  remaining: () => Promise<number>,
  deadline: number,
  intervalMs = 10,
): Promise<{ doneAt: number | null; left: number }> {
  let left = Number.POSITIVE_INFINITY;
  while (nowMs() < deadline) {
    left = await remaining();
    if (left === 0) return { doneAt: nowMs(), left };
    await sleep(intervalMs);
  }
  return { doneAt: null, left };
}
