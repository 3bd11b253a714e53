/**
 * @module worker/pools/create-pool
 * Builds the pool a worker's resolved options ask for.
 */
import type { Logger } from 'pino';
import type { App } from '../../core/app.js';
import type { Settings } from '../../core/settings.js';
import { requireChordJoin } from '../../core/spi/roles.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import type { ResolvedWorkerOptions } from '../worker-options.js';
import { AsyncTaskPool } from './async-task-pool.js';
import { ChildPool } from './child-pool.js';
import type { TaskPool } from './types.js';

/**
 * The settings the worker's app was given after creation (the CLI's flags), for its pool
 * children: they import the app module afresh, so without these a child would run with the
 * module's own broker URL, backend URL and limits. A value JSON cannot carry (a function
 * router given in code) stays in the worker, with a warning.
 */
function childSettings(app: App, log: Logger): Settings {
  const settings: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(app.settingOverrides)) {
    if (value === undefined) continue;
    if (isJsonValue(value)) settings[name] = value;
    else log.warn(`setting ${name} was overridden with a value pool children cannot receive (not JSON); they keep the app module's own`);
  }
  return settings as Settings;
}

function isJsonValue(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value as object).every(isJsonValue);
  return false;
}

/** The pool of a worker. */
export function createPool(options: ResolvedWorkerOptions, app: App, log: Logger): TaskPool {
  if ((options.pool !== 'threads' && options.pool !== 'prefork') || options.appModule === null) {
    return new AsyncTaskPool(options.pool === 'solo' ? 'solo' : 'async', options.concurrency, {
      blockWarningMs: options.blockWarningSec === null ? null : options.blockWarningSec * 1000,
      log,
    });
  }
  return new ChildPool({
    kind: options.pool,
    appModule: options.appModule,
    appAttr: options.appAttr,
    settings: childSettings(app, log),
    size: options.concurrency,
    maxTasksPerChild: options.maxTasksPerChild,
    maxMemoryPerChildKib: options.maxMemoryPerChildKib,
    log,
    // Tasks sent from inside a child leave through the worker's own broker connection.
    publish: (message, publishOptions) => app.broker.publish(message, publishOptions),
    // ...and chords they send are sized in the worker's backend, where their parts report.
    setChordSize: (groupId, size, storeOptions) => requireChordJoin(app.backend).setChordSize(groupId, size, storeOptions),
    // ...and so are the parts a task adds to its chord (ctx.addToChord).
    addToChord: async (groupId, count, storeOptions) => {
      const join = requireChordJoin(app.backend);
      if (join.addToChord === undefined) throw new CeleriacError(ErrorCodes.CONFIG, 'this result backend cannot add parts to a chord');
      await join.addToChord(groupId, count, storeOptions);
    },
  });
}
