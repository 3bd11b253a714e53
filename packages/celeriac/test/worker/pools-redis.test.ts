/**
 * Pools and time limits on Redis. A CPU-bound task in the threads pool, busy until its lease
 * was renewed past the point where a 1 s recoverAfterSec would have taken it back, does not
 * hold up other deliveries and keeps its lease: it runs exactly once. `ctx.addToChord` in a thread grows the chord in
 * Redis. Hard and soft limits reach threads, and a Python caller's `time_limit` /
 * `soft_time_limit` (the `timelimit` header) apply.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chord, createApp, Worker, type App } from 'celeriac';
import { itOracles } from '../support/oracles.js';
import { shouldRunPythonTests } from '../support/python.js';
import { REDIS_URL, deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { PY_CLIENT, runPython, TEST_RESULT_EXPIRES_SEC, type PyEnv } from '../interop/python.js';
import { defineTasks } from './fixtures/pool-app.js';
import { captureLogger, waitFor } from './helpers.js';
import { fixtureModule } from '../support/node-script.js';

// Children boot dist/'s child-main.js with plain node when dist/ is current (test/support/node-script.ts).
vi.mock('../../src/worker/pools/spawn-child.js', async (original) => (await (await import('../support/node-script.js')).compiledSpawnChild()) ?? original());

const ready = await shouldRunRedisTests('pools on Redis');
const prefix = `pools-${randomUUID().slice(0, 8)}:`;
const QUEUE = 'pools';
const appModule = fixtureModule(new URL('./fixtures/pool-app.ts', import.meta.url));
const py: PyEnv = { broker: REDIS_URL, backend: REDIS_URL, keyPrefix: prefix };
const taskIds: string[] = [];
/** Where the test raises the flag files that end `spinUntil` / `holdUntil` tasks (fixtures/pool-app.ts). */
const flags = mkdtempSync(join(tmpdir(), 'celeriac-pool-flags-'));

