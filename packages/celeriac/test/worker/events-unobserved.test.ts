/**
 * A worker with task events on (`-E`) on the real Redis: while no monitor subscribes to the
 * event channels, it publishes a task.multi batch or two per QUIET_EVENTS_MS (each PUBLISH
 * answers how many subscribers it reached: none), not one or more per task; a monitor that subscribes
 * gets every event of the tasks sent once the worker has asked again (within a quiet period or so).
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, Worker, type App } from 'celeriac';
import { RedisBackend, RedisBroker } from 'celeriac/redis';
import { EVENT_EXCHANGE, decodeEventEnvelope, type EventDict } from '../../src/protocol/events.js';
import { QUIET_EVENTS_MS } from '../../src/worker/events/event-dispatcher.js';
import { deleteKeys, REDIS_URL, randomKeyPrefix, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('task events while nobody listens');
const prefix = randomKeyPrefix();
const queue = `q-${randomUUID().slice(0, 8)}`;
const apps: App[] = [];
const workers: Worker[] = [];

function makeApp(): App {
  const broker = new RedisBroker(`${REDIS_URL}?global_keyprefix=${prefix}`, { pollIntervalMs: 20 });
  const backend = new RedisBackend({ url: REDIS_URL, keyPrefix: prefix });
  const app = createApp({ taskDefaultQueue: queue }, { broker, backend, env: {}, logger: pino({ level: 'silent' }) });
  apps.push(app);
  return app;
}

afterAll(async () => {
  for (const w of workers) await w.close({ deadlineMs: 1000 });
  for (const app of apps) await app.close();
  if (ready) await deleteKeys(prefix);
}, 30_000);

describe.runIf(ready)('task events while nobody listens (Redis)', () => {
  it('publishes a batch per quiet period while unobserved, and everything again once a monitor subscribes', async () => {
    const app = makeApp();
    const add = app.task('ev.add', (x: number, y: number) => x + y);
    const batches: number[] = [];
    const publish = app.broker.publishFanout.bind(app.broker);
    app.broker.publishFanout = async (exchange, routingKey, raw) => {
      const reached = await publish(exchange, routingKey, raw);
      if (routingKey === 'task.multi') batches.push(Number(reached));
      return reached;
    };
    const worker = new Worker(app, { hostname: `ev-${randomUUID().slice(0, 6)}@test`, concurrency: 4, queues: [queue], sendTaskEvents: true });
    workers.push(worker);
    await worker.start();

    // Unobserved: 40 tasks one after the other, each a few turns of the event loop apart.
    const started = performance.now();
    for (let i = 0; i < 40; i++) expect(await (await add.delay(i, 1)).get({ timeoutMs: 5000 })).toBe(i + 1);
    const periods = (performance.now() - started) / QUIET_EVENTS_MS;
    expect(batches.every((n) => n === 0)).toBe(true);
    expect(batches.length).toBeGreaterThanOrEqual(1);
    // One per period, or two when the next flush comes before the answer to the last one.
    expect(batches.length).toBeLessThanOrEqual(2 * Math.ceil(periods) + 2);

    // A monitor on its own connection subscribes: within a quiet period or so the worker asks
    // again and finds it (one task sent after another until one shows all three events).
    const monitor = makeApp();
    const events: EventDict[] = [];
    const stop = await monitor.broker.subscribeFanout(EVENT_EXCHANGE, 'task.#', (raw) => events.push(...decodeEventEnvelope(raw)));
    const types = (id: string) => events.filter((e) => e['uuid'] === id).map((e) => e.type);
    const probes: string[] = [];
    await waitFor(
      async () => {
        const r = await add.delay(0, 0);
        await r.get({ timeoutMs: 5000 });
        probes.push(r.id);
        return probes.some((id) => types(id).length === 3);
      },
      'a task with all its events at the monitor',
      10 * QUIET_EVENTS_MS,
    );
    // From then on, every task is seen.
    const sent: Awaited<ReturnType<typeof add.delay>>[] = [];
    for (let i = 0; i < 5; i++) sent.push(await add.delay(100, i));
    for (const r of sent) await r.get({ timeoutMs: 5000 });
    await waitFor(() => sent.every((r) => types(r.id).length === 3), () => `three events per task (got ${sent.map((r) => types(r.id).length).join(', ')})`, 5000);
    for (const r of sent) expect(types(r.id)).toEqual(['task-received', 'task-started', 'task-succeeded']);
    expect(batches.at(-1)).toBeGreaterThanOrEqual(1);
    await stop();
  });
});
