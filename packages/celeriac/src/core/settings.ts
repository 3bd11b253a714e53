/**
 * @module core/settings
 * The one settings table (DESIGN decision 11). Each row names a setting in Celery's
 * camelCase, its type, default, environment variables and doc line. The same table feeds
 * `createApp`, the environment, the CLI and docs/configuration.md (generated, so the doc
 * cannot drift). Settings are resolved once into a frozen object; nothing re-reads raw input.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { parseRate } from './rate.js';
import type { BeatEntryDefinition } from './beat-entry.js';

/** How a setting's value is parsed from the environment and validated. */
export type SettingType = 'string' | 'string?' | 'boolean' | 'integer' | 'integer?' | 'number' | 'seconds?' | 'string[]' | 'json';

/** One row of the settings table. */
export interface SettingSpec<K extends string = string> {
  /** The camelCase name used in code. */
  readonly name: K;
  readonly type: SettingType;
  /** The value when nothing sets it. */
  readonly default: unknown;
  /** Environment variables read, first match wins. */
  readonly env: readonly string[];
  /** One-paragraph description, rendered into docs/configuration.md. */
  readonly doc: string;
  /** Extra validation beyond the type; return an error text or null. */
  readonly check?: (value: never) => string | null;
}

/** A route target: a queue name, or a queue with routing details. */
export type RouteTarget = string | { queue: string; routingKey?: string; exchange?: string; priority?: number };

/** `taskRoutes`: task name or glob (`*` any run of characters) to a target. */
export type TaskRoutes = Record<string, RouteTarget>;

/** The settings a user may pass to `createApp`. Every field is optional. */
export interface Settings {
  /** Broker URL. @default 'memory://' */
  broker?: string;
  /** Result backend URL. @default 'memory://' */
  backend?: string;
  /** Queue used when no route or `queue` option applies. @default 'celery' */
  taskDefaultQueue?: string;
  /** Task name or glob to queue. @default {} */
  taskRoutes?: TaskRoutes;
  /** Run tasks in the caller instead of sending them (for tests). @default false */
  taskAlwaysEager?: boolean;
  /** In eager mode, throw a task's error from `delay` instead of storing it. @default false */
  taskEagerPropagates?: boolean;
  /** Ack after the task ran instead of before. @default false */
  taskAcksLate?: boolean;
  /** With late acks, ack failed and timed-out tasks (else reject them). @default true */
  taskAcksOnFailureOrTimeout?: boolean;
  /** With late acks, requeue a task whose process was lost instead of failing it. @default false */
  taskRejectOnWorkerLost?: boolean;
  /** Per-worker rate limit of tasks that set none (`'10/s'`, `'100/m'`, `'1000/h'`). @default null */
  taskDefaultRateLimit?: string | null;
  /** Store STARTED when a task begins. @default false */
  taskTrackStarted?: boolean;
  /** Store no results unless a task or call asks for one. @default false */
  taskIgnoreResult?: boolean;
  /** Default hard time limit in seconds. @default null */
  taskTimeLimit?: number | null;
  /** Default soft time limit in seconds. @default null */
  taskSoftTimeLimit?: number | null;
  /** Priority used when a call gives none. @default null */
  taskDefaultPriority?: number | null;
  /** Seconds results are kept; null keeps them forever. @default 86400 */
  resultExpires?: number | null;
  /** Store name, args, kwargs, worker, retries and queue with results. @default false */
  resultExtended?: boolean;
  /** Tasks a worker runs at once. @default 10 */
  workerConcurrency?: number;
  /** Messages prefetched per concurrency slot; 0 = no limit. @default 4 */
  workerPrefetchMultiplier?: number;
  /** Seconds a warm shutdown waits for running tasks before giving them up. @default 30 */
  workerShutdownTimeout?: number;
  /** Workers send task events (`-E`). @default false */
  workerSendTaskEvents?: boolean;
  /** Workers answer remote control (inspect, control). @default true */
  workerEnableRemoteControl?: boolean;
  /** Producers send a `task-sent` event for every task they publish. @default false */
  taskSendSentEvent?: boolean;
  /** Execution pool (`-P`): 'async', 'threads' or 'solo'. @default 'async' */
  workerPool?: 'async' | 'threads' | 'solo';
  /** Threads pool: tasks a thread runs before it is replaced; null = no limit. @default null */
  workerMaxTasksPerChild?: number | null;
  /** Threads pool: KiB of heap after a task above which its thread is replaced; null = no limit. @default null */
  workerMaxMemoryPerChild?: number | null;
  /** Broker adapter options (Celery's `broker_transport_options`). @default {} */
  brokerTransportOptions?: Record<string, unknown>;
  /** Log level: trace, debug, info, warn, error, fatal, silent. @default 'info' */
  logLevel?: string;
  /** Periodic tasks: entry name -> task, schedule, args, kwargs, options. @default {} */
  beatSchedule?: Record<string, BeatEntryDefinition>;
  /** IANA time zone crontab schedules are read in. @default 'UTC' */
  timezone?: string;
  /** Longest sleep of the beat loop, in seconds. @default 300 */
  beatMaxLoopInterval?: number;
  /** Seconds a beat leader's lease lasts without renewal: the longest takeover delay. @default 15 */
  beatLeaseTtl?: number;
  /** Seconds past its slot after which a run counts as missed (see `misfire`). @default 60 */
  beatMisfireGrace?: number;
}

