/**
 * @module cli/commands/worker-pool-flags
 * The pool and time-limit flags of `celeriac worker`, named as Celery's: `-P`,
 * `--max-tasks-per-child`, `--max-memory-per-child`, `--time-limit`, `--soft-time-limit`.
 */
import type { WorkerOptions } from '../../worker/worker-options.js';
import { POOL_KINDS, type PoolKind } from '../../worker/pools/types.js';
import { resolveAppPath } from '../load-app.js';
import { UsageError, parseNumberOption } from '../io.js';

/** The flags as commander hands them over. */
export interface PoolFlags {
  pool?: string;
  maxTasksPerChild?: string;
  maxMemoryPerChild?: string;
  timeLimit?: string;
  softTimeLimit?: string;
}

/** Help text of the flags, declared on the worker command. */
export const POOL_FLAG_HELP = Object.freeze({
  pool: `execution pool: ${POOL_KINDS.join(', ')} (default: workerPool, async)`,
  maxTasksPerChild: 'threads pool: tasks a thread runs before it is replaced',
  maxMemoryPerChild: 'threads pool: heap (KiB) after a task above which its thread is replaced',
  timeLimit: 'hard time limit (seconds) for tasks that set none (default: taskTimeLimit)',
  softTimeLimit: 'soft time limit (seconds) for tasks that set none (default: taskSoftTimeLimit)',
});

/** Worker options from the flags; `appSpec` is `-A`, which the threads pool loads in each thread. */
export function resolvePoolFlags(flags: PoolFlags, appSpec: string | undefined, cwd: string): WorkerOptions {
  const options: WorkerOptions = {};
  if (flags.pool !== undefined) {
    if (!POOL_KINDS.includes(flags.pool as PoolKind)) throw new UsageError(`unknown pool ${JSON.stringify(flags.pool)}; available: ${POOL_KINDS.join(', ')}`);
    options.pool = flags.pool as PoolKind;
  }
  if (appSpec !== undefined) options.appModule = resolveAppPath(appSpec, cwd);
  const maxTasks = parseNumberOption('--max-tasks-per-child', flags.maxTasksPerChild, { integer: true, min: 1 });
  const maxMemory = parseNumberOption('--max-memory-per-child', flags.maxMemoryPerChild, { integer: true, min: 1 });
  const hard = parseNumberOption('--time-limit', flags.timeLimit);
  const soft = parseNumberOption('--soft-time-limit', flags.softTimeLimit);
  if (maxTasks !== undefined) options.maxTasksPerChild = maxTasks;
  if (maxMemory !== undefined) options.maxMemoryPerChild = maxMemory;
  if (hard !== undefined) options.timeLimit = hard;
  if (soft !== undefined) options.softTimeLimit = soft;
  return options;
}
