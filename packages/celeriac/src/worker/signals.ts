/**
 * @module worker/signals
 * SIGTERM / SIGINT handling: the first signal starts a warm shutdown, the second a cold one.
 */
import type { Worker } from './worker.js';

/**
 * Installs the handlers; returns a function that removes them. `onStopped` runs once the
 * worker closed, with `cold` true when a second signal asked for a cold shutdown. `onCold`
 * runs at the second signal (the CLI arms its exit deadline there).
 */
export function installShutdownSignals(worker: Worker, onStopped: (cold: boolean) => void, onCold?: () => void): () => void {
  let count = 0;
  let cold = false;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    onStopped(cold);
  };
  const handler = (signal: NodeJS.Signals) => {
    count += 1;
    if (count === 1) {
      worker.log.warn({ signal }, 'warm shutdown requested (send again for cold shutdown)');
      void worker.close().finally(stop);
    } else {
      cold = true;
      worker.log.warn({ signal }, 'cold shutdown: abandoning running tasks');
      onCold?.();
      void worker.terminate().finally(stop);
    }
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
