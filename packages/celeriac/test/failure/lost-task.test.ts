/**
 * Lost-task detection: an early-acked task whose worker is killed (SIGKILL) while it runs is
 * not left PENDING/STARTED forever. Its worker recorded it in celeriac.running as it started
 * (brokers/redis/running.ts); once that worker's presence lapsed for `lostTaskGraceSec`, a
 * live worker's sweep takes the record and stores FAILURE WorkerLostError, sends
 * `task-failed`, and the message is not run again. A task that runs longer than the grace on
 * a live worker is never reported lost. The killed worker is a real child process
 * (fixtures/worker.ts); leases and presence are short (support.ts FAST).
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/index.js';
import type { TaskEvent } from '../../src/worker/task-events.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { BLOCK } from './fixtures/tasks.js';
import { waitFor } from 'celeriac/testing';
import { counts, FAILURE_DB, FAST, failureKeys, killChildren, MARKED, metas, plainClient, spawnWorker, startLocalWorker, workerConfigs, type LocalWorker, closeFailureSuite } from './support.js';

const ready = await shouldRunRedisTests('failure: lost-task detection');
const BASE = FAILURE_DB;
const { prefix, brokerUrl } = failureKeys();
const taskIds: string[] = [];
const config = workerConfigs(BASE, prefix, { ...FAST, lostTaskGraceSec: 1 });

/**
 * Samples the presence zset (member -> expiry, epoch ms) every 100 ms until stopped. The
 * report gives, per member, the longest time a sample found it past its expiry (a member past
 * it by the grace is taken for dead) and each renewal seen: ms since the watch began, and how
 * long the new expiry lay ahead.
 */
function watchPresence(raw: RedisClientType, key: string): { stop(): Promise<void>; report(): string } {
  const began = Date.now();
  const renewals = new Map<string, { at: number; score: number }[]>();
  const worst = new Map<string, number>();
  const sample = async (): Promise<void> => {
    const now = Date.now();
    for (const { value, score } of await raw.zRangeWithScores(key, 0, -1).catch(() => [])) {
      const seen = renewals.get(value) ?? [];
      if (seen.at(-1)?.score !== score) seen.push({ at: now - began, score });
      renewals.set(value, seen);
      worst.set(value, Math.max(worst.get(value) ?? Number.NEGATIVE_INFINITY, now - score));
    }
  };
  // A look every 100 ms (one at a time): a sampling rate, not a wait.
  let looking: Promise<void> = sample();
  const timer = setInterval(() => (looking = looking.then(sample)), 100);
  return {
    stop: async () => {
      clearInterval(timer);
      await looking;
    },
    report: () =>
      [...renewals]
        .map(([member, seen]) => `presence of ${member}: at worst ${worst.get(member)} ms past its expiry (negative: before it); renewals (ms since the block was sent: expiry ahead, ms) ${seen.map((r) => `${r.at}: ${Math.round(r.score - began - r.at)}`).join(', ')}`)
        .join('\n'),
  };
}

