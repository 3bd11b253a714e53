/**
 * @module worker/pools/threads-pool
 * The `threads` pool: each slot is a worker thread that has loaded the app module, so a
 * CPU-bound task never blocks the worker's own event loop (fetching, acks, lease renewal,
 * heartbeats go on). A hard time limit or a revoke with terminate ends the thread and a
 * fresh one takes its place; `maxTasksPerChild` and `maxMemoryPerChild` recycle threads
 * between tasks, as Celery's prefork pool recycles child processes.
 */
import type { Logger } from 'pino';
import type { StoreOptions } from '../../core/spi/backend.js';
import type { PublishOptions } from '../../core/spi/broker.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import type { Message } from '../../protocol/types.js';
import { Semaphore, type Release } from '../semaphore.js';
import { supervise, type TimeoutCounters } from './supervise.js';
import { TaskThread } from './task-thread.js';
import type { PoolRun, PoolStats, RunHandle, TaskPool } from './types.js';

/** What the threads pool is built from. */
export interface ThreadsPoolOptions {
  /** URL of the module exporting the app (loaded in every thread). */
  readonly appModule: string;
  readonly size: number;
  /** Runs after which a thread is replaced; null = never. */
  readonly maxTasksPerChild: number | null;
  /** KiB of V8 heap after a run above which a thread is replaced; null = never. */
  readonly maxMemoryPerChild: number | null;
  readonly log: Logger;
  /** Publishes a message a task sent from inside a thread. */
  publish(message: Message, options: PublishOptions): Promise<void>;
  /** Stores the size of a chord a task sent from inside a thread. */
  setChordSize(groupId: string, size: number, options: StoreOptions): Promise<void>;
}

interface Taker {
  resolve(thread: TaskThread): void;
  reject(err: Error): void;
}

/** Runs task bodies on worker threads. */
export class ThreadsPool implements TaskPool {
  readonly kind = 'threads' as const;
  private readonly slots: Semaphore;
  private readonly timeouts: TimeoutCounters = { soft: 0, hard: 0 };
  private readonly threads = new Set<TaskThread>();
  private readonly idle: TaskThread[] = [];
  private readonly takers: Taker[] = [];
  private spawning = 0;
  private closed = false;
  private started = false;
  private draining = false;

  constructor(private readonly options: ThreadsPoolOptions) {
    this.slots = new Semaphore(options.size);
  }

  get size(): number {
    return this.slots.size;
  }

  get busy(): number {
    return this.slots.busy;
  }

  /** Starts every thread; rejects (and ends them) if one cannot load the app module. */
  async start(): Promise<void> {
    const started = await Promise.allSettled(Array.from({ length: this.size }, () => TaskThread.start(this.options.appModule, this.options)));
    for (const s of started) if (s.status === 'fulfilled') this.threads.add(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined || this.closed) {
      await this.close();
      if (failed !== undefined) throw failed.reason;
      return;
    }
    this.idle.push(...this.threads);
    this.started = true;
    this.refill();
  }

  acquire(): Release | Promise<Release> {
    return this.slots.acquire();
  }

  cancelWaiters(): void {
    // Shutdown began: threads ended from now on (abandoned tasks) are not replaced.
    this.draining = true;
    this.slots.cancelWaiters();
  }

