/**
 * @module worker/worker-revoke
 * `worker.revoke()`: what a revoke does inside one worker (Celery's `revoke` control command):
 * remember the ids, stop the running ones when asked to terminate, and persist the revoke in
 * the backend so that workers started later skip the ids too.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import { revocationStoreOf } from '../core/spi/roles.js';
import { signalName, type RevokedSet } from './revoked.js';

/** Options of `worker.revoke()`. */
export interface WorkerRevokeOptions {
  /** Stop the task if it is running now. @default false */
  terminate?: boolean;
  /** Signal for terminate: a name (`'SIGKILL'`, `'KILL'`) or number. @default 'SIGTERM' */
  signal?: string | number;
  /**
   * Also store the revoke in the result backend (kept `REVOKE_EXPIRES_SEC`) and announce it
   * to the other running workers. @default true
   */
  persist?: boolean;
}

/** What `worker.revoke()` did. */
export interface WorkerRevokeResult {
  /** The ids now held as revoked. */
  readonly revoked: readonly string[];
  /** The ids that were running here and were terminated. */
  readonly terminated: readonly string[];
}

/** The worker's parts a revoke touches. */
export interface RevokeContext {
  readonly app: App;
  readonly set: RevokedSet;
  /** Ends the running jobs of `ids` (the executor's); returns the ids it terminated. */
  terminate(ids: ReadonlySet<string>, signal: string): string[];
  readonly log: Logger;
}

/** Revokes `ids` in one worker; see {@link WorkerRevokeOptions}. */
export async function revokeInWorker(ctx: RevokeContext, ids: readonly string[], options: WorkerRevokeOptions): Promise<WorkerRevokeResult> {
  const signal = signalName(options.signal);
  const { app } = ctx;
  // One revoke reaches a worker up to three times (the control command, the revocation
  // store's notice of the revoke, the notice of this worker's own persisting): said once.
  const fresh = ids.filter((id) => !ctx.set.has(id));
  ctx.set.add(ids, app.revokeExpiresSec * 1000);
  const terminated = options.terminate ? ctx.terminate(new Set(ids), signal) : [];
  if (fresh.length > 0 || terminated.length > 0) {
    ctx.log.info({ ids: fresh, terminate: options.terminate ?? false, signal, terminated }, `revoked ${fresh.length} task(s)${terminated.length > 0 ? `, terminated ${terminated.length}` : ''}`);
  }
  // Without a revocation store (rpc://) there is nowhere to persist: remote control carried it.
  const store = revocationStoreOf(app.backend);
  if ((options.persist ?? true) && ids.length > 0 && store !== undefined) {
    await store.revoke(ids, { expiresSec: app.revokeExpiresSec, terminate: options.terminate ?? false, signal });
  }
  return { revoked: [...ids], terminated };
}