/** Settings after resolution: every field present, frozen. */
export type ResolvedSettings = Readonly<Required<Settings>>;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const positive = (v: number) => (v > 0 ? null : 'must be greater than 0');
const nonNegative = (v: number | null) => (v === null || v >= 0 ? null : 'must be 0 or more');
const priority = (v: number | null) =>
  v === null || (Number.isInteger(v) && v >= 0 && v <= 9) ? null : 'must be an integer from 0 to 9';
const rateLimit = (v: string | null) => {
  if (v === null) return null;
  try {
    parseRate(v);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
};
const url = (v: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? null : 'must be a URL such as memory:// or redis://host:6379/0');

function envNames(snake: string, extra: readonly string[] = []): readonly string[] {
  return [...extra, `CELERIAC_${snake}`, `CELERY_${snake}`];
}

/** The settings table. Order is the order of docs/configuration.md. */
export const SETTINGS: readonly SettingSpec<keyof Settings>[] = [
  { name: 'broker', type: 'string', default: 'memory://', env: ['CELERY_BROKER_URL', 'CELERIAC_BROKER_URL'], check: url as never,
    doc: 'Broker URL. `memory://` is the embedded in-process broker; `redis://`, `rediss://`, `sentinel://` and `redis+sentinel://` use Redis (docs/brokers-and-backends.md). `createApp` refuses any other scheme with `CELERIAC_ERR_UNKNOWN_TRANSPORT`, naming the known ones.' },
  { name: 'backend', type: 'string', default: 'memory://', env: ['CELERY_RESULT_BACKEND', 'CELERIAC_RESULT_BACKEND'], check: url as never,
    doc: 'Result backend URL. `memory://` keeps results in the process; the Redis schemes of `broker` store them in Redis, as Celery does (docs/brokers-and-backends.md).' },
  { name: 'taskDefaultQueue', type: 'string', default: 'celery', env: envNames('TASK_DEFAULT_QUEUE'),
    doc: 'Queue a task is sent to when neither a route nor the `queue` option names one.' },
  { name: 'taskRoutes', type: 'json', default: {}, env: envNames('TASK_ROUTES'), check: checkRoutes as never,
    doc: 'Maps task names, or globs where `*` matches any run of characters, to a queue name or `{ queue, routingKey, priority }`. Exact names win over globs; the first matching glob wins. In the environment: JSON.' },
  { name: 'taskAlwaysEager', type: 'boolean', default: false, env: envNames('TASK_ALWAYS_EAGER'),
    doc: 'Run tasks in the calling process when they are sent, without broker or worker. For tests of your own code.' },
  { name: 'taskEagerPropagates', type: 'boolean', default: false, env: envNames('TASK_EAGER_PROPAGATES'),
    doc: 'In eager mode, a task error is thrown from `delay`/`applyAsync` instead of being stored in the result.' },
  { name: 'taskAcksLate', type: 'boolean', default: false, env: envNames('TASK_ACKS_LATE'),
    doc: 'Acknowledge a message after its task has run rather than just before. Late acks give at-least-once delivery: a task whose worker dies is delivered again, so it must be safe to run twice.' },
  { name: 'taskAcksOnFailureOrTimeout', type: 'boolean', default: true, env: envNames('TASK_ACKS_ON_FAILURE_OR_TIMEOUT'),
    doc: 'With late acks, acknowledge tasks that failed or timed out. When false they are rejected without requeue.' },
  { name: 'taskRejectOnWorkerLost', type: 'boolean', default: false, env: envNames('TASK_REJECT_ON_WORKER_LOST'),
    doc: 'With late acks, when the process or thread running a task dies under it (WorkerLostError), requeue the message instead of storing FAILURE. The task then runs again, so it must be safe to run twice. Tasks may set `rejectOnWorkerLost`.' },
  { name: 'taskDefaultRateLimit', type: 'string?', default: null, env: envNames('TASK_DEFAULT_RATE_LIMIT'), check: rateLimit as never,
    doc: 'Per-worker rate limit of every task that sets no `rateLimit`: `\'10/s\'`, `\'100/m\'`, `\'1000/h\'` or a number per second. `null` = no limit. See docs/rate-limits.md.' },
  { name: 'taskTrackStarted', type: 'boolean', default: false, env: envNames('TASK_TRACK_STARTED'),
    doc: 'Store the STARTED state (with worker hostname and pid) when a task begins.' },
  { name: 'taskIgnoreResult', type: 'boolean', default: false, env: envNames('TASK_IGNORE_RESULT'),
    doc: 'Store no result for tasks unless the task or the call sets `ignoreResult: false`.' },
  { name: 'taskTimeLimit', type: 'seconds?', default: null, env: envNames('TASK_TIME_LIMIT'), check: nonNegative as never,
    doc: 'Hard time limit in seconds for every task: the task fails with TimeLimitExceeded and its slot is freed. Tasks and calls may set their own.' },
  { name: 'taskSoftTimeLimit', type: 'seconds?', default: null, env: envNames('TASK_SOFT_TIME_LIMIT'), check: nonNegative as never,
    doc: 'Soft time limit in seconds: the task\'s `ctx.signal` aborts with a SoftTimeLimitExceeded reason, so `ctx.signal.throwIfAborted()` and signal-aware calls such as `fetch` stop the task.' },
  { name: 'taskDefaultPriority', type: 'integer?', default: null, env: envNames('TASK_DEFAULT_PRIORITY'), check: priority as never,
    doc: 'Priority (0-9) for calls that give none. On Redis and memory 0 is served first.' },
  { name: 'resultExpires', type: 'seconds?', default: 86_400, env: envNames('RESULT_EXPIRES'), check: nonNegative as never,
    doc: 'Seconds a stored result is kept. `null` keeps results forever.' },
  { name: 'resultExtended', type: 'boolean', default: false, env: envNames('RESULT_EXTENDED'),
    doc: 'Store the task name, args, kwargs, worker, retries and queue alongside each result, as Celery\'s `result_extended`.' },
  { name: 'workerConcurrency', type: 'integer', default: 10, env: envNames('WORKER_CONCURRENCY'), check: positive as never,
    doc: 'How many tasks a worker runs at once (`-c`). The async pool suits I/O-bound tasks, so the default is higher than a CPU count.' },
  { name: 'workerPrefetchMultiplier', type: 'integer', default: 4, env: envNames('WORKER_PREFETCH_MULTIPLIER'), check: nonNegative as never,
    doc: 'A worker holds at most concurrency x multiplier unacknowledged messages. 0 removes the limit. With late acks, 1 gives the fairest distribution.' },
  { name: 'workerShutdownTimeout', type: 'number', default: 30, env: envNames('WORKER_SHUTDOWN_TIMEOUT'), check: nonNegative as never,
    doc: 'Seconds a warm shutdown (first SIGTERM/SIGINT) waits for running tasks. When it passes, running tasks are abandoned: late-ack messages go back to the queue, the rest are marked failed with WorkerLostError.' },
  { name: 'workerSendTaskEvents', type: 'boolean', default: false, env: envNames('WORKER_SEND_TASK_EVENTS'),
    doc: 'Workers send task events (received, started, succeeded, failed, retried, revoked, rejected) for monitors such as `celery events`, Flower and `celeriac events`; `-E` on the command line. Worker events (online, heartbeat, offline) are always sent. The `enable_events` / `disable_events` control commands switch task events at run time.' },
  { name: 'workerEnableRemoteControl', type: 'boolean', default: true, env: envNames('WORKER_ENABLE_REMOTE_CONTROL'),
    doc: 'Workers listen to remote-control commands (`celery inspect`, `celery control`, `celeriac inspect`, Flower).' },
  { name: 'taskSendSentEvent', type: 'boolean', default: false, env: envNames('TASK_SEND_SENT_EVENT'),
    doc: 'Producers send a `task-sent` event for every task they publish, so monitors see tasks before a worker receives them.' },
  { name: 'workerPool', type: 'string', default: 'async', env: envNames('WORKER_POOL'),
    check: ((v: string) => (['async', 'threads', 'solo'].includes(v) ? null : 'must be async, threads or solo')) as never,
    doc: 'Execution pool (`-P`). `async` runs tasks on the event loop (I/O-bound work); `threads` runs each task in a worker thread that loaded the app module (CPU-bound work; hard time limits end the thread); `solo` runs one task at a time on the event loop. See docs/pools.md.' },
  { name: 'workerMaxTasksPerChild', type: 'integer?', default: null, env: envNames('WORKER_MAX_TASKS_PER_CHILD'), check: ((v: number | null) => (v === null || v > 0 ? null : 'must be greater than 0')) as never,
    doc: 'Threads pool: how many tasks a thread runs before it is replaced by a fresh one (`--max-tasks-per-child`). `null`: no limit.' },
  { name: 'workerMaxMemoryPerChild', type: 'integer?', default: null, env: envNames('WORKER_MAX_MEMORY_PER_CHILD'), check: ((v: number | null) => (v === null || v > 0 ? null : 'must be greater than 0')) as never,
    doc: 'Threads pool: KiB of V8 heap a thread may hold after a task; above it the thread is replaced once the task has finished (`--max-memory-per-child`). `null`: no limit.' },
  { name: 'brokerTransportOptions', type: 'json', default: {}, env: envNames('BROKER_TRANSPORT_OPTIONS'),
    check: ((v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? null : 'must be an object')) as never,
    doc: 'Options for the broker adapter, as Celery\'s `broker_transport_options`. Redis accepts `visibility_timeout` (seconds, kombu\'s name: keep it equal to your Python workers\' value), `recoverAfterSec`, `leaseRenewMs`, `sweepIntervalMs`, `pollIntervalMs`, `promoteIntervalMs` and `fetchBatchSize`; unknown names are an error. In the environment: JSON.' },
  { name: 'logLevel', type: 'string', default: 'info', env: ['CELERIAC_LOG_LEVEL'], check: ((v: string) => (LOG_LEVELS.includes(v) ? null : `must be one of ${LOG_LEVELS.join(', ')}`)) as never,
    doc: 'Log level of the app\'s pino logger (`-l` on the CLI).' },
  { name: 'beatSchedule', type: 'json', default: {}, env: envNames('BEAT_SCHEDULE'), check: checkBeatSchedule as never,
    doc: 'Periodic tasks, Celery\'s `beat_schedule` shape: entry name -> `{ task, schedule, args, kwargs, options, timezone, misfire, misfireGraceSec }`. `schedule` is seconds, a five-field crontab string, or `every()`/`crontab()`/`solar()`. Run by `celeriac beat` or `worker -B` (docs/periodic-tasks.md). In the environment: JSON.' },
  { name: 'timezone', type: 'string', default: 'UTC', env: envNames('TIMEZONE'), check: checkTimezone as never,
    doc: 'IANA time zone (e.g. `Europe/Berlin`) in which crontab schedules are read, across DST changes. An entry or a crontab may name its own.' },
  { name: 'beatMaxLoopInterval', type: 'number', default: 300, env: envNames('BEAT_MAX_LOOP_INTERVAL'), check: positive as never,
    doc: 'Longest time in seconds the beat loop sleeps between checks (`--max-interval`). The leader also wakes to renew its lease, and picks up changed dynamic entries when it does.' },
  { name: 'beatLeaseTtl', type: 'number', default: 15, env: envNames('BEAT_LEASE_TTL'), check: positive as never,
    doc: 'Seconds a beat leader\'s lease lasts without renewal. The leader renews it every third of this; if it dies, another beat takes over when the lease expires, so this is the longest gap in sending.' },
  { name: 'beatMisfireGrace', type: 'number', default: 60, env: envNames('BEAT_MISFIRE_GRACE'), check: nonNegative as never,
    doc: 'Seconds past its scheduled time after which a run counts as missed; entries with `misfire: \'skip\'` then skip it (logged) instead of running once to catch up.' },
];

function checkTimezone(zone: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return null;
  } catch {
    return 'must be an IANA time zone name such as UTC or Europe/Berlin';
  }
}

