/**
 * @module core/celery-names
 * Celery's setting names as Celeriac reads them: the ones spelt otherwise here, the old
 * upper-case ones, and the ones with no equivalent with the reason (docs/celery-map.md). No
 * imports: the settings table names reasons from here, and core/celery-config maps with it.
 */

/** Celery names whose Celeriac setting is not their camelCase spelling. */
export const CELERY_RENAMED: Readonly<Record<string, string>> = {
  broker_url: 'broker',
  result_backend: 'backend',
  worker_autoscaler: 'workerAutoscale',
  // Celeriac's names say their unit; the values keep Celery's (seconds, KiB).
  task_time_limit: 'taskTimeLimitSec',
  task_soft_time_limit: 'taskSoftTimeLimitSec',
  result_expires: 'resultExpiresSec',
  beat_max_loop_interval: 'beatMaxLoopIntervalSec',
  worker_max_memory_per_child: 'workerMaxMemoryPerChildKib',
};

/** A Celery key that maps to nothing: null when `value` says what Celeriac does anyway, else why it is refused. */
type Refusal = (value: unknown) => string | null;

const isJson = (v: unknown) => typeof v === 'string' && ['json', 'application/json'].includes(v.toLowerCase());
const onlyJson = (v: unknown) => (Array.isArray(v) ? v.length > 0 && v.every(isJson) : isJson(v));
const always = (reason: string): Refusal => () => reason;
const unless = (fine: (v: unknown) => boolean, reason: string): Refusal => (v) => (fine(v) ? null : reason);

const JSON_ONLY = 'Celeriac sends and accepts JSON only: pickle and yaml are never accepted, so a message cannot run code it carries';
const LOG_FORMAT = 'the line format is fixed: Celery\'s default lines in the human format, else one JSON object per line (logFormat); the level is logLevel';
const BEAT_STATE = 'beat keeps its run state and dynamic entries in the beat store (the broker\'s Redis, or memory), shared by every beat: there is no scheduler class or schedule file';

const STORE_RETRY = 'a worker always stores again a state the result backend failed to take: with workerRedeliveryDelaySec (doubling) and at most workerMaxDeliveries times';

/** Celery settings with no Celeriac equivalent, and why (docs/celery-map.md). */
const REFUSED: Readonly<Record<string, Refusal>> = {
  enable_utc: unless((v) => v === true, 'Celeriac keeps every time in UTC; `timezone` (an IANA name) sets the zone crontab entries are read in'),
  task_serializer: unless(isJson, JSON_ONLY),
  result_serializer: unless(isJson, JSON_ONLY),
  event_serializer: unless(isJson, JSON_ONLY),
  accept_content: unless(onlyJson, JSON_ONLY),
  result_accept_content: unless((v) => v === null || onlyJson(v), JSON_ONLY),
  task_compression: unless((v) => v === null, 'messages are not compressed'),
  result_compression: unless((v) => v === null, 'results are not compressed'),
  imports: always('tasks are registered by explicit imports: import your task modules from the module `-A` loads (DESIGN: no scanning)'),
  include: always('tasks are registered by explicit imports: import your task modules from the module `-A` loads (DESIGN: no scanning)'),
  task_create_missing_queues: unless((v) => v === true, 'a worker declares the queues it consumes (`-Q`) and a producer the queue it sends to: missing queues are always created'),
  task_annotations: always('set options on the task itself: app.task(name, { rateLimit, ... })'),
  worker_log_format: always(LOG_FORMAT),
  worker_task_log_format: always(LOG_FORMAT),
  worker_hijack_root_logger: always('Celeriac logs through its own pino logger and touches no other'),
  beat_scheduler: always(BEAT_STATE),
  beat_schedule_filename: always(BEAT_STATE),
  broker_connection_timeout: always('on Redis use brokerTransportOptions: { connectTimeoutMs } (milliseconds); on RabbitMQ `connection_timeout` in the broker URL'),
  broker_connection_retry: unless((v) => v === true, 'clients always reconnect once connected; brokerConnectionRetryOnStartup governs the first connection'),
  worker_disable_rate_limits: always('a task without rateLimit has no limit, and taskDefaultRateLimit is null by default'),
  broker_heartbeat: unless((v) => v === 120 || v === null, 'on RabbitMQ give it in the broker URL (`?heartbeat=60`, seconds; 120 by default, as Celery\'s); Redis connections are kept alive by PINGs'),
  broker_pool_limit: always('a broker keeps its own few connections (one per role), not a pool: there is nothing to limit'),
  task_queue_max_priority: unless((v) => v === null, 'on RabbitMQ set brokerTransportOptions: { queueMaxPriority } to the same number'),
  redis_socket_timeout: unless((v) => v === null, 'the Redis result backend takes resultBackendTransportOptions: { commandTimeoutMs } (milliseconds; 30000 by default)'),
  redis_socket_connect_timeout: unless((v) => v === null, 'the Redis result backend takes resultBackendTransportOptions: { connectTimeoutMs } (milliseconds; 10000 by default)'),
  task_default_exchange: unless((v) => v === null, 'the default queue is bound to the exchange and routing key of its own name (taskDefaultQueue), as with Celery\'s defaults; route elsewhere with taskRoutes'),
  task_default_routing_key: unless((v) => v === null, 'the default queue is bound to the exchange and routing key of its own name (taskDefaultQueue), as with Celery\'s defaults; route elsewhere with taskRoutes'),
  task_default_delivery_mode: unless((v) => v === 'persistent' || v === 2, 'task messages are always sent persistent (delivery_mode 2)'),
  result_backend_always_retry: unless((v) => v === true, STORE_RETRY),
  result_backend_max_retries: always(STORE_RETRY),
  result_backend_base_sleep_between_retries_ms: always(STORE_RETRY),
  result_backend_max_sleep_between_retries_ms: always(STORE_RETRY),
  worker_disable_prefetch: unless((v) => v === false, 'set workerPrefetchMultiplier: 1: a worker then holds no more messages than it has slots'),
  redis_max_connections: unless((v) => v === null, 'the Redis result backend keeps two connections (commands, and subscriptions), not a pool'),
  worker_cancel_long_running_tasks_on_connection_loss: always('with late acks a task whose connection is lost keeps running and its message stays leased; see docs/delivery-guarantees.md'),
};

