/**
 * The threads and prefork pools on the memory broker, one suite run against each, in two
 * parts (`tasks`: pools-threads.test.ts, pools-prefork.test.ts; `children`:
 * pools-threads-children.test.ts, pools-prefork-children.test.ts), so they run as parallel files: task
 * bodies run in children (worker threads, child processes) that loaded the app module;
 * errors keep their class; updateState and sends go through the worker; soft and hard limits
 * (fake clock) reach the child; a hard limit, a crash or recycling puts a fresh child in
 * place; a CPU-bound task does not hold up other deliveries.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chord, ErrorCodes, TaskRevokedError, Worker } from 'celeriac';
import { defineTasks } from './fixtures/pool-app.js';
import { fixtureModule } from '../support/node-script.js';
import { closeEnvs, makeEnv, runHandles, waitFor, waitForState, type TestEnv } from './helpers.js';

// Compiled against dist/ when current, so a child needs no tsx (the test files mock spawn-child.ts to match).
const appModule = fixtureModule(new URL('./fixtures/pool-app.ts', import.meta.url));

function setup(settings: Parameters<typeof makeEnv>[0] = {}, fakeClock = false) {
  const env = makeEnv(settings, { fakeClock });
  return { env, tasks: defineTasks(env.app) };
}

const childIds = (worker: Worker) => worker.pool.stats().processes;

/** Waits until the task is running in the worker. */
const running = (worker: Worker) => waitFor(() => worker.active > 0, 'a task to start', 10_000);

/** Stored statuses per task id, in the order they were written. */
function recordStores(env: TestEnv): Map<string, string[]> {
  const statuses = new Map<string, string[]>();
  const store = env.backend.store.bind(env.backend);
  env.backend.store = (meta, options) => {
    statuses.set(meta.task_id, [...(statuses.get(meta.task_id) ?? []), meta.status]);
    return store(meta, options);
  };
  return statuses;
}

/**
 * Files a test creates to end a `holdUntil` / `spinUntil` task (fixtures/pool-app.ts): the
 * test decides when such a task ends, instead of giving it a duration.
 */
interface FlagFiles {
  /** A new flag file's path (not created yet). */
  next(): string;
  raise(flag: string): void;
}

function flagFiles(): FlagFiles {
  let dir = '';
  let n = 0;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'celeriac-pool-flags-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    next: () => join(dir, `flag-${++n}`),
    raise: (flag: string) => writeFileSync(flag, ''),
  };
}

type PoolKind = 'threads' | 'prefork';

/** The two halves of a pool's suite, each run by a file of its own. */
export type PoolSuitePart = 'tasks' | 'children';

/**
 * Registers one part of the suite for one child pool kind. `tasks`: running tasks in
 * children, settings, time limits, an app module that cannot load (and, for prefork, its
 * process-only cases); `children`: children ended, replaced, recycled, resized, autoscaled.
 */
export function childPoolSuite(pool: PoolKind, part: PoolSuitePart): void {
  const flags = flagFiles();
  if (part === 'tasks') {
    sharedWorkerTests(pool, flags);
    limitTests(pool);
    if (pool === 'prefork') processTests();
  } else {
    childrenTests(pool, flags);
  }
}