/** Shallow check of the beat_schedule shape; beat checks schedules fully when it starts. */
function checkBeatSchedule(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object of entry name -> entry';
  for (const [name, entry] of Object.entries(value)) {
    if (typeof entry !== 'object' || entry === null || typeof (entry as { task?: unknown }).task !== 'string') {
      return `entry ${JSON.stringify(name)} must be an object with a task name`;
    }
    if ((entry as { schedule?: unknown }).schedule === undefined) return `entry ${JSON.stringify(name)} needs a schedule`;
  }
  return null;
}

function checkRoutes(routes: unknown): string | null {
  if (typeof routes !== 'object' || routes === null || Array.isArray(routes)) return 'must be an object';
  for (const [pattern, target] of Object.entries(routes)) {
    if (typeof target === 'string') continue;
    if (typeof target !== 'object' || target === null || typeof (target as { queue?: unknown }).queue !== 'string') {
      return `route ${JSON.stringify(pattern)} must be a queue name or { queue: string }`;
    }
  }
  return null;
}

const BY_NAME = new Map(SETTINGS.map((s) => [s.name, s]));

function configError(message: string): CeleriacError {
  return new CeleriacError(ErrorCodes.CONFIG, message);
}

function parseEnv(spec: SettingSpec, name: string, raw: string): unknown {
  const fail = (what: string) => configError(`Environment variable ${name}=${JSON.stringify(raw)} for setting ${spec.name}: ${what}`);
  const text = raw.trim();
  switch (spec.type) {
    case 'string':
      return text;
    case 'string?':
      return /^(null|none|)$/i.test(text) ? null : text;
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw fail('expected true/false, 1/0, yes/no or on/off');
    case 'string[]':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'json':
      try {
        return JSON.parse(text);
      } catch {
        throw fail('expected JSON');
      }
    case 'seconds?':
    case 'integer?':
    case 'integer':
    case 'number': {
      if (spec.type.endsWith('?') && /^(null|none|)$/i.test(text)) return null;
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) throw fail('expected a number');
      return n;
    }
  }
}

