/**
 * @module worker/signals
 * SIGTERM / SIGINT handling: the first signal starts a warm shutdown, the second a cold one.
 */
import type { Worker } from './worker.js';

/** Installs the handlers; returns a function that removes them. `onStopped` runs once the worker closed. */
export function installShutdownSignals(worker: Worker, onStopped: () => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count += 1;
    if (count === 1) {
      worker.log.warn({ signal }, 'warm shutdown requested (send again for cold shutdown)');
      void worker.close().finally(onStopped);
    } else {
      worker.log.warn({ signal }, 'cold shutdown: abandoning running tasks');
      void worker.terminate().finally(onStopped);
    }
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
