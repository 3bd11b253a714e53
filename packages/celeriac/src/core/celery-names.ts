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
/** Equal as Celery's values are: the same number, text, boolean or null, or lists and dicts of equal values (keys in any order). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
/**
 * Refused with `reason`, unless the value is one of `fine`: Celery 5.6's default first (a key
 * that states Celery's default asks for nothing, as a dump of a whole `app.conf` does), then
 * any value that says what Celeriac does anyway.
 */
const except = (reason: string, ...fine: unknown[]): Refusal => (v) => (fine.some((f) => same(f, v)) ? null : reason);
const unless = (ok: (v: unknown) => boolean, reason: string): Refusal => (v) => (ok(v) ? null : reason);

const JSON_ONLY = 'Celeriac sends and accepts JSON only: pickle and yaml are never accepted, so a message cannot run code it carries';
const LOG_FORMAT = 'the line format is fixed: Celery\'s default lines in the human format, else one JSON object per line (logFormat); the level is logLevel';
const BEAT_STATE = 'beat keeps its run state and dynamic entries in the beat store (the broker\'s Redis, or memory), shared by every beat: there is no scheduler class or schedule file';
const STORE_RETRY = 'a worker always stores again a state the result backend failed to take: with workerRedeliveryDelaySec (doubling) and at most workerMaxDeliveries times';
const NO_SCAN = 'tasks are registered by explicit imports: import your task modules from the module `-A` loads (DESIGN: no scanning)';
const DEFAULT_ROUTE = 'the default queue is bound to the exchange and routing key of its own name (taskDefaultQueue), as with Celery\'s defaults; route elsewhere with taskRoutes';
const OLD_BROKER = 'Celery 2\'s way of giving the broker\'s address: put it in broker_url (`amqp://user:password@host:5672/vhost`)';
const OLD_REDIS = 'the Redis result backend\'s address goes in result_backend (`redis://:password@host:6379/0`)';
const CONTROL = 'the remote-control exchange and queues are declared as Celery\'s defaults declare them, so that `celery inspect`, `celery control` and Flower reach Celeriac workers';
const EVENTS = 'the event exchange and monitors\' queues are Celery\'s defaults (`celeryev`), so that `celery events` and Flower see Celeriac workers';
const SIGNING = 'messages are JSON and never signed (Celery\'s `auth` serializer): protect the broker instead, with TLS and its users and ACLs (docs/security.md)';
const SOFT_SHUTDOWN = 'a warm shutdown gives running tasks workerShutdownTimeoutSec (30 s), then gives late-ack messages back to the broker: set that instead (docs/workers.md)';
const CHORD_JOIN = 'a chord is joined when its last part is stored, counted atomically in the Redis result backend: nothing polls, so there is no interval or timeout';
const TIMERS = 'timers are Node\'s own, to the millisecond';
/** The settings of Celery's result backends Celeriac does not have, by backend, with Celery 5.6's defaults (5.2's too where they differ). */
const OTHER_BACKENDS: Readonly<Record<string, Readonly<Record<string, readonly unknown[]>>>> = {
  cache: { cache_backend: [null], cache_backend_options: [{}] },
  Cassandra: {
    cassandra_servers: [null], cassandra_port: [null], cassandra_keyspace: [null], cassandra_table: [null], cassandra_entry_ttl: [null],
    cassandra_read_consistency: [null], cassandra_write_consistency: [null], cassandra_bundle_path: [null], cassandra_auth_provider: [null],
    cassandra_auth_kwargs: [null], cassandra_options: [{}],
  },
  S3: { s3_access_key_id: [null], s3_secret_access_key: [null], s3_bucket: [null], s3_base_path: [null], s3_endpoint_url: [null], s3_region: [null] },
  'Azure Block Blob': {
    azureblockblob_container_name: ['celery'], azureblockblob_base_path: [''], azureblockblob_retry_initial_backoff_sec: [2],
    azureblockblob_retry_increment_base: [2], azureblockblob_retry_max_attempts: [3], azureblockblob_connection_timeout: [20], azureblockblob_read_timeout: [120],
  },
  'Google Cloud Storage': { gcs_bucket: [null], gcs_project: [null], gcs_base_path: [''], gcs_ttl: [0] },
  Couchbase: { couchbase_backend_settings: [null] },
  ArangoDB: { arangodb_backend_settings: [null] },
  MongoDB: { mongodb_backend_settings: [null] },
  'Cosmos DB': {
    cosmosdbsql_database_name: ['celerydb'], cosmosdbsql_collection_name: ['celerycol'], cosmosdbsql_consistency_level: ['Session'],
    cosmosdbsql_max_retry_attempts: [9], cosmosdbsql_max_retry_wait_time: [30],
  },
  Elasticsearch: { elasticsearch_retry_on_timeout: [null], elasticsearch_max_retries: [null], elasticsearch_timeout: [null], elasticsearch_save_meta_as_text: [true] },
  'SQLAlchemy database': {
    database_url: [null], database_engine_options: [{ pool_pre_ping: true, pool_recycle: 3600 }, null], database_short_lived_sessions: [false],
    database_table_schemas: [null], database_table_names: [null], database_create_tables_at_setup: [true],
  },
};