function typeError(spec: SettingSpec, value: unknown): string | null {
  const is = (ok: boolean, what: string) => (ok ? null : `expected ${what}, got ${JSON.stringify(value)}`);
  switch (spec.type) {
    case 'string':
      return is(typeof value === 'string' && value !== '', 'a non-empty string');
    case 'string?':
      return is(value === null || (typeof value === 'string' && value !== ''), 'a non-empty string or null');
    case 'boolean':
      return is(typeof value === 'boolean', 'a boolean');
    case 'integer':
      return is(Number.isInteger(value), 'an integer');
    case 'number':
      return is(typeof value === 'number' && Number.isFinite(value), 'a number');
    case 'seconds?':
      return is(value === null || (typeof value === 'number' && Number.isFinite(value)), 'a number or null');
    case 'integer?':
      return is(value === null || Number.isInteger(value), 'an integer or null');
    case 'string[]':
      return is(Array.isArray(value) && value.every((v) => typeof v === 'string'), 'a list of strings');
    case 'json':
      return null;
  }
}

function suggest(name: string): string {
  const lower = name.toLowerCase().replace(/_/g, '');
  const hit = SETTINGS.find((s) => s.name.toLowerCase() === lower);
  return hit ? ` Did you mean ${hit.name}?` : '';
}

