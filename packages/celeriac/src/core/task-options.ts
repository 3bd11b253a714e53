/**
 * @module core/task-options
 * Per-task options and their validation.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

/** Per-task options. Each unset field falls back to the app setting of the same meaning. */
export interface TaskOptions {
  /** Pass the task context as the function's first argument. @default false */
  bind?: boolean;
  /**
   * Names of the function's positional parameters, so keyword arguments (from Python's
   * `delay(x=1)` or `applyAsync(args, { kwargs })`) land in the right position.
   * Without it, a message carrying kwargs fails with TypeError. @default undefined
   */
  params?: readonly string[];
  /** Queue this task is sent to unless the call names one. @default undefined (routes, then taskDefaultQueue) */
  queue?: string;
  /** Default priority 0-9 for calls of this task. @default undefined (taskDefaultPriority) */
  priority?: number;
  /** Ack after running. @default undefined (taskAcksLate) */
  acksLate?: boolean;
  /** With late acks, ack failures and timeouts. @default undefined (taskAcksOnFailureOrTimeout) */
  acksOnFailureOrTimeout?: boolean;
  /** Store no result. @default undefined (taskIgnoreResult) */
  ignoreResult?: boolean;
  /** Store STARTED when it begins. @default undefined (taskTrackStarted) */
  trackStarted?: boolean;
  /** Hard time limit in seconds. @default undefined (taskTimeLimit) */
  timeLimit?: number;
  /** Soft time limit in seconds. @default undefined (taskSoftTimeLimit) */
  softTimeLimit?: number;
}

/** Task options after validation, frozen. */
export type ResolvedTaskOptions = Readonly<TaskOptions & { bind: boolean }>;

/** Validates and freezes task options. */
export function resolveTaskOptions(name: string, options: TaskOptions): ResolvedTaskOptions {
  const fail = (what: string) => new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `Task ${JSON.stringify(name)}: ${what}`);
  if (typeof name !== 'string' || name === '') throw fail('a task needs a non-empty string name');
  for (const key of ['timeLimit', 'softTimeLimit'] as const) {
    const v = options[key];
    if (v !== undefined && !(typeof v === 'number' && v > 0)) throw fail(`${key} must be a positive number of seconds`);
  }
  if (options.priority !== undefined && !(Number.isInteger(options.priority) && options.priority >= 0 && options.priority <= 9)) {
    throw fail('priority must be an integer from 0 to 9');
  }
  if (options.params !== undefined && !options.params.every((p) => typeof p === 'string')) {
    throw fail('params must be a list of parameter names');
  }
  return Object.freeze({ ...options, bind: options.bind ?? false });
}
