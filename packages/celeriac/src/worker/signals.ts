/**
 * @module worker/signals
 * The worker's shutdown signals, as Celery's worker reads them:
 * - SIGTERM and SIGINT start a warm shutdown, and a second one a cold shutdown;
 * - SIGQUIT starts a cold shutdown at once;
 * - SIGHUP, which restarts Celery's worker in place when it has no terminal, starts a warm
 *   shutdown when the process has none: a Node process cannot replace itself, so its supervisor
 *   starts it again (the CLI restarts a worker it detached itself). On a terminal it keeps its
 *   default (the terminal closed), as in Celery.
 * Without these, SIGQUIT and SIGHUP ended the process at once: no task finished, no event said so.
 * Beside them, {@link installStatusSignal}: SIGUSR1 logs the tasks the worker holds.
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

/** Most tasks {@link installStatusSignal} names in one log line; the rest are counted. */
const STATUS_TASKS_MAX = 50;

/**
 * SIGUSR1, which Celery's worker answers with the traceback of every thread, logs what the
 * worker holds: each task running (and for how long) or waiting for a slot. A JavaScript stack
 * says little here, tasks being promises. Installing it also keeps node's own use of the
 * signal away: without a listener, SIGUSR1 opens node's inspector on 127.0.0.1:9229, to which
 * any user of the machine can attach and run code as the worker's user. To debug a worker,
 * start it with `--inspect`. Returns a function that removes the listener.
 */
export function installStatusSignal(worker: Worker, now: () => number = Date.now): () => void {
  const handler = (): void => {
    const held = worker.held();
    const at = now();
    const tasks = held.slice(0, STATUS_TASKS_MAX).map((t) => ({ ...t, runtimeSec: t.startedAt === null ? null : Math.max(0, at - t.startedAt) / 1000 }));
    const named = tasks.map((t) => `${t.name}[${t.id}] ${t.runtimeSec === null ? 'reserved' : `running ${t.runtimeSec.toFixed(1)} s`}`);
    const more = held.length > tasks.length ? `, and ${held.length - tasks.length} more` : '';
    const running = held.filter((t) => t.state === 'active').length;
    worker.log.warn(
      { signal: 'SIGUSR1', state: worker.state, running, reserved: held.length - running, tasks },
      `SIGUSR1: ${held.length === 0 ? 'no tasks held' : `${running} running, ${held.length - running} reserved: ${named.join(', ')}${more}`}`,
    );
  };
  process.on('SIGUSR1', handler);
  return () => void process.off('SIGUSR1', handler);
}
