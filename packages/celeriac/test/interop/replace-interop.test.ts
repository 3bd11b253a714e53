/**
 * `replace` across languages on one Redis: a Celeriac task replaced by a Python task (run by
 * a Python worker) and by a group of Python tasks gives its caller the replacement's result;
 * a Python task replaced by Celeriac tasks, and by a group of them (Python's chord with a
 * `celery.accumulate` body, run by the Celeriac worker), gives Python's `get()` the result,
 * and the replacement sees Python's `replaced_task_nesting`. A replace Celery refuses (an
 * empty chain, a signature already in a chord) reaches a Python caller as Celery's own
 * `ImproperlyConfigured`, checked against a Python worker doing the same. Broker keys are
 * isolated by a kombu global_keyprefix; result keys are per task id and deleted afterwards.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { chain, group, signature, type App, type Worker } from '../../src/index.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('replace interop');
const T = { timeoutMs: 30_000 };

// Python tasks that replace themselves with Celeriac ones (queue 'ts').
const PY_REPLACING = `
from celery import group as _group

@app.task(name='py.replace_with_ts', bind=True)
def replace_with_ts(self, x):
    return self.replace(app.signature('ts.add', (x, 1), queue='ts'))

@app.task(name='py.replace_with_ts_group', bind=True)
def replace_with_ts_group(self, x):
    return self.replace(_group(app.signature('ts.add', (x, 1), queue='ts'), app.signature('ts.add', (x, 2), queue='ts')))

@app.task(name='py.replace_with_nesting', bind=True)
def replace_with_nesting(self):
    return self.replace(app.signature('ts.nesting', queue='ts'))

# Celery's refusals (the oracle for the Celeriac twins ts.replace_empty, ts.replace_chord_member).
from celery import chain as _chain

@app.task(name='py.replace_empty', bind=True)
def replace_empty(self):
    return self.replace(_chain())

@app.task(name='py.replace_chord_member', bind=True)
def replace_chord_member(self):
    return self.replace(app.signature('py.add', (1, 1), chord=app.signature('py.tsum')))
`;

describeOracles('ctx.replace between Python Celery and Celeriac', (oracle) => {
  const fleet = new MixedFleet('rtest', 9, oracle);
  const { py, taskIds } = fleet;
  let app: App;
  let worker: Worker;

  beforeAll(async () => {
    app = fleet.app({ taskDefaultQueue: 'ts' });
    app.task('ts.add', (x: number, y: number) => x + y);
    app.task('ts.nesting', { bind: true }, (ctx) => ctx.request.replacedTaskNesting);
    const pyAdd = (x: number, y: number) => signature<number>('py.add', [x, y], {}, { queue: 'py' });
    app.task('ts.replace_with_py', { bind: true }, (ctx, x: number) => ctx.replace(pyAdd(x, 10)));
    app.task('ts.replace_with_py_group', { bind: true }, (ctx, x: number) => ctx.replace(group(pyAdd(x, 1), pyAdd(x, 2))));
    app.task('ts.replace_empty', { bind: true }, (ctx) => ctx.replace(chain()));
    app.task('ts.replace_chord_member', { bind: true }, (ctx) => ctx.replace(pyAdd(1, 1).set({ chord: signature('py.tsum').toDict() })));
    // A chord body without a queue goes to the default queue of the worker that completes the
    // chord; for a Python worker that is 'celery' (the accumulate body of a group replace).
    worker = await fleet.worker(app, { queues: ['ts', 'celery'], concurrency: 4 });
    await fleet.python({ queues: ['py'], extraTasks: PY_REPLACING });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it('a Celeriac task replaced by a Python task: the Python worker runs it, both callers get its result', async () => {
    const r = await app.sendTask('ts.replace_with_py', [5]);
    taskIds.push(r.id);
    expect(await r.get(T)).toBe(15);
    const out = await runPython(py, `${PY_CLIENT}
r = app.send_task('ts.replace_with_py', args=(7,), queue='ts')
print(r.id); print(json.dumps(r.get(timeout=20)))`);
    const [id, value] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(value).toBe('17');
  }, 40_000);

  it('a Celeriac task replaced by a group of Python tasks gets the list of their results', async () => {
    const accumulated = worker.totals.get('celery.accumulate') ?? 0;
    const r = await app.sendTask('ts.replace_with_py_group', [5]);
    taskIds.push(r.id);
    expect(await r.get(T)).toEqual([6, 7]);
    // The chord's accumulate body ran here ('celery' queue); a worker counts a task after its
    // result is stored, so get() can return first: wait for the count before the next test reads it.
    await waitFor(() => worker.totals.get('celery.accumulate') === accumulated + 1, 'the accumulate body to be counted', { timeoutMs: 5000 });
  }, 40_000);

  it("a Python task replaced by Celeriac tasks: Python's get() has the result; accumulate and nesting work on Celeriac", async () => {
    const accumulated = worker.totals.get('celery.accumulate') ?? 0;
    const out = await runPython(py, `${PY_CLIENT}
for name, args in (('py.replace_with_ts', (1,)), ('py.replace_with_ts_group', (1,)), ('py.replace_with_nesting', ())):
    r = app.send_task(name, args=args, queue='py')
    print(r.id); print(json.dumps(r.get(timeout=20)))`);
    const [id1, single, id2, grouped, id3, nesting] = out.trim().split('\n');
    taskIds.push(id1 as string, id2 as string, id3 as string);
    expect(single).toBe('2');
    expect(JSON.parse(grouped as string)).toEqual([2, 3]);
    expect(nesting).toBe('1');
    // Python's chord body for the group (celery.accumulate, index=0) ran on the Celeriac worker.
    expect(worker.totals.get('celery.accumulate')).toBe(accumulated + 1);
  }, 60_000);

  it('a refused replace reaches a Python caller as Celery raises it: ImproperlyConfigured, same module and message', async () => {
    // The same script against Python's own tasks (the oracle) and the Celeriac twins.
    const out = await runPython(py, `${PY_CLIENT}
for q in ('py', 'ts'):
    for what in ('replace_empty', 'replace_chord_member'):
        r = app.send_task(q + '.' + what, queue=q)
        print(r.id)
        try:
            print(json.dumps(['ok', r.get(timeout=20)]))
        except Exception as e:
            print(json.dumps([type(e).__module__, type(e).__name__, str(e)]))`);
    const lines = out.trim().split('\n');
    const got = (i: number) => JSON.parse(lines[i * 2 + 1] as string) as unknown;
    taskIds.push(...lines.filter((_, i) => i % 2 === 0));
    const empty = ['celery.exceptions', 'ImproperlyConfigured', 'Cannot replace with an empty chain'];
    const member = ['celery.exceptions', 'ImproperlyConfigured', 'A signature replacing a task must not be part of a chord'];
    expect([got(0), got(1)], 'Python worker').toEqual([empty, member]);
    expect([got(2), got(3)], 'Celeriac worker').toEqual([empty, member]);
  }, 60_000);
}, ready);
