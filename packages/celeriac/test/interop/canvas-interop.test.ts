/**
 * Canvas across languages on one Redis (docs/protocol.md §1.7, §3.7): a chain and a chord
 * sent by Python Celery 5.2.6 run on Celeriac workers and Python gets the final result; the
 * same sent by Celeriac run on Python workers; a chord whose header runs on Python workers
 * and body on a Celeriac worker; a chord whose header parts are split between the two, which
 * only works if both write the same join keys. Broker keys are isolated by a kombu
 * global_keyprefix; result keys are per task id and deleted afterwards.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ChordError, chain, chord, group, signature, type App } from '../../src/index.js';
import type { Json } from '../../src/protocol/types.js';
import { PY_SHAPE_KIT, PY_SHAPE_TASKS, SHAPES, type ShapeKit } from '../canvas/shapes.js';
import { settle } from '../canvas/hang.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('canvas interop');
const T = { timeoutMs: 30_000 };

describeOracles('canvas between Python Celery and Celeriac', (oracle) => {
  const fleet = new MixedFleet('ctest', 9, oracle);
  const { py, taskIds } = fleet;
  let app: App;

  beforeAll(async () => {
    app = fleet.app({ taskDefaultQueue: 'ts' });
    app.task('ts.add', (x: number, y: number) => x + y);
    app.task('ts.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    app.task('ts.fail', (msg: string) => {
      throw new TypeError(msg);
    });
    await fleet.worker(app, { queues: ['ts'], concurrency: 4 });
    app.task('t.ident', (x: Json) => x);
    app.task('t.add', (x: number, y: number) => x + y);
    app.task('t.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    app.task('t.pack', (...args: Json[]) => args);
    await fleet.python({ queues: ['py'], concurrency: 4, extraTasks: PY_SHAPE_TASKS });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  const ts = (name: string, args: number[] = []) => signature<number>(name, args, {}, { queue: 'ts' }, app);
  const pys = (name: string, args: number[] = []) => signature<number>(name, args, {}, { queue: 'py' }, app);

  it('a chain sent by Python runs on Celeriac workers; Python gets the final result', async () => {
    const out = await runPython(py, `${PY_CLIENT}
from celery import chain
s = lambda *a: app.signature('ts.add', args=a, queue='ts')
r = chain(s(1, 2), s(10), app.signature('ts.add', args=(100, 200), queue='ts', immutable=True), s(5)).apply_async()
print(r.id); print(json.dumps(r.get(timeout=20)))`);
    const [id, value] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(value).toBe('305');
  }, 40_000);

  it('a chord sent by Python runs on Celeriac workers; Python gets the body result', async () => {
    const out = await runPython(py, `${PY_CLIENT}
from celery import chord, chain
s = lambda *a: app.signature('ts.add', args=a, queue='ts')
r = chord([s(1, 1), s(2, 2), s(3, 3)], app.signature('ts.tsum', queue='ts')).apply_async()
print(r.id); print(json.dumps(r.get(timeout=20)))
c = chain(s(1, 1), chord([s(1), s(2)], app.signature('ts.tsum', queue='ts')), s(100)).apply_async()
print(c.id); print(json.dumps(c.get(timeout=20)))`);
    const [id, value, chainId, chainValue] = out.trim().split('\n');
    taskIds.push(id as string, chainId as string);
    expect(value).toBe('12');
    // The chord inside the chain travels as Celery's celery.chord dict and is expanded by the Celeriac worker.
    expect(chainValue).toBe('107');
  }, 40_000);

  it('a chain and a chord sent by Celeriac run on Python workers', async () => {
    const c = await chain(pys('py.add', [2, 2]), pys('py.add', [4])).applyAsync();
    taskIds.push(c.id);
    expect(await c.get(T)).toBe(8);
    const r = await chord([pys('py.add', [1, 1]), pys('py.add', [2, 2])], pys('py.tsum')).applyAsync();
    taskIds.push(r.id);
    expect(await r.get(T)).toBe(6);
  }, 40_000);

  it('a chord whose header runs on Python workers and body on a Celeriac worker', async () => {
    const r = await chord([pys('py.add', [1, 2]), pys('py.add', [3, 4]), pys('py.add', [5, 6])], ts('ts.tsum')).applyAsync();
    taskIds.push(r.id);
    expect(await r.get(T)).toBe(21);
    // Sent by Python too: the Python worker finishing the last part publishes the body to the Celeriac queue.
    const out = await runPython(py, `${PY_CLIENT}
from celery import chord
r = chord([app.signature('py.add', args=(10, 10), queue='py'), app.signature('py.add', args=(1, 1), queue='py')],
          app.signature('ts.tsum', queue='ts')).apply_async()
print(r.id); print(json.dumps(r.get(timeout=20)))`);
    const [id, value] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(value).toBe('22');
  }, 40_000);

  it('one chord, header parts split between Python and Celeriac workers, shares the join', async () => {
    const r = await chord([pys('py.add', [1, 1]), ts('ts.add', [2, 2]), pys('py.add', [3, 3]), ts('ts.add', [4, 4])], pys('py.tsum')).applyAsync();
    taskIds.push(r.id);
    expect(await r.get(T)).toBe(20);
  }, 40_000);

  it('a failing Celeriac header part fails the chord for a Python caller with ChordError', async () => {
    const out = await runPython(py, `${PY_CLIENT}
from celery import chord
r = chord([app.signature('ts.add', args=(1, 1), queue='ts'), app.signature('ts.fail', args=('nope',), queue='ts')],
          app.signature('py.tsum', queue='py')).apply_async()
print(r.id)
try:
    # A fresh handle: r itself knows its header and would re-raise the header's own error first.
    app.AsyncResult(r.id).get(timeout=20)
except Exception as e:
    print(type(e).__name__); print(str(e))`);
    const [id, name, message] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(name).toBe('ChordError');
    expect(message).toMatch(/^Dependency \S+ raised TypeError\('nope'\)$/);
    // And a Celeriac caller of a Python-run chord whose part fails gets ChordError too.
    const r = await chord([pys('py.add', [1, 1]), signature('py.fail', ['bad'], {}, { queue: 'py' }, app)], ts('ts.tsum')).applyAsync();
    taskIds.push(r.id);
    const err = await r.get(T).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChordError);
    expect((err as Error).message).toMatch(/^Dependency \S+ raised ValueError\('bad'\)$/);
  }, 40_000);

  /** Shape builders over signatures routed to `queue`. */
  const kit = (queue: string): ShapeKit => {
    const t = (name: string, ...args: Json[]) => signature(name, args, {}, { queue }, app);
    return { t, ti: (name, ...args) => t(name, ...args).clone({ immutable: true }), chain, group, chord };
  };

  it('every hard shape, sent by Python: a Python worker (the oracle) and Celeriac workers return the same result', async () => {
    // The kit reads the global Q when a shape is built: the loop variable.
    const script = `${PY_CLIENT}${PY_SHAPE_KIT}
shapes = [${SHAPES.map((sh) => `lambda: ${sh.py}`).join(',\n')}]
for Q in sys.argv[1:]:
    for i, build in enumerate(shapes):
        r = build().apply_async()
        try:
            print(json.dumps([Q, i, r.get(timeout=30)]))
        except Exception as e:
            print(json.dumps([Q, i, 'ERROR %s: %s' % (type(e).__name__, e)]))
        sys.stdout.flush()
`;
    const out = await runPython(py, script, ['py', 'ts'], 120_000);
    const got = out.trim().split('\n').map((line) => JSON.parse(line) as [string, number, Json]);
    for (const queue of ['py', 'ts']) {
      const results = got.filter(([q]) => q === queue).map(([, i, value]) => [SHAPES[i]?.name, value]);
      expect(results, `sent by Python to ${queue}`).toEqual(SHAPES.map((sh) => [sh.name, JSON.parse(sh.expected)]));
    }
  }, 150_000);

  it('every hard shape, sent by Celeriac, returns Celery\'s result on Python workers and on Celeriac workers', async () => {
    const probe = { backend: app.backend };
    for (const queue of ['py', 'ts']) {
      const results: [string, unknown][] = [];
      for (const shape of SHAPES) {
        const r = await shape.build(kit(queue)).applyAsync();
        results.push([shape.name, await settle(r, probe, 30_000)]);
      }
      expect(results, `sent by Celeriac to ${queue}`).toEqual(SHAPES.map((sh) => [sh.name, JSON.parse(sh.expected)]));
    }
  }, 150_000);
}, ready);
