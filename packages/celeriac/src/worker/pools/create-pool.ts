/**
 * @module worker/pools/create-pool
 * Builds the pool a worker's resolved options ask for.
 */
import type { Logger } from 'pino';
import type { App } from '../../core/app.js';
import { requireChordJoin } from '../../core/spi/roles.js';
import type { ResolvedWorkerOptions } from '../worker-options.js';
import { AsyncTaskPool } from './async-task-pool.js';
import { ChildPool } from './child-pool.js';
import type { TaskPool } from './types.js';

/** The pool of a worker. */
export function createPool(options: ResolvedWorkerOptions, app: App, log: Logger): TaskPool {
  if ((options.pool !== 'threads' && options.pool !== 'prefork') || options.appModule === null) {
    return new AsyncTaskPool(options.pool === 'solo' ? 'solo' : 'async', options.concurrency);
  }
  return new ChildPool({
    kind: options.pool,
    appModule: options.appModule,
    size: options.concurrency,
    maxTasksPerChild: options.maxTasksPerChild,
    maxMemoryPerChild: options.maxMemoryPerChild,
    log,
    // Tasks sent from inside a child leave through the worker's own broker connection.
    publish: (message, publishOptions) => app.broker.publish(message, publishOptions),
    // ...and chords they send are sized in the worker's backend, where their parts report.
    setChordSize: (groupId, size, storeOptions) => requireChordJoin(app.backend).setChordSize(groupId, size, storeOptions),
  });
}
