/**
 * @module ingest/deadline
 * A time limit on a broker or backend call. Clients of a broker that went away may wait for
 * it indefinitely (queued commands, reconnect loops); the dashboard answers 503 instead.
 */

/** Thrown when a call ran out of time. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/** Resolves as `promise`, or rejects with a {@link DeadlineError} after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  promise.catch(() => {}); // a late rejection after the deadline is not unhandled
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