function sharedWorkerTests(pool: PoolKind, flags: FlagFiles): void {
  describe(`${pool} pool: one worker with two children`, () => {
    // These tests end no child and change no setting: they share one worker, started once.
    let env: TestEnv;
    let tasks: ReturnType<typeof defineTasks>;
    let worker: Worker;
    let statuses: Map<string, string[]>;

    beforeAll(async () => {
      ({ env, tasks } = setup());
      statuses = recordStores(env);
      worker = await env.startWorker({ pool, appModule, concurrency: 2 });
    }, 30_000);

    afterAll(closeEnvs);

    it('runs task bodies in its children, one child per slot', async () => {
      expect(worker.pool.stats()).toMatchObject({ kind: pool, maxConcurrency: 2 });
      const ids = childIds(worker);
      expect(ids).toHaveLength(2);
      const results = await Promise.all(Array.from({ length: 6 }, () => tasks.sleep.delay(20)));
      const ran = await Promise.all(results.map((r) => r.get({ timeoutMs: 10_000 })));
      for (const id of ran) expect(ids).toContain(id);
      expect(await (await tasks.add.delay(2, 3)).get({ timeoutMs: 10_000 })).toBe(5);
    });

    it("the request's deliveryInfo reaches the child whole, redelivered included", async () => {
      const info = await (await tasks.deliveryInfo.delay()).get({ timeoutMs: 10_000 });
      expect(info).toEqual({ exchange: '', routing_key: 'celery', priority: 0, redelivered: false });
    });

    it('a thrown error keeps its class name, message and stack across the child boundary', async () => {
      const r1 = await tasks.fail.delay('type', 'bad type');
      const r2 = await tasks.fail.delay('value', 'bad value');
      const m1 = await waitForState(env, r1.id, 'FAILURE', 10_000);
      const m2 = await waitForState(env, r2.id, 'FAILURE', 10_000);
      expect(m1.result).toEqual({ exc_type: 'TypeError', exc_message: ['bad type'], exc_module: 'builtins' });
      expect(m2.result).toEqual({ exc_type: 'ValueError', exc_message: ['bad value'], exc_module: 'builtins' });
      expect(m2.traceback).toMatch(/pool-app(\.ts|-\w+\.mjs)/);
    });

    it('an error whose message cannot be read, and a thrown null, are stored as failures without ending the child', async () => {
      const r1 = await tasks.fail.delay('unreadable', 'x');
      const r2 = await tasks.fail.delay('null', 'x');
      // Encoding the first crashed the child (exit code 1, WorkerLostError) before.
      expect((await waitForState(env, r1.id, 'FAILURE', 10_000)).result).toEqual({ exc_type: 'Exception', exc_message: ['<unprintable Error object>'], exc_module: 'builtins' });
      expect((await waitForState(env, r2.id, 'FAILURE', 10_000)).result).toEqual({ exc_type: 'Exception', exc_message: ['Non-error thrown: null'], exc_module: 'builtins' });
      expect(env.lines.filter((l) => /WorkerLostError|crashed|exited prematurely/.test(JSON.stringify(l)))).toEqual([]);
    });

    it('a message whose arguments are too deep to pass to a child fails with EncodeError; both children stay free', async () => {
      // Only a foreign producer sends one (py-json refuses past 1,000 levels): it overflows
      // postMessage's structured clone. Before, the child stayed marked busy, and every task
      // the pool gave it after waited for ever.
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
      const ids = ['deep-1', 'deep-2'].map((id) => `${id}-${pool}`);
      for (const id of ids) {
        const body = `[[${deep}], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`;
        await env.broker.publish({ headers: { lang: 'py', task: tasks.add.name, id }, properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 }, contentType: 'application/json', contentEncoding: 'utf-8', body }, { exchange: '', routingKey: 'celery' });
      }
      for (const id of ids) {
        expect((await waitForState(env, id, 'FAILURE', 10_000)).result).toEqual({
          exc_type: 'EncodeError',
          exc_module: 'kombu.exceptions',
          exc_message: [expect.stringMatching(new RegExp(`^the message of task ${tasks.add.name}\\[${id}\\] could not be passed to a pool child: `))],
        });
      }
      const after = await Promise.all(Array.from({ length: 4 }, (_, i) => tasks.add.delay(i, 1)));
      expect(await Promise.all(after.map((r) => r.get({ timeoutMs: 10_000 })))).toEqual([1, 2, 3, 4]);
    });

    it('a result, an error or a state meta too deep to pass back from a child fails as EncodeError; the child lives on', async () => {
      const before = childIds(worker);
      const returned = await tasks.deep.delay('return');
      const thrown = await tasks.deep.delay('throw');
      const state = await tasks.deep.delay('state');
      for (const [r, what] of [[returned, 'result'], [thrown, 'error']] as const) {
        // The error's refused clone ended the child before (WorkerLostError); the result's was stored as a bare RangeError.
        expect((await waitForState(env, r.id, 'FAILURE', 10_000)).result).toEqual({
          exc_type: 'EncodeError',
          exc_module: 'kombu.exceptions',
          exc_message: [expect.stringMatching(new RegExp(`^the ${what} of task pool\\.deep\\[${r.id}\\] could not be passed back from its pool child: `))],
        });
      }
      expect(await state.get({ timeoutMs: 10_000 })).toMatch(/^EncodeError: a state call could not be passed from the pool child to the worker: /);
      expect(childIds(worker)).toEqual(before);
    });

    it('ctx.updateState from a child is stored by the worker; a task sent from a child reaches the worker\'s broker', async () => {
      const r = await tasks.progress.delay(3);
      await r.get({ timeoutMs: 10_000 });
      expect(statuses.get(r.id)!.filter((s) => s === 'PROGRESS')).toHaveLength(3);
      const sender = await tasks.send.delay(41);
      const childId = await sender.get({ timeoutMs: 10_000 });
      expect(await env.app.asyncResult(childId).get({ timeoutMs: 10_000 })).toBe(42);
      // addToParent (default): what the child sent is in the sender's stored children.
      expect((await sender.children()).map((c) => c.id)).toEqual([childId]);
    });

    it("ctx.addToChord in a child grows the chord in the worker's backend: the body waits for the added tasks and chord", async () => {
      const r = await chord([tasks.addToChord.s([1, 2, 3], 4), tasks.add.si(2, 2)], tasks.sorted.s()).applyAsync();
      // 0 from the adding task, 4, the added 1+4, 2+4, 3+4, and the added chord's body (1+1)+(2+2)+(3+3).
      expect(await r.get({ timeoutMs: 15_000 })).toEqual([0, 4, 5, 6, 7, 12]);
      const outside = await tasks.addToChord.delay([1], 1);
      const err = (await outside.get({ timeoutMs: 10_000 }).catch((e: unknown) => e)) as Error;
      expect(err.message).toBe('Current task is not member of any chord');
    });

    it('a CPU-bound task in one child does not hold up deliveries to the others', async () => {
      const flag = flags.next();
      const busy = await tasks.spinUntil.delay(flag);
      await waitFor(() => worker.active === 1, 'the busy task to start', 10_000);
      const quick = await Promise.all(Array.from({ length: 5 }, (_, i) => tasks.add.delay(i, i)));
      expect(await Promise.all(quick.map((r) => r.get({ timeoutMs: 10_000 })))).toEqual([0, 2, 4, 6, 8]);
      // Every short task finished while the busy loop was still going: it ends only on the flag.
      expect(await busy.state()).toBe('PENDING');
      flags.raise(flag);
      expect(childIds(worker)).toContain(await busy.get({ timeoutMs: 20_000 }));
    });
  });
}

