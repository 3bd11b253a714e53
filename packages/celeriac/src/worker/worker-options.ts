/**
 * @module worker/worker-options
 * Worker options, resolved once into a frozen object (falling back to app settings).
 */
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { timeLimitProblem } from '../protocol/limits.js';
import type { ResolvedSettings } from '../core/settings.js';
import { renameDeprecated, type RenameTable } from '../core/deprecated-names.js';
import { checkOptionNames } from '../core/option-names.js';
import { expandNodeName } from './nodename.js';
import { POOL_KINDS, type PoolKind } from './pools/types.js';

/** Options of a worker. Unset fields fall back to the app's settings. */
export interface WorkerOptions {
  /** Queues to consume (`-Q`). @default [settings.taskDefaultQueue] */
  queues?: readonly string[];
  /** Tasks run at once (`-c`); 0 is one per CPU, as in Celery. @default settings.workerConcurrency */
  concurrency?: number;
  /** Prefetch per slot (`--prefetch-multiplier`); 0 = unlimited. @default settings.workerPrefetchMultiplier */
  prefetchMultiplier?: number;
  /** Node name, with `%h`, `%n`, `%d` (`-n`). @default 'celery@%h' */
  hostname?: string;
  /** Seconds a warm shutdown waits for running tasks. @default settings.workerShutdownTimeoutSec */
  shutdownTimeoutSec?: number;
  /**
   * Execution pool (`-P`): 'async' (tasks on the event loop), 'threads' (each task in a
   * worker thread; needs `appModule`), 'prefork' (each task in a child process; needs
   * `appModule`) or 'solo' (one task at a time; concurrency is 1).
   * @default settings.workerPool
   */
  pool?: PoolKind;
  /**
   * The module that exports the app (a path or a file URL; `.ts` loads through tsx). The
   * threads and prefork pools import it in every child; `celeriac worker -A` sets it.
   * @default undefined
   */
  appModule?: string | URL;
  /**
   * The export of `appModule` that is the app (`-A module:attr`); a dotted path reaches into
   * an object (`tasks.app`). @default `app`, else the default export
   */
  appAttr?: string;
  /** Threads and prefork pools: tasks a child runs before it is replaced (`--max-tasks-per-child`). @default settings.workerMaxTasksPerChild */
  maxTasksPerChild?: number | null;
  /**
   * Threads and prefork pools: KiB of memory after a task above which its child is replaced
   * (`--max-memory-per-child`): a thread's V8 heap, a process's resident set.
   * @default settings.workerMaxMemoryPerChildKib
   */
  maxMemoryPerChildKib?: number | null;
  /**
   * Resize the pool with the load between `min` and `max` slots (`--autoscale max,min`), as
   * Celery's autoscaler: up at once to the number of tasks held, down after 30 s without
   * scaling up. `concurrency` is then the starting size (`min` when not given).
   * @default settings.workerAutoscale
   */
  autoscale?: { readonly max: number; readonly min: number } | null;
  /** Hard time limit in seconds for tasks that set none (`--time-limit`). @default settings.taskTimeLimitSec */
  timeLimitSec?: number | null;
  /** Soft time limit in seconds for tasks that set none (`--soft-time-limit`). @default settings.taskSoftTimeLimitSec */
  softTimeLimitSec?: number | null;
  /** Send task events (`-E`). @default settings.workerSendTaskEvents */
  sendTaskEvents?: boolean;
  /**
   * Async and solo pools: a task body that keeps the event loop busy longer than this many
   * seconds is logged as a warning naming the task (CPU-bound work belongs in `threads` or
   * `prefork`); null: not watched.
   * @default 1
   */
  blockWarningSec?: number | null;
  /**
   * Seconds an early-acked task's worker may stay silent before the task is reported lost
   * (FAILURE `WorkerLostError`), on brokers that keep no record of running tasks (RabbitMQ;
   * the records then live in the result backend: worker/lost-task-watch.ts); 0 turns it off.
   * On Redis the broker reads the same transport option itself.
   * @default settings.brokerTransportOptions.lostTaskGraceSec, else 300
   */
  lostTaskGraceSec?: number;
  // The names of 0.1, still read (with a deprecation warning, once per name and process).
  /** @deprecated Use `maxMemoryPerChildKib` (KiB, as before). */
  maxMemoryPerChild?: number | null;
  /** @deprecated Use `timeLimitSec` (seconds, as before). */
  timeLimit?: number | null;
  /** @deprecated Use `softTimeLimitSec` (seconds, as before). */
  softTimeLimit?: number | null;
}

const DEPRECATED_NAMES: RenameTable = {
  maxMemoryPerChild: { now: 'maxMemoryPerChildKib', unit: 'KiB' },
  timeLimit: { now: 'timeLimitSec', unit: 'seconds' },
  softTimeLimit: { now: 'softTimeLimitSec', unit: 'seconds' },
};

