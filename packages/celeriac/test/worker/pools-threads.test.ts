/**
 * The threads pool on the memory broker: task bodies run in worker threads that loaded the
 * app module; errors keep their class; updateState and sends go through the worker; soft
 * and hard limits (fake clock) reach the thread; a hard limit, a crash or recycling puts a
 * fresh thread in place; a CPU-bound task does not hold up other deliveries.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, TaskRevokedError, type Worker } from 'celeriac';
import { defineTasks } from './fixtures/pool-app.js';
import { closeEnvs, makeEnv, runHandles, waitFor, waitForState, type TestEnv } from './helpers.js';

afterEach(closeEnvs);

const appModule = new URL('./fixtures/pool-app.ts', import.meta.url);

function setup(settings: Parameters<typeof makeEnv>[0] = {}, fakeClock = false) {
  const env = makeEnv(settings, { fakeClock });
  return { env, tasks: defineTasks(env.app) };
}

const threadIds = (worker: Worker) => worker.pool.stats().processes;

/** Waits until the task is running in the worker. */
const running = (worker: Worker) => waitFor(() => worker.active > 0, 'a task to start', 10_000);

/** Stored statuses, in the order they were written. */
function recordStores(env: TestEnv): string[] {
  const statuses: string[] = [];
  const store = env.backend.store.bind(env.backend);
  env.backend.store = (meta, options) => {
    statuses.push(meta.status);
    return store(meta, options);
  };
  return statuses;
}

