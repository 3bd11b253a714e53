/**
 * @module core/settings
 * The one settings table. Each row names a setting in Celery's
 * camelCase, its type, default, environment variables and doc line. The same table feeds
 * `createApp`, the environment, the CLI and docs/configuration.md (generated, so the doc
 * cannot drift). Settings are resolved once into a frozen object; nothing re-reads raw input.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { parseRate } from './rate.js';
import type { BeatEntryDefinition } from './beat-entry.js';
import { DEFAULT_PUBLISH_RETRY_POLICY, retryPolicyProblem, type PublishRetryPolicy } from './publish-retry.js';
import { timeLimitProblem } from '../protocol/limits.js';
import { exchangeTypeProblem, queueTypeProblem, taskQueuesProblem, type ExchangeType, type QueueType, type TaskQueueOptions } from './queue-topology.js';
import { LOG_FORMATS, type LogFormat } from './log.js';
import { CELERY_RENAMED, celeryName, celeryRefusal, isRefusedCeleryName } from './celery-names.js';
import { renameDeprecated, type RenameTable } from './deprecated-names.js';

/** How a setting's value is parsed from the environment and validated. */
export type SettingType = 'string' | 'string?' | 'boolean' | 'integer' | 'integer?' | 'number' | 'seconds?' | 'string[]' | 'json';

/** The commands whose flags the settings table declares. */
export type SettingCommand = 'worker' | 'beat';

/** The command-line flag of a setting. */
export interface SettingFlag {
  /** Commander flags, e.g. `-c, --concurrency <n>`; a boolean setting's flag takes no value and sets true. */
  readonly flags: string;
  /** The commands that take the flag. */
  readonly commands: readonly SettingCommand[];
  /** One line of help; the CLI adds the setting's name and default. */
  readonly help: string;
  /**
   * The long flag of 0.1 that said no unit (`--shutdown-timeout`): still read, with a warning,
   * and refused beside the flag now. Hidden from --help.
   */
  readonly before?: string;
}

/** One row of the settings table; `T` is the type of the setting's value. */
export interface SettingSpec<T = unknown> {
  /** The camelCase name used in code. */
  readonly name: string;
  readonly type: SettingType;
  /** The value when nothing sets it. */
  readonly default: T;
  /** Environment variables read, first match wins. */
  readonly env: readonly string[];
  /** One-paragraph description, rendered into docs/configuration.md. */
  readonly doc: string;
  /** Extra validation beyond the type; return an error text or null. */
  readonly check?: (value: T) => string | null;
  /** The value code reads, for a given value that means another (`resultExpiresSec` 0 is null). */
  readonly normalize?: (value: T) => T;
  /** Rewrites the text form (environment, command line) before parsing, e.g. Celery's level names. */
  readonly fromText?: (text: string) => string;
  /** The flag that sets it on the command line, if any. */
  readonly cli?: SettingFlag;
}

/** A route target: a queue name, or a queue with routing details. */
export type RouteTarget = string | { queue: string; routingKey?: string; exchange?: string; priority?: number };

/** `taskRoutes`: task name or glob (`*` any run of characters) to a target. */
export type TaskRoutes = Record<string, RouteTarget>;

/** A row before the table gives it its name; `T` is given explicitly, as a field's type would be. */
function setting<T>(row: Omit<SettingSpec<T>, 'name'>): Omit<SettingSpec<T>, 'name'> {
  return row;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
/** Celery's level names that pino spells otherwise. */
const CELERY_LEVELS: Readonly<Record<string, string>> = { critical: 'fatal', warning: 'warn' };
const logLevelFromText = (text: string) => CELERY_LEVELS[text.toLowerCase()] ?? text.toLowerCase();
/** The levels as a Celery user names them (`-l warning`), for error messages. */
const CELERY_LEVEL_LIST = 'trace, debug, info, warning, error, critical, silent';

const positive = (v: number) => (v > 0 ? null : 'must be greater than 0');
/** A startup retry backoff: the three names, each a number of seconds, 0 or more (`intervalMax` above 0). */
function retryIntervalsProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'must be an object { intervalStart, intervalStep, intervalMax }';
  const names = ['intervalStart', 'intervalStep', 'intervalMax'];
  const extra = Object.keys(v).find((k) => !names.includes(k));
  if (extra !== undefined) return `unknown name ${extra} (expected intervalStart, intervalStep, intervalMax)`;
  for (const name of names) {
    const n = (v as Record<string, unknown>)[name];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return `${name} must be a number of seconds, 0 or more`;
  }
  const { intervalStart, intervalStep, intervalMax } = v as { intervalStart: number; intervalStep: number; intervalMax: number };
  if (intervalMax <= 0) return 'intervalMax must be above 0';
  // Both 0 would retry a refused connection at once, forever: a hot loop while the broker is down.
  if (intervalStart === 0 && intervalStep === 0) return 'intervalStart and intervalStep cannot both be 0 (the retries would not wait at all)';
  return null;
}
const nonNegative = (v: number | null) => (v === null || v >= 0 ? null : 'must be 0 or more');
const isObject = (v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? null : 'must be an object');
const loginMethod = (v: string | null) => (v === null || ['AMQPLAIN', 'PLAIN', 'EXTERNAL'].includes(v.toUpperCase()) ? null : 'must be AMQPLAIN, PLAIN or EXTERNAL');
const useSsl = (v: unknown) => (typeof v === 'boolean' || isObject(v) === null ? null : 'must be true, false or an object of TLS settings');
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

