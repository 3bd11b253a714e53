/**
 * @module worker/pools/types
 * The pool seam between the executor and the code that runs task bodies. A pool owns the
 * concurrency slots (`acquire`), runs one task body under its time limits (`run`, which
 * gives back the run's handle: its result, and how to terminate or abandon it), can be
 * resized at run time (Celery's pool_grow / pool_shrink / autoscale) and is closed last.
 * Each pool is one implementation of {@link TaskPool}: async-task-pool.ts (`async`, `solo`)
 * and child-pool.ts (`threads`, `prefork`).
 */
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { AnyTask } from '../../core/task.js';
import type { TraceOutcome } from '../../core/trace.js';
import type { DeliveryInfo, Json, TaskMessage, TaskState } from '../../protocol/types.js';
import type { Release } from '../semaphore.js';

/** The execution pools a worker can use (`-P`). */
export type PoolKind = 'async' | 'threads' | 'prefork' | 'solo';

/** The pool names, in the order the CLI lists them. */
export const POOL_KINDS: readonly PoolKind[] = Object.freeze(['async', 'threads', 'prefork', 'solo']);

/** Hard and soft limits in seconds in force for one run; null = none. */
export interface TimeLimits {
  readonly hard: number | null;
  readonly soft: number | null;
}

/** The part of the executor's job a pool reads. */
export interface PoolJob {
  readonly message: TaskMessage;
  readonly task: AnyTask;
  /** Main-thread signal of the run: aborted on soft limit, hard limit, terminate, shutdown. */
  readonly abort: Pick<AbortController, 'signal' | 'abort'>;
}

/** One run handed to a pool. */
export interface PoolRun {
  readonly job: PoolJob;
  readonly limits: TimeLimits;
  readonly hostname: string;
  readonly deliveryInfo: DeliveryInfo;
  readonly log: Logger;
  readonly clock: Clock;
  /** Stores a state the task reported (`ctx.updateState`). */
  updateState(state: TaskState, meta: Json): Promise<void>;
}

/** How a run ended: the task's outcome (a time-limit failure included) or given up on. */
export type RunResult = TraceOutcome | 'abandoned';

/** A run in a pool, as the pool hands it back: its result, and the pool's handles on it. */
export interface RunHandle {
  /**
   * How the run ended; never rejects. At once, not in a promise, for a body that ran to its
   * end synchronously (a plain function in the async or solo pool): most tasks, so their
   * finish need not wait a turn of the event loop.
   */
  readonly result: RunResult | Promise<RunResult>;
  /**
   * Ends the run now with `reason` as its error (revoke with terminate). A prefork child gets
   * `signal` (then SIGKILL if it is still there); other pools ignore it. Nothing once it ended.
   */
  terminate(reason: Error, signal?: NodeJS.Signals): void;
  /** Gives up on the run (shutdown): its result becomes 'abandoned'. Nothing once it ended. */
  abandon(): void;
}

/** What `stats` shows about a pool (Celery's `stats().pool`). */
export interface PoolStats {
  readonly kind: PoolKind;
  /** Slots. */
  readonly maxConcurrency: number;
  /** Slots in use. */
  readonly busy: number;
  /** Thread ids of the threads pool, child process ids of the prefork pool; the process id otherwise. */
  readonly processes: readonly number[];
  readonly maxTasksPerChild: number | null;
  readonly maxMemoryPerChild: number | null;
  /** Runs ended by [soft, hard] time limits since start. */
  readonly timeouts: readonly [number, number];
  /** Threads and prefork pools: tasks given to each current child, in the order of `processes`. */
  readonly writes?: readonly number[];
}

/** Runs task bodies for the executor. */
export interface TaskPool {
  readonly kind: PoolKind;
  /** Slots (most tasks at once). */
  readonly size: number;
  /** Slots in use. */
  readonly busy: number;
  /** Prepares the pool (the threads and prefork pools start their children); rejects when it cannot run tasks. */
  start(): Promise<void>;
  /** A free slot: at once when there is one, else a promise of the next. */
  acquire(): Release | Promise<Release>;
  /** Rejects every waiter (on shutdown); running tasks keep their slots. */
  cancelWaiters(): void;
  /** Changes the number of slots; throws on a pool of fixed size (solo). */
  resize(size: number): void;
  /** Starts one task body under its limits. Call with a slot held. */
  run(run: PoolRun): RunHandle;
  /** Pool figures for `stats`. */
  stats(): PoolStats;
  /** Stops the pool (the threads and prefork pools end their children). Call after the last run ended. */
  close(): Promise<void>;
}
