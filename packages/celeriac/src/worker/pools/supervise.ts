/**
 * @module worker/pools/supervise
 * Time limits, written once for every pool. The pool starts an execution; this module arms
 * the soft and hard timers on the worker's clock, wires shutdown (`abandon`) and revoke
 * (`terminate`) into the job, and settles the run exactly once, whichever comes first.
 */
import { SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError } from '../../core/task-errors.js';
import type { TraceOutcome } from '../../core/trace.js';
import type { Json, TaskState } from '../../protocol/types.js';
import type { PoolRun, RunResult } from './types.js';

/** A task body started by a pool. */
export interface Execution {
  /** Settles when the body returns or throws. */
  readonly outcome: Promise<TraceOutcome>;
  /** The soft limit passed: make the task's `ctx.signal` abort with `reason`. */
  softLimit(reason: SoftTimeLimitExceeded): void;
  /** Stop the body now (hard limit, terminate, shutdown); `reason` is why. */
  stop(reason: Error): void;
}

/** Counts of runs ended by time limits, for stats. */
export interface TimeoutCounters {
  soft: number;
  hard: number;
}

/**
 * Runs `start` under the run's limits. `start` receives the `updateState` the task must use:
 * once the run is settled (say the hard limit passed) a late update is dropped, so a body
 * that wakes up later cannot overwrite the final state.
 */
export function supervise(
  run: PoolRun,
  start: (updateState: (state: TaskState, meta: Json) => Promise<void>) => Execution,
  counters: TimeoutCounters,
): Promise<RunResult> {
  const { job, clock, limits, log } = run;
  const h = job.message.headers;
  return new Promise((resolve) => {
    const timers: ReturnType<typeof clock.setTimer>[] = [];
    let over = false;
    const done = (value: RunResult): boolean => {
      if (over) return false;
      over = true;
      for (const t of timers) clock.clearTimer(t);
      resolve(value);
      return true;
    };
    const execution = start((state, meta) => (over ? Promise.resolve() : run.updateState(state, meta)));
    const stopWith = (reason: Error, value: RunResult) => {
      if (over) return;
      job.abort.abort(reason);
      done(value);
      execution.stop(reason);
    };
    job.abandon = () => stopWith(new WorkerLostError('worker shut down before the task finished'), 'abandoned');
    job.terminate = (reason) => stopWith(reason, { ok: false, error: reason });
    const { soft, hard } = limits;
    if (soft !== null) {
      timers.push(
        clock.setTimer(() => {
          if (over) return;
          const reason = new SoftTimeLimitExceeded(soft);
          counters.soft += 1;
          log.warn({ taskId: h.id, taskName: h.task }, `soft time limit (${soft}s) exceeded`);
          job.abort.abort(reason);
          execution.softLimit(reason);
        }, soft * 1000),
      );
    }
    if (hard !== null) {
      timers.push(
        clock.setTimer(() => {
          if (over) return;
          counters.hard += 1;
          log.error({ taskId: h.id, taskName: h.task }, `hard time limit (${hard}s) exceeded`);
          const error = new TimeLimitExceeded(hard);
          stopWith(error, { ok: false, error });
        }, hard * 1000),
      );
    }
    void execution.outcome.then(done, (error: unknown) => done({ ok: false, error }));
  });
}
