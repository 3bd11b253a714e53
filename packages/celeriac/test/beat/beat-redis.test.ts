/**
 * An in-process Beat on a real Redis: dynamic entries changed from another app (another
 * connection) are picked up without a restart, and a Python Celery worker runs a task beat
 * sent (beat sends ordinary task messages). Keys under a random global_keyprefix.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/index.js';
import { Beat, BeatEntries } from '../../src/exports/beat.js';
import { plainClient } from '../failure/support.js';
import { waitFor } from 'celeriac/testing';
import { describeOracles } from '../support/oracles.js';
import { shouldRunPythonTests } from '../support/python.js';
import { startPythonWorker, type PyWorker } from '../interop/python.js';
import { deleteKeys, deleteResults, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';
import { decodeRuns } from './support.js';

const ready = await shouldRunRedisTests('beat on Redis');
const pythonReady = ready && shouldRunPythonTests('beat -> Python worker');
const prefix = randomKeyPrefix();
const brokerUrl = `${REDIS_URL}?global_keyprefix=${encodeURIComponent(prefix)}`;
const taskIds: string[] = [];

/** Log lines of the beat under test, parsed. */
const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
    done();
  },
});

function makeApp(logged = false): App {
  return createApp(
    { broker: brokerUrl, backend: REDIS_URL, beatLeaseTtlSec: 3, beatMaxLoopIntervalSec: 1 },
    { env: {}, logger: pino({ level: logged ? 'info' : 'silent' }, logged ? sink : undefined) },
  );
}

describe.runIf(ready)('Beat on Redis, in process', () => {
  let raw: RedisClientType;
  let app: App;
  let control: App;
  let beat: Beat;

  beforeAll(async () => {
    raw = await plainClient(REDIS_URL);
    app = makeApp(true);
    control = makeApp();
    beat = new Beat(app);
    await beat.start();
  });
  afterAll(async () => {
    await beat?.close();
    await Promise.all([app?.close(), control?.close()]);
    await deleteKeys(prefix);
    // Every run beat sent to the Python worker left a result.
    for (const l of lines) if (l['entry'] === 'py-add' && typeof l['taskId'] === 'string') taskIds.push(l['taskId']);
    await deleteResults(taskIds);
    raw?.destroy();
  }, 30_000);

  const runsOf = async (queue: string) => decodeRuns(await raw.lRange(`${prefix}${queue}`, 0, -1));

  it('dynamic entries: add, change, pause, resume and remove without a restart', async () => {
    const entries = new BeatEntries(control);
    await entries.set('dyn', { task: 'dyn.first', schedule: 1, options: { queue: 'dyn' } });
    await waitFor(async () => (await runsOf('dyn')).length >= 2, 'dyn sent twice', 15_000);
    await entries.set('dyn', { task: 'dyn.second', schedule: 1, options: { queue: 'dyn' } });
    await waitFor(async () => (await runsOf('dyn')).some((r) => r.task === 'dyn.second'), 'the changed task sent', 15_000);
    // That a paused or removed entry is no longer sent is checked without waiting out real
    // seconds in src/beat/beat.test.ts (fake clock); here, that the Redis store keeps the
    // state a running beat reads.
    await entries.pause('dyn');
    expect((await entries.list()).find((e) => e.name === 'dyn')).toMatchObject({ paused: true, source: 'dynamic' });
    await entries.resume('dyn');
    const resumedAt = (await runsOf('dyn')).length;
    await waitFor(async () => (await runsOf('dyn')).length > resumedAt, 'sent again after resume', 15_000);
    expect(await entries.remove('dyn')).toBe(true);
    expect(await entries.list()).toEqual([]);
  }, 60_000);

  describeOracles('interop', (oracle) => {
    let py: PyWorker;
    beforeAll(async () => {
      py = await startPythonWorker({ broker: REDIS_URL, backend: REDIS_URL, keyPrefix: prefix, oracle }, { queues: ['py-beat'] });
    }, 60_000);
    afterAll(async () => {
      await py?.stop();
    }, 30_000);

    it('a Python Celery worker runs a task beat sent, and beat logs one line per run with its task id', async () => {
      await new BeatEntries(control).set('py-add', { task: 'py.add', schedule: 1, args: [20, 22], options: { queue: 'py-beat', priority: 5, expires: 30 } });
      const sentLine = () => lines.find((l) => l['msg'] === 'beat: sent due task' && l['entry'] === 'py-add');
      await waitFor(() => sentLine() !== undefined, 'a beat-sent py.add', 15_000);
      const line = sentLine() as { taskId: string; slot: string; runCount: number };
      taskIds.push(line.taskId);
      expect(line.runCount).toBeGreaterThanOrEqual(1);
      const result = await app.asyncResult<number>(line.taskId).get({ timeoutMs: 20_000 });
      expect(result).toBe(42);
      await new BeatEntries(control).remove('py-add');
    }, 60_000);
  }, pythonReady);
});
