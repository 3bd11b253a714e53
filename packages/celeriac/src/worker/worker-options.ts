/**
 * @module worker/worker-options
 * Worker options, resolved once into a frozen object (falling back to app settings).
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { ResolvedSettings } from '../core/settings.js';
import { expandNodeName } from './nodename.js';

/** Options of a worker. Unset fields fall back to the app's settings. */
export interface WorkerOptions {
  /** Queues to consume (`-Q`). @default [settings.taskDefaultQueue] */
  queues?: readonly string[];
  /** Tasks run at once (`-c`). @default settings.workerConcurrency */
  concurrency?: number;
  /** Prefetch per slot (`--prefetch-multiplier`); 0 = unlimited. @default settings.workerPrefetchMultiplier */
  prefetchMultiplier?: number;
  /** Node name, with `%h`, `%n`, `%d` (`-n`). @default 'celery@%h' */
  hostname?: string;
  /** Seconds a warm shutdown waits for running tasks. @default settings.workerShutdownTimeout */
  shutdownTimeout?: number;
  /** Execution pool. Only 'async' exists so far. @default 'async' */
  pool?: 'async';
  /** Send task events (`-E`). @default settings.workerSendTaskEvents */
  sendTaskEvents?: boolean;
}

/** Resolved worker options. */
export interface ResolvedWorkerOptions {
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly prefetchMultiplier: number;
  readonly hostname: string;
  readonly shutdownTimeoutMs: number;
  readonly pool: 'async';
  readonly sendTaskEvents: boolean;
}

function fail(message: string): never {
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `Worker: ${message}`);
}

/** Resolves worker options against settings. */
export function resolveWorkerOptions(options: WorkerOptions, settings: ResolvedSettings): ResolvedWorkerOptions {
  const queues = [...new Set(options.queues ?? [settings.taskDefaultQueue])];
  if (queues.length === 0 || queues.some((q) => typeof q !== 'string' || q.trim() === '')) fail('queues must be non-empty names');
  const concurrency = options.concurrency ?? settings.workerConcurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1) fail(`concurrency must be an integer >= 1, got ${String(concurrency)}`);
  const prefetchMultiplier = options.prefetchMultiplier ?? settings.workerPrefetchMultiplier;
  if (!Number.isInteger(prefetchMultiplier) || prefetchMultiplier < 0) fail(`prefetchMultiplier must be an integer >= 0, got ${String(prefetchMultiplier)}`);
  const shutdownTimeout = options.shutdownTimeout ?? settings.workerShutdownTimeout;
  if (!(shutdownTimeout >= 0)) fail(`shutdownTimeout must be >= 0 seconds, got ${String(shutdownTimeout)}`);
  const pool = options.pool ?? 'async';
  if (pool !== 'async') fail(`unknown pool ${JSON.stringify(pool)}; available: async`);
  return Object.freeze({
    queues: Object.freeze(queues.map((q) => q.trim())),
    concurrency,
    prefetchMultiplier,
    hostname: expandNodeName(options.hostname),
    shutdownTimeoutMs: shutdownTimeout * 1000,
    pool,
    sendTaskEvents: options.sendTaskEvents ?? settings.workerSendTaskEvents,
  });
}
