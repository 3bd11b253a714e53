/**
 * @module transports
 * The edge that maps URL schemes to adapters (DESIGN §1: only edges choose adapters).
 * Libraries below receive adapters; `createApp` from the public index uses this table.
 */
import { MemoryBackend } from './backends/memory/memory-backend.js';
import { RedisBackend } from './backends/redis/redis-backend.js';
import { MemoryBroker } from './brokers/memory/memory-broker.js';
import { RedisBroker } from './brokers/redis/redis-broker.js';
import type { TransportContext, TransportTable } from './core/transports.js';

/**
 * One memory broker and one memory backend per process, so that every app created with
 * `memory://` in this process shares them (a producer app and a worker app talk).
 */
let sharedBroker: MemoryBroker | undefined;
let sharedBackend: MemoryBackend | undefined;

/** A Redis broker per URL (a new connection each time, unlike `memory://`). */
const redisBroker = (url: string, ctx: TransportContext) => new RedisBroker(url, { clock: ctx.clock });

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
  }),
  backends: Object.freeze({
    memory: (_url: string, ctx: TransportContext) => {
      if (sharedBackend === undefined || sharedBackend.state === 'closed') sharedBackend = new MemoryBackend({ clock: ctx.clock });
      return sharedBackend;
    },
    // A Redis backend per URL; it connects lazily. Revoke expiry uses the Redis server's clock.
    redis: (url: string) => new RedisBackend({ url }),
    rediss: (url: string) => new RedisBackend({ url }),
    sentinel: (url: string) => new RedisBackend({ url }),
    'redis+sentinel': (url: string) => new RedisBackend({ url }),
  }),
});
