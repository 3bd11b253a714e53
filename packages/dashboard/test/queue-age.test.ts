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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from 'celeriac';
import { waitFor, type FakeClock } from 'celeriac/testing';
import { deleteKeys, shouldRunRedisTests } from '../../celeriac/test/support/redis.js';
import { shouldRunPythonTests } from '../../celeriac/test/support/python.js';
import { PY_CLIENT, runPython } from '../../celeriac/test/interop/python.js';
import type { RunningDashboard } from '../src/dashboard.js';
import type { QueueReader } from '../src/ingest/queues.js';
import { postgresReady } from './support/cluster.js';
import { startQueueAgeRig, type QueueAgeRig } from './support/queue-age.js';

const ready = (await shouldRunRedisTests('dashboard: queue age')) && (await postgresReady('dashboard: queue age'));
const python = ready && shouldRunPythonTests('dashboard: queue age of Python-sent messages');

describe.runIf(ready)('queue age from the delivery tags of waiting messages', () => {
  const prefix = `qage-${randomUUID().slice(0, 8)}:`;
  const redis = 'redis://127.0.0.1:6379/10';
  const url = `${redis}?global_keyprefix=${prefix}`;
  let rig: QueueAgeRig;
  let start = 0;
  let clock: FakeClock;
  let producer: App;
  let dash: RunningDashboard;
  let reader: QueueReader;
  const scrape = (series: string, queue: string) => rig.scrape(series, queue);

  beforeAll(async () => {
    rig = await startQueueAgeRig(url, ['qa', 'qempty', 'qpy', 'qmix']);
    ({ start, clock, producer, dash, reader } = rig);
  }, 60_000);

  afterAll(async () => {
    await rig?.close();
    await deleteKeys(prefix, redis);
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
