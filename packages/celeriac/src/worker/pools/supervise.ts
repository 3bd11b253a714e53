/**
 * @module worker/pools/supervise
 * Time limits, written once for every pool. The pool starts an execution; this module arms
 * the soft and hard timers on the worker's clock, makes the run's handle (`abandon` for
 * shutdown, `terminate` for a revoke), and settles the run exactly once, whichever comes first.
 */
import { SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError } from '../../core/task-errors.js';
import type { TimerHandle } from '../../core/clock.js';
import type { TraceOutcome } from '../../core/trace.js';
import type { Json, TaskState } from '../../protocol/types.js';
import type { PoolRun, RunHandle, RunResult } from './types.js';

/** A task body started by a pool. */
export interface Execution {
  /** The body's outcome: at once when the body ran to its end synchronously, else a promise. */
  readonly outcome: TraceOutcome | Promise<TraceOutcome>;
  /** The soft limit passed: make the task's `ctx.signal` abort with `reason`. */
  softLimit(reason: SoftTimeLimitExceeded): void;
  /** Stop the body now (hard limit, terminate, shutdown); `reason` is why, `signal` a revoke's. */
  stop(reason: Error, signal?: NodeJS.Signals): void;
  /**
   * Resolves when the body starts; the limits count from then. The threads pool may first
   * wait for a fresh thread, which is not the task's time. Rejects when the body never
   * starts (the pool closed first); `outcome` then says so. @default already started
   */
  readonly started?: Promise<void>;
}

/** Counts of runs ended by time limits, for stats. */
export interface TimeoutCounters {
  soft: number;
  hard: number;
}

/** The timers of one run: what to do when each limit passes. */
interface LimitActions {
  isOver(): boolean;
  soft(reason: SoftTimeLimitExceeded): void;
  hard(error: TimeLimitExceeded): void;
}

/** Logs and counts a run that passed its hard limit; the error it ends with. */
function hardLimitPassed(run: PoolRun, counters: TimeoutCounters, hard: number): TimeLimitExceeded {
  const h = run.job.message.headers;
  counters.hard += 1;
  run.log.error({ taskId: h.id, taskName: h.task }, `hard time limit (${hard}s) exceeded`);
  return new TimeLimitExceeded(hard);
}

/**
 * Arms the soft and hard timers, `spentMs` of each gone already (the part of a body on the
 * event loop that ran before its first await); returns their handles.
 */
function armLimits(run: PoolRun, counters: TimeoutCounters, on: LimitActions, spentMs: number): TimerHandle[] {
  const { clock, limits, log } = run;
  const h = run.job.message.headers;
  const { soft, hard } = limits;
  const timers: TimerHandle[] = [];
  if (soft !== null) {
    timers.push(
      clock.setTimer(() => {
        if (on.isOver()) return;
        counters.soft += 1;
        log.warn({ taskId: h.id, taskName: h.task }, `soft time limit (${soft}s) exceeded`);
        on.soft(new SoftTimeLimitExceeded(soft));
      }, Math.max(0, soft * 1000 - spentMs)),
    );
  }
  if (hard !== null) {
    timers.push(
      clock.setTimer(() => {
        if (on.isOver()) return;
        on.hard(hardLimitPassed(run, counters, hard));
      }, Math.max(0, hard * 1000 - spentMs)),
    );
  }
  return timers;
}

const nothing = (): void => undefined;

/** A run that already ended; a class, not a literal, for the reason worker/job.ts gives. */
class EndedRun implements RunHandle {
  constructor(readonly result: RunResult) {}
  terminate(): void {}
  abandon(): void {}
}

/** The handle of a run that already ended (there is nothing left to stop). */
export function endedRun(result: RunResult): RunHandle {
  return new EndedRun(result);
}

/**
 * Runs `start` under the run's limits and returns the run's handle. `start` receives the `updateState` the task must use:
 * once the run is settled (say the hard limit passed) a late update is dropped, so a body
 * that wakes up later cannot overwrite the final state. A body that ended synchronously
 * (a plain function on the event loop) is over before any timer could fire or any terminate
 * could reach it: its outcome is returned at once, with nothing armed, or TimeLimitExceeded
 * when it ran past its hard limit.
 */
export function supervise(
  run: PoolRun,
  start: (updateState: (state: TaskState, meta: Json) => Promise<void>) => Execution,
  counters: TimeoutCounters,
): RunHandle {
  const { job, clock } = run;
  const { hard } = run.limits;
  const limited = hard !== null || run.limits.soft !== null;
  const startedAt = limited ? clock.now() : 0;
  let over = false;
  const execution = start((state, meta) => (over ? Promise.resolve() : run.updateState(state, meta)));
  // A body that never started is reported by its outcome; with no limits to arm nothing else
  // awaits `started`, and its rejection must not surface as an unhandled one.
  execution.started?.catch(nothing);
  const outcome = execution.outcome;
  // What a body on the event loop (no `started`) ran before returning: its limits count it.
  // A body that computes without awaiting cannot be stopped there, and it blocked its timers
  // too: one that ran 5 s past a 2 s hard limit was stored SUCCESS.
  const spentMs = limited && execution.started === undefined ? clock.now() - startedAt : 0;
  if (!(outcome instanceof Promise)) {
    over = true;
    return endedRun(hard !== null && spentMs >= hard * 1000 ? { ok: false, error: hardLimitPassed(run, counters, hard) } : outcome);
  }
  let resolve!: (value: RunResult) => void;
  const result = new Promise<RunResult>((r) => (resolve = r));
  const timers: TimerHandle[] = [];
  const done = (value: RunResult): void => {
    if (over) return;
    over = true;
    for (const t of timers) clock.clearTimer(t);
    resolve(value);
  };
  const stopWith = (reason: Error, value: RunResult, signal?: NodeJS.Signals) => {
    if (over) return;
    job.abort.abort(reason);
    done(value);
    execution.stop(reason, signal);
  };
  const arm = () => {
    if (over) return;
    timers.push(
      ...armLimits(run, counters, {
        isOver: () => over,
        soft: (reason) => {
          job.abort.abort(reason);
          execution.softLimit(reason);
        },
        hard: (error) => stopWith(error, { ok: false, error }),
      }, spentMs),
    );
  };
  if (run.limits.soft === null && run.limits.hard === null) {
    // No timers to arm.
  } else if (execution.started === undefined) arm();
  else void execution.started.then(arm, () => undefined);
  void outcome.then(done, (error: unknown) => done({ ok: false, error }));
  return {
    result,
    terminate: (reason, signal) => stopWith(reason, { ok: false, error: reason }, signal),
    abandon: () => stopWith(new WorkerLostError('worker shut down before the task finished'), 'abandoned'),
  };
}