/** Resolved worker options. */
export interface ResolvedWorkerOptions {
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly prefetchMultiplier: number;
  readonly hostname: string;
  readonly shutdownTimeoutMs: number;
  readonly pool: PoolKind;
  /** File URL of the app module, when known. */
  readonly appModule: string | null;
  readonly appAttr: string | null;
  readonly maxTasksPerChild: number | null;
  readonly maxMemoryPerChildKib: number | null;
  /** Autoscale range; null: the pool keeps its size unless resized. */
  readonly autoscale: { readonly max: number; readonly min: number } | null;
  readonly timeLimitSec: number | null;
  readonly softTimeLimitSec: number | null;
  readonly sendTaskEvents: boolean;
  readonly blockWarningSec: number | null;
  /** 0: lost tasks are not looked for by the worker. */
  readonly lostTaskGraceMs: number;
}

/** Default of `lostTaskGraceSec`, as the Redis broker's. */
export const DEFAULT_LOST_TASK_GRACE_SEC = 300;

/** How long a task may block the event loop before the async and solo pools warn. */
export const DEFAULT_BLOCK_WARNING_SEC = 1;

/**
 * The most children a threads or prefork pool may have (its concurrency, or autoscale's max).
 * Each is a thread or a process that loaded the app: `-c 5000` took 3.6 GB before its first
 * task, and a typo such as `-c 99999999999` ended in a RangeError. More CPUs are served by
 * more workers, as with Celery's prefork pool.
 */
export const MAX_POOL_CHILDREN = 1024;

/** The most slots an async pool may have: it holds up to that many tasks (and a prefetch of a multiple). */
export const MAX_ASYNC_CONCURRENCY = 1_000_000;

function fail(message: string): never {
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `Worker: ${message}`);
}

/** Every option's name (the compiler keeps this list in step with {@link WorkerOptions}). */
const WORKER_OPTION_NAMES: ReadonlySet<string> = new Set(
  Object.keys({
    queues: true, concurrency: true, prefetchMultiplier: true, hostname: true, shutdownTimeoutSec: true, pool: true, appModule: true,
    appAttr: true, maxTasksPerChild: true, maxMemoryPerChildKib: true, autoscale: true, timeLimitSec: true, softTimeLimitSec: true,
    sendTaskEvents: true, blockWarningSec: true, lostTaskGraceSec: true,
  } satisfies Record<Exclude<keyof WorkerOptions, 'maxMemoryPerChild' | 'timeLimit' | 'softTimeLimit'>, true>),
);

/** Resolves worker options against settings. */
export function resolveWorkerOptions(given: WorkerOptions, settings: ResolvedSettings): ResolvedWorkerOptions {
  const options: WorkerOptions = renameDeprecated(given, DEPRECATED_NAMES, 'worker option');
  // A misspelt option (`concurency`) was ignored, and the worker ran with the default.
  checkOptionNames('Worker', options, WORKER_OPTION_NAMES);
  // A string was spread into one queue per character.
  if (options.queues !== undefined && !Array.isArray(options.queues)) fail(`queues must be a list of queue names, got ${JSON.stringify(options.queues) ?? typeof options.queues}`);
  if (options.hostname !== undefined && typeof options.hostname !== 'string') fail(`hostname must be a node name such as "w1@%h", got ${typeof options.hostname}`);
  const queues = [...new Set(options.queues ?? [settings.taskDefaultQueue])];
  if (queues.length === 0 || queues.some((q) => typeof q !== 'string' || q.trim() === '')) fail('queues must be non-empty names');
  const pool = options.pool ?? settings.workerPool;
  if (!POOL_KINDS.includes(pool)) fail(`unknown pool ${JSON.stringify(pool)}; available: ${POOL_KINDS.join(', ')}`);
  const autoscale = resolveAutoscale(options.autoscale === undefined ? settings.workerAutoscale : options.autoscale, pool);
  const requested = options.concurrency ?? (autoscale === null ? settings.workerConcurrency : Math.max(1, autoscale.min));
  if (!Number.isInteger(requested) || requested < 0) fail(`concurrency must be an integer >= 0 (0: one per CPU), got ${String(requested)}`);
  // The solo pool runs one task at a time whatever -c says, as Celery's does; 0 is one slot per
  // CPU, as Celery's worker reads -c 0 (a unit file written for Celery was refused).
  const concurrency = pool === 'solo' ? 1 : requested === 0 ? availableParallelism() : requested;
  checkPoolSize(pool, 'concurrency', concurrency);
  if (autoscale !== null) checkPoolSize(pool, 'autoscale max', autoscale.max);
  const prefetchMultiplier = options.prefetchMultiplier ?? settings.workerPrefetchMultiplier;
  if (!Number.isInteger(prefetchMultiplier) || prefetchMultiplier < 0) fail(`prefetchMultiplier must be an integer >= 0, got ${String(prefetchMultiplier)}`);
  const shutdownTimeoutSec = options.shutdownTimeoutSec ?? settings.workerShutdownTimeoutSec;
  if (!(shutdownTimeoutSec >= 0)) fail(`shutdownTimeoutSec must be >= 0 seconds, got ${String(shutdownTimeoutSec)}`);
  const appModule = options.appModule === undefined ? null : toModuleUrl(options.appModule);
  if ((pool === 'threads' || pool === 'prefork') && appModule === null) {
    fail(`the ${pool} pool needs \`appModule\` (the module exporting the app, loaded in every ${pool === 'threads' ? 'thread' : 'child process'}); \`celeriac worker -A\` sets it`);
  }
  const maxTasksPerChild = positiveOrNull(options.maxTasksPerChild === undefined ? settings.workerMaxTasksPerChild : options.maxTasksPerChild, 'maxTasksPerChild');
  const maxMemoryPerChildKib = positiveOrNull(options.maxMemoryPerChildKib === undefined ? settings.workerMaxMemoryPerChildKib : options.maxMemoryPerChildKib, 'maxMemoryPerChildKib');
  return Object.freeze({
    queues: Object.freeze(queues.map((q) => q.trim())),
    concurrency,
    prefetchMultiplier,
    hostname: expandNodeName(options.hostname),
    shutdownTimeoutMs: shutdownTimeoutSec * 1000,
    pool,
    sendTaskEvents: options.sendTaskEvents ?? settings.workerSendTaskEvents,
    appModule,
    appAttr: options.appAttr ?? null,
    maxTasksPerChild,
    maxMemoryPerChildKib,
    autoscale,
    timeLimitSec: secondsOrNull(options.timeLimitSec === undefined ? settings.taskTimeLimitSec : options.timeLimitSec, 'timeLimitSec'),
    softTimeLimitSec: secondsOrNull(options.softTimeLimitSec === undefined ? settings.taskSoftTimeLimitSec : options.softTimeLimitSec, 'softTimeLimitSec'),
    blockWarningSec: secondsOrNull(options.blockWarningSec === undefined ? DEFAULT_BLOCK_WARNING_SEC : options.blockWarningSec, 'blockWarningSec'),
    lostTaskGraceMs: lostTaskGraceMs(options.lostTaskGraceSec ?? settings.brokerTransportOptions['lostTaskGraceSec']),
  });
}