/** The settings table by name. Order is the order of docs/configuration.md. */
const TABLE = {
  broker: setting<string>({ type: 'string', default: 'memory://', env: ['CELERY_BROKER_URL', 'CELERIAC_BROKER_URL'], check: url,
    doc: 'Broker URL. `memory://` is the embedded in-process broker; the `redis` schemes (Sentinel included) use Redis and the `amqp` ones RabbitMQ (docs/brokers-and-backends.md). `createApp` refuses a scheme it does not know, naming the known ones.' }),
  backend: setting<string>({ type: 'string', default: 'memory://', env: ['CELERY_RESULT_BACKEND', 'CELERIAC_RESULT_BACKEND'], check: url,
    doc: 'Result backend URL. `memory://` keeps results in the process; the Redis schemes of `broker` store them in Redis, as Celery does; `rpc://` sends each result back to its caller as a RabbitMQ message (docs/brokers-and-backends.md).' }),
  taskDefaultQueue: setting<string>({ type: 'string', default: 'celery', env: envNames('TASK_DEFAULT_QUEUE'),
    doc: 'Queue a task is sent to when neither a route nor the `queue` option names one.' }),
  taskDefaultQueueType: setting<QueueType>({ type: 'string', default: 'classic', env: envNames('TASK_DEFAULT_QUEUE_TYPE'), check: queueTypeProblem,
    doc: 'RabbitMQ only: the type of the default queue, `classic` or `quorum` (replicated on a cluster), as Celery 5.5\'s `task_default_queue_type`. With any quorum queue, workers use per-consumer prefetch (quorum queues refuse global QoS) and countdown/ETA go through kombu\'s `celery_delayed_*` queues, in whole seconds (docs/brokers-and-backends.md, Quorum queues). Every process of a fleet must agree, or RabbitMQ refuses the declaration.' }),
  taskCreateMissingQueueType: setting<QueueType>({ type: 'string', default: 'classic', env: envNames('TASK_CREATE_MISSING_QUEUE_TYPE'), check: queueTypeProblem,
    doc: 'RabbitMQ only: the type of a queue other than the default one, declared when first used, as Celery\'s `task_create_missing_queue_type`.' }),
  taskDefaultExchangeType: setting<ExchangeType>({ type: 'string', default: 'direct', env: envNames('TASK_DEFAULT_EXCHANGE_TYPE'), check: exchangeTypeProblem,
    doc: 'RabbitMQ only: the type of the default queue\'s exchange (named as the queue), as Celery\'s `task_default_exchange_type`. Celery 5.5+ sends countdown/ETA tasks through its delayed-delivery queues only for queues on `topic` or `fanout` exchanges; Celeriac does for any type.' }),
  taskQueues: setting<Record<string, TaskQueueOptions>>({ type: 'json', default: {}, env: envNames('TASK_QUEUES'), check: taskQueuesProblem,
    doc: 'RabbitMQ only: queues declared otherwise than the two settings above, as Celery\'s `task_queues`: `{ "<queue>": { "queueArguments": { "x-queue-type": "quorum", "x-delivery-limit": 5 }, "exchangeType": "topic" } }`. With `x-delivery-limit` N on a quorum queue, a worker runs a message at most N times and sets aside the delivery after (RabbitMQ would drop it). In the environment: JSON.' }),
  workerDetectQuorumQueues: setting<boolean>({ type: 'boolean', default: true, env: envNames('WORKER_DETECT_QUORUM_QUEUES'),
    doc: 'RabbitMQ only (Celery\'s `worker_detect_quorum_queues`): a queue that already exists as a quorum queue though configured classic is used as it is, with a warning and per-consumer prefetch; false makes that a configuration error. A queue configured quorum that exists as classic is always an error: RabbitMQ cannot change a queue\'s type.' }),
  taskRoutes: setting<TaskRoutes>({ type: 'json', default: {}, env: envNames('TASK_ROUTES'), check: checkRoutes,
    doc: 'Maps task names, or globs where `*` matches any run of characters, to a queue name or `{ queue, routingKey, priority }`. Exact names win over globs; the first matching glob wins. In the environment: JSON.' }),
  taskAlwaysEager: setting<boolean>({ type: 'boolean', default: false, env: envNames('TASK_ALWAYS_EAGER'),
    doc: 'Run tasks in the calling process when they are sent, without broker or worker. For tests of your own code.' }),
  taskEagerPropagates: setting<boolean>({ type: 'boolean', default: false, env: envNames('TASK_EAGER_PROPAGATES'),
    doc: 'In eager mode, a task error is thrown from `delay`/`applyAsync` instead of being stored in the result.' }),
  taskAcksLate: setting<boolean>({ type: 'boolean', default: false, env: envNames('TASK_ACKS_LATE'),
    doc: 'Acknowledge a message after its task has run rather than just before. Late acks give at-least-once delivery: a task whose worker dies is delivered again, so it must be safe to run twice.' }),
  taskAcksOnFailureOrTimeout: setting<boolean>({ type: 'boolean', default: true, env: envNames('TASK_ACKS_ON_FAILURE_OR_TIMEOUT'),
    doc: 'With late acks, acknowledge tasks that failed or timed out. When false they are rejected without requeue.' }),
  taskRejectOnWorkerLost: setting<boolean>({ type: 'boolean', default: false, env: envNames('TASK_REJECT_ON_WORKER_LOST'),
    doc: 'With late acks, when the process or thread running a task dies under it (WorkerLostError), deliver the message again instead of storing FAILURE: after a backoff (`workerRedeliveryDelaySec`), and at most `workerMaxDeliveries` times, so a task that kills its process every time does not loop. The task then runs again, so it must be safe to run twice. Tasks may set `rejectOnWorkerLost`.' }),
  taskDefaultRateLimit: setting<string | null>({ type: 'string?', default: null, env: envNames('TASK_DEFAULT_RATE_LIMIT'), check: rateLimit,
    doc: 'Per-worker rate limit of every task that sets no `rateLimit`: `\'10/s\'`, `\'100/m\'`, `\'1000/h\'` or a number per second. `null` = no limit. See docs/rate-limits.md.' }),
  taskTrackStarted: setting<boolean>({ type: 'boolean', default: false, env: envNames('TASK_TRACK_STARTED'),
    doc: 'Store the STARTED state (with worker hostname and pid) when a task begins.' }),
  taskIgnoreResult: setting<boolean>({ type: 'boolean', default: false, env: envNames('TASK_IGNORE_RESULT'),
    doc: 'Store no result for tasks unless the task or the call sets `ignoreResult: false`.' }),
  taskTimeLimitSec: setting<number | null>({ type: 'seconds?', default: null, env: ['CELERIAC_TASK_TIME_LIMIT_SEC', ...envNames('TASK_TIME_LIMIT')], check: timeLimitProblem,
    cli: { flags: '--time-limit <seconds>', commands: ['worker'], help: 'hard time limit (seconds) for tasks that set none' },
    doc: 'Hard time limit in seconds for every task: the task fails with TimeLimitExceeded and its slot is freed. Tasks and calls may set their own.' }),
  taskSoftTimeLimitSec: setting<number | null>({ type: 'seconds?', default: null, env: ['CELERIAC_TASK_SOFT_TIME_LIMIT_SEC', ...envNames('TASK_SOFT_TIME_LIMIT')], check: timeLimitProblem,
    cli: { flags: '--soft-time-limit <seconds>', commands: ['worker'], help: 'soft time limit (seconds) for tasks that set none' },
    doc: 'Soft time limit in seconds: the task\'s `ctx.signal` aborts with a SoftTimeLimitExceeded reason, so `ctx.signal.throwIfAborted()` and signal-aware calls such as `fetch` stop the task.' }),
  taskDefaultPriority: setting<number | null>({ type: 'integer?', default: null, env: envNames('TASK_DEFAULT_PRIORITY'), check: priority,
    doc: 'Priority (0-9) for calls that give none. On Redis and memory 0 is served first.' }),
  taskPublishRetry: setting<boolean>({ type: 'boolean', default: true, env: envNames('TASK_PUBLISH_RETRY'),
    doc: 'Retry sending a task while the broker is unreachable, as Celery\'s `task_publish_retry`, following `taskPublishRetryPolicy`; once the policy is spent the send fails with a TRANSPORT `PublishError` whose `cause` is the last failure. Calls may set `retry`. See docs/calling.md.' }),
  taskPublishRetryPolicy: setting<PublishRetryPolicy>({ type: 'json', default: DEFAULT_PUBLISH_RETRY_POLICY, env: envNames('TASK_PUBLISH_RETRY_POLICY'), check: retryPolicyProblem,
    doc: 'How sends are retried, Celery\'s `task_publish_retry_policy`: `{ maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1 }` (seconds; `maxRetries: null` retries until the broker answers; snake_case names accepted). Each attempt is bounded by the broker connection\'s own limit (Redis: `connectTimeoutMs` in `brokerTransportOptions`, 10 s by default, counted from when the connection went down: past it, attempts fail at once; docs/calling.md). Calls may set `retryPolicy`, merged over this. In the environment: JSON.' }),
  resultExpiresSec: setting<number | null>({ type: 'seconds?', default: 86_400, env: ['CELERIAC_RESULT_EXPIRES_SEC', ...envNames('RESULT_EXPIRES')], check: nonNegative,
    normalize: (sec) => (sec === 0 ? null : sec), // Passed on as 0, every Redis store was refused.
    doc: 'Seconds a stored result is kept. `null` or 0 keeps results forever (as Celery\'s `result_expires`).' }),
  resultExtended: setting<boolean>({ type: 'boolean', default: false, env: envNames('RESULT_EXTENDED'),
    doc: 'Store the task name, args, kwargs, worker, retries and queue alongside each result, as Celery\'s `result_extended`.' }),
  workerConcurrency: setting<number>({ type: 'integer', default: 10, env: envNames('WORKER_CONCURRENCY'), check: nonNegative,
    cli: { flags: '-c, --concurrency <n>', commands: ['worker'], help: 'tasks run at once; 0 = one per CPU' },
    doc: 'How many tasks a worker runs at once (`-c`); 0 is one per CPU, as in Celery. The async pool suits I/O-bound tasks, so the default is higher than a CPU count.' }),
  workerPrefetchMultiplier: setting<number>({ type: 'integer', default: 4, env: envNames('WORKER_PREFETCH_MULTIPLIER'), check: nonNegative,
    cli: { flags: '--prefetch-multiplier <n>', commands: ['worker'], help: 'messages prefetched per slot; 0 = unlimited' },
    doc: 'A worker holds at most concurrency x multiplier unacknowledged messages. 0 removes the limit. With late acks, 1 gives the fairest distribution.' }),
  workerShutdownTimeoutSec: setting<number>({ type: 'number', default: 30, env: ['CELERIAC_WORKER_SHUTDOWN_TIMEOUT_SEC', ...envNames('WORKER_SHUTDOWN_TIMEOUT')], check: nonNegative,
    cli: { flags: '--shutdown-timeout-sec <seconds>', before: '--shutdown-timeout', commands: ['worker'], help: 'seconds a warm shutdown waits for running tasks' },
    doc: 'Seconds a warm shutdown (first SIGTERM/SIGINT) waits for running tasks. When it passes, running tasks are abandoned: late-ack messages go back to the queue, the rest are marked failed with WorkerLostError.' }),
  workerMaxDeliveries: setting<number | null>({ type: 'integer?', default: 10, env: ['CELERIAC_WORKER_MAX_DELIVERIES'], check: ((v: number | null) => (v === null || v > 0 ? null : 'must be greater than 0')),
    doc: 'Celeriac only. Most deliveries of one message that end in a worker-side failure (the result store refuses writes, a task whose thread or process dies under `rejectOnWorkerLost`) or in a requeueing `Reject`. A worker-side failure gives the message back through the broker\'s delayed set after `workerRedeliveryDelaySec` x 2^(n-1) seconds (at most 600), never straight to the front of its queue; the delivery that reaches the limit is dead-lettered (set aside with its reason) and FAILURE `DeliveryLimitExceeded` is stored when the backend takes it, `task-failed` is sent and its chord fails. On RabbitMQ a classic queue counts only the requeues and redeliveries the worker makes; a quorum queue counts a worker killed mid-task too. `null`: no limit (the backoff still applies). See docs/delivery-guarantees.md.' }),
  workerRedeliveryDelaySec: setting<number>({ type: 'number', default: 1, env: ['CELERIAC_WORKER_REDELIVERY_DELAY_SEC', 'CELERIAC_WORKER_REDELIVERY_DELAY'], check: nonNegative,
    doc: 'Celeriac only. Seconds before the first redelivery of a message given back for a worker-side failure; each further one waits twice as long, up to 600 s (see `workerMaxDeliveries`).' }),
  workerSendTaskEvents: setting<boolean>({ type: 'boolean', default: false, env: envNames('WORKER_SEND_TASK_EVENTS'),
    cli: { flags: '-E, --task-events', commands: ['worker'], help: 'send task events for monitors (celery events, Flower)' },
    doc: 'Workers send task events (received, started, succeeded, failed, retried, revoked, rejected) for monitors such as `celery events`, Flower and `celeriac events`; `-E` on the command line. Worker events (online, heartbeat, offline) are always sent. The `enable_events` / `disable_events` control commands switch task events at run time.' }),
  workerEnableRemoteControl: setting<boolean>({ type: 'boolean', default: true, env: envNames('WORKER_ENABLE_REMOTE_CONTROL'),
    doc: 'Workers listen to remote-control commands (`celery inspect`, `celery control`, `celeriac inspect`, Flower).' }),
  taskSendSentEvent: setting<boolean>({ type: 'boolean', default: false, env: envNames('TASK_SEND_SENT_EVENT'),
    doc: 'Producers send a `task-sent` event for every task they publish, so monitors see tasks before a worker receives them.' }),
  workerPool: setting<'async' | 'threads' | 'prefork' | 'solo'>({ type: 'string', default: 'async', env: envNames('WORKER_POOL'),
    check: ((v: string) => (['async', 'threads', 'prefork', 'solo'].includes(v) ? null : 'must be async, threads, prefork or solo')),
    cli: { flags: '-P, --pool <pool>', commands: ['worker'], help: 'execution pool: async, threads, prefork, solo' },
    doc: 'Execution pool (`-P`). `async` runs tasks on the event loop (I/O-bound work); `threads` runs each task in a worker thread that loaded the app module, `prefork` in a child process that did (CPU-bound work; hard time limits end the thread or process); `solo` runs one task at a time on the event loop. See docs/pools.md.' }),
  workerMaxTasksPerChild: setting<number | null>({ type: 'integer?', default: null, env: envNames('WORKER_MAX_TASKS_PER_CHILD'), check: ((v: number | null) => (v === null || v > 0 ? null : 'must be greater than 0')),
    cli: { flags: '--max-tasks-per-child <n>', commands: ['worker'], help: 'threads and prefork pools: tasks a child runs before it is replaced' },
    doc: 'Threads and prefork pools: how many tasks a thread or child process runs before it is replaced by a fresh one (`--max-tasks-per-child`). `null`: no limit.' }),
  workerMaxMemoryPerChildKib: setting<number | null>({ type: 'integer?', default: null, env: ['CELERIAC_WORKER_MAX_MEMORY_PER_CHILD_KIB', ...envNames('WORKER_MAX_MEMORY_PER_CHILD')], check: ((v: number | null) => (v === null || v > 0 ? null : 'must be greater than 0')),
    cli: { flags: '--max-memory-per-child <KiB>', commands: ['worker'], help: 'threads and prefork pools: memory (KiB) after a task above which its child is replaced' },
    doc: 'Threads and prefork pools: KiB of memory a child may hold after a task (a thread\'s V8 heap, a process\'s resident set, as Celery measures it); above it the child is replaced once the task has finished (`--max-memory-per-child`). `null`: no limit.' }),
  workerAutoscale: setting<string | null>({ type: 'string?', default: null, env: envNames('WORKER_AUTOSCALE'),
    check: ((v: string | null) => { const m = v === null ? null : /^\s*(\d+)\s*(?:,\s*(\d+)\s*)?$/.exec(v); return v === null ? null : m === null ? 'must be max,min (e.g. 10,3) or max' : Number(m[1]) < 1 || Number(m[2] ?? 0) > Number(m[1]) ? 'must be max,min with max 1 or more and min at most max (e.g. 10,3)' : null; }),
    cli: { flags: '--autoscale <max,min>', commands: ['worker'], help: 'grow the pool up to max slots with the load, shrink to min when idle' },
    doc: 'Pool autoscaling (`--autoscale max,min`, as Celery): the pool grows at once to the number of tasks the worker holds, up to `max`, and shrinks toward `min` after 30 s without growth. Prefetch follows `max`. `null`: a fixed size (`-c`). The `autoscale` control command changes the range at run time.' }),
  brokerConnectionRetryOnStartup: setting<boolean>({ type: 'boolean', default: true, env: envNames('BROKER_CONNECTION_RETRY_ON_STARTUP'),
    doc: 'A worker started before its broker or result backend waits for them, as Celery\'s `broker_connection_retry_on_startup`: it retries the connection after 2 s, then 2 s more each time up to 30 s, logging `Cannot connect to broker <url>: <error>. Trying again in 2.00 seconds... (1)` once per state of the failure (connection refused, Redis `LOADING`, `READONLY`, `OOM`...; the same state again at debug level; with a Redis broker or result backend it is said as soon as its connection fails, `... Still trying...`, before the attempt gives up), and starts consuming once both answer. `false`: the first failure ends the start (a TRANSPORT error). Refused credentials or configuration (`WRONGPASS`, `NOPERM`, a database the server does not have) are never retried: a CONFIG error, exit status 78 from `celeriac worker`. Each attempt is bounded by the connection\'s own limit (Redis: `connectTimeoutMs`, 10 s).' }),
  brokerConnectionMaxRetries: setting<number | null>({ type: 'integer?', default: null, env: envNames('BROKER_CONNECTION_MAX_RETRIES'), check: nonNegative,
    doc: 'Most connection retries of a starting worker (see `brokerConnectionRetryOnStartup`); past them the start fails with a TRANSPORT error naming the URL and the last failure. `null` (the default here; Celery\'s is 100): keep trying until the broker answers or the worker is stopped.' }),
  brokerConnectionRetryIntervals: setting<{ intervalStart: number; intervalStep: number; intervalMax: number }>({ type: 'json', default: { intervalStart: 2, intervalStep: 2, intervalMax: 30 }, env: ['CELERIAC_BROKER_CONNECTION_RETRY_INTERVALS'], check: retryIntervalsProblem,
    doc: 'Celeriac only. The backoff of a starting worker\'s connection retries (see `brokerConnectionRetryOnStartup`), in seconds: the first retry after `intervalStart`, each next one `intervalStep` later, at most `intervalMax` apart. The default is kombu\'s `ensure_connection` backoff, which Celery uses: `{ intervalStart: 2, intervalStep: 2, intervalMax: 30 }`. In the environment: JSON.' }),
  brokerTransportOptions: setting<Record<string, unknown>>({ type: 'json', default: {}, env: envNames('BROKER_TRANSPORT_OPTIONS'), check: isObject,
    doc: 'Options for the broker adapter, as Celery\'s `broker_transport_options`. Redis accepts `master_name` (kombu\'s name: the Sentinel master of a `sentinel://` URL without `?master_name=`), `sentinel_kwargs` (kombu\'s name: `{"password": "..."}`, and `username`, for sentinels that require them; `"ssl": true` with redis-py\'s `ssl_*` keys for sentinels on TLS; the URL\'s credentials and `ssl_*` keys are the masters\'), `visibility_timeout` (seconds, kombu\'s name: keep it equal to your Python workers\' value), `recoverAfterSec`, `lostTaskGraceSec` (seconds an early-acked task\'s dead worker may stay silent before the task is stored FAILURE `WorkerLostError`; 300 by default, 0 off), `leaseRenewMs`, `leaseRenewal` (`thread` or `event-loop`), `sweepIntervalMs`, `pollIntervalMs`, `quietPollIntervalMs` and `quietAfterMs` (an idle consumer\'s slower poll once no Python producer\'s message came for a while: docs/production.md), `promoteIntervalMs`, `fetchBatchSize`, `connectTimeoutMs` (longest wait for the connection: the first connect, or commands while reconnecting, counted from when it went down, so past it they fail at once; 10000 by default), `commandTimeoutMs` (longest wait for any reply before the connection is replaced, 30000), `waitReplicas` with `waitReplicasTimeoutMs` (a send is answered only once that many replicas acknowledged it, so a failover cannot lose it; 0, off, by default; 1000 ms, at least a second below `commandTimeoutMs`: docs/brokers-and-backends.md), and the set-aside store\'s bounds `setAsideMaxCount`, `setAsideMaxBytes`, `deadLetterMaxCount`, `deadLetterMaxBytes` and `setAsideMaxRecordBytes` (docs/workers.md). RabbitMQ accepts `queueMaxPriority`, `connectWaitMs`, `replyTimeoutMs`, `connectionName`, the bounds of its two set-aside queues (`setAsideMaxCount`, `setAsideMaxBytes`, `deadLetterMaxCount`, `deadLetterMaxBytes`), and `lostTaskGraceSec` (read by the worker, which records early-acked tasks in the result backend, since RabbitMQ keeps no record of them). Unknown names are an error. In the environment: JSON.' }),
  resultBackendTransportOptions: setting<Record<string, unknown>>({ type: 'json', default: {}, env: envNames('RESULT_BACKEND_TRANSPORT_OPTIONS'), check: isObject,
    doc: 'Options for the Redis result backend, as Celery\'s `result_backend_transport_options`: `master_name` (the Sentinel master of a `sentinel://` backend URL without `?master_name=`; a name in the URL wins), `sentinel_kwargs` (`{"password": "..."}`, and `username`, for sentinels that require them; `"ssl": true` with redis-py\'s `ssl_*` keys for sentinels on TLS), `global_keyprefix` (a prefix of every result key and channel, as Celery 5.3+ puts it: `_` added unless it ends in `:_-.`), `connectTimeoutMs` (longest wait for the first connection, 10000 by default), `commandTimeoutMs` (longest wait for any reply before the connection is replaced, 30000), and `waitReplicas` with `waitReplicasTimeoutMs` (a task state, a saved group, a revoke and a chord\'s size are answered only once that many replicas acknowledged them, so a failover cannot lose them; a chord part waits too, and goes on with a warning past the timeout; 0, off, by default; 1000 ms, at least a second below `commandTimeoutMs`: docs/brokers-and-backends.md). Other backends take none. Unknown names are an error. In the environment: JSON.' }),
  brokerUseSsl: setting<boolean | Record<string, unknown>>({ type: 'json', default: false, env: envNames('BROKER_USE_SSL'), check: useSsl,
    doc: 'TLS to the broker whatever its URL\'s scheme, as Celery\'s `broker_use_ssl`: `true` (Node\'s default trust store, certificate checked) or an object. RabbitMQ takes py-amqp\'s keys `ca_certs`, `certfile`, `keyfile`, `cert_reqs` (`CERT_REQUIRED`, `CERT_OPTIONAL` or `CERT_NONE`) and `server_hostname`, and port 5671 when the URL names none; Redis takes redis-py\'s `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_cert_reqs` (a `rediss://` or Sentinel URL\'s own keys win). `rpc://` results ride the same connection settings. In the environment: JSON.' }),
  brokerLoginMethod: setting<string | null>({ type: 'string?', default: null, env: envNames('BROKER_LOGIN_METHOD'), fromText: (t: string) => t.toUpperCase(), check: loginMethod,
    doc: 'RabbitMQ only: how the broker connection logs in, as Celery\'s `broker_login_method`: `AMQPLAIN` or `PLAIN` (the URL\'s user and password; `null`, the default: PLAIN), or `EXTERNAL` (the client certificate of `brokerUseSsl` says who connects, with RabbitMQ\'s rabbitmq_auth_mechanism_ssl plugin). `rpc://` logs in the same way. Other brokers ignore it.' }),
  redisBackendUseSsl: setting<boolean | Record<string, unknown>>({ type: 'json', default: false, env: envNames('REDIS_BACKEND_USE_SSL'), check: useSsl,
    doc: 'TLS to the Redis result backend whatever its URL\'s scheme, as Celery\'s `redis_backend_use_ssl`: `true` or an object of redis-py\'s `ssl_*` keys (the URL\'s own keys win). In the environment: JSON.' }),
  logLevel: setting<string>({ type: 'string', default: 'info', env: ['CELERIAC_LOG_LEVEL'], fromText: logLevelFromText, check: ((v: string) => (LOG_LEVELS.includes(v) ? null : `must be one of ${CELERY_LEVEL_LIST} (or pino's warn, fatal)`)),
    cli: { flags: '-l, --loglevel <level>', commands: ['worker', 'beat'], help: 'trace, debug, info, warning, error, critical' },
    doc: 'Log level of the app\'s pino logger (`-l` on the CLI).' }),
  logFormat: setting<LogFormat>({ type: 'string', default: 'auto', env: ['CELERIAC_LOG_FORMAT'], fromText: (text) => text.toLowerCase(),
    check: ((v: string) => ((LOG_FORMATS as readonly string[]).includes(v) ? null : `must be one of ${LOG_FORMATS.join(', ')}`)),
    doc: 'Celeriac only. How the app\'s logger writes lines: `human` as Celery\'s worker prints them (`[2026-11-22 23:00:00,123: INFO/MainProcess] Task proj.add[...] succeeded in 0.010s: 5`), `json` as pino\'s JSON (one object per line, for log collectors), or `auto`: human when stdout is a terminal, JSON otherwise (a pipe, a file, a container\'s log). `--log-format` on the command line.' }),
  beatSchedule: setting<Record<string, BeatEntryDefinition>>({ type: 'json', default: {}, env: envNames('BEAT_SCHEDULE'), check: checkBeatSchedule,
    doc: 'Periodic tasks, Celery\'s `beat_schedule` shape: entry name -> `{ task, schedule, args, kwargs, options, timezone, misfire, misfireGraceSec }`. `schedule` is seconds, a five-field crontab string, or `every()`/`crontab()`/`solar()`. Run by `celeriac beat` or `worker -B` (docs/periodic-tasks.md). In the environment: JSON.' }),
  timezone: setting<string>({ type: 'string', default: 'UTC', env: envNames('TIMEZONE'), check: checkTimezone,
    doc: 'IANA time zone (e.g. `Europe/Berlin`) in which crontab schedules are read, across DST changes. An entry or a crontab may name its own.' }),
  beatMaxLoopIntervalSec: setting<number>({ type: 'number', default: 300, env: ['CELERIAC_BEAT_MAX_LOOP_INTERVAL_SEC', ...envNames('BEAT_MAX_LOOP_INTERVAL')], check: positive,
    cli: { flags: '--max-interval <seconds>', commands: ['beat'], help: 'longest sleep between checks' },
    doc: 'Longest time in seconds the beat loop sleeps between checks (`--max-interval`). The leader also wakes to renew its lease, and picks up changed dynamic entries when it does.' }),
  beatLeaseTtlSec: setting<number>({ type: 'number', default: 15, env: ['CELERIAC_BEAT_LEASE_TTL_SEC', ...envNames('BEAT_LEASE_TTL')], check: positive,
    cli: { flags: '--lease-ttl-sec <seconds>', before: '--lease-ttl', commands: ['beat'], help: 'seconds a beat leader\'s lease lasts: the longest takeover delay' },
    doc: 'Seconds a beat leader\'s lease lasts without renewal. The leader renews it every third of this; if it dies, another beat takes over when the lease expires, so this is the longest gap in sending.' }),
  beatMisfireGraceSec: setting<number>({ type: 'number', default: 60, env: ['CELERIAC_BEAT_MISFIRE_GRACE_SEC', ...envNames('BEAT_MISFIRE_GRACE')], check: nonNegative,
    doc: 'Seconds past its scheduled time after which a run counts as missed; entries with `misfire: \'skip\'` then skip it (logged) instead of running once to catch up.' }),
};

