/**
 * @module worker/startup-connect
 * Celery's `broker_connection_retry_on_startup` / `broker_connection_max_retries`: a worker
 * started before its broker (or result backend) waits for it, retrying with kombu's backoff
 * (2 s, then 2 s more each time, at most 30 s) and one warning per failed attempt, instead of
 * exiting. Start order of broker and worker no longer matters (docker-compose, systemd).
 * Each attempt is bounded by the connection's own limit (Redis: `connectTimeoutMs`).
 * Only connection failures (TRANSPORT) are retried; a bad URL or setting fails at once.
 */
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';
import { clearLongTimeout, setLongTimeout } from '../core/clock.js';

/** A backoff: seconds before the first retry, added per retry, and the cap. */
export interface StartupRetryIntervals {
  readonly intervalStart: number;
  readonly intervalStep: number;
  readonly intervalMax: number;
}

/** kombu's `ensure_connection` intervals, seconds. */
export const STARTUP_RETRY: StartupRetryIntervals = Object.freeze({ intervalStart: 2, intervalStep: 2, intervalMax: 30 });

/** Seconds before retry `retry` (0-based): 2, 4, 6, ... 30, 30, ... */
export function startupRetryDelaySec(retry: number, intervals: StartupRetryIntervals = STARTUP_RETRY): number {
  return Math.min(intervals.intervalStart + retry * intervals.intervalStep, intervals.intervalMax);
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
  /** Aborted when the worker is closed while it waits: the wait ends quietly. */
  readonly signal: AbortSignal;
  warn(message: string, err: Error): void;
  /** The backoff. @default STARTUP_RETRY */
  readonly intervals?: StartupRetryIntervals;
}

/**
 * Calls `connect` until it succeeds, the policy is spent, or `signal` aborts.
 * @returns true once connected, false when aborted.
 * @throws CeleriacError TRANSPORT naming the URL and the attempts, with the last failure as cause.
 */
export async function connectOnStartup(connect: () => Promise<void>, o: StartupConnectOptions): Promise<boolean> {
  for (let retry = 0; ; retry++) {
    if (o.signal.aborted) return false;
    try {
      await connect();
      return true;
    } catch (error) {
      if (o.signal.aborted) return false;
      const err = coerceError(error);
      const transient = error instanceof CeleriacError && error.code === ErrorCodes.TRANSPORT;
      if (!transient) throw error;
      const spent = !o.retry || (o.maxRetries !== null && retry >= o.maxRetries);
      if (spent) {
        const how = o.retry ? `after ${retry + 1} attempts (brokerConnectionMaxRetries ${String(o.maxRetries)})` : '(brokerConnectionRetryOnStartup is off)';
        throw new CeleriacError(ErrorCodes.TRANSPORT, `Cannot connect to ${o.what} ${o.url} ${how}: ${err.message}`, { cause: err });
      }
      const delaySec = startupRetryDelaySec(retry, o.intervals);
      const of = o.maxRetries === null ? '' : `/${o.maxRetries}`;
      o.warn(`Cannot connect to ${o.what} ${o.url}: ${err.message}. Trying again in ${delaySec.toFixed(2)} seconds... (${retry + 1}${of})`, err);
      if (!(await sleep(delaySec * 1000, o.signal))) return false;
    }
  }
}

/**
 * Waits `ms` on a timer that holds the process open (a CLI worker waiting for its broker has
 * nothing else that does); false when `signal` aborted first.
 */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearLongTimeout(timer);
      resolve(false);
    };
    const timer = setLongTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms, false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
