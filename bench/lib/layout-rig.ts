/**
 * What bench/layout-floor.ts and bench/script-cost.ts drive Celery's Redis layout with, below
 * any worker: the broker's own typed transitions and key names (internals, not the public API,
 * loaded from the built package, so a changed script argument fails here as in the worker), an
 * app on a fresh global_keyprefix that sends no-op tasks and owns the result backend, a raw
 * client for the transitions, and an ioredis admin client for the server's CPU.
 * `close()` deletes every key the run made (the prefix's, and the result keys by exact name).
 */
import { createApp } from 'celeriac';
import { Redis } from 'ioredis';
import type { Transitions } from '../../packages/celeriac/dist/brokers/redis/transitions.js';
import type { BrokerKeys } from '../../packages/celeriac/dist/redis/keys.js';
import { fillNoops } from './flow.js';
import { layoutInternals } from './layout-internals.js';
import { deleteByPrefix, deleteKeys } from './redis.js';

/** Where a rig runs, and the name its keys and client carry. */
export interface LayoutRigOptions {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly db: number;
}

/** Opens a rig; see the module comment. */
export async function openLayoutRig(o: LayoutRigOptions) {
  const internals = await layoutInternals();
  const { createRedisClient, closeRedisClient, parseRedisUrl } = internals;
  const prefix = `celeriac-bench:${o.name}-${Math.random().toString(36).slice(2, 10)}:`;
  const base = `redis://${o.host}:${o.port}/${o.db}`;
  const url = `${base}?global_keyprefix=${encodeURIComponent(prefix)}`;
  const app = createApp({ broker: url, backend: base, logLevel: 'warn', taskDefaultQueue: 'bench' });
  const noop = app.task('bench.noop', () => null);
  const redis = new Redis({ host: o.host, port: o.port, db: o.db });
  const target = parseRedisUrl(url);
  const client = createRedisClient(target, { name: `celeriac-${o.name}` });
  const keys: BrokerKeys = new internals.BrokerKeys(target.transportOptions.globalKeyprefix, target.db);
  const resultKeys: string[] = [];
  return {
    app,
    redis,
    keys,
    /** Result keys of every task sent so far. */
    resultKeys: resultKeys as readonly string[],
    /** The broker's transitions on the rig's client; `holder` '' writes no running records. */
    transitions: (holder: string): Transitions => new internals.Transitions((fn) => fn(client), keys, holder),
    async connect(): Promise<void> {
      await app.broker.connect();
      await app.backend.connect?.();
      await client.connect();
    },
    /** Sends `n` no-op tasks to the queue `bench`, in bulk; their ids. */
    async fill(n: number): Promise<string[]> {
      const ids = await fillNoops(noop, n);
      resultKeys.push(...ids.map((id) => `celery-task-meta-${id}`));
      return ids;
    },
    async close(): Promise<void> {
      await deleteByPrefix(redis, prefix);
      await deleteKeys(redis, resultKeys);
      await redis.quit();
      await closeRedisClient(client);
      await app.close();
    },
  };
}
