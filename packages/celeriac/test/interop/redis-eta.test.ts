/**
 * Countdown / ETA tasks sent by Celeriac to queues that Python Celery workers (5.2, 5.6) consume
 * (issue 3: nothing may be stranded in celeriac.delayed, which only Celeriac reads):
 * - with no Celeriac worker on that Redis, the message goes to the queue with its eta header
 *   and the Python worker runs it when due;
 * - with a Celeriac worker alive, it waits in celeriac.delayed and is promoted when due;
 * - when that last Celeriac worker shuts down before the ETA, the message is handed back to
 *   its queue and the Python worker runs it.
 * The Celeriac worker runs on a FakeClock started at the real time: it promotes only when the
 * test moves its clock, so "before the ETA" does not depend on how fast the machine is.
 * Each case runs once (py.count counts runs in Redis; once a run is stored, nothing is left
 * delayed, queued or held that could run it again). The cases share one Python worker under a
 * global_keyprefix of their own, so no other file's Celeriac worker counts as alive here; each
 * case's Celeriac worker withdraws as promoter when it closes.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, Worker, type App } from 'celeriac';
import { FakeClock, waitFor } from 'celeriac/testing';
import { shouldRunPythonTests } from '../support/python.js';
import { deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { describeOracles, type CeleryOracle } from '../support/oracles.js';
import { startPythonWorker, type PyEnv, type PyWorker } from './python.js';

const DB = 9;
const BASE = `redis://127.0.0.1:6379/${DB}`;
const ready = (await shouldRunRedisTests('interop: ETA')) && shouldRunPythonTests('interop: ETA');

interface Fleet {
  prefix: string;
  py: PyEnv;
  app: App;
  taskIds: string[];
  countKeys: string[];
}

function fleet(oracle: CeleryOracle): Fleet {
  const prefix = `ieta-${randomUUID().slice(0, 8)}:`;
  const app = createApp(
    { broker: `${BASE}?global_keyprefix=${prefix}`, backend: BASE },
    { env: {}, logger: pino({ level: 'silent' }) },
  );
  return { prefix, py: { broker: BASE, backend: BASE, keyPrefix: prefix, oracle }, app, taskIds: [], countKeys: [] };
}

async function dispose(f: Fleet, raw: RedisClientType): Promise<void> {
  await f.app.close();
  await deleteKeys(f.prefix, BASE);
  await deleteResults(f.taskIds, BASE);
  if (f.countKeys.length > 0) await raw.del(f.countKeys);
}

/** A Celeriac worker app on the fleet's Redis whose clock the test moves; its warnings are kept. */
function workerApp(f: Fleet, clock: FakeClock, warnings: string[] = []): App {
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(String((JSON.parse(line) as { msg: unknown }).msg)) });
  return createApp({ broker: `${BASE}?global_keyprefix=${f.prefix}`, backend: BASE }, { env: {}, logger, clock });
}

/** Nothing of the fleet's is delayed, queued or held: a stored run cannot be followed by another. */
async function settled(f: Fleet, raw: RedisClientType, queue: string): Promise<void> {
  expect(await raw.zCard(`${f.prefix}celeriac.delayed`)).toBe(0);
  expect(await raw.lLen(`${f.prefix}${queue}`)).toBe(0);
  // A Python prefork worker acks an early-ack task when its child reports the task accepted,
  // which the parent may handle after the child already stored the result: wait for the ack.
  await waitFor(async () => (await raw.hLen(`${f.prefix}unacked`)) === 0, 'the Python worker to ack', 10_000);
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

describeOracles('Celeriac countdown to Python workers on Redis', (oracle) => {
  let raw: RedisClientType;
  let f: Fleet;
  let pyWorker: PyWorker;

  beforeAll(async () => {
    raw = createClient({ url: BASE }) as RedisClientType;
    await raw.connect();
    f = fleet(oracle);
    pyWorker = await startPythonWorker(f.py, { queues: ['pyeta'], name: `py-eta-${process.pid}@%h` });
  }, 60_000);

  afterAll(async () => {
    await pyWorker?.stop();
    if (f !== undefined) await dispose(f, raw);
    await raw?.close();
  }, 30_000);

  it('with only a Python worker, a countdown task is queued with its eta and runs once when due', async () => {
    const { r, key, sentAt } = await sendCount(f, 'pyeta', 1);
    expect(await raw.zCard(`${f.prefix}celeriac.delayed`)).toBe(0);
    expect(await r.get({ timeoutMs: 30_000 })).toBe(1);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(900); // not before its ETA
    await settled(f, raw, 'pyeta');
    expect(await raw.get(key)).toBe('1');
  }, 60_000);

  it('with a Celeriac worker alive, it waits in celeriac.delayed, then a Python worker runs it once', async () => {
    const clock = new FakeClock(Date.now());
    const tsApp = workerApp(f, clock);
    const worker = new Worker(tsApp, { queues: ['ts-idle'], concurrency: 1, hostname: `ts-eta2-${process.pid}@%h` });
    try {
      await worker.start();
      clock.advance(0); // the duties the broker starts at once run on its clock too
      await waitForPromoter(raw, f.prefix);
      const { r, key } = await sendCount(f, 'pyeta', 1);
      const members = await raw.zRange(`${f.prefix}celeriac.delayed`, 0, -1);
      expect(members.map((m) => (JSON.parse(m) as string[])[0])).toEqual([`${f.prefix}pyeta`]);
      expect(JSON.parse((JSON.parse(members[0] as string) as string[])[1] as string)).toMatchObject({ headers: { id: r.id } });
      expect(await raw.lLen(`${f.prefix}pyeta`)).toBe(0);
      // Due on the worker's clock: its promote duty moves it to the queue, where Python takes it.
      clock.advance(60_000);
      expect(await r.get({ timeoutMs: 30_000 })).toBe(1);
      await settled(f, raw, 'pyeta');
      expect(await raw.get(key)).toBe('1');
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await tsApp.close();
    }
  }, 60_000);

  it('when the last Celeriac worker shuts down before the ETA, the message goes to its queue and Python runs it once', async () => {
    const warnings: string[] = [];
    const clock = new FakeClock(Date.now()); // only moved by 0: the message never falls due on it
    const tsApp = workerApp(f, clock, warnings);
    const worker = new Worker(tsApp, { queues: ['ts-idle'], concurrency: 1, hostname: `ts-eta3-${process.pid}@%h` });
    try {
      await worker.start();
      clock.advance(0); // the duties the broker starts at once run on its clock too
      await waitForPromoter(raw, f.prefix);
      const { r, key, sentAt } = await sendCount(f, 'pyeta', 1);
      expect(await raw.zCard(`${f.prefix}celeriac.delayed`)).toBe(1);
      await worker.close({ deadlineMs: 2000 });
      await tsApp.close();
      expect(await raw.zCard(`${f.prefix}celeriac.delayed`)).toBe(0);
      expect(warnings).toContain('no Celeriac worker left to promote ETA messages: moved 1 back to their queues');
      expect(await r.get({ timeoutMs: 30_000 })).toBe(1);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(900); // Python held it until its ETA
      await settled(f, raw, 'pyeta');
      expect(await raw.get(key)).toBe('1');
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await tsApp.close();
    }
  }, 60_000);
}, ready);

/** Waits until a Celeriac broker under `prefix` advertised itself as an ETA promoter. */
async function waitForPromoter(raw: RedisClientType, prefix: string): Promise<void> {
  await waitFor(async () => (await raw.zCard(`${prefix}celeriac.promoters`)) > 0, 'a Celeriac worker to advertise itself as promoter', 10_000);
}
