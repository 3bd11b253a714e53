/**
 * @module worker/pools/async-task-pool
 * The `async` and `solo` pools: task bodies run on the worker's event loop, `async` up to
 * `size` at once (right for I/O-bound tasks), `solo` one at a time. A hard time limit fails
 * the task and frees its slot; the body itself cannot be stopped, only told through
 * `ctx.signal`, and whatever it does later is discarded.
 */
import type { Logger } from 'pino';
import { traceTask, type TraceEnvironment, type TraceOutcome } from '../../core/trace.js';
import type { DeliveryInfo } from '../../protocol/types.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import { Semaphore, type Release } from '../semaphore.js';
import { BlockWatch, type WatchedRun } from './block-watch.js';
import { supervise, type TimeoutCounters } from './supervise.js';
import type { PoolRun, PoolStats, RunHandle, TaskPool } from './types.js';

/**
 * The trace environment of a body on the event loop. A class, so that `signal` is made only
 * when the task asks for it: an object literal with a getter is built the slow way, and this
 * is built for every task.
 */
class EventLoopRun implements TraceEnvironment {
  readonly hostname: string;
  readonly deliveryInfo: DeliveryInfo;
  readonly isEager = false;
  readonly timeLimit: readonly [number | null, number | null];
  readonly log: Logger;

  constructor(
    private readonly run: PoolRun,
    readonly updateState: TraceEnvironment['updateState'],
  ) {
    this.hostname = run.hostname;
    this.deliveryInfo = run.deliveryInfo;
    this.timeLimit = [run.limits.hard, run.limits.soft];
    this.log = run.log;
  }

  get signal(): AbortSignal {
    return this.run.job.abort.signal;
  }
}

/** A body on the event loop is told only through its signal, which supervise aborts: made once, not per task. */
const unreachable = (): void => undefined;

/** Runs task bodies on the event loop. */
export class AsyncTaskPool implements TaskPool {
  private readonly slots: Semaphore;
  private readonly timeouts: TimeoutCounters = { soft: 0, hard: 0 };

  private readonly watch: BlockWatch | null;

  /**
   * `kind: 'solo'` fixes the size at 1. A body that blocks the event loop longer than
   * `blockWarningMs` is logged to `log` (null: not watched).
   */
  constructor(
    readonly kind: 'async' | 'solo',
    size: number,
    watch: { readonly blockWarningMs: number | null; readonly log: Logger } | null = null,
  ) {
    this.slots = new Semaphore(kind === 'solo' ? 1 : size);
    this.watch = watch === null || watch.blockWarningMs === null ? null : new BlockWatch(watch.blockWarningMs, kind, watch.log);
  }

  get size(): number {
    return this.slots.size;
  }

  get busy(): number {
    return this.slots.busy;
  }

  start(): Promise<void> {
    this.watch?.start();
    return Promise.resolve();
  }

  acquire(): Release | Promise<Release> {
    return this.slots.acquire();
  }

  cancelWaiters(): void {
    this.slots.cancelWaiters();
  }

  resize(size: number): void {
    if (this.kind === 'solo') throw new CeleriacError(ErrorCodes.STATE, 'the solo pool runs one task at a time and cannot be resized');
    if (!Number.isInteger(size) || size < 1) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `pool size must be an integer >= 1, got ${String(size)}`);
    this.slots.resize(size);
  }

  run(run: PoolRun): RunHandle {
    return supervise(
      run,
      (updateState) => ({
        outcome: this.trace(run, new EventLoopRun(run, updateState)),
        // The signal is the only way to reach a body on the event loop; supervise aborts it.
        softLimit: unreachable,
        stop: unreachable,
      }),
      this.timeouts,
    );
  }

  private trace(run: PoolRun, env: EventLoopRun): TraceOutcome | Promise<TraceOutcome> {
    const watch = this.watch;
    if (watch === null) return traceTask(run.job.task, run.job.message, env);
    const watched: WatchedRun = run.job;
    let outcome: TraceOutcome | Promise<TraceOutcome>;
    const start = watch.begin();
    try {
      outcome = traceTask(run.job.task, run.job.message, env);
    } finally {
      watch.returned(watched, start);
    }
    if (!(outcome instanceof Promise)) return outcome;
    const link = watch.track(watched);
    return outcome.finally(() => watch.ended(link));
  }

  stats(): PoolStats {
    return {
      kind: this.kind,
      maxConcurrency: this.size,
      busy: this.busy,
      processes: [process.pid],
      maxTasksPerChild: null,
      maxMemoryPerChild: null,
      timeouts: [this.timeouts.soft, this.timeouts.hard],
    };
  }

  close(): Promise<void> {
    this.watch?.stop();
    this.slots.cancelWaiters();
    return Promise.resolve();
  }
}