describe.runIf(ready)('threads pool on Redis', () => {
  let app: App;
  let worker: Worker;
  let tasks: ReturnType<typeof defineTasks>;
  const received = new Map<string, number>();

  beforeAll(async () => {
    const { logger } = captureLogger('warn');
    app = createApp(
      {
        broker: `${REDIS_URL}?global_keyprefix=${prefix}`,
        backend: REDIS_URL,
        // The chord's parts get ids inside the worker, so close() cannot delete their results.
        resultExpiresSec: TEST_RESULT_EXPIRES_SEC,
        taskAcksLate: true,
        // A lease not renewed for 1 s is taken back: a blocked event loop would lose it.
        brokerTransportOptions: { recoverAfterSec: 1, leaseRenewMs: 200, sweepIntervalMs: 200 },
      },
      { env: {}, logger },
    );
    // An override reaches the app each thread imports: tasks sent from a thread go to this queue too.
    app.overrideSettings({ taskDefaultQueue: QUEUE });
    tasks = defineTasks(app);
    worker = new Worker(app, { queues: [QUEUE], pool: 'threads', appModule, concurrency: 2, prefetchMultiplier: 4 });
    worker.onTaskEvent((event) => {
      if (event.type === 'task-received') received.set(event.message.headers.id, (received.get(event.message.headers.id) ?? 0) + 1);
    });
    await worker.start();
  }, 60_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 5000 });
    await app?.close();
    await deleteKeys(prefix);
    await deleteResults(taskIds);
    rmSync(flags, { recursive: true, force: true });
  }, 30_000);

  const track = <T extends { id: string }>(r: T): T => {
    taskIds.push(r.id);
    return r;
  };

  it('a busy loop in one thread: short tasks complete meanwhile, the lease is renewed, it runs exactly once', async () => {
    const flag = join(flags, 'busy');
    const busy = track(await tasks.spinUntil.delay(flag));
    await waitFor(() => worker.active === 1, 'the busy task to start', 15_000);
    const quick = await Promise.all(Array.from({ length: 10 }, async (_, i) => track(await tasks.add.delay(i, 1))));
    expect(await Promise.all(quick.map((r) => r.get({ timeoutMs: 15_000 })))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(await busy.state()).toBe('PENDING');
    // The busy loop goes on until its lease (epoch ms in celeriac.leases) was renewed to more
    // than recoverAfterSec plus two sweeps past its first expiry: a lease not renewed would
    // have been swept by then, and a lease taken back is never renewed again (renew-lease.lua).
    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    try {
      // The busy task's delivery tag: its entry in kombu's unacked hash holds its message.
      const unacked = await redis.hGetAll(`${prefix}unacked`);
      const tag = Object.keys(unacked).find((t) => unacked[t]!.includes(busy.id));
      expect(tag).toBeDefined();
      const expiry = async () => (await redis.zScore(`${prefix}celeriac.leases`, tag!)) ?? 0;
      const first = await waitFor(expiry, 'the busy task\'s lease', 15_000);
      await waitFor(async () => (await expiry()) >= first + 1_000 + 2 * 200, 'the lease to be renewed past its first expiry', 20_000);
    } finally {
      redis.destroy();
    }
    writeFileSync(flag, '');
    await busy.get({ timeoutMs: 30_000 });
    expect(received.get(busy.id)).toBe(1);
    expect(await app.broker.queueLength(QUEUE)).toBe(0);
  }, 60_000);

  it('ctx.addToChord in a thread grows the chord on Redis (INCRBY of its size): the body gets every part', async () => {
    const r = track(await chord([tasks.addToChord.s([1, 2], 10), tasks.add.si(2, 2)], tasks.sorted.s()).applyAsync());
    // 0 from the adding task, 4, the added 1+10 and 2+10, and the added chord's body (1+1)+(2+2).
    expect(await r.get({ timeoutMs: 20_000 })).toEqual([0, 4, 6, 11, 12]);
  }, 30_000);

  it('the hard limit ends a busy-looping thread; the next task runs on a fresh thread', async () => {
    const before = worker.pool.stats().processes;
    const stuck = track(await tasks.spinForever.applyAsync([], { timeLimitSec: 1 }));
    await expect(stuck.get({ timeoutMs: 20_000 })).rejects.toMatchObject({ excType: 'TimeLimitExceeded', excModule: 'billiard.exceptions' });
    const after = await waitFor(() => {
      const now = worker.pool.stats().processes;
      return now.length === 2 && now.some((id) => !before.includes(id)) ? now : null;
    }, 'a fresh thread in place of the ended one', 20_000);
    expect(before.filter((id) => !after.includes(id))).toHaveLength(1);
    // Two tasks held at once occupy both threads: the fresh one runs tasks.
    const flag = join(flags, 'both');
    const held = await Promise.all([0, 1].map(async () => track(await tasks.holdUntil.delay(flag))));
    await waitFor(() => worker.active === 2, 'both threads to run a task', 20_000);
    writeFileSync(flag, '');
    const ran = await Promise.all(held.map((r) => r.get({ timeoutMs: 20_000 })));
    expect(new Set(ran)).toEqual(new Set(after));
    expect(received.get(stuck.id)).toBe(1);
  }, 60_000);

  it('the soft limit aborts ctx.signal in the thread', async () => {
    const r = track(await tasks.soft.applyAsync(['catch'], { softTimeLimitSec: 1 }));
    expect(await r.get({ timeoutMs: 20_000 })).toBe('cleaned up after SoftTimeLimitExceeded (SoftTimeLimitExceeded)');
  }, 30_000);

  itOracles("a Python caller's time_limit and soft_time_limit apply (the timelimit header)", async (oracle) => {
    const out = await runPython({ ...py, oracle }, `${PY_CLIENT}
hard = app.send_task('pool.spin_forever', queue='${QUEUE}', time_limit=2)
soft = app.send_task('pool.soft', args=['throw'], queue='${QUEUE}', soft_time_limit=1)
print(hard.id); print(soft.id)
for r in (hard, soft):
    try:
        r.get(timeout=30)
        print('no error')
    except Exception as e:
        print(type(e).__name__, json.dumps(list(e.args)))`);
    const [hardId, softId, hardLine, softLine] = out.trim().split('\n');
    taskIds.push(hardId!, softId!);
    expect(hardLine).toBe('TimeLimitExceeded [2]');
    expect(softLine).toBe('SoftTimeLimitExceeded [1]');
  }, 60_000, shouldRunPythonTests('pools on Redis'));
});