function limitTests(pool: PoolKind): void {
  // Tests here start and end several children: on a busy machine that takes a while.
  describe(`${pool} pool: settings, limits, loading`, { timeout: 60_000 }, () => {
    afterEach(closeEnvs);

    it("the worker's setting overrides (CLI flags) reach the app of every child", async () => {
      const { env, tasks } = setup();
      env.app.overrideSettings({ resultExpiresSec: 4321, taskSoftTimeLimitSec: 99 });
      await env.startWorker({ pool, appModule, concurrency: 1 });
      expect(await (await tasks.setting.delay('resultExpiresSec')).get({ timeoutMs: 10_000 })).toBe(4321);
      expect(await (await tasks.setting.delay('taskSoftTimeLimitSec')).get({ timeoutMs: 10_000 })).toBe(99);
    });

    it('the soft limit aborts ctx.signal in the child with SoftTimeLimitExceeded', async () => {
      const { env, tasks } = setup({}, true);
      const worker = await env.startWorker({ pool, appModule, concurrency: 2 });
      const caught = await tasks.soft.applyAsync(['catch'], { softTimeLimitSec: 5 });
      const thrown = await tasks.soft.applyAsync(['throw'], { softTimeLimitSec: 2 });
      await waitFor(() => worker.active === 2, 'both tasks to start', 10_000);
      env.clock!.advance(2_000);
      const meta = await waitForState(env, thrown.id, 'FAILURE', 10_000);
      expect(meta.result).toEqual({ exc_type: 'SoftTimeLimitExceeded', exc_message: [2], exc_module: 'billiard.exceptions' });
      expect(await caught.state()).toBe('PENDING');
      env.clock!.advance(3_000);
      expect(await caught.get({ timeoutMs: 10_000 })).toBe('cleaned up after SoftTimeLimitExceeded (SoftTimeLimitExceeded)');
      expect(worker.pool.stats().timeouts).toEqual([2, 0]);
    });

    it('the hard limit ends a busy-looping child: TimeLimitExceeded, and the next task runs on a fresh child', async () => {
      const { env, tasks } = setup({ taskAcksLate: true }, true);
      const worker = await env.startWorker({ pool, appModule, concurrency: 1 });
      const [first] = childIds(worker);
      const stuck = await tasks.spinForever.applyAsync([], { timeLimitSec: 2 });
      const next = await tasks.whoami.delay();
      await running(worker);
      env.clock!.advance(2_000);
      const meta = await waitForState(env, stuck.id, 'FAILURE', 10_000);
      expect(meta.result).toEqual({ exc_type: 'TimeLimitExceeded', exc_message: [2], exc_module: 'billiard.exceptions' });
      const fresh = await next.get({ timeoutMs: 15_000 });
      expect(fresh).not.toBe(first);
      expect(childIds(worker)).toEqual([fresh]);
      expect(env.broker.settlements(stuck.id)).toEqual(['ack']);
      expect(worker.pool.stats().timeouts).toEqual([0, 1]);
    });

    it('limits count from when a child takes the task, not while a fresh child starts', async () => {
      const { env, tasks } = setup({}, true);
      const worker = await env.startWorker({ pool, appModule, concurrency: 1 });
      const stuck = await tasks.spinForever.applyAsync([], { timeLimitSec: 1 });
      await running(worker);
      env.clock!.advance(1_000);
      await waitForState(env, stuck.id, 'FAILURE', 10_000);
      await waitFor(() => worker.active === 0, 'the slot to be free');
      // The only child was just ended; this task waits for its replacement, which takes a while.
      const next = await tasks.whoami.applyAsync([], { timeLimitSec: 1 });
      await running(worker);
      env.clock!.advance(5_000);
      const ranOn = await next.get({ timeoutMs: 15_000 });
      expect(childIds(worker)).toContain(ranOn);
    });

    it('a soft limit the task cannot see while it spins is followed by the hard limit', async () => {
      const { env, tasks } = setup({}, true);
      const worker = await env.startWorker({ pool, appModule, concurrency: 1 });
      const r = await tasks.softThenSpin.applyAsync([], { softTimeLimitSec: 1, timeLimitSec: 3 });
      await running(worker);
      env.clock!.advance(1_000);
      env.clock!.advance(2_000);
      const meta = await waitForState(env, r.id, 'FAILURE', 10_000);
      expect(meta.result).toMatchObject({ exc_type: 'TimeLimitExceeded' });
    });

    /**
     * A worker whose children never finish loading the app (fixtures/hanging-app.ts): each
     * writes a line to `loading` as it starts, and listens on the pool's abort signal while it
     * loads, so the count of listeners is the count of children made so far.
     */
    function hangingWorker(concurrency: number): { worker: Worker; loading: string; madeSoFar: () => number } {
      const { env } = setup();
      const loading = join(mkdtempSync(join(tmpdir(), 'celeriac-pool-loading-')), 'children');
      writeFileSync(loading, '');
      process.env['CELERIAC_TEST_LOADING_FILE'] = loading;
      const worker = new Worker(env.app, { hostname: 'w1@testhost', pool, appModule: new URL('./fixtures/hanging-app.ts', import.meta.url), concurrency });
      const signal = (worker.pool as unknown as { loading: AbortController }).loading.signal;
      return { worker, loading, madeSoFar: () => getEventListeners(signal, 'abort').length };
    }

    it('a close while the children still load the app module ends them at once; start returns', async () => {
      const { worker, loading } = hangingWorker(3);
      const starting = worker.start();
      const children = () => readFileSync(loading, 'utf8').split('\n').filter((line) => line !== '');
      await waitFor(() => children().length === 3, 'three children to load the app module', 30_000);
      await worker.close();
      // Before, start() waited for every child to load the app, which this one never does.
      await starting;
      expect(worker.state).toBe('closed');
      expect(worker.pool.stats().processes).toEqual([]);
      if (pool === 'prefork') {
        const pids = children().map((line) => Number(line.split(' ')[0]));
        await waitFor(() => pids.every((pid) => !alive(pid)), 'the child processes to end', 10_000);
      }
      rmSync(dirname(loading), { recursive: true, force: true });
    });

    it('makes its children one per turn of the event loop, so timers and signals are not held up by a large pool', async () => {
      const size = 8;
      const { worker, loading, madeSoFar } = hangingWorker(size);
      const made: number[] = [];
      let sampling = true;
      const sample = (): void => {
        made.push(madeSoFar());
        if (sampling) setImmediate(sample);
      };
      sample();
      const starting = worker.start();
      try {
        await waitFor(() => made.at(-1) === size, () => `${size} children made (${made.at(-1)} so far)`, 30_000);
      } finally {
        sampling = false;
        await worker.close();
        await starting;
      }
      // The most children made between two turns: all of them at once before.
      const steps = made.slice(1).map((n, i) => n - made[i]!);
      expect(Math.max(...steps)).toBeLessThanOrEqual(2);
      rmSync(dirname(loading), { recursive: true, force: true });
    });

    it('a close while the children are being made stops making them; start returns, nothing is left unhandled', async () => {
      const { worker, loading, madeSoFar } = hangingWorker(50);
      const starting = worker.start();
      try {
        await waitFor(() => madeSoFar() >= 2, 'two children made', 30_000);
      } finally {
        await worker.close();
      }
      // Before, the children made before the close rejected with nobody listening yet: an
      // unhandled rejection, which ended `celeriac worker -P threads -c 300` with exit 1.
      await starting;
      expect(worker.state).toBe('closed');
      expect(worker.pool.stats().processes).toEqual([]);
      rmSync(dirname(loading), { recursive: true, force: true });
    });

    it('refuses to start when a child cannot load the app module, and ends its children', async () => {
      const { env } = setup();
      const failing = env.startWorker({ pool, appModule: new URL('./fixtures/broken-app.ts', import.meta.url), concurrency: 2 });
      await expect(failing).rejects.toMatchObject({ code: ErrorCodes.APP_LOAD, message: expect.stringContaining('broken on purpose') });
    });
  });
}

