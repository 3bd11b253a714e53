/**
 * No livelock in any pool (issue 24): a task that computes for 2.5 s with a 1 s lease
 * (`recoverAfterSec`) while another process sweeps expired leases every 100 ms runs exactly
 * once and succeeds, in the async pool (its event loop blocked all along: the lease keeper
 * thread renews), and in the threads and prefork pools (the loop stays free). Before the
 * keeper, the async run lost its message to the sweep and ran again.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp, Worker } from 'celeriac';
import { REDIS_URL, deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { defineTasks } from './fixtures/pool-app.js';
import { captureLogger } from './helpers.js';
import { fixtureModule, libraryLoaderArgs, libraryModuleUrl } from '../support/node-script.js';

// Children boot dist/'s child-main.js with plain node when dist/ is current (test/support/node-script.ts).
vi.mock('../../src/worker/pools/spawn-child.js', async (original) => (await (await import('../support/node-script.js')).compiledSpawnChild()) ?? original());

const ready = await shouldRunRedisTests('livelock');
const prefix = `livelock-${randomUUID().slice(0, 8)}:`;
const brokerUrl = `${REDIS_URL}?global_keyprefix=${prefix}`;
const appModule = fixtureModule(new URL('./fixtures/pool-app.ts', import.meta.url));
const taskIds: string[] = [];

/** Another process whose broker sweeps expired leases every 100 ms, as a second worker does. */
function spawnSweeper(): Promise<() => void> {
  const brokerModule = libraryModuleUrl('brokers/redis/redis-broker.ts');
  const code = `
    const { RedisBroker } = await import(${JSON.stringify(brokerModule)});
    const broker = new RedisBroker(${JSON.stringify(brokerUrl)}, { recoverAfterSec: 1, leaseRenewMs: 200, sweepIntervalMs: 100 });
    broker.consume({ queues: ['sweeper-idle'], prefetch: 1, onDelivery: () => undefined });
    console.log('READY');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('READY')) resolve(() => child.kill('SIGKILL'));
    });
    child.on('exit', (c) => reject(new Error(`sweeper exited (${String(c)})`)));
  });
}

describe.runIf(ready)('a CPU-bound task with a short lease runs exactly once', () => {
  let stopSweeper: () => void = () => undefined;
  beforeAll(async () => {
    stopSweeper = await spawnSweeper();
  }, 30_000);
  afterAll(async () => {
    stopSweeper();
    await deleteKeys(prefix);
    await deleteResults(taskIds);
  });

  // First in the file: the process's one keeper thread has not started yet.
  it('async: a task waiting before start(), which blocks the loop from the first fetch while the keeper thread starts, runs once', async () => {
    const queue = 'spin-first';
    // A 3 s lease and 4.5 s of computing: the thread boots after the loop blocked, and it must
    // within the lease; in a loaded full run its boot once took more than the 1 s of the others,
    // and on a host half as fast more than 2 s (twice in loaded runs of three test directories).
    const app = createApp(
      { broker: brokerUrl, backend: REDIS_URL, taskAcksLate: true, brokerTransportOptions: { recoverAfterSec: 3, leaseRenewMs: 200, sweepIntervalMs: 100 } },
      { env: {}, logger: captureLogger('warn').logger },
    );
    const tasks = defineTasks(app);
    const worker = new Worker(app, { queues: [queue], pool: 'async', appModule, concurrency: 1 });
    const renewerAtStart: string[] = [];
    const runs: string[] = [];
    worker.onTaskEvent((e) => {
      if (e.type !== 'task-started') return;
      runs.push(e.message.headers.id);
      renewerAtStart.push((app.broker as unknown as { leaseRenewer: string }).leaseRenewer);
    });
    try {
      // Queued first: the worker fetches it as it starts consuming, before its keeper thread
      // runs, and the body blocks the loop at once.
      const r = await tasks.spin.applyAsync([4500], { queue });
      taskIds.push(r.id);
      await worker.start();
      expect(typeof (await r.get({ timeoutMs: 30_000 }))).toBe('number');
      await expect.poll(async () => (await app.broker.queueLength(queue)) + worker.active, { timeout: 2000 }).toBe(0);
      // Run once: the thread, once up, found the delivery fetched before it and kept its lease.
      expect(runs).toEqual([r.id]);
      console.log(`livelock: the lease renewer when the first task started: ${renewerAtStart.join(', ')}`);
    } finally {
      await worker.close({ deadlineMs: 5000 });
      await app.close();
    }
  }, 40_000);

  it.each(['async', 'threads', 'prefork'] as const)('in the %s pool', async (pool) => {
    const queue = `spin-${pool}`;
    const { logger, lines } = captureLogger('warn');
    const app = createApp(
      {
        broker: brokerUrl,
        backend: REDIS_URL,
        taskAcksLate: true,
        brokerTransportOptions: { recoverAfterSec: 1, leaseRenewMs: 200, sweepIntervalMs: 100 },
      },
      { env: {}, logger },
    );
    const tasks = defineTasks(app);
    const worker = new Worker(app, { queues: [queue], pool, appModule, concurrency: 1 });
    const runs: string[] = [];
    worker.onTaskEvent((e) => {
      if (e.type === 'task-started') runs.push(e.message.headers.id);
    });
    try {
      await worker.start();
      // The keeper thread starts with the worker (RedisBroker.prepareConsume), not waited for.
      const broker = app.broker as unknown as { leaseRenewer: string };
      await expect.poll(() => broker.leaseRenewer, { timeout: 5000 }).toBe('thread');
      const r = await tasks.spin.applyAsync([4500], { queue });
      taskIds.push(r.id);
      expect(typeof (await r.get({ timeoutMs: 30_000 }))).toBe('number');
      // Let a sweep and a renewal pass after the run; the message must not come back.
      await expect.poll(async () => (await app.broker.queueLength(queue)) + worker.active, { timeout: 2000 }).toBe(0);
      expect(runs).toEqual([r.id]);
      if (pool === 'async') expect(lines.some((l) => /blocked the event loop/.test(l.msg) && l.msg.includes(r.id))).toBe(true);
    } finally {
      await worker.close({ deadlineMs: 5000 });
      await app.close();
    }
  }, 40_000);
});
