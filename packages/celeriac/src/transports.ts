/**
 * @module transports
 * The edge that maps URL schemes to adapters (only edges choose adapters: docs/internals.md, "Layers").
 * Libraries below receive adapters; `createApp` from the public index uses this table.
 */
import { MemoryBackend } from './backends/memory/memory-backend.js';
import { RpcBackend } from './backends/rpc/rpc-backend.js';
import { RedisBackend, type RedisBackendOptions } from './backends/redis/redis-backend.js';
import { AmqpBroker, type AmqpBrokerOptions } from './brokers/amqp/amqp-broker.js';
import type { AmqpLoginMethod } from './amqp/session.js';
import { MemoryBroker } from './brokers/memory/memory-broker.js';
import type { RedisBrokerOptions } from './brokers/redis/options.js';
import { RedisBroker } from './brokers/redis/redis-broker.js';
import { CeleriacError, ErrorCodes } from './errors.js';
import { resultKeyPrefix } from './redis/keys.js';
import { RedisConnections } from './redis/shared-commands.js';
import type { TransportContext, TransportTable } from './core/transport-table.js';

/**
 * One memory broker and one memory backend per process, so that every app created with
 * `memory://` in this process shares them (a producer app and a worker app talk).
 */
let sharedBroker: MemoryBroker | undefined;
let sharedBackend: MemoryBackend | undefined;

/** `brokerTransportOptions` names the Redis broker understands (kombu's name where one exists). */
const REDIS_OPTION_NAMES: Record<string, keyof RedisBrokerOptions> = {
  master_name: 'masterName',
  sentinel_kwargs: 'sentinelKwargs',
  visibility_timeout: 'visibilityTimeoutSec',
  recoverAfterSec: 'recoverAfterSec',
  lostTaskGraceSec: 'lostTaskGraceSec',
  leaseRenewMs: 'leaseRenewMs',
  leaseRenewal: 'leaseRenewal',
  sweepIntervalMs: 'sweepIntervalMs',
  pollIntervalMs: 'pollIntervalMs',
  quietPollIntervalMs: 'quietPollIntervalMs',
  quietAfterMs: 'quietAfterMs',
  promoteIntervalMs: 'promoteIntervalMs',
  fetchBatchSize: 'fetchBatchSize',
  connectTimeoutMs: 'connectTimeoutMs',
  commandTimeoutMs: 'commandTimeoutMs',
  waitReplicas: 'waitReplicas',
  waitReplicasTimeoutMs: 'waitReplicasTimeoutMs',
  setAsideMaxCount: 'setAsideMaxCount',
  setAsideMaxBytes: 'setAsideMaxBytes',
  deadLetterMaxCount: 'deadLetterMaxCount',
  deadLetterMaxBytes: 'deadLetterMaxBytes',
  setAsideMaxRecordBytes: 'setAsideMaxRecordBytes',
};

/** Maps `brokerTransportOptions` onto RedisBrokerOptions; unknown names are a CONFIG error. */
export function redisBrokerOptions(ctx: TransportContext): RedisBrokerOptions {
  const base = { clock: ctx.clock, log: ctx.log, ...(ctx.brokerUseSsl === undefined ? {} : { useSsl: ctx.brokerUseSsl }) };
  return mapOptions(ctx.transportOptions, REDIS_OPTION_NAMES, base, 'Redis broker transport option', ' (the key prefix goes in the URL: ?global_keyprefix=)');
}

/** `resultBackendTransportOptions` names the Redis result backend understands (kombu's name where one exists). */
const REDIS_BACKEND_OPTION_NAMES: Record<string, keyof RedisBackendOptions> = {
  master_name: 'masterName',
  sentinel_kwargs: 'sentinelKwargs',
  global_keyprefix: 'keyPrefix',
  connectTimeoutMs: 'connectTimeoutMs',
  commandTimeoutMs: 'commandTimeoutMs',
  waitReplicas: 'waitReplicas',
  waitReplicasTimeoutMs: 'waitReplicasTimeoutMs',
};

/** Maps `resultBackendTransportOptions` onto RedisBackendOptions; unknown names are a CONFIG error. */
export function redisBackendOptions(url: string, ctx: TransportContext): RedisBackendOptions {
  const base = { url, log: ctx.log, ...(ctx.backendUseSsl === undefined ? {} : { useSsl: ctx.backendUseSsl }) };
  const options = mapOptions<RedisBackendOptions>(ctx.backendTransportOptions ?? {}, REDIS_BACKEND_OPTION_NAMES, base, 'Redis result backend transport option', '');
  const bad = (name: string, what: string, value: unknown) => new CeleriacError(ErrorCodes.CONFIG, `Redis result backend transport option ${name} must be ${what}, got ${JSON.stringify(value)}`);
  if (options.masterName !== undefined && (typeof options.masterName !== 'string' || options.masterName === '')) throw bad('master_name', 'a non-empty string', options.masterName);
  if (options.keyPrefix !== undefined) {
    if (typeof options.keyPrefix !== 'string') throw bad('global_keyprefix', 'a string', options.keyPrefix);
    // Celery 5.3+'s result keys under result_backend_transport_options' global_keyprefix.
    options.keyPrefix = resultKeyPrefix(options.keyPrefix);
  }
  for (const name of ['connectTimeoutMs', 'commandTimeoutMs'] as const) {
    const v = options[name];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw bad(name, 'a positive number of milliseconds', v);
  }
  return options;
}

/** `given` renamed by `names` over `base`; a name not in `names` is a CONFIG error listing the known ones. */
function mapOptions<T>(given: Readonly<Record<string, unknown>>, names: Record<string, string>, base: Record<string, unknown>, what: string, hint: string): T {
  const options = { ...base };
  for (const [name, value] of Object.entries(given)) {
    const target = names[name];
    if (target === undefined) throw new CeleriacError(ErrorCodes.CONFIG, `Unknown ${what} ${JSON.stringify(name)}; known: ${Object.keys(names).join(', ')}${hint}`);
    options[target] = value;
  }
  return options as T;
}

