import { describe, expect, it } from 'vitest';
import { CeleriacError } from '../errors.js';
import { createApp } from '../create-app.js';
import { fromCelery } from './celery-config.js';
import { resolveSettings } from './settings.js';

/** A celeryconfig.py as a Django or Flask project writes it, in JavaScript. */
const CELERY_CONFIG = {
  broker_url: 'redis://localhost:6379/0',
  result_backend: 'redis://localhost:6379/1',
  task_serializer: 'json',
  result_serializer: 'json',
  accept_content: ['json'],
  enable_utc: true,
  timezone: 'Europe/Paris',
  task_acks_late: true,
  task_reject_on_worker_lost: true,
  worker_prefetch_multiplier: 1,
  task_time_limit: 300,
  task_soft_time_limit: 240,
  result_expires: 3600,
  task_routes: { 'proj.emails.*': 'emails' },
  beat_schedule: { cleanup: { task: 'proj.cleanup', schedule: 60 } },
  broker_transport_options: { visibility_timeout: 3600 },
  task_default_queue: 'default',
  worker_concurrency: 8,
};

describe('fromCelery', () => {
  it("maps a Celery config by Celery's names, keeping seconds, and drops what Celeriac does anyway", () => {
    expect(fromCelery(CELERY_CONFIG)).toEqual({
      broker: 'redis://localhost:6379/0',
      backend: 'redis://localhost:6379/1',
      timezone: 'Europe/Paris',
      taskAcksLate: true,
      taskRejectOnWorkerLost: true,
      workerPrefetchMultiplier: 1,
      taskTimeLimitSec: 300,
      taskSoftTimeLimitSec: 240,
      resultExpiresSec: 3600,
      taskRoutes: { 'proj.emails.*': 'emails' },
      beatSchedule: { cleanup: { task: 'proj.cleanup', schedule: 60 } },
      brokerTransportOptions: { visibility_timeout: 3600 },
      taskDefaultQueue: 'default',
      workerConcurrency: 8,
    });
  });

  it('gives createApp settings it resolves, with the app\'s own beside them', async () => {
    const app = createApp({ ...fromCelery({ task_acks_late: true, result_expires: 60 }), taskTrackStarted: true }, { env: {} });
    expect([app.settings.taskAcksLate, app.settings.resultExpiresSec, app.settings.taskTrackStarted]).toEqual([true, 60, true]);
    await app.close();
  });

  it("maps broker_use_ssl and redis_backend_use_ssl, as py-amqp's and redis-py's keys, and broker_login_method", () => {
    const amqp = { ca_certs: '/ca.pem', certfile: '/c.pem', keyfile: '/k.pem', cert_reqs: 'CERT_REQUIRED' };
    const redis = { ssl_cert_reqs: 'required', ssl_ca_certs: '/ca.pem' };
    expect(fromCelery({ broker_use_ssl: amqp, redis_backend_use_ssl: redis })).toEqual({ brokerUseSsl: amqp, redisBackendUseSsl: redis });
    expect(resolveSettings({ brokerUseSsl: true }).brokerUseSsl).toBe(true);
    expect(() => resolveSettings({ brokerUseSsl: 'yes' as never })).toThrow(/brokerUseSsl.*must be true, false or an object of TLS settings/);
    expect(fromCelery({ broker_login_method: 'EXTERNAL' })).toEqual({ brokerLoginMethod: 'EXTERNAL' });
    expect(resolveSettings({}, { CELERY_BROKER_LOGIN_METHOD: 'external' }).brokerLoginMethod).toBe('EXTERNAL');
    expect(() => resolveSettings({ brokerLoginMethod: 'GSSAPI' })).toThrow(/brokerLoginMethod.*must be AMQPLAIN, PLAIN or EXTERNAL/);
  });

  it('says what to write instead of the connection settings Celeriac has no key for, and drops their defaults', () => {
    expect(fromCelery({ broker_heartbeat: 120, task_queue_max_priority: null, redis_socket_timeout: null, task_default_exchange: null, task_default_delivery_mode: 'persistent' })).toEqual({});
    expect(() => fromCelery({ task_default_delivery_mode: 'transient' })).toThrow(/task_default_delivery_mode: task messages are always sent persistent/);
    expect(fromCelery({ result_backend_always_retry: true, worker_disable_prefetch: false })).toEqual({});
    expect(() => fromCelery({ result_backend_max_retries: 5 })).toThrow(/result_backend_max_retries: a worker always stores again a state the result backend failed to take/);
    expect(() => fromCelery({ worker_disable_prefetch: true })).toThrow(/worker_disable_prefetch: set workerPrefetchMultiplier: 1/);
    expect(() => fromCelery({ task_default_routing_key: 'tasks' })).toThrow(/task_default_routing_key: the default queue is bound to the exchange and routing key of its own name/);
    let message = '';
    try {
      fromCelery({ broker_heartbeat: 10, broker_pool_limit: 20, task_queue_max_priority: 10, redis_socket_timeout: 5, redis_socket_connect_timeout: 5, redis_max_connections: 20 });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/6 Celery settings cannot be carried over/);
    expect(message).toMatch(/broker_heartbeat: on RabbitMQ give it in the broker URL \(`\?heartbeat=60`/);
    expect(message).toMatch(/task_queue_max_priority: on RabbitMQ set brokerTransportOptions: \{ queueMaxPriority \}/);
    expect(message).toMatch(/redis_socket_timeout: .*commandTimeoutMs/);
    expect(message).not.toMatch(/not a Celery setting Celeriac knows/);
  });

  it("reads Celery 3's upper-case names", () => {
    expect(fromCelery({ BROKER_URL: 'redis://h/0', CELERY_ACKS_LATE: true, CELERY_TASK_DEFAULT_QUEUE: 'q', CELERYD_CONCURRENCY: 4, CELERY_ENABLE_UTC: true })).toEqual({
      broker: 'redis://h/0', taskAcksLate: true, taskDefaultQueue: 'q', workerConcurrency: 4,
    });
  });

  it('refuses every key without an equivalent at once, each with its reason', () => {
    let error: unknown;
    try {
      fromCelery({ task_serializer: 'pickle', accept_content: ['json', 'pickle'], enable_utc: false, imports: ['proj.tasks'], task_annotations: {}, beat_scheduler: 'x', task_acks_late: true, worker_frobnicate: 1, taskAcksLate: true });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CeleriacError);
    const message = (error as Error).message;
    expect(message).toContain('fromCelery: 8 Celery settings cannot be carried over');
    expect(message).toContain('task_serializer: Celeriac sends and accepts JSON only');
    expect(message).toContain('accept_content: Celeriac sends and accepts JSON only');
    expect(message).toContain('enable_utc: Celeriac keeps every time in UTC; `timezone`');
    expect(message).toContain('imports: tasks are registered by explicit imports');
    expect(message).toContain('task_annotations: set options on the task itself');
    expect(message).toContain('beat_scheduler: beat keeps its run state');
    expect(message).toContain('worker_frobnicate: not a Celery setting Celeriac knows');
    expect(message).toContain("taskAcksLate: a Celeriac name, not Celery's");
  });

  it("drops a key at Celery's default, and a None where Celeriac's setting has a default of its own", () => {
    // What `app.conf` holds when nothing was set: each asks for nothing.
    const unset = {
      broker_pool_limit: 10, broker_connection_timeout: 4, imports: [], beat_scheduler: 'celery.beat:PersistentScheduler',
      worker_autoscaler: 'celery.worker.autoscale:Autoscaler', database_engine_options: { pool_recycle: 3600, pool_pre_ping: true },
      result_backend_max_retries: Number.POSITIVE_INFINITY, worker_soft_shutdown_timeout: 0, control_queue_ttl: 300.0,
      timezone: null, worker_concurrency: null, task_routes: null, broker_url: null, beat_max_loop_interval: 0,
    };
    expect(fromCelery(unset)).toEqual({});
    // A None Celeriac's setting takes as a value is passed on.
    expect(fromCelery({ task_time_limit: null, task_default_rate_limit: null })).toEqual({ taskTimeLimitSec: null, taskDefaultRateLimit: null });
    expect(fromCelery({ beat_max_loop_interval: 60, redis_socket_keepalive: true })).toEqual({ beatMaxLoopIntervalSec: 60 });
  });

  it('refuses what differs from the default with the reason, never as unknown', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ worker_autoscaler: 'proj.Autoscaler' }, /worker_autoscaler: Celery's worker_autoscaler names the autoscaler class.*workerAutoscale \('10,3'\)/],
      [{ worker_soft_shutdown_timeout: 10 }, /worker_soft_shutdown_timeout: a warm shutdown gives running tasks workerShutdownTimeoutSec/],
      [{ cassandra_servers: ['db1'] }, /cassandra_servers: a setting of Celery's Cassandra result backend; Celeriac's result backends are memory:\/\//],
      [{ broker_failover_strategy: 'shuffle' }, /broker_failover_strategy: the nodes of a `;`-separated broker_url are tried in turn/],
      [{ database_engine_options: { echo: true } }, /database_engine_options: a setting of Celery's SQLAlchemy database result backend/],
      [{ redis_socket_keepalive: 'yes' }, /redis_socket_keepalive: .*give true or false/],
      [{ security_key: '/k.pem' }, /security_key: messages are JSON and never signed/],
      [{ task_protocol: 1 }, /task_protocol: Celeriac sends protocol 2 messages/],
    ];
    for (const [config, reason] of cases) expect(() => fromCelery(config), JSON.stringify(config)).toThrow(reason);
  });

  it('refuses two keys for one setting, and passes values on for the settings table to check', () => {
    expect(() => fromCelery({ BROKER_URL: 'redis://a', broker_url: 'redis://b' })).toThrow(/broker_url: sets broker, which another key already set/);
    expect(() => resolveSettings(fromCelery({ worker_concurrency: 'many' }), {})).toThrow(/Invalid setting workerConcurrency: expected an integer/);
  });
});

describe("createApp with a Celery name: the reason, or the name and fromCelery", () => {
  it('names the Celeriac setting and fromCelery, or why there is none', () => {
    expect(() => resolveSettings({ task_acks_late: true } as never, {})).toThrow(/Did you mean taskAcksLate\? A Celery config carries over whole with createApp\(\{ \.\.\.fromCelery\(config\) \}\)/);
    expect(() => resolveSettings({ task_serializer: 'json' } as never, {})).toThrow(/Unknown setting "task_serializer". Celeriac has no such setting: Celeriac sends and accepts JSON only/);
    expect(() => resolveSettings({ imports: [] } as never, {})).toThrow(/Celeriac has no such setting: tasks are registered by explicit imports/);
    expect(() => resolveSettings({ broker_url: 'x' } as never, {})).toThrow(/Did you mean broker\?/);
  });
});
