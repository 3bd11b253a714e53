/**
 * @module testing/wait-for
 * `waitFor`: the one way Celeriac's own tests wait for something that happens outside the
 * test's control (a worker in another process, Redis, a Python worker): poll a condition until
 * it holds, bounded by a timeout that only decides how long a failing test takes to fail. It
 * replaces fixed sleeps, which are too short on a loaded machine and too long everywhere else.
 * For time itself (ETA, expiry, leases, backoff, schedules) drive a FakeClock instead, and let
 * the promise work its timers start run with {@link flush}.
 */

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up (throw) after this many milliseconds. Generous: a passing test never waits it out. @default 5000 */
  timeoutMs?: number;
  /** Longest pause between two checks; pauses start at 1 ms and double up to this. @default 50 */
  maxIntervalMs?: number;
}

/**
 * Calls `check` until it returns a truthy value, and resolves with that value. The first
 * call is immediate; later ones follow pauses of 1, 2, 4... ms up to `maxIntervalMs`. When
 * `timeoutMs` passes first, it throws an Error naming `what` (a function is called then, so the
 * message can say what was seen instead). An error thrown by `check` ends the wait at once
 * (catch inside `check` what you expect to fail while you wait).
 *
 * ```ts
 * const meta = await waitFor(async () => {
 *   const m = await backend.get(id);
 *   return m?.status === 'SUCCESS' ? m : null;
 * }, `task ${id} to succeed`);
 * ```
 *
 * @param options the options, or the timeout in milliseconds
 */
export async function waitFor<T>(check: () => T | Promise<T>, what: string | (() => string), options: WaitForOptions | number = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, maxIntervalMs = 50 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, maxIntervalMs)) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
  }
}

/**
 * Resolves after `ms` real milliseconds. For letting time pass, as a task that takes a while
 * or a check that nothing arrives within a bound; to wait until something holds, use
 * {@link waitFor}.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

/**
 * Lets pending promise callbacks and `setImmediate` callbacks run, `rounds` turns of the event
 * loop; no timer is involved, so it takes no time. Use it after `FakeClock.advance()` (timers
 * fire synchronously, the work they start on promises does not) and before asserting that
 * something in-process did not happen. Work that waits on I/O needs {@link waitFor}.
 */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
