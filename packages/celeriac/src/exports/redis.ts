/**
 * The Redis broker and result backend, for building them yourself (custom options, an
 * injected clock). `createApp({ broker: 'redis://...' })` builds them from URLs already.
 *
 * @module celeriac/redis
 */
export { RedisBroker } from '../brokers/redis/redis-broker.js';
export type { RedisBrokerOptions } from '../brokers/redis/options.js';
export { RedisBackend } from '../backends/redis/redis-backend.js';
export type { RedisBackendOptions } from '../backends/redis/redis-backend.js';
// One command connection for a broker and a backend built by hand on the same server, as
// createApp shares its own: pass the same instance as `connections` to both.
export { RedisConnections } from '../redis/shared-commands.js';
export type { CommandConnection } from '../redis/shared-commands.js';
export type { CommandClient, GuardedRedisClient, GuardedRedisClientOptions } from '../redis/guarded-client.js';

// The Redis layout and connections, for tools that read a cluster's Redis themselves (the
// dashboard's queue depths and result backfill): one definition, the engine's.
export { BackendKeys, BrokerKeys, PRIORITY_STEPS, resultKeyPrefix, scanPattern, SEP, stepOf, TASK_META_PREFIX } from '../redis/keys.js';
export type { PriorityStep } from '../redis/keys.js';
export { kombuUrlDefaults, parseRedisUrl } from '../redis/url.js';
export { waitingSince } from '../brokers/redis/queue-age.js';
export type { RedisTarget, RedisUrlDefaults } from '../redis/url.js';
export { closeRedisClient, createRedisClient } from '../redis/client.js';
export type { RedisClient, RedisClientOptions } from '../redis/client.js';
export type { TransportLog, TransportLogFields } from '../core/transport-table.js';