/** {@link OTHER_BACKENDS} as refusals: each setting passes at its defaults, else names its backend. */
function backendSettings(): Record<string, Refusal> {
  const out: Record<string, Refusal> = {};
  for (const [kind, settings] of Object.entries(OTHER_BACKENDS)) {
    const reason = `a setting of Celery's ${kind} result backend; Celeriac's result backends are memory://, redis:// (rediss://, sentinel://) and rpc://`;
    for (const [name, defaults] of Object.entries(settings)) out[name] = except(reason, ...defaults);
  }
  return out;
}

/** Celery settings with no Celeriac equivalent, and why (docs/celery-map.md), with Celery 5.6's default for each. */
const REFUSED: Readonly<Record<string, Refusal>> = {
  enable_utc: except('Celeriac keeps every time in UTC; `timezone` (an IANA name) sets the zone crontab entries are read in', true),
  task_serializer: unless(isJson, JSON_ONLY),
  result_serializer: unless(isJson, JSON_ONLY),
  event_serializer: unless(isJson, JSON_ONLY),
  accept_content: unless(onlyJson, JSON_ONLY),
  result_accept_content: unless((v) => v === null || onlyJson(v), JSON_ONLY),
  task_compression: except('messages are not compressed', null),
  result_compression: except('results are not compressed', null),
  imports: except(NO_SCAN, []),
  include: except(NO_SCAN, []),
  task_create_missing_queues: except('a worker declares the queues it consumes (`-Q`) and a producer the queue it sends to: missing queues are always created', true),
  task_create_missing_queue_exchange_type: except('a queue made for a route is bound to a direct exchange of its own name, as Celery\'s default', null, 'direct'),
  task_annotations: except('set options on the task itself: app.task(name, { rateLimit, ... })', null),
  worker_log_format: except(LOG_FORMAT, '[%(asctime)s: %(levelname)s/%(processName)s] %(message)s'),
  worker_task_log_format: except(LOG_FORMAT, '[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s'),
  worker_log_color: except('log lines are not coloured', null, false),
  worker_hijack_root_logger: except('Celeriac logs through its own pino logger and touches no other', true, false),
  worker_redirect_stdouts: except('what a task prints goes to the worker\'s own stdout and stderr, not into its log', true, false),
  worker_redirect_stdouts_level: except('what a task prints goes to the worker\'s own stdout and stderr, not into its log', 'WARNING'),
  beat_scheduler: except(BEAT_STATE, 'celery.beat:PersistentScheduler'),
  beat_schedule_filename: except(BEAT_STATE, 'celerybeat-schedule'),
  beat_sync_every: except('beat records an entry\'s run state in the same atomic step as its send: there is nothing to sync', 0),
  beat_cron_starting_deadline: except('missed runs are caught up with one run; an entry\'s `misfire` and beatMisfireGraceSec decide whether a late run is sent or skipped', null),
  broker_connection_timeout: except('on Redis use brokerTransportOptions: { connectTimeoutMs } (milliseconds); on RabbitMQ `connection_timeout` in the broker URL', 4),
  broker_connection_retry: except('clients always reconnect once connected; brokerConnectionRetryOnStartup governs the first connection', true),
  broker_channel_error_retry: except('a RabbitMQ channel error is not retried by a policy of its own: publishes follow taskPublishRetry and taskPublishRetryPolicy', false),
  broker_heartbeat: except('on RabbitMQ give it in the broker URL (`?heartbeat=60`, seconds; 120 by default, as Celery\'s); Redis connections are kept alive by PINGs', 120, null),
  broker_heartbeat_checkrate: except('the RabbitMQ client checks heartbeats at the interval the URL\'s `heartbeat` sets', 3),
  broker_pool_limit: except('a broker keeps its own few connections (one per role), not a pool: there is nothing to limit', 10, null),
  broker_read_url: except('one broker URL (broker_url) serves both sending and consuming', null),
  broker_write_url: except('one broker URL (broker_url) serves both sending and consuming', null),
  broker_transport: except('the scheme of broker_url names the transport (`redis://`, `amqp://`, `memory://`...)', null),
  broker_failover_strategy: except('the nodes of a `;`-separated broker_url are tried in turn (kombu\'s round-robin), and there is no other strategy', null, 'round-robin'),
  broker_native_delayed_delivery_queue_type: except('the delay ladder is kombu\'s native one on quorum queues once the app has a quorum queue, else Celeriac\'s own on classic queues (docs/brokers-and-backends.md)', 'quorum'),
  broker_host: except(OLD_BROKER, null),
  broker_port: except(OLD_BROKER, null),
  broker_user: except(OLD_BROKER, null),
  broker_password: except(OLD_BROKER, null),
  broker_vhost: except(OLD_BROKER, null),
  control_exchange: except(CONTROL, 'celery'),
  control_queue_ttl: except(CONTROL, 300),
  control_queue_expires: except(CONTROL, 10),
  control_queue_exclusive: except(CONTROL, false),
  control_queue_durable: except(CONTROL, false),
  event_exchange: except(EVENTS, 'celeryev'),
  event_queue_prefix: except(EVENTS, 'celeryev'),
  event_queue_ttl: except(EVENTS, 5),
  event_queue_expires: except(EVENTS, 60),
  event_queue_exclusive: except(EVENTS, false),
  event_queue_durable: except(EVENTS, false),
  task_queue_max_priority: except('on RabbitMQ set brokerTransportOptions: { queueMaxPriority } to the same number', null),
  task_default_exchange: except(DEFAULT_ROUTE, null),
  task_default_routing_key: except(DEFAULT_ROUTE, null),
  task_default_delivery_mode: except('task messages are always sent persistent (delivery_mode 2)', 2, 'persistent'),
  task_inherit_parent_priority: except('a task sent from a task takes its own priority (its call, its route, taskDefaultPriority), not its parent\'s', false),
  task_store_eager_result: except('an eager run\'s result lives in its EagerResult only, never in the result backend (Celery\'s default)', false),
  task_protocol: except('Celeriac sends protocol 2 messages (and reads 1 and 2)', 2),
  task_remote_tracebacks: except('a failure\'s traceback is stored as text, which AsyncResult gives with the error; there is no tblib to raise it again', false),
  task_store_errors_even_if_ignored: except('a task with ignoreResult stores nothing', false),
  task_allow_error_cb_on_chord_header: except('a chord\'s errbacks are its body\'s, called with the body\'s id when a header part fails (docs/canvas.md)', false),
  redis_host: except(OLD_REDIS, null),
  redis_port: except(OLD_REDIS, null),
  redis_db: except(OLD_REDIS, null),
  redis_username: except(OLD_REDIS, null),
  redis_password: except(OLD_REDIS, null),
  redis_socket_timeout: except('the Redis result backend takes resultBackendTransportOptions: { commandTimeoutMs } (milliseconds; 30000 by default)', 120, null),
  redis_socket_connect_timeout: except('the Redis result backend takes resultBackendTransportOptions: { connectTimeoutMs } (milliseconds; 10000 by default)', null),
  redis_max_connections: except('the Redis result backend keeps two connections (commands, and subscriptions), not a pool', null),
  // node-redis keeps TCP keepalive on, and Celeriac PINGs idle connections: either value is honoured.
  redis_socket_keepalive: unless((v) => typeof v === 'boolean', 'Redis connections always use TCP keepalive and PINGs; give true or false'),
  redis_retry_on_timeout: except('a Redis command past commandTimeoutMs fails; a result store is tried once more on a fresh connection, then stored again later by the worker', false),
  result_backend_always_retry: except(STORE_RETRY, false, true),
  result_backend_max_retries: except(STORE_RETRY, Number.POSITIVE_INFINITY),
  result_backend_base_sleep_between_retries_ms: except(STORE_RETRY, 10),
  result_backend_max_sleep_between_retries_ms: except(STORE_RETRY, 10000),
  result_cache_max: except('an app keeps no cache of results: each AsyncResult reads the result backend', -1),
  result_exchange: except('rpc:// replies through the default exchange to each client\'s reply queue, as Celery\'s rpc backend does (the setting served its amqp backend)', 'celeryresults'),
  result_exchange_type: except('rpc:// replies through the default exchange to each client\'s reply queue, as Celery\'s rpc backend does (the setting served its amqp backend)', 'direct'),
  result_persistent: except('rpc:// result messages are transient (delivery_mode 1), as Celery\'s default', null, false),
  result_chord_retry_interval: except(CHORD_JOIN, 1),
  result_chord_join_timeout: except(CHORD_JOIN, 3),
  security_key: except(SIGNING, null),
  security_key_password: except(SIGNING, null),
  security_certificate: except(SIGNING, null),
  security_cert_store: except(SIGNING, null),
  security_digest: except(SIGNING, 'sha256'),
  worker_disable_rate_limits: except('a task without rateLimit has no limit, and taskDefaultRateLimit is null by default', false),
  worker_disable_prefetch: except('set workerPrefetchMultiplier: 1: a worker then holds no more messages than it has slots', false),
  worker_cancel_long_running_tasks_on_connection_loss: except('with late acks a task whose connection is lost keeps running and its message stays leased; see docs/delivery-guarantees.md', false),
  worker_soft_shutdown_timeout: except(SOFT_SHUTDOWN, 0),
  worker_enable_soft_shutdown_on_idle: except(SOFT_SHUTDOWN, false),
  worker_state_db: except('revoked ids persist in the result backend, for every worker (docs/revoking.md)', null),
  worker_direct: except('a worker consumes its `-Q` queues only: there is no queue per worker (`<nodename>.dq`)', false),
  worker_deduplicate_successful_tasks: except('a redelivered task runs again (at-least-once, docs/delivery-guarantees.md): make tasks idempotent', false),
  worker_eta_task_limit: except('ETA and countdown tasks wait in the broker, not in the worker\'s memory: there is nothing to limit', null),
  worker_enable_prefetch_count_reduction: except('the prefetch window stays workerPrefetchMultiplier x concurrency after a reconnect', true),
  worker_lost_wait: except('a pool child that dies is reported at once (WorkerLostError)', 10),
  worker_proc_alive_timeout: except('prefork children have no start-up timeout to set', 4),
  worker_pool_putlocks: except('a prefork task goes to a free child, with no put locks', true),
  worker_pool_restarts: except('there is no pool_restart remote command (docs/celery-map.md)', false),
  worker_agent: except('there is no worker agent (Celery\'s actors)', null),
  // Celery's worker_autoscaler names the autoscaler class; the range is its --autoscale alone.
  worker_autoscaler: except('Celery\'s worker_autoscaler names the autoscaler class, which is not replaceable here: give the pool\'s range as workerAutoscale (\'10,3\'), as Celery\'s --autoscale', 'celery.worker.autoscale:Autoscaler'),
  worker_consumer: except('the worker\'s consumer is not a class to replace', 'celery.worker.consumer:Consumer'),
  worker_timer: except(TIMERS, null),
  worker_timer_precision: except(TIMERS, 1),
  ...backendSettings(),
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
