/**
 * The worker beyond `Worker` itself (which the root exports): signal handling for processes
 * that run one, the node-name expansion of `-n` (`worker@%h`), error codecs and `isPoolChild`
 * for the threads and prefork pools, pools and their limits, autoscaling, revoke results.
 *
 * @module celeriac/worker
 */
export { installShutdownSignals, installStatusSignal } from '../worker/signals.js';
export type { ShutdownSignal, ShutdownSignalOptions } from '../worker/signals.js';
export { expandNodeName } from '../worker/nodename.js';
export { registerErrorCodec } from '../worker/pools/error-transfer.js';
export type { ErrorCodec } from '../worker/pools/error-transfer.js';
export { isPoolChild } from '../worker/pools/spawn-child.js';
export type { AutoscaleRange } from '../worker/autoscaler.js';
export type { ResolvedWorkerOptions } from '../worker/worker-options.js';
export type { PoolKind, PoolStats, TaskPool, TimeLimits } from '../worker/pools/types.js';
export type { TimeLimitOverride } from '../worker/pools/time-limit-table.js';
export type { WorkerRevokeOptions, WorkerRevokeResult } from '../worker/worker-revoke.js';
