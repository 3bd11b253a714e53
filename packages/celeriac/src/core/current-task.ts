/**
 * @module core/current-task
 * Tracks which task is running in the current async context, so that a task sent from inside
 * another gets `parent_id` and `root_id` filled like Celery's task stack does.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { TaskRequest } from './context.js';

const storage = new AsyncLocalStorage<TaskRequest>();

/** Runs `fn` with `request` as the current task. */
export function runAsCurrentTask<T>(request: TaskRequest, fn: () => T): T {
  return storage.run(request, fn);
}

/** The request of the task running in this async context, if any. */
export function currentTask(): TaskRequest | undefined {
  return storage.getStore();
}
