/**
 * The engine's internals that the layout floors drive Celery's Redis layout with, loaded from
 * the built package (not the public API): the broker's typed transitions and key names, the
 * Redis client and URL parser, and the result backend with the command connections it can
 * share, and the consumer's turn wait. Loaded from dist, so a changed script argument fails a floor as it fails the worker.
 * Imports nothing of the harness: a worker child (peers/layout-floor-worker.ts) loads it too.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TransitionsModule from '../../packages/celeriac/dist/brokers/redis/transitions.js';
import type * as KeysModule from '../../packages/celeriac/dist/redis/keys.js';
import type * as ClientModule from '../../packages/celeriac/dist/redis/client.js';
import type * as UrlModule from '../../packages/celeriac/dist/redis/url.js';
import type * as SharedModule from '../../packages/celeriac/dist/redis/shared-commands.js';
import type * as BackendModule from '../../packages/celeriac/dist/backends/redis/redis-backend.js';
import type * as WakeupModule from '../../packages/celeriac/dist/brokers/redis/wakeup.js';

/** Loads the internals from the built `celeriac` package beside the bench. */
export async function layoutInternals() {
  const dist = join(dirname(createRequire(import.meta.url).resolve('celeriac/package.json')), 'dist');
  const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(dist, path)).href)) as T;
  const [{ Transitions }, { BrokerKeys }, client, { parseRedisUrl }, { RedisConnections }, { RedisBackend }, { nextTurn }] = await Promise.all([
    load<typeof TransitionsModule>('brokers/redis/transitions.js'),
    load<typeof KeysModule>('redis/keys.js'),
    load<typeof ClientModule>('redis/client.js'),
    load<typeof UrlModule>('redis/url.js'),
    load<typeof SharedModule>('redis/shared-commands.js'),
    load<typeof BackendModule>('backends/redis/redis-backend.js'),
    load<typeof WakeupModule>('brokers/redis/wakeup.js'),
  ]);
  return {
    Transitions,
    BrokerKeys,
    createRedisClient: client.createRedisClient,
    closeRedisClient: client.closeRedisClient,
    IDLE_PING_INTERVALS: client.IDLE_PING_INTERVALS,
    parseRedisUrl,
    RedisConnections,
    RedisBackend,
    nextTurn,
  };
}
