/**
 * The round trip's floor on Celery's layout, producer side (the worker runs in
 * peers/layout-floor-worker.ts): lib/subscribe-first.ts's client, one write per call, the result
 * as a push. Not a peer: what any worker keeping Celery's Redis layout (and Python interop) and
 * the engine's scripts needs at least, timed as the peers' round trips are (lib/flow.ts
 * runRoundTrip: the same warm-up, the same CPU columns). bench/rt-floor.ts and `npm run bench`
 * run it.
 */
import { createApp } from 'celeriac';
import { runRoundTrip } from '../lib/flow.js';
import { startNodeWorker } from '../lib/proc.js';
import { adminClient, deleteByPrefix, deleteKeys } from '../lib/redis.js';
import { subscribeFirstClient } from '../lib/subscribe-first.js';
import type { BenchContext, RoundTripResult } from '../lib/types.js';
import { celeriacUrls, NOOP_TASK } from './celeriac-shared.js';

const QUEUE = 'bench';

/** n round trips against the floor's worker (-c 10, as the peers'); every key it made is deleted. */
export async function layoutFloorRoundTrip(ctx: BenchContext, n: number): Promise<RoundTripResult> {
  const prefix = `${ctx.runPrefix}floor:`;
  const env = { host: ctx.redisHost, port: ctx.redisPort, db: ctx.redisDb, prefix, queue: QUEUE, concurrency: 10 };
  const urls = celeriacUrls(env);
  const app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: QUEUE });
  const admin = adminClient(ctx);
  let client: Awaited<ReturnType<typeof subscribeFirstClient>> | undefined;
  try {
    await app.broker.connect();
    client = await subscribeFirstClient({ host: ctx.redisHost, port: ctx.redisPort, prefix, queue: QUEUE, task: app.task(NOOP_TASK, () => null), admin });
    const caller = client;
    return await runRoundTrip(ctx, n, {
      startWorker: () => startNodeWorker('layout-floor', env),
      call: () => caller.call(),
      cleanup: async () => {
        await deleteByPrefix(admin, prefix);
        await deleteKeys(admin, caller.resultKeys);
      },
    });
  } finally {
    await client?.close();
    await app.close();
    admin.disconnect();
  }
}