/** `brokerTransportOptions` names the RabbitMQ broker understands. */
const AMQP_OPTION_NAMES: Record<string, keyof AmqpBrokerOptions> = {
  queueMaxPriority: 'queueMaxPriority',
  connectWaitMs: 'connectWaitMs',
  replyTimeoutMs: 'replyTimeoutMs',
  connectionName: 'connectionName',
  setAsideMaxCount: 'setAsideMaxCount',
  setAsideMaxBytes: 'setAsideMaxBytes',
  deadLetterMaxCount: 'deadLetterMaxCount',
  deadLetterMaxBytes: 'deadLetterMaxBytes',
};

/**
 * `brokerTransportOptions` names read by the worker, not the RabbitMQ broker: RabbitMQ keeps
 * no record of running tasks, so the worker keeps them (worker/lost-task-watch.ts).
 */
const AMQP_WORKER_OPTION_NAMES = new Set(['lostTaskGraceSec']);

/** The app's TLS and login settings of a RabbitMQ connection (the broker's, and `rpc://`'s). */
function amqpLogin(ctx: TransportContext): Pick<AmqpBrokerOptions, 'useSsl' | 'loginMethod'> {
  return {
    ...(ctx.brokerUseSsl === undefined ? {} : { useSsl: ctx.brokerUseSsl }),
    // The settings table checked it, in any case.
    ...(ctx.brokerLoginMethod === undefined || ctx.brokerLoginMethod === null ? {} : { loginMethod: ctx.brokerLoginMethod.toUpperCase() as AmqpLoginMethod }),
  };
}

/** Maps `brokerTransportOptions` onto AmqpBrokerOptions; unknown names are a CONFIG error. */
export function amqpBrokerOptions(ctx: TransportContext): AmqpBrokerOptions {
  const options: Record<string, unknown> = { log: ctx.log, clock: ctx.clock, queues: ctx.queues, ...amqpLogin(ctx) };
  for (const [name, value] of Object.entries(ctx.transportOptions)) {
    if (AMQP_WORKER_OPTION_NAMES.has(name)) continue;
    const target = AMQP_OPTION_NAMES[name];
    if (target === undefined) {
      const known = [...Object.keys(AMQP_OPTION_NAMES), ...AMQP_WORKER_OPTION_NAMES].join(', ');
      throw new CeleriacError(ErrorCodes.CONFIG, `Unknown RabbitMQ broker transport option ${JSON.stringify(name)}; known: ${known} (vhost and heartbeat go in the URL)`);
    }
    options[target] = value;
  }
  return options as AmqpBrokerOptions;
}

/** A RabbitMQ broker per URL (its own connection). */
const amqpBroker = (url: string, ctx: TransportContext) => new AmqpBroker(url, amqpBrokerOptions(ctx));

/**
 * The app's Redis command connections (redis/shared-commands.ts): its Redis broker and Redis
 * backend on the same server share one.
 */
function redisConnections(ctx: TransportContext): { connections?: RedisConnections } {
  if (ctx.shared === undefined) return {};
  let connections = ctx.shared.get('redis') as RedisConnections | undefined;
  if (connections === undefined) ctx.shared.set('redis', (connections = new RedisConnections()));
  return { connections };
}

/** A Redis broker per URL (a new broker each time, unlike `memory://`; its command connection shared with the app's backend on the same server). */
const redisBroker = (url: string, ctx: TransportContext) => new RedisBroker(url, { ...redisBrokerOptions(ctx), ...redisConnections(ctx) });
/** A Redis backend per URL; it connects lazily. Revoke expiry uses the Redis server's clock. */
const redisBackend = (url: string, ctx: TransportContext) => new RedisBackend({ ...redisBackendOptions(url, ctx), ...redisConnections(ctx) });

/** The URL schemes Celeriac knows. */
export const defaultTransports: TransportTable = Object.freeze({
  brokers: Object.freeze({
    memory: (_url: string, ctx: TransportContext) => {
      if (sharedBroker === undefined || sharedBroker.state === 'closed') sharedBroker = new MemoryBroker({ clock: ctx.clock });
      return sharedBroker;
    },
    redis: redisBroker,
    rediss: redisBroker,
    sentinel: redisBroker,
    'redis+sentinel': redisBroker,
    amqp: amqpBroker,
    amqps: amqpBroker,
    pyamqp: amqpBroker,
  }),
  backends: Object.freeze({
    memory: (_url: string, ctx: TransportContext) => {
      if (sharedBackend === undefined || sharedBackend.state === 'closed') sharedBackend = new MemoryBackend({ clock: ctx.clock });
      return sharedBackend;
    },
    redis: redisBackend,
    rediss: redisBackend,
    sentinel: redisBackend,
    'redis+sentinel': redisBackend,
    rpc: (_url: string, ctx: TransportContext) =>
      new RpcBackend({
        brokerUrl: ctx.brokerUrl, replyTo: ctx.replyTo, resultExpiresSec: ctx.resultExpiresSec, log: ctx.log,
        ...amqpLogin(ctx),
        // It rides on the broker's connection settings: the same wait for a connection.
        ...(typeof ctx.transportOptions['connectWaitMs'] === 'number' ? { connectWaitMs: ctx.transportOptions['connectWaitMs'] } : {}),
        ...('replyTimeoutMs' in ctx.transportOptions ? { replyTimeoutMs: ctx.transportOptions['replyTimeoutMs'] as number } : {}),
      }),
  }),
});
