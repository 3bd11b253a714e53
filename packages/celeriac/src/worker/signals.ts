/**
 * @module worker/signals
 * The worker's shutdown signals, as Celery's worker reads them:
 * - SIGTERM and SIGINT start a warm shutdown, and a second one a cold shutdown;
 * - SIGQUIT starts a cold shutdown at once;
 * - SIGHUP, which restarts Celery's worker in place when it has no terminal, starts a warm
 *   shutdown when the process has none: a Node process cannot replace itself, so its supervisor
 *   starts it again (the CLI restarts a worker it detached itself). On a terminal it keeps its default (the terminal closed), as in Celery.
 * Without these, SIGQUIT and SIGHUP ended the process at once: no task finished, no event said so.
 */
import type { Worker } from './worker.js';

/** The signals {@link installShutdownSignals} handles. */
export type ShutdownSignal = 'SIGTERM' | 'SIGINT' | 'SIGQUIT' | 'SIGHUP';

/** Options of {@link installShutdownSignals}. */
export interface ShutdownSignalOptions {
  /** Whether SIGHUP starts a warm shutdown. @default true when stdout is not a terminal */
  hangup?: boolean;
  /**
   * Runs at each signal as it arrives, also after the worker has stopped while the handlers are
   * still installed (the worker may end before `onStopped` runs).
   */
  onSignal?: (signal: ShutdownSignal) => void;
}

/**
 * Installs the handlers; returns a function that removes them. `onStopped` runs once the
 * worker closed, with `cold` true when a cold shutdown was asked for, and the signal that
 * started the shutdown. `onCold` runs when a cold shutdown is asked for (the CLI arms its exit
 * deadline there).
 */
export function installShutdownSignals(
  worker: Worker,
  onStopped: (cold: boolean, signal: ShutdownSignal) => void,
  onCold?: () => void,
  options: ShutdownSignalOptions = {},
): () => void {
  const hangup = options.hangup ?? process.stdout.isTTY !== true;
  let first: ShutdownSignal | undefined;
  let cold = false;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    onStopped(cold, first ?? 'SIGTERM');
  };
  const goCold = (signal: ShutdownSignal): void => {
    if (cold) return;
    cold = true;
    worker.log.warn({ signal }, 'cold shutdown: abandoning running tasks');
    onCold?.();
    void worker.terminate().finally(stop);
  };
  const handler = (signal: NodeJS.Signals) => {
    const s = signal as ShutdownSignal;
    options.onSignal?.(s);
    // Once the worker has stopped there is nothing left to shut down: the signal is only reported.
    if (stopped) return;
    if (first === undefined) {
      first = s;
      if (s === 'SIGQUIT') return goCold(s);
      const why = s === 'SIGHUP' ? ' (SIGHUP: Celery restarts in place here; a Node process cannot, so this one stops to be started again)' : '';
      worker.log.warn({ signal }, `warm shutdown requested${why} (send again for cold shutdown)`);
      void worker.close().finally(stop);
    } else {
      goCold(s);
    }
  };
  const signals: ShutdownSignal[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', ...(hangup ? (['SIGHUP'] as const) : [])];
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
