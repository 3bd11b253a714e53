/**
 * @module worker/startup-connect
 * Celery's `broker_connection_retry_on_startup` / `broker_connection_max_retries`: a worker
 * started before its broker (or result backend) is ready waits for it, retrying with kombu's
 * backoff (2 s, then 2 s more each time, at most 30 s), instead of exiting. Start order of
 * broker and worker no longer matters (docker-compose, systemd), nor a Redis that is up but
 * not serving yet (LOADING its dataset, a READONLY replica during a failover, OOM): the
 * adapters report those as TRANSPORT errors, which are retried.
 *
 * Refusals that no wait fixes (a wrong password, a missing permission, a database the
 * server does not have: the adapters report them as CONFIG) end the start at once.
 *
 * Logging: one warning per change of the failure's state (core/failure-state.ts) with the
 * next retry time, or as soon as an attempt under way knows it (`problem`), the same state again
 * only at debug level, and one line once connected after failures; never a stack trace per attempt. A close (SIGTERM) ends the wait at once,
 * even with an attempt in flight: the attempt is left to the adapter's close.
 */
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';
import { clearLongTimeout, setLongTimeout } from '../core/clock.js';
import { abortableDelay, Backoff, backoffDelayMs, type BackoffPolicy } from '../core/backoff.js';
import { failureState } from '../core/failure-state.js';

/** A backoff: seconds before the first retry, added per retry, and the cap. */
export interface StartupRetryIntervals {
  readonly intervalStart: number;
  readonly intervalStep: number;
  readonly intervalMax: number;
}

/** kombu's `ensure_connection` intervals, seconds. */
export const STARTUP_RETRY: StartupRetryIntervals = Object.freeze({ intervalStart: 2, intervalStep: 2, intervalMax: 30 });

/** The backoff policy of `intervals`. */
function policyOf(intervals: StartupRetryIntervals): BackoffPolicy {
  return { firstMs: intervals.intervalStart * 1000, growth: { addMs: intervals.intervalStep * 1000 }, maxMs: intervals.intervalMax * 1000 };
}

/** Seconds before retry `retry` (0-based): 2, 4, 6, ... 30, 30, ... */
export function startupRetryDelaySec(retry: number, intervals: StartupRetryIntervals = STARTUP_RETRY): number {
  return backoffDelayMs(policyOf(intervals), retry) / 1000;
}

/** The log lines of a start-up wait (pino's signature, without error objects: no stacks). */
export interface StartupLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/** What {@link connectOnStartup} needs. */
export interface StartupConnectOptions {
  /** `broker` or `result backend`, for log lines and errors. */
  readonly what: string;
  /** The URL with its password hidden. */
  readonly url: string;
  /** Retry at all (`brokerConnectionRetryOnStartup`). */
  readonly retry: boolean;
  /** Most retries; null: until it connects (`brokerConnectionMaxRetries`). */
  readonly maxRetries: number | null;
  /** Aborted when the worker is closed while it waits: the wait ends quietly, at once. */
  readonly signal: AbortSignal;
  readonly log: StartupLog;
  /** The backoff. @default STARTUP_RETRY */
  readonly intervals?: StartupRetryIntervals;
  /**
   * Why connecting fails now, while an attempt is on (QueueBroker.connectProblem): said as soon
   * as it is known. An attempt waits up to its connection's own limit (Redis: 10 s) before it
   * fails, and nothing was said meanwhile, where Celery says it at once.
   */
  readonly problem?: () => string | null;
}

/** How often a pending attempt's {@link StartupConnectOptions.problem} is looked at. */
const PROBLEM_LOOK_MS = 100;

const ABORTED = Symbol('aborted');

/** Resolves with `work`, or with `aborted` as soon as `signal` aborts (work then runs on, unheard). */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  work.catch(() => undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Calls `connect` until it succeeds, the policy is spent, or `signal` aborts.
 * @returns true once connected, false when aborted.
 * @throws CeleriacError TRANSPORT naming the URL and the attempts, with the last failure as
 *   cause; any other error of `connect` (CONFIG: refused credentials...) at once, unchanged.
 */
export async function connectOnStartup(connect: () => Promise<void>, o: StartupConnectOptions): Promise<boolean> {
  const backoff = new Backoff(policyOf(o.intervals ?? STARTUP_RETRY));
  const firstFailureAt = Date.now();
  let shownState: string | undefined;
  for (let retry = 0; ; retry++) {
    const look = o.problem;
    const watch =
      look === undefined
        ? undefined
        : setInterval(() => {
            if (o.signal.aborted) return;
            const problem = look();
            const state = problem === null ? undefined : failureState(new Error(problem));
            if (state === undefined || state === shownState) return;
            shownState = state;
            o.log.warn({ state, attempt: retry + 1 }, `Cannot connect to ${o.what} ${o.url}: ${problem}. Still trying...`);
          }, PROBLEM_LOOK_MS);
    watch?.unref();
    try {
      if ((await unlessAborted(connect().finally(() => clearInterval(watch)), o.signal)) === ABORTED) return false;
      if (retry > 0) o.log.info({ attempts: retry + 1, waitedMs: Date.now() - firstFailureAt }, `Connected to ${o.what} ${o.url} after ${retry + 1} attempts.`);
      return true;
    } catch (error) {
      if (o.signal.aborted) return false;
      if (!(error instanceof CeleriacError && error.code === ErrorCodes.TRANSPORT)) throw error;
      const err = coerceError(error);
      const spent = !o.retry || (o.maxRetries !== null && retry >= o.maxRetries);
      if (spent) {
        const how = o.retry ? `after ${retry + 1} attempts (brokerConnectionMaxRetries ${String(o.maxRetries)})` : '(brokerConnectionRetryOnStartup is off)';
        throw new CeleriacError(ErrorCodes.TRANSPORT, `Cannot connect to ${o.what} ${o.url} ${how}: ${err.message}`, { cause: err });
      }
      const delayMs = backoff.next();
      const state = failureState(err);
      const of = o.maxRetries === null ? '' : `/${o.maxRetries}`;
      const line = `Cannot connect to ${o.what} ${o.url}: ${err.message}. Trying again in ${(delayMs / 1000).toFixed(2)} seconds... (${retry + 1}${of})`;
      const fields = { state, attempt: retry + 1, retryAt: new Date(Date.now() + delayMs).toISOString() };
      // A new state is news; the same one again is not (debug keeps it for whoever asks).
      if (state !== shownState) o.log.warn(fields, line);
      else o.log.debug(fields, line);
      shownState = state;
      if (!(await sleep(delayMs, o.signal))) return false;
    }
  }
}

/**
 * Waits `ms` on a timer that holds the process open (a CLI worker waiting for its broker has
 * nothing else that does); false when `signal` aborted first.
 */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return abortableDelay(ms, signal, { setTimer: (fn, t) => setLongTimeout(fn, t, false), clearTimer: clearLongTimeout });
}
