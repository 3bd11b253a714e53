/**
 * Countdown / ETA tasks sent by Celeriac to queues that Python Celery 5.2.6 workers consume
 * (issue 3: nothing may be stranded in celeriac.delayed, which only Celeriac reads):
 * - with no Celeriac worker on that Redis, the message goes to the queue with its eta header
 *   and the Python worker runs it when due;
 * - with a Celeriac worker alive, it waits in celeriac.delayed and is promoted when due;
 * - when that last Celeriac worker shuts down before the ETA, the message is handed back to
 *   its queue and the Python worker runs it.
 * Each case runs once (py.count counts runs in Redis). Every describe has its own
 * global_keyprefix, so no other test's Celeriac worker counts as alive here.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker, type App } from 'celeriac';
import { shouldRunPythonTests } from '../support/python.js';
import { deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { startPythonWorker, type PyEnv } from './python.js';

const DB = 9;
const BASE = `redis://127.0.0.1:6379/${DB}`;
const ready = (await shouldRunRedisTests('interop: ETA')) && shouldRunPythonTests('interop: ETA');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Fleet {
  prefix: string;
  py: PyEnv;
  app: App;
  taskIds: string[];
  countKeys: string[];
}

function fleet(): Fleet {
  const prefix = `ieta-${randomUUID().slice(0, 8)}:`;
  const app = createApp(
    { broker: `${BASE}?global_keyprefix=${prefix}`, backend: BASE },
    { env: {}, logger: pino({ level: 'silent' }) },
  );
  return { prefix, py: { broker: BASE, backend: BASE, keyPrefix: prefix }, app, taskIds: [], countKeys: [] };
}

async function dispose(f: Fleet, raw: RedisClientType): Promise<void> {
  await f.app.close();
  await deleteKeys(f.prefix, BASE);
  await deleteResults(f.taskIds, BASE);
  if (f.countKeys.length > 0) await raw.del(f.countKeys);
}

/** Sends py.count(key) with a countdown; returns the result handle and the counter key. */
async function sendCount(f: Fleet, queue: string, countdown: number) {
  const key = `${f.prefix}runs:${randomUUID()}`;
  f.countKeys.push(key);
  const sentAt = Date.now();
  const r = await f.app.sendTask('py.count', [key], {}, { queue, countdown });
  f.taskIds.push(r.id);
  return { r, key, sentAt };
}

describe.runIf(ready)('Celeriac countdown to Python workers on Redis', () => {
  let raw: RedisClientType;

  beforeAll(async () => {
    raw = createClient({ url: BASE }) as RedisClientType;
    await raw.connect();
  });

  afterAll(async () => {
    await raw?.close();
  });

  it('with only a Python worker, a countdown task is queued with its eta and runs once when due', async () => {
    const f = fleet();
    const pyWorker = await startPythonWorker(f.py, { queues: ['pyeta'], name: `py-eta1-${process.pid}@%h` });
    try {
      const { r, key, sentAt } = await sendCount(f, 'pyeta', 2);
      expect(await raw.zCard(`${f.prefix}celeriac.delayed`)).toBe(0);
      expect(await r.get({ timeout: 30_000 })).toBe(1);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1900);
      await sleep(1500);
      expect(await raw.get(key)).toBe('1');
      expect(await raw.zCard(`${f.prefix}celeriac.delayed`)).toBe(0);
    } finally {
      await pyWorker.stop();
      await dispose(f, raw);
    }
  }, 60_000);

  it('with a Celeriac worker alive, it waits in celeriac.delayed, then a Python worker runs it once', async () => {
    const f = fleet();
    const worker = new Worker(f.app, { queues: ['ts-idle'], concurrency: 1, hostname: `ts-eta2-${process.pid}@%h` });
    const pyWorker = await startPythonWorker(f.py, { queues: ['pyeta'], name: `py-eta2-${process.pid}@%h` });
    try {
      await worker.start();
      await waitForPromoter(raw, f.prefix);
      const { r, key, sentAt } = await sendCount(f, 'pyeta', 2);
      const members = await raw.zRange(`${f.prefix}celeriac.delayed`, 0, -1);
      expect(members.map((m) => (JSON.parse(m) as string[])[0])).toEqual([`${f.prefix}pyeta`]);
      expect(JSON.parse((JSON.parse(members[0] as string) as string[])[1] as string)).toMatchObject({ headers: { id: r.id } });
      expect(await raw.lLen(`${f.prefix}pyeta`)).toBe(0);
      expect(await r.get({ timeout: 30_000 })).toBe(1);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1900);
      await sleep(1500);
      expect(await raw.get(key)).toBe('1');
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await pyWorker.stop();
      await dispose(f, raw);
    }
  }, 60_000);

  it('when the last Celeriac worker shuts down before the ETA, the message goes to its queue and Python runs it once', async () => {
    const f = fleet();
    const workerApp = createApp(
      { broker: `${BASE}?global_keyprefix=${f.prefix}`, backend: BASE },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    const worker = new Worker(workerApp, { queues: ['ts-idle'], concurrency: 1, hostname: `ts-eta3-${process.pid}@%h` });
    const pyWorker = await startPythonWorker(f.py, { queues: ['pyeta'], name: `py-eta3-${process.pid}@%h` });
    try {
      await worker.start();
      await waitForPromoter(raw, f.prefix);
      const { r, key, sentAt } = await sendCount(f, 'pyeta', 4);
      expect(await raw.zCard(`${f.prefix}celeriac.delayed`)).toBe(1);
      await worker.close({ deadlineMs: 2000 });
      await workerApp.close();
      expect(await raw.zCard(`${f.prefix}celeriac.delayed`)).toBe(0);
      expect(await r.get({ timeout: 30_000 })).toBe(1);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(3900);
      await sleep(1500);
      expect(await raw.get(key)).toBe('1');
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await workerApp.close();
      await pyWorker.stop();
      await dispose(f, raw);
    }
  }, 60_000);
});

/** Waits until a Celeriac broker under `prefix` advertised itself as an ETA promoter. */
async function waitForPromoter(raw: RedisClientType, prefix: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await raw.zCard(`${prefix}celeriac.promoters`)) === 0) {
    if (Date.now() > deadline) throw new Error('no Celeriac worker advertised itself within 10 s');
    await sleep(20);
  }
}