  resize(size: number): void {
    if (!Number.isInteger(size) || size < 1) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `pool size must be an integer >= 1, got ${String(size)}`);
    this.slots.resize(size);
    // Idle threads beyond the new size end now; busy ones when their task ends (see offer).
    while (this.threads.size > size && this.idle.length > 0) this.retire(this.idle.pop()!);
    // New slots get their threads now, as Celery's pool_grow starts processes at once.
    if (this.started) this.refill();
  }

  run(run: PoolRun): RunHandle {
    const { job, limits } = run;
    let thread: TaskThread | null = null;
    let stopped: Error | null = null;
    return supervise(
      run,
      (updateState) => {
        const taken = this.take();
        const outcome = taken.then(async (t) => {
          thread = t;
          if (stopped !== null) {
            this.offer(t);
            return { ok: false as const, error: stopped };
          }
          const result = await t.run({ message: job.message, hostname: run.hostname, deliveryInfo: run.deliveryInfo, timeLimit: [limits.hard, limits.soft], updateState });
          this.offer(t);
          return result;
        });
        return {
          outcome: outcome.catch((error: unknown) => ({ ok: false as const, error })),
          started: taken.then(() => undefined),
          softLimit: (reason) => thread?.softLimit(reason),
          stop: (reason) => {
            stopped = reason;
            if (thread !== null) this.kill(thread);
          },
        };
      },
      this.timeouts,
    );
  }

  stats(): PoolStats {
    return {
      kind: 'threads',
      maxConcurrency: this.size,
      busy: this.busy,
      processes: [...this.threads].map((t) => t.threadId),
      maxTasksPerChild: this.options.maxTasksPerChild,
      maxMemoryPerChild: this.options.maxMemoryPerChild,
      timeouts: [this.timeouts.soft, this.timeouts.hard],
    };
  }

  /** Ends every thread. */
  async close(): Promise<void> {
    this.closed = true;
    this.slots.cancelWaiters();
    for (const t of this.takers.splice(0)) t.reject(new CeleriacError(ErrorCodes.STATE, 'pool is closing'));
    const all = [...this.threads];
    this.threads.clear();
    this.idle.length = 0;
    await Promise.allSettled(all.map((t) => t.terminate()));
  }

  /** An idle thread, starting one when none is idle and there is room. */
  private take(): Promise<TaskThread> {
    if (this.closed) return Promise.reject(new CeleriacError(ErrorCodes.STATE, 'pool is closed'));
    const ready = this.idle.pop();
    if (ready !== undefined) return Promise.resolve(ready);
    const promise = new Promise<TaskThread>((resolve, reject) => this.takers.push({ resolve, reject }));
    if (this.threads.size + this.spawning < this.size) this.spawn();
    return promise;
  }

  /** A thread finished a run (or was just started): recycle it, or hand it to the next run. */
  private offer(thread: TaskThread): void {
    if (this.closed || thread.dead) {
      this.threads.delete(thread);
      if (!this.closed) this.refill();
      return;
    }
    const why = this.recycleReason(thread);
    if (why !== null || this.threads.size > this.size) {
      if (why !== null) this.options.log.info({ threadId: thread.threadId }, `replacing pool thread: ${why}`);
      this.retire(thread);
      this.refill();
      return;
    }
    const taker = this.takers.shift();
    if (taker !== undefined) taker.resolve(thread);
    else this.idle.push(thread);
  }

  private recycleReason(thread: TaskThread): string | null {
    const { maxTasksPerChild, maxMemoryPerChild } = this.options;
    if (maxTasksPerChild !== null && thread.tasksRun >= maxTasksPerChild) return `it ran ${thread.tasksRun} tasks (maxTasksPerChild ${maxTasksPerChild})`;
    const kib = Math.round(thread.heapUsed / 1024);
    if (maxMemoryPerChild !== null && kib > maxMemoryPerChild) return `its heap holds ${kib} KiB (maxMemoryPerChild ${maxMemoryPerChild})`;
    return null;
  }

  /** Ends a thread in the middle of a run (hard limit, terminate) and starts a fresh one. */
  private kill(thread: TaskThread): void {
    this.retire(thread);
    this.refill();
  }

  private retire(thread: TaskThread): void {
    this.threads.delete(thread);
    const at = this.idle.indexOf(thread);
    if (at >= 0) this.idle.splice(at, 1);
    void thread.terminate();
  }

  /** Starts threads until the pool is back to its size, so the next task need not wait. */
  private refill(): void {
    while (!this.closed && !this.draining && this.threads.size + this.spawning < this.size) this.spawn();
  }

  private spawn(): void {
    this.spawning += 1;
    TaskThread.start(this.options.appModule, this.options).then(
      (thread) => {
        this.spawning -= 1;
        if (this.closed) return void thread.terminate();
        this.threads.add(thread);
        this.offer(thread);
      },
      (err: unknown) => {
        this.spawning -= 1;
        this.options.log.error({ err: coerceError(err) }, 'threads pool: could not start a thread');
        // Fail a run that waits for a thread rather than let it wait for ever.
        if (this.takers.length > this.idle.length + this.spawning) this.takers.shift()?.reject(coerceError(err));
      },
    );
  }
}