/** Refuses a pool size past what the pool can hold (MAX_POOL_CHILDREN, MAX_ASYNC_CONCURRENCY). */
function checkPoolSize(pool: PoolKind, what: string, size: number): void {
  const children = pool === 'threads' || pool === 'prefork';
  const max = children ? MAX_POOL_CHILDREN : MAX_ASYNC_CONCURRENCY;
  if (size <= max) return;
  fail(`${what} ${size} is more than the ${pool} pool's limit of ${max}${children ? ` ${pool === 'threads' ? 'threads' : 'child processes'}; run more workers instead` : ''}`);
}

/** The autoscale range: `{ max, min }` or Celery's `'max,min'` text (`'10'` alone: min 0). */
function resolveAutoscale(value: { readonly max: number; readonly min: number } | string | null, pool: PoolKind): ResolvedWorkerOptions['autoscale'] {
  if (value === null) return null;
  const range = typeof value === 'string' ? parseAutoscale(value) : value;
  if (range === null || !Number.isInteger(range.max) || !Number.isInteger(range.min) || range.max < 1 || range.min < 0 || range.min > range.max) {
    fail(`autoscale must be max,min with integers max >= 1 and 0 <= min <= max, got ${JSON.stringify(value)}`);
  }
  if (pool === 'solo') fail('the solo pool runs one task at a time and cannot autoscale');
  return Object.freeze({ max: range.max, min: range.min });
}

/** Parses Celery's `--autoscale` text: `max,min` or `max`; null when it is not that. */
export function parseAutoscale(text: string): { max: number; min: number } | null {
  const m = /^\s*(\d+)\s*(?:,\s*(\d+)\s*)?$/.exec(text);
  return m === null ? null : { max: Number(m[1]), min: Number(m[2] ?? 0) };
}

function lostTaskGraceMs(value: unknown): number {
  if (value === undefined) return DEFAULT_LOST_TASK_GRACE_SEC * 1000;
  if (!(typeof value === 'number' && value >= 0 && Number.isFinite(value))) fail(`lostTaskGraceSec must be a number of seconds >= 0, got ${String(value)}`);
  return value * 1000;
}

function positiveOrNull(value: number | null, name: string): number | null {
  if (value !== null && !(Number.isInteger(value) && value > 0)) fail(`${name} must be an integer > 0 or null, got ${String(value)}`);
  return value;
}

function secondsOrNull(value: number | null, name: string): number | null {
  const problem = timeLimitProblem(value);
  if (problem !== null) fail(`${name} ${problem}`);
  return value;
}

/** A path (relative to the working directory) or URL of a module, as a file URL. */
function toModuleUrl(spec: string | URL): string {
  if (spec instanceof URL) return spec.href;
  if (/^file:/i.test(spec)) return new URL(spec).href;
  if (spec.trim() === '') fail('appModule must be a path or file URL');
  return pathToFileURL(isAbsolute(spec) ? spec : resolve(spec)).href;
}
