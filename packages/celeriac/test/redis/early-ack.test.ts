/**
 * Early acks on a real Redis: as in Celery, where the pool's child runs the task while the
 * worker acks it, the task body runs while its ack is still on its way; the message leaves
 * kombu's `unacked` once the ack is in, and the delivery is handled only then.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, Worker } from 'celeriac';
import { deleteKeys, deleteResults, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('early ack on Redis');

describe.runIf(ready)('early ack on Redis', () => {
  const prefix = `eack-${randomUUID().slice(0, 8)}:`;
  const app = createApp({ broker: `${REDIS_URL}?global_keyprefix=${prefix}`, backend: REDIS_URL }, { env: {}, logger: pino({ level: 'silent' }) });
  const ids: string[] = [];
  /** HLEN of this prefix's `unacked`, read synchronously (redis-cli), so nothing else runs meanwhile. */
  const heldNow = () => Number(execFileSync('redis-cli', ['-u', REDIS_URL, 'HLEN', `${prefix}unacked`], { encoding: 'utf8' }).trim());

  afterAll(async () => {
    await app.close();
    await deleteKeys(prefix);
    await deleteResults(ids);
  });

  it('the body runs before its ack reaches Redis; the message leaves unacked once the ack is in', async () => {
    const seen: number[] = [];
    const probe = app.task('eack.probe', () => {
      seen.push(heldNow());
      return 'ok';
    });
    const worker = new Worker(app, { concurrency: 1 });
    await worker.start();
    try {
      const r = await probe.delay();
      ids.push(r.id);
      expect(await r.get({ timeoutMs: 5000 })).toBe('ok');
      // Fetched and recorded as held, its ack not applied yet, when the body ran.
      expect(seen).toEqual([1]);
      await waitFor(() => heldNow() === 0 && worker.active === 0, () => `the ack applied and the slot free (held ${heldNow()}, active ${worker.active})`);
    } finally {
      await worker.close();
    }
  });
});
