/**
 * @module worker/pools/child-pool
 * The `threads` and `prefork` pools: each slot is a child, a worker thread or a child
 * process, that has loaded the app module, so a CPU-bound task never blocks the worker's
 * own event loop (fetching, acks, lease renewal, heartbeats, remote control go on). A hard
 * time limit or a revoke with terminate ends the child and a fresh one takes its place;
 * `maxTasksPerChild` and `maxMemoryPerChild` recycle children between tasks, as Celery's
 * prefork pool recycles its processes.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Settings } from '../../core/settings.js';
import { carriedSpan, telemetryRegistered } from '../../core/otel.js';
import type { StoreOptions } from '../../core/spi/backend.js';
import type { PublishOptions } from '../../core/spi/broker.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import type { Message } from '../../protocol/types.js';
import { Semaphore, type Release } from '../semaphore.js';
import { MAX_POOL_CHILDREN } from '../worker-options.js';
import { supervise, type TimeoutCounters } from './supervise.js';
import { PoolChild } from './pool-child.js';
import type { ChildKind } from './spawn-child.js';
import type { PoolRun, PoolStats, RunHandle, TaskPool } from './types.js';

/** What a child pool is built from. */
export interface ChildPoolOptions {
  /** `threads` (worker threads) or `prefork` (child processes). */
  readonly kind: 'threads' | 'prefork';
  /** URL of the module exporting the app (loaded in every child). */
  readonly appModule: string;
  /** The export that is the app (`-A module:attr`); null: `app`, else the default export. */
  readonly appAttr: string | null;
  /** Settings applied to the app of every child (the worker's `app.settingOverrides`); JSON values only. */
  readonly settings: Settings;
  readonly size: number;
  /** Runs after which a child is replaced; null = never. */
  readonly maxTasksPerChild: number | null;
  /** KiB of memory after a run (a child's V8 heap, a process's resident set) above which a child is replaced; null = never. */
  readonly maxMemoryPerChildKib: number | null;
  readonly log: Logger;
  /** Publishes a message a task sent from inside a child. */
  publish(message: Message, options: PublishOptions): Promise<void>;
  /** Stores the size of a chord a task sent from inside a child. */
  setChordSize(groupId: string, size: number, options: StoreOptions): Promise<void>;
  /** Grows the size of a chord by parts a task in a child added (`ctx.addToChord`). */
  addToChord(groupId: string, count: number, options: StoreOptions): Promise<void>;
}

/** How long a child may take to export its telemetry before the worker ends it anyway. */
const FLUSH_MS = 2000;

interface Taker {
  resolve(child: PoolChild): void;
  reject(err: Error): void;
}

/** Runs task bodies on worker threads or child processes. */
export class ChildPool implements TaskPool {
  readonly kind: 'threads' | 'prefork';
  private readonly childKind: ChildKind;
  private readonly slots: Semaphore;
  private readonly timeouts: TimeoutCounters = { soft: 0, hard: 0 };
  private readonly children = new Set<PoolChild>();
  private readonly idle: PoolChild[] = [];
  private readonly takers: Taker[] = [];
  private spawning = 0;
  /** Aborted by close(): children still loading the app module are ended, not waited for. */
  private readonly loading = new AbortController();
  private closed = false;
  private started = false;
  private draining = false;

  constructor(private readonly options: ChildPoolOptions) {
    this.kind = options.kind;
    this.childKind = options.kind === 'threads' ? 'thread' : 'process';
    this.slots = new Semaphore(options.size);
    // One listener per child that is loading: hundreds with `-c 300`, none of them a leak.
    setMaxListeners(0, this.loading.signal);
  }

  get size(): number {
    return this.slots.size;
  }

  get busy(): number {
    return this.slots.busy;
  }

  /**
   * Starts every child; rejects (and ends them) if one cannot load the app module. A close()
   * meanwhile ends the children still loading, and this returns without error.
   */
  async start(): Promise<void> {
    // One child per turn of the event loop, all loading at once: made in one turn, 300 threads
    // held the loop for seconds, and a SIGTERM, a heartbeat or a timer waited them out.
    const starting: Promise<PromiseSettledResult<PoolChild>>[] = [];
    for (let i = 0; i < this.size && !this.closed; i++) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      // Settled at once: a child that fails while the next ones are made (a close ends them
      // all) is no unhandled rejection, which ends the process.
      starting.push(this.startChild().then((value) => ({ status: 'fulfilled', value }) as const, (reason: unknown) => ({ status: 'rejected', reason }) as const));
    }
    const started = await Promise.all(starting);
    for (const s of started) if (s.status === 'fulfilled') this.children.add(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const closedMeanwhile = this.closed;
    if (failed !== undefined || closedMeanwhile) {
      await this.close();
      if (failed !== undefined && !closedMeanwhile) throw failed.reason;
      return;
    }
    this.idle.push(...this.children);
    this.started = true;
    this.refill();
  }

  acquire(): Release | Promise<Release> {
    return this.slots.acquire();
  }

  cancelWaiters(): void {
    // Shutdown began: children ended from now on (abandoned tasks) are not replaced.
    this.draining = true;
    this.slots.cancelWaiters();
  }