/** What a row holds. */
type ValueOf<Row> = Row extends Omit<SettingSpec<infer T>, 'name'> ? T : never;

const seconds = (now: string) => ({ now, unit: 'seconds' }) as const;

/**
 * Names of 0.1 that say no unit, each with its name now and their shared unit. Celery's own
 * spellings (`task_time_limit` in fromCelery, `CELERY_TASK_TIME_LIMIT`, `--time-limit`) are read
 * without a warning: they are Celery's names, not ours.
 */
const DEPRECATED_NAMES: RenameTable = {
  workerShutdownTimeout: seconds('workerShutdownTimeoutSec'),
  workerRedeliveryDelay: seconds('workerRedeliveryDelaySec'),
  beatLeaseTtl: seconds('beatLeaseTtlSec'),
  beatMisfireGrace: seconds('beatMisfireGraceSec'),
  taskTimeLimit: seconds('taskTimeLimitSec'),
  taskSoftTimeLimit: seconds('taskSoftTimeLimitSec'),
  resultExpires: seconds('resultExpiresSec'),
  beatMaxLoopInterval: seconds('beatMaxLoopIntervalSec'),
  workerMaxMemoryPerChild: { now: 'workerMaxMemoryPerChildKib', unit: 'KiB' },
};

/** The names of 0.1, still read (with a deprecation warning, once per name and process). */
export interface DeprecatedSettings {
  /** @deprecated Use `workerShutdownTimeoutSec` (seconds, as before). */
  workerShutdownTimeout?: number;
  /** @deprecated Use `workerRedeliveryDelaySec` (seconds, as before). */
  workerRedeliveryDelay?: number;
  /** @deprecated Use `beatLeaseTtlSec` (seconds, as before). */
  beatLeaseTtl?: number;
  /** @deprecated Use `beatMisfireGraceSec` (seconds, as before). */
  beatMisfireGrace?: number;
  /** @deprecated Use `taskTimeLimitSec` (seconds, as before). */
  taskTimeLimit?: number | null;
  /** @deprecated Use `taskSoftTimeLimitSec` (seconds, as before). */
  taskSoftTimeLimit?: number | null;
  /** @deprecated Use `resultExpiresSec` (seconds, as before). */
  resultExpires?: number | null;
  /** @deprecated Use `beatMaxLoopIntervalSec` (seconds, as before). */
  beatMaxLoopInterval?: number;
  /** @deprecated Use `workerMaxMemoryPerChildKib` (KiB, as before). */
  workerMaxMemoryPerChild?: number | null;
}

