/**
 * @module celeriac/redis
 * The Redis broker and result backend, for building them yourself (custom options, an
 * injected clock). `createApp({ broker: 'redis://...' })` builds them from URLs already.
 */
export { RedisBroker } from '../brokers/redis/redis-broker.js';
export type { RedisBrokerOptions } from '../brokers/redis/options.js';
export { RedisBackend } from '../backends/redis/redis-backend.js';
export type { RedisBackendOptions } from '../backends/redis/redis-backend.js';