/**
 * How long a result may take when the task needs a new child first (a replaced or restarted
 * one): a child's start is a node process loading the app, 15 s and more at load 20.
 */
const CHILD_START_MS = 40_000;

function childrenTests(pool: PoolKind, flags: FlagFiles): void {
  describe(`${pool} pool: children`, { timeout: 120_000 }, () => {
    afterEach(closeEnvs);

    it('a run\'s terminate (revoke with terminate) ends the child and fails the task with the reason', async () => {
      const { env, tasks } = setup();
      const worker = await env.startWorker({ pool, appModule, concurrency: 1 });
      const [first] = childIds(worker);
      const r = await tasks.spinForever.delay();
      await running(worker);
      for (const run of runHandles(worker)) run.terminate(new TaskRevokedError('terminated'));
      const meta = await waitForState(env, r.id, 'FAILURE', 10_000);
      expect(meta.result).toEqual({ exc_type: 'TaskRevokedError', exc_message: ['terminated'], exc_module: 'celery.exceptions' });
      expect(await (await tasks.whoami.delay()).get({ timeoutMs: CHILD_START_MS })).not.toBe(first);
    });

    it('a child that dies mid-task fails it with WorkerLostError and is replaced', async () => {
      const { env, tasks } = setup();
      const worker = await env.startWorker({ pool, appModule, concurrency: 1 });
      const [first] = childIds(worker);
      const r = await tasks.exit.delay();
      const meta = await waitForState(env, r.id, 'FAILURE', 10_000);
      expect(meta.result).toMatchObject({ exc_type: 'WorkerLostError', exc_module: 'billiard.exceptions' });
      expect(await (await tasks.whoami.delay()).get({ timeoutMs: CHILD_START_MS })).not.toBe(first);
    });

    it('maxTasksPerChild replaces a child after that many tasks', async () => {
      const { env, tasks } = setup();
      await env.startWorker({ pool, appModule, concurrency: 1, maxTasksPerChild: 2 });
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push(await (await tasks.whoami.delay()).get({ timeoutMs: CHILD_START_MS }));
      expect(ids[0]).toBe(ids[1]);
      expect(ids[2]).toBe(ids[3]);
      expect(new Set([ids[0], ids[2], ids[4]]).size).toBe(3);
      expect(env.lines.some((l) => String(l.msg).includes('maxTasksPerChild 2'))).toBe(true);
    });

    it('maxMemoryPerChildKib replaces a child whose heap grew past the limit, after its task', async () => {
      const { env, tasks } = setup();
      await env.startWorker({ pool, appModule, concurrency: 1, maxMemoryPerChildKib: 150_000 });
      const a = await (await tasks.whoami.delay()).get({ timeoutMs: CHILD_START_MS });
      const b = await (await tasks.whoami.delay()).get({ timeoutMs: CHILD_START_MS });
      expect(b).toBe(a);
      expect(await (await tasks.hog.delay(200)).get({ timeoutMs: CHILD_START_MS })).toBe(a);
      expect(await (await tasks.whoami.delay()).get({ timeoutMs: CHILD_START_MS })).not.toBe(a);
      expect(env.lines.some((l) => String(l.msg).includes('maxMemoryPerChildKib 150000'))).toBe(true);
    });

    it('resize grows and shrinks the number of children', async () => {
      const { env, tasks } = setup();
      const worker = await env.startWorker({ pool, appModule, concurrency: 1 });
      worker.pool.resize(3);
      await waitFor(() => childIds(worker).length === 3, 'two more children', 15_000);
      const flag = flags.next();
      const results = await Promise.all(Array.from({ length: 3 }, () => tasks.holdUntil.delay(flag)));
      // Three tasks running at once, one per child; they end when the flag is raised.
      await waitFor(() => worker.active === 3, 'three tasks running at once', 15_000);
      flags.raise(flag);
      const ran = await Promise.all(results.map((r) => r.get({ timeoutMs: 20_000 })));
      expect(new Set(ran).size).toBe(3);
      expect(childIds(worker)).toHaveLength(3);
      worker.pool.resize(1);
      expect(childIds(worker)).toHaveLength(1);
      expect(worker.pool.stats().maxConcurrency).toBe(1);
      // pool_grow past the limit of a worker's options is refused, not started.
      expect(() => worker.pool.resize(1025)).toThrow(/an integer from 1 to 1024, got 1025/);
      expect(worker.pool.stats().maxConcurrency).toBe(1);
    });

    it('a shutdown that gives up on a busy child ends it; the late-ack message goes back to the queue', async () => {
      const { env, tasks } = setup({ taskAcksLate: true });
      const worker = await env.startWorker({ pool, appModule, concurrency: 1 });
      const r = await tasks.spinForever.delay();
      await running(worker);
      await worker.close({ deadlineMs: 200 });
      expect(env.broker.settlements(r.id)).toEqual(['restore']);
      expect(childIds(worker)).toEqual([]);
      expect(worker.state).toBe('closed');
    });

    it('autoscale grows the pool with the tasks held, up to max', async () => {
      const { env, tasks } = setup();
      const worker = await env.startWorker({ pool, appModule, autoscale: { max: 3, min: 1 } });
      expect(childIds(worker)).toHaveLength(1);
      expect(worker.prefetchCount).toBe(3 * 4);
      // Held until the pool has grown: they end when the flag is raised.
      const flag = flags.next();
      const results = await Promise.all(Array.from({ length: 3 }, () => tasks.holdUntil.delay(flag)));
      await waitFor(() => childIds(worker).length === 3, 'the pool to grow to 3', 20_000);
      flags.raise(flag);
      // Which child ran which task depends on how fast the new ones start; every task ran.
      for (const id of await Promise.all(results.map((r) => r.get({ timeoutMs: 30_000 })))) expect(typeof id).toBe('number');
      expect(worker.setAutoscale({ max: 2, min: 1 })).toEqual({ max: 2, min: 1 });
      expect(worker.pool.size).toBe(2);
      expect(env.lines.some((l) => /^Scaling up \d+ processes\.$/.test(String(l.msg)))).toBe(true);
    });
  });
}

