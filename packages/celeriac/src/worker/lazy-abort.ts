/**
 * @module worker/lazy-abort
 * The abort controller behind a job's `ctx.signal`, made on first use: most tasks never
 * look at their signal and are never aborted, and an AbortController with its signal is one
 * of the larger allocations of a task's run.
 */

/** An AbortController created when its signal is first read or it is first aborted. */
export class LazyAbortController {
  #controller: AbortController | undefined;

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  abort(reason?: unknown): void {
    (this.#controller ??= new AbortController()).abort(reason);
  }
}
