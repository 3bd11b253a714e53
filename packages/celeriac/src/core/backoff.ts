/**
 * @module core/backoff
 * The one backoff of the engine: a delay that grows with each failed attempt (by a step, as
 * kombu's `ensure_connection`, or by a factor) up to a cap, with optional "equal jitter" (half
 * fixed, half random) so a fleet of workers does not retry in lock-step after a restart. Used
 * by connection and outage retries, reconnects, nacked publishes, redeliveries and an idle
 * queue's poll interval. Pure: the randomness is injected.
 *
 * Task retries (core/retry.ts) follow Celery's own formula (`retry_backoff` with full jitter)
 * and stay there.
 */

/** How a delay grows: ms added per attempt, or a factor applied per attempt. */
export type BackoffGrowth = { readonly addMs: number } | { readonly factor: number };

/** A backoff policy, in milliseconds. */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  readonly firstMs: number;
  /** Growth per further retry. */
  readonly growth: BackoffGrowth;
  /** The cap the delay grows to and stays at. */
  readonly maxMs: number;
  /** Equal jitter: the delay is uniformly drawn from [d/2, d). @default false */
  readonly jitter?: boolean;
}

/**
 * The delay before retry `attempt` (0-based) under `policy`; `random` returns [0, 1).
 * Never negative, never above `maxMs`, non-decreasing in `attempt` without jitter.
 */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const n = Math.max(0, Math.floor(attempt));
  const raw = 'addMs' in policy.growth
    ? policy.firstMs + n * policy.growth.addMs
    // 2^60 overflows nothing useful: past the cap long before.
    : policy.firstMs * policy.growth.factor ** Math.min(n, 60);
  const capped = Math.max(0, Math.min(policy.maxMs, Number.isFinite(raw) ? raw : policy.maxMs));
  return policy.jitter === true ? Math.round(capped / 2 + random() * (capped / 2)) : capped;
}

/** Successive delays of one run of failures: {@link next} after each failure, {@link reset} after a success. */
export class Backoff {
  #attempt = 0;

  constructor(
    readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** Failures since the last reset. */
  get failures(): number {
    return this.#attempt;
  }

  /** The delay to wait after one more failure. */
  next(): number {
    return backoffDelayMs(this.policy, this.#attempt++, this.random);
  }

  /** Back to the first delay (the operation succeeded). */
  reset(): void {
    this.#attempt = 0;
  }
}

/**
 * Waits `ms` on `setTimer`, or less when `signal` aborts first; resolves true when the full
 * wait ran. The timer is whatever the caller's clock gives (fake in tests).
 */
export function abortableDelay(
  ms: number,
  signal: AbortSignal,
  timers: { setTimer(fn: () => void, ms: number): unknown; clearTimer(handle: never): void },
): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      timers.clearTimer(handle as never);
      resolve(false);
    };
    const handle = timers.setTimer(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