const RENAMED_BACK: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(CELERY_RENAMED).map(([celery, ours]) => [ours, celery]));

/** A setting's name as Celery spells it (`taskAcksLate` -> `task_acks_late`, `broker` -> `broker_url`); Celeriac's own settings in the same style. */
export function celerySettingName(name: string): string {
  return RENAMED_BACK[name] ?? name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `task_acks_late` -> `taskAcksLate`. */
export const camel = (snake: string) => snake.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** Celery 3's upper-case names that are not `CELERY_` + the new name upper-cased. */
const OLD_NAMES: Readonly<Record<string, string>> = {
  BROKER_URL: 'broker_url',
  BROKER_TRANSPORT_OPTIONS: 'broker_transport_options',
  CELERY_RESULT_BACKEND: 'result_backend',
  CELERY_ACKS_LATE: 'task_acks_late',
  CELERY_ALWAYS_EAGER: 'task_always_eager',
  CELERY_EAGER_PROPAGATES_EXCEPTIONS: 'task_eager_propagates',
  CELERY_TASK_RESULT_EXPIRES: 'result_expires',
  CELERY_TIMEZONE: 'timezone',
  CELERY_ENABLE_UTC: 'enable_utc',
  CELERY_IMPORTS: 'imports',
  CELERY_INCLUDE: 'include',
  CELERYD_CONCURRENCY: 'worker_concurrency',
  CELERYD_PREFETCH_MULTIPLIER: 'worker_prefetch_multiplier',
  CELERYD_MAX_TASKS_PER_CHILD: 'worker_max_tasks_per_child',
  CELERYD_TASK_TIME_LIMIT: 'task_time_limit',
  CELERYD_TASK_SOFT_TIME_LIMIT: 'task_soft_time_limit',
  CELERYBEAT_SCHEDULE: 'beat_schedule',
  CELERYBEAT_MAX_LOOP_INTERVAL: 'beat_max_loop_interval',
};

/** The Celery (lower-case) name of a key as given: new names as they are, old upper-case ones translated. */
export function celeryName(key: string): string {
  if (Object.hasOwn(OLD_NAMES, key)) return OLD_NAMES[key] as string;
  if (key === key.toUpperCase() && key.startsWith('CELERY_')) return key.slice('CELERY_'.length).toLowerCase();
  return key;
}

/** Why Celeriac has no equivalent of the Celery setting `name` with this value, or null when it has (or none is needed, or `name` is not one of these). */
export function celeryRefusal(name: string, value: unknown): string | null {
  return Object.hasOwn(REFUSED, name) ? (REFUSED[name] as Refusal)(value) : null;
}

/** Whether `name` is a Celery setting Celeriac has no equivalent for. */
export function isRefusedCeleryName(name: string): boolean {
  return Object.hasOwn(REFUSED, name);
}
