/**
 * @module core/current-task
 * Tracks which task is running in the current async context, so that a task sent from inside
 * another gets `parent_id` and `root_id` filled like Celery's task stack does.
 *
 * Two ways, by the kind of function. An `async` function runs in an AsyncLocalStorage
 * context, which follows it across its awaits. A plain function can only send while it runs,
 * so a variable set around the call is enough, and the process never pays for async hooks
 * on every promise (what AsyncLocalStorage costs on Node 20 once used) unless some task is
 * `async`. A plain function that returns a promise gets the context only for sends made
 * before it returns; declare it `async` to have its continuations tracked too.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ResultTuple } from '../protocol/types.js';
import type { TaskRequest } from './context.js';

const storage = new AsyncLocalStorage<TaskRequest>();

/** The request of the plain (not `async`) task function running right now. */
let running: TaskRequest | undefined;

/** True for functions declared `async` (whose continuations need the async context). */
function isAsyncFunction(fn: (...args: never[]) => unknown): boolean {
  return fn.constructor.name === 'AsyncFunction';
}

/**
 * Calls the task function `fn` with `args`, with `request` as the current task. No closure
 * per call: this runs for every task.
 */
export function runAsCurrentTask<A extends unknown[], T>(request: TaskRequest, fn: (...args: A) => T, args: A): T {
  const outer = running;
  // An async function's own context must win over a plain caller's (eager nesting).
  running = isAsyncFunction(fn) ? undefined : request;
  try {
    if (running === undefined) return storage.run(request, fn, ...args);
    return fn(...args);
  } finally {
    running = outer;
  }
}

/** The request of the task running in this async context, if any. */
export function currentTask(): TaskRequest | undefined {
  return running ?? storage.getStore();
}

/** What each running task sent with `addToParent` (Celery's `request.children`). */
const sentChildren = new WeakMap<TaskRequest, ResultTuple[]>();

/**
 * Records `tuple` as a child of the task running a worker here (not an eager run, as Celery's
 * `current_worker_task`): Celery's `add_to_parent`. No-op outside a task.
 */
export function addToCurrentTask(tuple: ResultTuple): void {
  const request = currentTask();
  if (request === undefined || request.isEager) return;
  const list = sentChildren.get(request);
  if (list === undefined) sentChildren.set(request, [tuple]);
  else list.push(tuple);
}

/** The children recorded for `request` so far, and forgets them. */
export function takeChildren(request: TaskRequest): ResultTuple[] {
  const list = sentChildren.get(request);
  if (list === undefined) return NONE;
  sentChildren.delete(request);
  return list;
}

/** What {@link takeChildren} returns for a task that sent none (most): shared, never written. */
const NONE: ResultTuple[] = Object.freeze([]) as unknown as ResultTuple[];