  resize(size: number): void {
    if (!Number.isInteger(size) || size < 1 || size > MAX_POOL_CHILDREN) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `pool size must be an integer from 1 to ${MAX_POOL_CHILDREN}, got ${String(size)}`);
    }
    this.slots.resize(size);
    // Idle children beyond the new size end now; busy ones when their task ends (see offer).
    while (this.children.size > size && this.idle.length > 0) this.retire(this.idle.pop()!);
    // New slots get their children now, as Celery's pool_grow starts processes at once.
    if (this.started) this.refill();
  }

  run(run: PoolRun): RunHandle {
    const { job, limits } = run;
    // With a tracer provider registered, the run span the executor made (the body runs as its child).
    const span = carriedSpan();
    let child: PoolChild | null = null;
    let stopped: Error | null = null;
    return supervise(
      run,
      (updateState) => {
        const taken = this.take();
        const outcome = taken.then(async (t) => {
          child = t;
          if (stopped !== null) {
            this.offer(t);
            return { ok: false as const, error: stopped };
          }
          const result = await t.run({ message: job.message, hostname: run.hostname, deliveryInfo: run.deliveryInfo, timeLimit: [limits.hard, limits.soft], updateState, span });
          this.offer(t);
          return result;
        });
        return {
          outcome: outcome.catch((error: unknown) => ({ ok: false as const, error })),
          started: taken.then(() => undefined),
          softLimit: (reason) => child?.softLimit(reason),
          stop: (reason, signal) => {
            stopped = reason;
            if (child !== null) this.kill(child, signal);
          },
        };
      },
      this.timeouts,
    );
  }

  stats(): PoolStats {
    return {
      kind: this.kind,
      maxConcurrency: this.size,
      busy: this.busy,
      processes: [...this.children].map((t) => t.id),
      writes: [...this.children].map((t) => t.tasksRun),
      maxTasksPerChild: this.options.maxTasksPerChild,
      maxMemoryPerChild: this.options.maxMemoryPerChildKib,
      timeouts: [this.timeouts.soft, this.timeouts.hard],
    };
  }

  /** Ends every child. */
  async close(): Promise<void> {
    this.closed = true;
    this.loading.abort();
    this.slots.cancelWaiters();
    for (const t of this.takers.splice(0)) t.reject(new CeleriacError(ErrorCodes.STATE, 'pool is closing'));
    const all = [...this.children];
    this.children.clear();
    this.idle.length = 0;
    // Traced or measured: each idle child exports what its providers hold before it is ended.
    if (telemetryRegistered()) await Promise.allSettled(all.filter((t) => !t.busy).map((t) => t.flush(FLUSH_MS)));
    await Promise.allSettled(all.map((t) => t.terminate()));
  }

  /** An idle child, starting one when none is idle and there is room. */
  private take(): Promise<PoolChild> {
    if (this.closed) return Promise.reject(new CeleriacError(ErrorCodes.STATE, 'pool is closed'));
    const ready = this.idle.pop();
    if (ready !== undefined) return Promise.resolve(ready);
    const promise = new Promise<PoolChild>((resolve, reject) => this.takers.push({ resolve, reject }));
    if (this.children.size + this.spawning < this.size) this.spawn();
    return promise;
  }

  /** A child finished a run (or was just started): recycle it, or hand it to the next run. */
  private offer(child: PoolChild): void {
    if (this.closed || child.dead) {
      this.children.delete(child);
      if (!this.closed) this.refill();
      return;
    }
    const why = this.recycleReason(child);
    if (why !== null || this.children.size > this.size) {
      if (why !== null) this.options.log.info({ child: child.id }, `replacing pool ${this.childKind}: ${why}`);
      this.retire(child);
      this.refill();
      return;
    }
    const taker = this.takers.shift();
    if (taker !== undefined) taker.resolve(child);
    else this.idle.push(child);
  }

  private recycleReason(child: PoolChild): string | null {
    const { maxTasksPerChild, maxMemoryPerChildKib } = this.options;
    if (maxTasksPerChild !== null && child.tasksRun >= maxTasksPerChild) return `it ran ${child.tasksRun} tasks (maxTasksPerChild ${maxTasksPerChild})`;
    const kib = Math.round(child.memory / 1024);
    const what = this.childKind === 'thread' ? 'its heap holds' : 'its resident memory is';
    if (maxMemoryPerChildKib !== null && kib > maxMemoryPerChildKib) return `${what} ${kib} KiB (maxMemoryPerChildKib ${maxMemoryPerChildKib})`;
    return null;
  }

  /** Ends a child in the middle of a run (hard limit, terminate) and starts a fresh one. */
  private kill(child: PoolChild, signal?: NodeJS.Signals): void {
    this.retire(child, signal);
    this.refill();
  }

  private retire(child: PoolChild, signal?: NodeJS.Signals): void {
    this.children.delete(child);
    const at = this.idle.indexOf(child);
    if (at >= 0) this.idle.splice(at, 1);
    // A child replaced while idle (recycled, pool shrunk) exports its telemetry first; one killed mid-run cannot.
    if (signal === undefined && !child.busy && telemetryRegistered()) void child.flush(FLUSH_MS).then(() => child.terminate());
    else void child.terminate(signal);
  }

  private startChild(): Promise<PoolChild> {
    return PoolChild.start(this.childKind, { appModule: this.options.appModule, appAttr: this.options.appAttr, settings: this.options.settings }, this.options, this.loading.signal);
  }

  /** Starts children until the pool is back to its size, so the next task need not wait. */
  private refill(): void {
    while (!this.closed && !this.draining && this.children.size + this.spawning < this.size) this.spawn();
  }

  private spawn(): void {
    this.spawning += 1;
    this.startChild().then(
      (child) => {
        this.spawning -= 1;
        if (this.closed) return void child.terminate();
        this.children.add(child);
        this.offer(child);
      },
      (err: unknown) => {
        this.spawning -= 1;
        if (this.closed) return;
        this.options.log.error({ err: coerceError(err) }, `${this.kind} pool: could not start a ${this.childKind}`);
        // Fail a run that waits for a child rather than let it wait for ever.
        if (this.takers.length > this.idle.length + this.spawning) this.takers.shift()?.reject(coerceError(err));
      },
    );
  }
}
