/**
 * Python Celery (5.2 and 5.6) and Celeriac on one Redis: tasks, results, errors and kwargs cross in
 * both directions. Broker keys are isolated by a kombu global_keyprefix per run; result keys
 * are per task id and deleted afterwards.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TaskError, Worker, type App } from 'celeriac';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('interop');

describeOracles('Python Celery <-> Celeriac on Redis', (oracle) => {
  const fleet = new MixedFleet('itest', 9, oracle);
  const { py, taskIds } = fleet;
  let app: App;

  beforeAll(async () => {
    app = fleet.app({ taskDefaultQueue: 'ts' });
    app.task('ts.add', (x: number, y: number) => x + y);
    app.task('ts.fail', () => {
      throw new TypeError('ts side failed');
    });
    app.task('ts.greet', { params: ['name', 'greeting'] }, (name: string, greeting = 'hello') => `${greeting}, ${name}`);
    await fleet.worker(app, { queues: ['ts'], concurrency: 4 });
    // One Python worker for the suite: its own queue and the mixed one.
    await fleet.python({ queues: ['py', 'mixed'], name: 'py-mixed@%h' });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it('a task sent by Python runs on Celeriac and Python gets the result', async () => {
    const out = await runPython(py, `${PY_CLIENT}
r = app.send_task('ts.add', args=[2, 3], queue='ts')
print(r.id); print(json.dumps(r.get(timeout=20)))`);
    const [id, value] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(value).toBe('5');
  });

  it('kwargs from Python reach the TypeScript handler by name', async () => {
    const out = await runPython(py, `${PY_CLIENT}
r = app.send_task('ts.greet', args=['Ada'], kwargs={'greeting': 'hi'}, queue='ts')
print(r.id); print(json.dumps(r.get(timeout=20)))`);
    const [id, value] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(JSON.parse(value as string)).toBe('hi, Ada');
  });

  it('an error thrown in TypeScript is an exception in Python, with type and message', async () => {
    const out = await runPython(py, `${PY_CLIENT}
r = app.send_task('ts.fail', queue='ts')
print(r.id)
try:
    r.get(timeout=20)
except Exception as e:
    print(type(e).__name__); print(str(e))`);
    const [id, name, message] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(name).toBe('TypeError');
    expect(message).toBe('ts side failed');
  });

  it('a task sent by Celeriac runs on Python and Celeriac gets the result', async () => {
    const r = await app.sendTask('py.add', [40, 2], {}, { queue: 'py' });
    taskIds.push(r.id);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(42);
    const e = await app.sendTask('py.echo', [1], { k: 'v' }, { queue: 'py' });
    taskIds.push(e.id);
    expect(await e.get({ timeoutMs: 20_000 })).toEqual({ args: [1], kwargs: { k: 'v' } });
  });

  it('a bulk send from Celeriac runs on Python, each call with its own arguments', async () => {
    // Runs of like messages are written from one envelope layout; the echo call in the middle
    // is encoded in full and starts a new run.
    const calls = Array.from({ length: 30 }, (_, i) =>
      i === 10 ? { name: 'py.echo', args: ['é', i], kwargs: { k: 'ü' }, options: { queue: 'py' } } : { name: 'py.add', args: [i, 100], options: { queue: 'py' } },
    );
    const results = await app.sendTasks(calls);
    taskIds.push(...results.map((r) => r.id));
    const values = await Promise.all(results.map((r) => r.get({ timeoutMs: 20_000 })));
    expect(values).toEqual(calls.map((_, i) => (i === 10 ? { args: ['é', 10], kwargs: { k: 'ü' } } : i + 100)));
  });

  it('a Python ValueError is a typed error in TypeScript', async () => {
    const r = await app.sendTask('py.fail', ['nope'], {}, { queue: 'py' });
    taskIds.push(r.id);
    const err = await r.get({ timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ name: 'ValueError', excModule: 'builtins', message: 'nope' });
    expect((err as TaskError).traceback).toMatch(/ValueError: nope/);
  });

  it('countdown and priority work from Python to Celeriac', async () => {
    const out = await runPython(py, `${PY_CLIENT}
import time
t0 = time.time()
r = app.send_task('ts.add', args=[1, 1], queue='ts', countdown=1.5, priority=7)
print(r.id); print(json.dumps(r.get(timeout=20))); print(time.time() - t0)`);
    const [id, value, elapsed] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(value).toBe('2');
    expect(Number(elapsed)).toBeGreaterThanOrEqual(1.4);
  });

  it('countdown and priority work from Celeriac to Python', async () => {
    const t0 = Date.now();
    const r = await app.sendTask('py.add', [2, 2], {}, { queue: 'py', countdown: 1.5, priority: 7 });
    taskIds.push(r.id);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
  });

  it('a mixed fleet on one queue runs 1,000 tasks with none lost, on both workers', async () => {
    const app = fleet.newApp({ resultExtended: true });
    app.task('mix.add', (x: number, y: number) => x + y);
    const worker = new Worker(app, { queues: ['mixed'], concurrency: 8, hostname: 'ts-mixed@%h' });
    try {
      await worker.start();
      const results = [];
      for (let i = 0; i < 1000; i += 1) results.push(await app.sendTask('mix.add', [i, 1], {}, { queue: 'mixed' }));
      taskIds.push(...results.map((r) => r.id));
      const values = await Promise.all(results.map((r) => r.get({ timeoutMs: 60_000 })));
      expect(values).toEqual(results.map((_, i) => i + 1));
      const metas = await app.backend.getMany(results.map((r) => r.id));
      const byWorker = new Map<string, number>();
      for (const m of metas) byWorker.set(String(m?.worker), (byWorker.get(String(m?.worker)) ?? 0) + 1);
      expect([...byWorker.keys()].some((w) => w.startsWith('ts-mixed@'))).toBe(true);
      expect([...byWorker.keys()].some((w) => w.startsWith('py-mixed@'))).toBe(true);
      expect([...byWorker.values()].reduce((a, b) => a + b, 0)).toBe(1000);
    } finally {
      await worker.close({ deadlineMs: 5000 });
      await app.close();
    }
  }, 120_000);
}, ready);