/**
 * Resolves settings once: explicit values (other than `undefined`) win, then the
 * environment, then defaults. Unknown names and wrong types throw a CONFIG error that
 * names the setting and what was expected.
 */
export function resolveSettings(input: Settings = {}, env: NodeJS.ProcessEnv = process.env): ResolvedSettings {
  for (const key of Object.keys(input)) {
    if (!BY_NAME.has(key as keyof Settings)) {
      throw configError(`Unknown setting ${JSON.stringify(key)}.${suggest(key)} See docs/configuration.md for the list.`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    let value: unknown = (input as Record<string, unknown>)[spec.name];
    // `createApp({ broker: process.env.CELERY_BROKER_URL })` with an empty variable means unset.
    if (value === '') value = undefined;
    let source = `setting ${spec.name}`;
    if (value === undefined) {
      const envName = spec.env.find((n) => env[n] !== undefined && env[n] !== '');
      if (envName !== undefined) {
        value = parseEnv(spec, envName, env[envName] as string);
        source = `environment variable ${envName} (setting ${spec.name})`;
      } else {
        value = structuredClone(spec.default);
      }
    }
    const problem = typeError(spec, value) ?? spec.check?.(value as never) ?? null;
    if (problem !== null) throw configError(`Invalid ${source}: ${problem}.`);
    out[spec.name] = value;
  }
  return Object.freeze(out) as ResolvedSettings;
}