describe.runIf(ready)('failure: an early-acked task whose worker is killed', () => {
  let raw: RedisClientType;
  let producer: App;
  let local: LocalWorker | undefined;

  beforeAll(async () => {
    raw = await plainClient(BASE);
    producer = createApp({ broker: brokerUrl, backend: BASE }, { env: {} });
  });

  afterEach(async () => {
    await killChildren();
    await local?.stop();
    local = undefined;
  }, 20_000);

  afterAll(() => closeFailureSuite(producer, raw, prefix, taskIds), 20_000);

  it('is stored FAILURE WorkerLostError by a live worker, with task-failed, and never runs again', async () => {
    const queue = `lost-${randomUUID().slice(0, 8)}`;
    const lost = randomUUID();
    taskIds.push(lost);
    const doomed = spawnWorker(config(queue, `lost-doomed-${process.pid}@failure`, { acksLate: false }));
    await doomed.ready;
    await producer.sendTask(MARKED, [lost, 600_000], {}, { queue, taskId: lost });
    await waitFor(async () => (await counts(raw, prefix, lost)).attempts === 1, 'the task to start on the doomed worker', 20_000);
    // Acked early and recorded as running: out of kombu's index and our leases, so nothing
    // restores it; its unacked entry is kept for the record (ack.lua).
    await waitFor(async () => (await raw.hLen(`${prefix}celeriac.running`)) === 1, 'the running record', 10_000);
    expect(await raw.zCard(`${prefix}unacked_index`)).toBe(0);
    expect(await raw.zCard(`${prefix}celeriac.leases`)).toBe(0);
    expect(await raw.hLen(`${prefix}unacked`)).toBe(1);
    await doomed.kill();

    local = await startLocalWorker(config(queue, `lost-finder-${process.pid}@failure`, { acksLate: false }), raw);
    const events: TaskEvent[] = [];
    local.worker.onTaskEvent((e) => events.push(e));
    await waitFor(async () => (await metas(raw, [lost]))[0]?.status === 'FAILURE', 'FAILURE stored for the lost task', 30_000);
    const [meta] = await metas(raw, [lost]);
    expect(meta?.result).toMatchObject({ exc_type: 'WorkerLostError', exc_module: 'billiard.exceptions' });
    expect(String((meta?.result as { exc_message: string[] }).exc_message[0])).toMatch(/^Worker exited prematurely/);
    await waitFor(() => events.some((e) => e.type === 'task-failed' && e.message.headers.id === lost), 'the task-failed event', 10_000);
    // Taken once, with its entry, and the message is not run again (acked early: at most once).
    expect(await raw.hLen(`${prefix}celeriac.running`)).toBe(0);
    expect(await raw.hLen(`${prefix}unacked`)).toBe(0);
    expect((await counts(raw, prefix, lost)).attempts).toBe(1);
  }, 90_000);

  it('does not report the well-behaved task of a worker whose event loop another task blocks past the grace', async () => {
    const queue = `blocked-${randomUUID().slice(0, 8)}`;
    const well = randomUUID();
    const blocking = randomUUID();
    taskIds.push(well, blocking);
    // The presence lapses 1.5 s after the last renewal and the grace is 2.5 s here: a 6 s block
    // is far past both. Before, the live worker below stored FAILURE WorkerLostError for the
    // well-behaved task, which later flipped to SUCCESS. (With a 1 s grace the keeper thread had
    // as little as 1.25 s to renew the presence after the block began; a loaded CI run on a slow
    // host once failed here, and passed alone and under CPU hogs.)
    const patient = workerConfigs(BASE, prefix, { ...FAST, lostTaskGraceSec: 2.5 });
    const blocked = spawnWorker(patient(queue, `lost-blocked-${process.pid}@failure`, { acksLate: false, concurrency: 2 }));
    await blocked.ready;
    local = await startLocalWorker(patient(`finder-${queue}`, `lost-finder2-${process.pid}@failure`, { acksLate: false }), raw);
    const events: TaskEvent[] = [];
    local.worker.onTaskEvent((e) => events.push(e));
    await producer.sendTask(MARKED, [well, 9000], {}, { queue, taskId: well });
    await waitFor(async () => (await raw.hLen(`${prefix}celeriac.running`)) >= 1, 'the well-behaved task\'s running record', 10_000);
    await producer.sendTask(BLOCK, [blocking, 6000], {}, { queue, taskId: blocking });
    // What a failure needs to tell: whether the blocked worker's presence was renewed through
    // the block (by its keeper thread) or lapsed, and when.
    const presence = watchPresence(raw, `${prefix}celeriac.promoters`);
    try {
      await waitFor(async () => (await metas(raw, [well, blocking])).every((m) => m?.status === 'SUCCESS'), 'both to succeed', 40_000);
    } finally {
      await presence.stop();
    }
    expect(events.filter((e) => e.type === 'task-failed').map((e) => e.message.headers.id), `${presence.report()}\n${blocked.output()}`).toEqual([]);
    expect(await counts(raw, prefix, well)).toEqual({ attempts: 1, success: 1 });
    // The blocking task is the one named, alone (it blocks after an await: block-watch knows
    // its continuation's task), by the blocked worker itself once its loop turns.
    await waitFor(() => blocked.output().includes(`Task ${BLOCK}[${blocking}] blocked the event loop`), 'the block warning', 10_000);
    expect(blocked.output()).not.toMatch(/One of the tasks/);
  }, 90_000);

  it('never reports a task that runs longer than the grace on a live worker', async () => {
    const queue = `slow-${randomUUID().slice(0, 8)}`;
    const slow = randomUUID();
    taskIds.push(slow);
    local = await startLocalWorker(config(queue, `lost-live-${process.pid}@failure`, { acksLate: false }), raw);
    const events: TaskEvent[] = [];
    local.worker.onTaskEvent((e) => events.push(e));
    // Four grace periods and several sweeps of its own broker while it runs.
    await producer.sendTask(MARKED, [slow, 4000], {}, { queue, taskId: slow });
    await waitFor(async () => (await raw.hLen(`${prefix}celeriac.running`)) === 1, 'the running record', 10_000);
    await waitFor(async () => (await metas(raw, [slow]))[0]?.status === 'SUCCESS', 'SUCCESS', 30_000);
    await waitFor(async () => (await raw.hLen(`${prefix}celeriac.running`)) === 0, 'the record removed', 10_000);
    expect(events.some((e) => e.type === 'task-failed')).toBe(false);
    expect(await counts(raw, prefix, slow)).toEqual({ attempts: 1, success: 1 });
  }, 60_000);
});