function processTests(): void {
  describe('prefork pool: processes', { timeout: 60_000 }, () => {
    afterEach(closeEnvs);

    it('a child killed mid-task: WorkerLostError as billiard words it, FAILURE stored and acked (late ack)', async () => {
      const { env, tasks } = setup({ taskAcksLate: true });
      const worker = await env.startWorker({ pool: 'prefork', appModule, concurrency: 1 });
      const [pid] = childIds(worker);
      const r = await tasks.hangOnce.delay();
      await running(worker);
      process.kill(pid!, 'SIGKILL');
      const meta = await waitForState(env, r.id, 'FAILURE', 10_000);
      expect(meta.result).toEqual({ exc_type: 'WorkerLostError', exc_message: ['Worker exited prematurely: signal 9 (SIGKILL) Job: 1.'], exc_module: 'billiard.exceptions' });
      await waitFor(() => env.broker.settlements(r.id).length >= 1, 'the lost task acked', 10_000);
      expect(env.broker.settlements(r.id)).toEqual(['ack']);
      await waitFor(() => childIds(worker).length === 1 && childIds(worker)[0] !== pid, 'a fresh child', 15_000);
    });

    it('with rejectOnWorkerLost the lost task goes back to its queue and runs again on a fresh child', async () => {
      const { env, tasks } = setup({ taskAcksLate: true, taskRejectOnWorkerLost: true, workerRedeliveryDelaySec: 0.05 });
      const worker = await env.startWorker({ pool: 'prefork', appModule, concurrency: 1 });
      const [pid] = childIds(worker);
      const r = await tasks.hangOnce.delay();
      await running(worker);
      process.kill(pid!, 'SIGKILL');
      const again = await r.get({ timeoutMs: 20_000 });
      expect(again).toMatch(/^ran again on \d+$/);
      expect(again).not.toBe(`ran again on ${pid}`);
      // Given back through the delayed set after a backoff (worker/redelivery.ts), marked redelivered.
      // The late ack follows the stored result, so the result can be read before the ack is made.
      await waitFor(() => env.broker.settlements(r.id).length >= 2, 'the redelivery acked', 10_000);
      expect(env.broker.settlements(r.id)).toEqual(['defer', 'ack']);
    });

    it('a revoke with terminate stops a child that traps SIGTERM (SIGKILL follows) and replaces it', async () => {
      const { env, tasks } = setup();
      const worker = await env.startWorker({ pool: 'prefork', appModule, concurrency: 1 });
      const [pid] = childIds(worker);
      const r = await tasks.stubborn.delay();
      await running(worker);
      expect((await worker.revoke(r.id, { terminate: true, signal: 'SIGTERM' })).terminated).toEqual([r.id]);
      await waitForState(env, r.id, 'REVOKED', 10_000);
      await waitFor(() => !alive(pid!), 'the stubborn child to be gone', 10_000);
      expect(await (await tasks.whoami.delay()).get({ timeoutMs: 15_000 })).not.toBe(pid);
    });
  });
}

/** True while a process with that id exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
