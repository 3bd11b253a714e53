/**
 * @module worker/task-events
 * What happens to a task inside a worker, as plain data. The executor reports each step
 * through one `emit`; the worker fans it out to listeners (Celery's task events, stats,
 * tests). Listeners must not throw and must not block: they run on the hot path.
 */
import type { Json, TaskMessage } from '../protocol/types.js';

/** One step of a task's life in this worker, named as Celery's task events. */
export type TaskEvent =
  | { readonly type: 'task-received'; readonly message: TaskMessage }
  | { readonly type: 'task-started'; readonly message: TaskMessage }
  | { readonly type: 'task-succeeded'; readonly message: TaskMessage; readonly result: Json; readonly runtime: number }
  /** `traceback` null: the event has none (an unknown task's, as Celery sends it). */
  | { readonly type: 'task-failed'; readonly message: TaskMessage; readonly error: unknown; readonly traceback: string | null }
  | { readonly type: 'task-retried'; readonly message: TaskMessage; readonly error: unknown; readonly traceback: string }
  | {
      readonly type: 'task-revoked';
      readonly message: TaskMessage;
      readonly expired: boolean;
      readonly terminated: boolean;
      readonly signum: string | null;
    }
  | { readonly type: 'task-rejected'; readonly message: TaskMessage; readonly requeue: boolean };

/** The event names. */
export type TaskEventType = TaskEvent['type'];

/** Receives task events. */
export type TaskEventListener = (event: TaskEvent) => void;

/** A set of listeners; `emit` isolates them from each other and from the caller. */
export class TaskEventHub {
  private readonly listeners = new Set<TaskEventListener>();

  /** Adds a listener; returns a function that removes it. */
  on(listener: TaskEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls every listener; one that throws is reported to `onError`, the rest still run. */
  emit(event: TaskEvent, onError: (err: unknown, event: TaskEvent) => void): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        onError(err, event);
      }
    }
  }
}
