/**
 * A revoke of many ids at once, against running workers. The revoke reaches them in two
 * messages: the backend's notice and Celery's `revoke` broadcast. Each was one message for all
 * the ids (39 and 53 bytes an id), and Redis drops a subscriber whose output buffer passes its
 * pub/sub hard limit (32 MB by default: a million ids). Every worker's subscribers were
 * disconnected, both messages were lost, and the workers ran the revoked tasks until their next
 * 30 s read of the stored revokes. Here the limit is lowered to 1 MB on a redis-server of the
 * test's own, so that 30,000 ids are past it in one message and under it in batches
 * (core/spi/roles.ts, REVOKE_BATCH).
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker } from '../../src/index.js';
import { freePort, RedisServerProcess, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('redis: a revoke of many ids');

describe.runIf(ready)('redis: a revoke of many ids at once', () => {
  let server: RedisServerProcess;

  beforeAll(async () => {
    server = new RedisServerProcess(await freePort(), ['--client-output-buffer-limit', 'pubsub 1mb 512kb 60']);
    await server.start();
  }, 30_000);

  afterAll(async () => {
    await server?.kill();
  }, 30_000);

  it('reaches a running worker: the newest revoked id is skipped at once, not after the next 30 s read', async () => {
    const app = createApp({ broker: server.url, backend: server.url }, { env: {}, logger: pino({ level: 'silent' }) });
    const ran: string[] = [];
    const task = app.task('rb.task', { bind: true }, (ctx) => {
      ran.push(ctx.request.id);
      return 1;
    });
    const worker = new Worker(app, { concurrency: 2 });
    await worker.start();
    try {
      const ids = Array.from({ length: 30_000 }, () => randomUUID());
      await app.groupResult(randomUUID(), ids.map((id) => app.asyncResult(id))).revoke();
      const last = ids[ids.length - 1] as string;
      const result = await task.applyAsync([], { taskId: last });
      expect(await result.get({ timeoutMs: 10_000, propagate: false })).toMatchObject({ name: 'TaskRevokedError' });
      expect(await result.state()).toBe('REVOKED');
      expect(ran).toEqual([]);
    } finally {
      await worker.close();
      await app.close();
    }
  }, 60_000);
});