describe('threads pool', () => {
  it('runs task bodies in its threads, one thread per slot', async () => {
    const { env, tasks } = setup();
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 2 });
    expect(worker.pool.stats()).toMatchObject({ kind: 'threads', maxConcurrency: 2 });
    const pool = threadIds(worker);
    expect(pool).toHaveLength(2);
    const results = await Promise.all(Array.from({ length: 6 }, () => tasks.sleep.delay(20)));
    const ran = await Promise.all(results.map((r) => r.get({ timeoutMs: 10_000 })));
    for (const id of ran) expect(pool).toContain(id);
    expect(await (await tasks.add.delay(2, 3)).get({ timeoutMs: 10_000 })).toBe(5);
  });

  it("the request's deliveryInfo reaches the thread whole, redelivered included", async () => {
    const { env, tasks } = setup();
    await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    const info = await (await tasks.deliveryInfo.delay()).get({ timeoutMs: 10_000 });
    expect(info).toEqual({ exchange: '', routing_key: 'celery', priority: 0, redelivered: false });
  });

  it('a thrown error keeps its class name, message and stack across the thread boundary', async () => {
    const { env, tasks } = setup();
    await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    const r1 = await tasks.fail.delay('type', 'bad type');
    const r2 = await tasks.fail.delay('value', 'bad value');
    const m1 = await waitForState(env, r1.id, 'FAILURE', 10_000);
    const m2 = await waitForState(env, r2.id, 'FAILURE', 10_000);
    expect(m1.result).toEqual({ exc_type: 'TypeError', exc_message: ['bad type'], exc_module: 'builtins' });
    expect(m2.result).toEqual({ exc_type: 'ValueError', exc_message: ['bad value'], exc_module: 'builtins' });
    expect(m2.traceback).toContain('pool-app.ts');
  });

  it('ctx.updateState from a thread is stored by the worker; a task sent from a thread reaches the worker\'s broker', async () => {
    const { env, tasks } = setup();
    const statuses = recordStores(env);
    await env.startWorker({ pool: 'threads', appModule, concurrency: 2 });
    const r = await tasks.progress.delay(3);
    await r.get({ timeoutMs: 10_000 });
    expect(statuses.filter((s) => s === 'PROGRESS')).toHaveLength(3);
    const childId = await (await tasks.send.delay(41)).get({ timeoutMs: 10_000 });
    expect(await env.app.asyncResult(childId).get({ timeoutMs: 10_000 })).toBe(42);
  });

  it('a CPU-bound task in one thread does not hold up deliveries to the others', async () => {
    const { env, tasks } = setup();
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 2 });
    const busy = await tasks.spin.delay(3_000);
    await running(worker);
    const quick = await Promise.all(Array.from({ length: 5 }, (_, i) => tasks.add.delay(i, i)));
    expect(await Promise.all(quick.map((r) => r.get({ timeoutMs: 10_000 })))).toEqual([0, 2, 4, 6, 8]);
    // Every short task finished while the busy loop was still going.
    expect(await busy.state()).toBe('PENDING');
    expect(threadIds(worker)).toContain(await busy.get({ timeoutMs: 20_000 }));
  });

  it('the soft limit aborts ctx.signal in the thread with SoftTimeLimitExceeded', async () => {
    const { env, tasks } = setup({}, true);
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 2 });
    const caught = await tasks.soft.applyAsync(['catch'], { softTimeLimit: 5 });
    const thrown = await tasks.soft.applyAsync(['throw'], { softTimeLimit: 2 });
    await waitFor(() => worker.active === 2, 'both tasks to start', 10_000);
    env.clock!.advance(2_000);
    const meta = await waitForState(env, thrown.id, 'FAILURE', 10_000);
    expect(meta.result).toEqual({ exc_type: 'SoftTimeLimitExceeded', exc_message: [2], exc_module: 'billiard.exceptions' });
    expect(await caught.state()).toBe('PENDING');
    env.clock!.advance(3_000);
    expect(await caught.get({ timeoutMs: 10_000 })).toBe('cleaned up after SoftTimeLimitExceeded (SoftTimeLimitExceeded)');
    expect(worker.pool.stats().timeouts).toEqual([2, 0]);
  });

  it('the hard limit ends a busy-looping thread: TimeLimitExceeded, and the next task runs on a fresh thread', async () => {
    const { env, tasks } = setup({ taskAcksLate: true }, true);
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    const [first] = threadIds(worker);
    const stuck = await tasks.spinForever.applyAsync([], { timeLimit: 2 });
    const next = await tasks.whoami.delay();
    await running(worker);
    env.clock!.advance(2_000);
    const meta = await waitForState(env, stuck.id, 'FAILURE', 10_000);
    expect(meta.result).toEqual({ exc_type: 'TimeLimitExceeded', exc_message: [2], exc_module: 'billiard.exceptions' });
    const fresh = await next.get({ timeoutMs: 15_000 });
    expect(fresh).not.toBe(first);
    expect(threadIds(worker)).toEqual([fresh]);
    expect(env.broker.settlements(stuck.id)).toEqual(['ack']);
    expect(worker.pool.stats().timeouts).toEqual([0, 1]);
  });

  it('limits count from when a thread takes the task, not while a fresh thread starts', async () => {
    const { env, tasks } = setup({}, true);
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    const stuck = await tasks.spinForever.applyAsync([], { timeLimit: 1 });
    await running(worker);
    env.clock!.advance(1_000);
    await waitForState(env, stuck.id, 'FAILURE', 10_000);
    await waitFor(() => worker.active === 0, 'the slot to be free');
    // The only thread was just ended; this task waits for its replacement, which takes a while.
    const next = await tasks.whoami.applyAsync([], { timeLimit: 1 });
    await running(worker);
    env.clock!.advance(5_000);
    const ranOn = await next.get({ timeoutMs: 15_000 });
    expect(threadIds(worker)).toContain(ranOn);
  });

  it('a soft limit the task cannot see while it spins is followed by the hard limit', async () => {
    const { env, tasks } = setup({}, true);
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    const r = await tasks.softThenSpin.applyAsync([], { softTimeLimit: 1, timeLimit: 3 });
    await running(worker);
    env.clock!.advance(1_000);
    env.clock!.advance(2_000);
    const meta = await waitForState(env, r.id, 'FAILURE', 10_000);
    expect(meta.result).toMatchObject({ exc_type: 'TimeLimitExceeded' });
  });

  it('a run\'s terminate (revoke with terminate) ends the thread and fails the task with the reason', async () => {
    const { env, tasks } = setup();
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    const [first] = threadIds(worker);
    const r = await tasks.spinForever.delay();
    await running(worker);
    for (const run of runHandles(worker)) run.terminate(new TaskRevokedError('terminated'));
    const meta = await waitForState(env, r.id, 'FAILURE', 10_000);
    expect(meta.result).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['terminated'], exc_module: 'celery.exceptions' });
    expect(await (await tasks.whoami.delay()).get({ timeoutMs: 15_000 })).not.toBe(first);
  });

  it('a thread that dies mid-task fails it with WorkerLostError and is replaced', async () => {
    const { env, tasks } = setup();
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    const [first] = threadIds(worker);
    const r = await tasks.exit.delay();
    const meta = await waitForState(env, r.id, 'FAILURE', 10_000);
    expect(meta.result).toMatchObject({ exc_type: 'WorkerLostError', exc_module: 'billiard.exceptions' });
    expect(await (await tasks.whoami.delay()).get({ timeoutMs: 15_000 })).not.toBe(first);
  });

  it('maxTasksPerChild replaces a thread after that many tasks', async () => {
    const { env, tasks } = setup();
    await env.startWorker({ pool: 'threads', appModule, concurrency: 1, maxTasksPerChild: 2 });
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await (await tasks.whoami.delay()).get({ timeoutMs: 15_000 }));
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).toBe(ids[3]);
    expect(new Set([ids[0], ids[2], ids[4]]).size).toBe(3);
    expect(env.lines.some((l) => String(l.msg).includes('maxTasksPerChild 2'))).toBe(true);
  });

  it('maxMemoryPerChild replaces a thread whose heap grew past the limit, after its task', async () => {
    const { env, tasks } = setup();
    await env.startWorker({ pool: 'threads', appModule, concurrency: 1, maxMemoryPerChild: 150_000 });
    const a = await (await tasks.whoami.delay()).get({ timeoutMs: 15_000 });
    const b = await (await tasks.whoami.delay()).get({ timeoutMs: 15_000 });
    expect(b).toBe(a);
    expect(await (await tasks.hog.delay(200)).get({ timeoutMs: 15_000 })).toBe(a);
    expect(await (await tasks.whoami.delay()).get({ timeoutMs: 15_000 })).not.toBe(a);
    expect(env.lines.some((l) => String(l.msg).includes('maxMemoryPerChild 150000'))).toBe(true);
  });

  it('resize grows and shrinks the number of threads', async () => {
    const { env, tasks } = setup();
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    worker.pool.resize(3);
    await waitFor(() => threadIds(worker).length === 3, 'two more threads', 15_000);
    const results = await Promise.all(Array.from({ length: 3 }, () => tasks.sleep.delay(1_500)));
    const ran = await Promise.all(results.map((r) => r.get({ timeoutMs: 20_000 })));
    expect(new Set(ran).size).toBe(3);
    expect(threadIds(worker)).toHaveLength(3);
    worker.pool.resize(1);
    expect(threadIds(worker)).toHaveLength(1);
    expect(worker.pool.stats().maxConcurrency).toBe(1);
  });

  it('a shutdown that gives up on a busy thread ends it; the late-ack message goes back to the queue', async () => {
    const { env, tasks } = setup({ taskAcksLate: true });
    const worker = await env.startWorker({ pool: 'threads', appModule, concurrency: 1 });
    const r = await tasks.spinForever.delay();
    await running(worker);
    await worker.close({ deadlineMs: 200 });
    expect(env.broker.settlements(r.id)).toEqual(['restore']);
    expect(threadIds(worker)).toEqual([]);
    expect(worker.state).toBe('closed');
  });

  it('refuses to start when a thread cannot load the app module, and ends its threads', async () => {
    const { env } = setup();
    const failing = env.startWorker({ pool: 'threads', appModule: new URL('./fixtures/broken-app.ts', import.meta.url), concurrency: 2 });
    await expect(failing).rejects.toMatchObject({ code: ErrorCodes.APP_LOAD, message: expect.stringContaining('broken on purpose') });
  });
});
