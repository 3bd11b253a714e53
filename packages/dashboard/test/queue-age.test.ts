/**
 * Queue age on real Redis (issue 48 point 6): Celery's messages carry no send time, but the
 * Redis broker's delivery tags are uuid7, whose first 48 bits are the time of the send. The
 * dashboard reads the next message of each priority list (LINDEX -1) and exports the age of
 * the oldest as `flower_queue_age_seconds{queue}` and `age` in /api/broker. Messages sent by
 * Python Celery (kombu writes uuid4 tags) tell no time: a queue of them has no age series, and
 * in a queue that mixes both the age is a lower bound from the Celeriac-sent ones.
 * The producer runs on a FakeClock two minutes behind, so the age is two minutes and more.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from 'celeriac';
import { FakeClock, waitFor } from 'celeriac/testing';
import { deleteKeys, shouldRunRedisTests } from '../../celeriac/test/support/redis.js';
import { shouldRunPythonTests } from '../../celeriac/test/support/python.js';
import { PY_CLIENT, runPython } from '../../celeriac/test/interop/python.js';
import { startDashboard, type RunningDashboard } from '../src/dashboard.js';
import { queueReaderFor, type QueueReader } from '../src/ingest/queues.js';
import { PG_URL, postgresReady } from './support/cluster.js';

const ready = (await shouldRunRedisTests('dashboard: queue age')) && (await postgresReady('dashboard: queue age'));
const python = ready && shouldRunPythonTests('dashboard: queue age of Python-sent messages');

describe.runIf(ready)('queue age from the delivery tags of waiting messages', () => {
  const prefix = `qage-${randomUUID().slice(0, 8)}:`;
  const redis = 'redis://127.0.0.1:6379/10';
  const url = `${redis}?global_keyprefix=${prefix}`;
  const schema = `dash_qage_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const start = Date.now() - 120_000;
  const clock = new FakeClock(start);
  const silent = pino({ level: 'silent' });
  let producer: App;
  let dashApp: App;
  let dash: RunningDashboard;
  let reader: QueueReader;

  /** The value of `series{queue="<queue>"}` in the dashboard's /metrics, or undefined. */
  const scrape = async (series: string, queue: string) => {
    const text = await (await fetch(`${dash.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series}{queue="${queue}"} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };

  beforeAll(async () => {
    producer = createApp({ broker: url }, { env: {}, clock, logger: silent });
    dashApp = createApp({ broker: url }, { env: {}, logger: silent });
    reader = queueReaderFor(url, producer.broker);
    dash = await startDashboard({
      app: dashApp, port: 0, address: '127.0.0.1', dataDir: null, databaseUrl: PG_URL, storeOptions: { schema }, backfill: 0, unauthenticatedApi: true,
      ingest: { inspectIntervalMs: 60_000, queuePollMs: 200, enableEventsMs: 0, flushMs: 50, inspectTimeoutMs: 200, queues: ['qa', 'qempty', 'qpy', 'qmix'] },
    });
  }, 60_000);

  afterAll(async () => {
    await dash?.close();
    await reader?.close();
    await Promise.all([producer?.close(), dashApp?.close()]);
    await deleteKeys(prefix, redis);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
  }, 30_000);

  it('reads the earliest send time over the priority lists of a queue; an empty queue has none', async () => {
    await producer.sendTask('t.qa', [], {}, { queue: 'qa', priority: 9 });
    clock.advance(30_000);
    await producer.sendTask('t.qa', [], {}, { queue: 'qa', priority: 0 });
    // Bulk sends (sendTasks: one pipeline) write the same tags.
    await producer.sendTasks([{ name: 't.qa', options: { queue: 'qa', priority: 0 } }, { name: 't.qa', options: { queue: 'qbulk' } }]);
    expect(await reader.lengths(['qa', 'qempty', 'qbulk'])).toEqual([
      { name: 'qa', messages: 3, priorities: { 0: 2, 3: 0, 6: 0, 9: 1 }, waitingSince: start },
      { name: 'qempty', messages: 0, priorities: { 0: 0, 3: 0, 6: 0, 9: 0 }, waitingSince: null },
      { name: 'qbulk', messages: 1, priorities: { 0: 1, 3: 0, 6: 0, 9: 0 }, waitingSince: start + 30_000 },
    ]);
  });

  it('exports flower_queue_age_seconds and /api/broker age; no age series for an empty queue', async () => {
    const age = await waitFor(() => scrape('flower_queue_age_seconds', 'qa'), 'the age of qa in /metrics', 10_000);
    expect(age).toBeGreaterThanOrEqual(120);
    expect(age).toBeLessThanOrEqual((Date.now() - start) / 1000);
    expect(await scrape('flower_queue_length', 'qempty')).toBe(0);
    expect(await scrape('flower_queue_age_seconds', 'qempty')).toBeUndefined();
    const broker = (await (await fetch(`${dash.url}/api/broker`)).json()) as { queues: { name: string; age: number | null }[] };
    const byName = Object.fromEntries(broker.queues.map((q) => [q.name, q.age]));
    expect(byName['qa']).toBeGreaterThanOrEqual(120);
    expect(byName['qempty']).toBeNull();
  });

  it.runIf(python)('tells no age for messages Python Celery sent; a queue mixing both gets the Celeriac-sent lower bound', async () => {
    await runPython({ broker: redis, backend: redis, keyPrefix: prefix }, `${PY_CLIENT}
app.send_task('t.py', queue='qpy')
app.send_task('t.py', queue='qmix', priority=0)
`);
    // The Python message is next out of qmix's priority-0 list; the Celeriac one waits in the priority-9 list.
    await producer.sendTask('t.qa', [], {}, { queue: 'qmix', priority: 9 });
    const [qpy, qmix] = await reader.lengths(['qpy', 'qmix']);
    expect(qpy).toMatchObject({ messages: 1, waitingSince: null });
    expect(qmix).toMatchObject({ messages: 2, priorities: { 0: 1, 3: 0, 6: 0, 9: 1 }, waitingSince: start + 30_000 });
    await waitFor(async () => (await scrape('flower_queue_length', 'qpy')) === 1 && (await scrape('flower_queue_age_seconds', 'qmix')) !== undefined, 'qpy and qmix in /metrics', 10_000);
    expect(await scrape('flower_queue_age_seconds', 'qpy')).toBeUndefined();
    expect(await scrape('flower_queue_age_seconds', 'qmix')).toBeGreaterThanOrEqual(90);
  }, 60_000);
});
