/**
 * The heartbeat example against a real Redis: a worker and a beat (as `worker -B` runs them)
 * with a one-second schedule; the counter grows and every run logs one structured line with
 * the count and the task id. Keys under a random prefix, deleted afterwards.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { Worker } from 'celeriac';
import { Beat } from 'celeriac/beat';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../../packages/celeriac/test/support/redis.js';
import { createHeartbeatApp } from './app.js';

const ready = await shouldRunRedisTests('examples/heartbeat');
const prefix = randomKeyPrefix();

describe.runIf(ready)('examples/heartbeat', () => {
  afterAll(async () => {
    await deleteKeys(prefix);
  });

  it('counts in Redis and logs one line per run with the count and the task id', async () => {
    const lines: { msg?: string; heartbeat?: number; taskId?: string; entry?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as (typeof lines)[number]);
        done();
      },
    });
    const counterKey = `${prefix}heartbeat:count`;
    const { app, close } = createHeartbeatApp({
      redisUrl: `${REDIS_URL}?global_keyprefix=${encodeURIComponent(prefix)}`,
      everySec: 1,
      counterKey,
      appOptions: { env: {}, logger: pino({ level: 'info' }, sink) },
    });
    const worker = new Worker(app, { concurrency: 2 });
    const beat = new Beat(app);
    const counter = createClient({ url: REDIS_URL });
    await counter.connect();
    try {
      await worker.start();
      await beat.start();
      const deadline = Date.now() + 30_000;
      while (Number((await counter.get(counterKey)) ?? 0) < 3) {
        if (Date.now() > deadline) throw new Error(`counter stuck at ${String(await counter.get(counterKey))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await beat.close();
      await worker.close({ deadlineMs: 5000 });
      await close();
    }
    const count = Number(await counter.get(counterKey));
    counter.destroy();
    const beats = lines.filter((l) => l.msg === 'heartbeat');
    expect(beats.map((l) => l.heartbeat)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    const sent = lines.filter((l) => l.msg === 'beat: sent due task' && l.entry === 'heartbeat').map((l) => l.taskId);
    expect(beats.map((l) => l.taskId)).toEqual(sent.slice(0, count));
    expect(new Set(sent).size).toBe(sent.length);
  }, 60_000);
});