/** The settings a user may pass to `createApp`, one per row of the table. Every field is optional. */
export type Settings = TableSettings & DeprecatedSettings;

/** One optional field per row of the table: {@link Settings} without the deprecated names. */
export type TableSettings = { -readonly [K in keyof typeof TABLE]?: ValueOf<(typeof TABLE)[K]> };

/** Settings after resolution: every field present, frozen. */
export type ResolvedSettings = Readonly<Required<TableSettings>>;

/** The settings table, in the order of docs/configuration.md. */
export const SETTINGS: readonly SettingSpec[] = Object.freeze(
  Object.entries(TABLE).map(([name, row]) => Object.freeze({ name, ...row }) as SettingSpec),
);

function checkTimezone(zone: string): string | null {
  // The default needs no check, and Intl's first formatter maps ICU's time-zone data and code:
  // several MB of every worker's resident memory that nothing else in a worker touches.
  if (zone === 'UTC') return null;
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

const configError = (message: string): CeleriacError => new CeleriacError(ErrorCodes.CONFIG, message);

/**
 * Parses the text form of a setting, as the environment and the command line give it. Throws an
 * Error saying what was expected; the value is not yet checked ({@link settingProblem}).
 */
export function parseSettingText(spec: SettingSpec, raw: string): unknown {
  const text = spec.fromText === undefined ? raw.trim() : spec.fromText(raw.trim());
  switch (spec.type) {
    case 'string':
      return text;
    case 'string?':
      return /^(null|none|)$/i.test(text) ? null : text;
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new Error('expected true/false, 1/0, yes/no or on/off');
    case 'string[]':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'json':
      try {
        return JSON.parse(text);
      } catch {
        throw new Error('expected JSON');
      }
    case 'seconds?':
    case 'integer?':
    case 'integer':
    case 'number': {
      if (spec.type.endsWith('?') && /^(null|none|)$/i.test(text)) return null;
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) throw new Error('expected a number');
      return n;
    }
  }
}

