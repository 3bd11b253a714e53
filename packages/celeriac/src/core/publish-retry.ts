/**
 * @module core/publish-retry
 * Celery's publish retry (`retry`/`retry_policy` call options, `task_publish_retry` and
 * `task_publish_retry_policy` settings): when the broker cannot take a message because its
 * connection is down (a TRANSPORT error), the send is tried again after an interval that
 * starts at `intervalStart` seconds, grows by `intervalStep` per retry and stops growing at
 * `intervalMax`, at most `maxRetries` times (kombu's `retry_over_time`). Each attempt is
 * bounded by the broker connection's own limits (Redis: `connectTimeoutMs`). Once the policy
 * is spent the send fails with a {@link PublishError} whose `cause` is the last failure.
 *
 * Other errors (a closed app, a refused fenced publish, bad arguments) are not retried.
 * A retried publish is at-least-once: if the broker applied a write whose reply was lost, the
 * message is there twice under one task id, as with Celery.
 */
import { CeleriacError, ErrorCodes, brandClass, coerceError } from '../errors.js';
import { MAX_TIMER_MS, type Clock } from './clock.js';

/** Celery's `retry_policy`, in camelCase. Seconds throughout. */
export interface PublishRetryPolicy {
  /** Most retries after the first attempt; `null` retries until it works. @default 3 */
  maxRetries?: number | null;
  /** Seconds before the first retry. @default 0 */
  intervalStart?: number;
  /** Seconds added to the interval after each retry. @default 0.2 */
  intervalStep?: number;
  /** Longest interval between two retries, in seconds. @default 1 */
  intervalMax?: number;
}

/** A policy with every field set. */
export type ResolvedPublishRetryPolicy = Readonly<Required<PublishRetryPolicy>>;

/** Celery's default `task_publish_retry_policy`. */
export const DEFAULT_PUBLISH_RETRY_POLICY: ResolvedPublishRetryPolicy = Object.freeze({
  maxRetries: 3,
  intervalStart: 0,
  intervalStep: 0.2,
  intervalMax: 1,
});

/** Celery's snake_case names, accepted too (a policy copied from a Celery config, or JSON in the environment). */
const SNAKE: Readonly<Record<string, keyof PublishRetryPolicy>> = {
  max_retries: 'maxRetries',
  interval_start: 'intervalStart',
  interval_step: 'intervalStep',
  interval_max: 'intervalMax',
};
const NAMES = new Set<string>(Object.values(SNAKE));

/** The problem with a policy, or null when it is valid (for the settings table and call options). */
export function retryPolicyProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object such as { maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1 }';
  for (const [key, v] of Object.entries(value)) {
    const name = SNAKE[key] ?? key;
    if (!NAMES.has(name)) return `has an unknown field ${JSON.stringify(key)}; known: ${[...NAMES].join(', ')}`;
    if (name === 'maxRetries' && v === null) continue;
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) return `${key} must be a number >= 0${name === 'maxRetries' ? ' or null' : ''}, got ${String(v)}`;
    if (name === 'maxRetries' && !Number.isInteger(v)) return `${key} must be an integer, got ${String(v)}`;
  }
  return null;
}

/**
 * `base` with the fields `override` sets (Celery merges a call's `retry_policy` into the
 * app's the same way). @throws CeleriacError INVALID_ARGUMENT on a bad override.
 */
export function mergeRetryPolicy(base: PublishRetryPolicy, override: PublishRetryPolicy | undefined): ResolvedPublishRetryPolicy {
  const merged: Record<string, unknown> = { ...DEFAULT_PUBLISH_RETRY_POLICY };
  for (const policy of [base, override]) {
    if (policy === undefined) continue;
    const problem = retryPolicyProblem(policy);
    if (problem !== null) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `retryPolicy ${problem}`);
    for (const [key, v] of Object.entries(policy)) if (v !== undefined) merged[SNAKE[key] ?? key] = v;
  }
  return Object.freeze(merged) as ResolvedPublishRetryPolicy;
}

/** Seconds to wait before retry number `retry` (0-based): start + retry x step, at most max. */
export function retryInterval(policy: ResolvedPublishRetryPolicy, retry: number): number {
  return Math.min(policy.intervalStart + retry * policy.intervalStep, Math.max(policy.intervalMax, policy.intervalStart));
}

/** A send that failed for good: the broker stayed unreachable through the retry policy. */
export class PublishError extends CeleriacError {
  constructor(
    what: string,
    /** Attempts made (1 + retries). */
    readonly attempts: number,
    cause: Error,
  ) {
    super(ErrorCodes.TRANSPORT, `could not ${what} after ${attempts} attempt${attempts === 1 ? '' : 's'} (retryPolicy spent): ${cause.message}`, { cause });
  }
}

/** True for a failure the publish retry covers: the broker connection, not the request. */
export function isRetryablePublishError(error: unknown): boolean {
  return error instanceof CeleriacError && error.code === ErrorCodes.TRANSPORT && !(error instanceof PublishError);
}

/** What {@link publishWithRetry} needs besides the attempt. */
export interface PublishRetryContext {
  /** Names the send in errors and logs, e.g. `send task proj.add[<id>]`. */
  readonly what: string;
  /** The policy, or null for no retry (`retry: false`). */
  readonly policy: ResolvedPublishRetryPolicy | null;
  readonly clock: Clock;
  /** Told about each failed attempt that will be retried, before the wait. */
  onRetry(error: Error, retry: number, delaySec: number): void;
}

/**
 * Runs `attempt` under the retry policy. The first attempt runs outside the retry loop, so a
 * publish that succeeds (nearly all) pays no async frame for it, and `context` is asked for
 * only once an attempt failed.
 * @throws PublishError once the policy is spent.
 */
export function publishWithRetry<T>(attempt: () => Promise<T>, context: () => PublishRetryContext): Promise<T> {
  let first: Promise<T>;
  try {
    first = attempt();
  } catch (error) {
    first = Promise.reject(error as Error);
  }
  return first.catch((error: unknown) => retryAfter(error, attempt, context()));
}

async function retryAfter<T>(failure: unknown, attempt: () => Promise<T>, ctx: PublishRetryContext): Promise<T> {
  let error = failure;
  for (let retry = 0; ; retry++) {
    if (!isRetryablePublishError(error)) throw error;
    const { policy } = ctx;
    if (policy === null) throw new PublishError(ctx.what, retry + 1, coerceError(error));
    if (policy.maxRetries !== null && retry >= policy.maxRetries) throw new PublishError(ctx.what, retry + 1, coerceError(error));
    const delaySec = retryInterval(policy, retry);
    ctx.onRetry(coerceError(error), retry + 1, delaySec);
    if (delaySec > 0) await holdingTheProcess(new Promise<void>((resolve) => ctx.clock.setTimer(resolve, delaySec * 1000)));
    try {
      return await attempt();
    } catch (next) {
      error = next;
    }
  }
}

/**
 * `wait`, with the process kept alive until it settles. The clock's timers never hold it, and
 * while a send waits between retries nothing else may: the connection it retries is down. A
 * script whose last work was `await task.delay()` then exited with code 0 and the task neither
 * sent nor failed (with top-level await, code 13).
 */
async function holdingTheProcess(wait: Promise<void>): Promise<void> {
  const hold = setInterval(() => undefined, MAX_TIMER_MS);
  try {
    await wait;
  } finally {
    clearInterval(hold);
  }
}

// instanceof across copies of the package (errors.ts).
brandClass(PublishError, 'PublishError');
