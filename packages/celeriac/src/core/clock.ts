/**
 * @module core/clock
 * Time is injected, never read from globals, so ETA, expiry, backoff and schedule logic can
 * be tested with a fake clock instead of sleeps.
 */

/** An opaque handle for a pending timer. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/** The source of time for every component. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Runs `fn` once after `ms` milliseconds (any length: `Infinity` never fires, a negative or
   * NaN delay fires as soon as possible). Timers never keep the process alive.
   */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * The longest delay a Node timer takes (2^31-1 ms, about 24.8 days). Node runs a longer one
 * after 1 ms (with a TimeoutOverflowWarning): a 25-day hard time limit used to fail every task
 * at once, and a delayed message due in a month to wake its timer every millisecond.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer longer than {@link MAX_TIMER_MS}: a chain of shorter ones. */
class ChainedTimer {
  current: ReturnType<typeof setTimeout> | undefined;
  cancelled = false;
}

/**
 * `setTimeout` that takes any delay: negative or NaN runs as soon as possible, `Infinity`
 * never, and anything over {@link MAX_TIMER_MS} is chained. `unref` keeps it from holding the
 * process open. Cancel with {@link clearLongTimeout}.
 */
export function setLongTimeout(fn: () => void, ms: number, unref = true): TimerHandle {
  const delay = Number.isNaN(ms) ? 0 : Math.max(0, ms);
  if (delay <= MAX_TIMER_MS) {
    const t = setTimeout(fn, delay);
    if (unref) t.unref();
    return t;
  }
  const chain = new ChainedTimer();
  if (delay === Infinity) return chain;
  const due = Date.now() + delay;
  const arm = (): void => {
    if (chain.cancelled) return;
    const left = due - Date.now();
    chain.current = setTimeout(left <= MAX_TIMER_MS ? fn : arm, Math.min(Math.max(0, left), MAX_TIMER_MS));
    if (unref) chain.current.unref();
  };
  arm();
  return chain;
}

/** Cancels a timer from {@link setLongTimeout}; unknown or fired handles are ignored. */
export function clearLongTimeout(handle: TimerHandle | undefined): void {
  if (handle instanceof ChainedTimer) {
    handle.cancelled = true;
    clearTimeout(handle.current);
  } else if (handle !== undefined) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}

/** The real clock: `Date.now()` and unref'd Node timers, of any length. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimer(fn: () => void, ms: number): TimerHandle {
    return setLongTimeout(fn, ms);
  },
  clearTimer(handle: TimerHandle): void {
    clearLongTimeout(handle);
  },
});