/** What is wrong with `value` for the setting (its type, then the row's own check), or null. */
export function settingProblem(spec: SettingSpec, value: unknown): string | null {
  return typeError(spec, value) ?? spec.check?.(value as never) ?? null;
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

/** What to say about an unknown setting: the Celeriac name of a Celery one, or why there is none. */
function suggest(name: string): string {
  const celery = celeryName(name);
  if (isRefusedCeleryName(celery)) return ` Celeriac has no such setting: ${celeryRefusal(celery, undefined) ?? 'what it says is what Celeriac always does'}.`;
  const renamed = Object.hasOwn(CELERY_RENAMED, celery) ? CELERY_RENAMED[celery] : undefined;
  const lower = (renamed ?? celery).toLowerCase().replace(/_/g, '');
  const hit = SETTINGS.find((s) => s.name.toLowerCase() === lower);
  if (hit === undefined) return '';
  // A Celery name (snake_case or upper-case): its whole config can come over at once.
  const fromCeleryHint = name.includes('_') ? ' A Celery config carries over whole with createApp({ ...fromCelery(config) }).' : '';
  return ` Did you mean ${hit.name}?${fromCeleryHint}`;
}

/**
 * Resolves settings once: explicit values (other than `undefined`) win, then the
 * environment, then defaults. Unknown names and wrong types throw a CONFIG error that
 * names the setting and what was expected.
 */
export function resolveSettings(given: Settings = {}, env: NodeJS.ProcessEnv = process.env): ResolvedSettings {
  const input = renameDeprecated(given, DEPRECATED_NAMES, 'setting');
  for (const key of Object.keys(input)) {
    if (!BY_NAME.has(key)) {
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
        const raw = env[envName] as string;
        try {
          value = parseSettingText(spec, raw);
        } catch (err) {
          throw configError(`Environment variable ${envName}=${JSON.stringify(raw)} for setting ${spec.name}: ${(err as Error).message}`);
        }
        source = `environment variable ${envName} (setting ${spec.name})`;
      } else {
        value = structuredClone(spec.default);
      }
    }
    const problem = settingProblem(spec, value);
    if (problem !== null) throw configError(`Invalid ${source}: ${problem}.`);
    out[spec.name] = spec.normalize === undefined ? value : spec.normalize(value as never);
  }
  return Object.freeze(out) as ResolvedSettings;
}
