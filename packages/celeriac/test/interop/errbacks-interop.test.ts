/**
 * New-style errbacks across languages on one Redis (Celery 5.2.6's `_call_task_errbacks`): an
 * errback task taking `(request, exc, traceback, ...)` is called by the worker where the task
 * failed, in that worker, with the failed request. The same workflows (a task, a chain whose
 * middle step fails, a group with two failing members, a chord whose header part fails, a
 * chain ending in such a chord) are sent by a Python caller and by a Celeriac caller to a
 * Python worker (the oracle, `py.on_error` records to Redis what it was called with) and to a
 * Celeriac worker (`ts.on_error`, `errbackStyle: 'request'`), and every
 * record must say the same: the failed request's id and task, the error's type and message,
 * whether a traceback came (none for a chord, as Celery fakes the body's request). A failed
 * chord's old-style errbacks are listed in its `children` for a Python caller. Broker keys
 * are isolated by a kombu global_keyprefix; the record lists live under it too.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chain, chord, group, GroupResult, signature, type App, type AsyncResult, type TaskRequest } from '../../src/index.js';
import { waitFor } from '../../src/testing/index.js';
import type { Json } from '../../src/protocol/types.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('errbacks interop');
const T = { timeoutMs: 30_000 };
const QUEUES = ['py', 'ts'] as const;
const SHAPES = ['task', 'chain', 'group', 'chord', 'tail'] as const;
type Shape = (typeof SHAPES)[number];

/** What an errback was called with, as both languages record it. */
interface Called {
  id: string;
  task: string;
  exc: string;
  traceback: boolean;
  extra: Json[];
}

const PY_ERRBACKS = `
import json as _json

# An old-style errback: sent as a task with the failed id first.
@app.task(name='py.record_id')
def record_id(task_id):
    return task_id

@app.task(name='py.tfail')
def tfail(msg):
    raise TypeError(msg)

# A new-style errback: Celery sees more than one parameter and calls it in the failing worker.
@app.task(name='py.on_error')
def on_error(request, exc, traceback, key):
    import redis
    record = {'id': request.id, 'task': request.task, 'exc': '%s: %s' % (type(exc).__name__, exc),
              'traceback': traceback is not None, 'extra': [key]}
    redis.Redis.from_url(os.environ['CELERY_BACKEND']).rpush(key, _json.dumps(record))
`;

describeOracles('new-style errbacks between Python Celery and Celeriac', (oracle) => {
  const fleet = new MixedFleet('ebtest', 9, oracle);
  const { py, taskIds } = fleet;
  let app: App;
  const seen: Called[] = [];
  const redis = createClient({ url: py.backend });

  beforeAll(async () => {
    await redis.connect();
    app = fleet.app({ taskDefaultQueue: 'ts' });
    app.task('ts.add', (x: number, y: number) => x + y);
    app.task('ts.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    app.task('ts.tfail', (msg: string) => {
      throw new TypeError(msg);
    });
    app.task('ts.record_id', (taskId: string) => taskId);
    app.task('ts.on_error', { errbackStyle: 'request' }, (request: TaskRequest, error: unknown, traceback: string | null, key: string) => {
      const e = error as Error;
      seen.push({ id: request.id, task: request.task, exc: `${e.name}: ${e.message}`, traceback: traceback !== null, extra: [key] });
      return null;
    });
    await fleet.worker(app, { queues: ['ts'], concurrency: 4 });
    await fleet.python({ queues: ['py'], concurrency: 2, extraTasks: PY_ERRBACKS });
  }, 60_000);

  afterAll(async () => {
    redis.destroy();
    await fleet.close();
  }, 30_000);

  /** The record list of one errback key (each language's errback writes its own). */
  const key = (caller: string, queue: string, shape: string) => `${fleet.prefix}eb:${caller}:${queue}:${shape}`;

  async function calls(queue: string, k: string): Promise<Called[]> {
    const got = queue === 'ts' ? seen.filter((c) => c.extra[0] === k) : (await redis.lRange(k, 0, -1)).map((line) => JSON.parse(line) as Called);
    return [...got].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Waits until the errback at `k` was called `n` times; each test checks at its end that it was not called more. */
  async function called(queue: string, k: string, n: number): Promise<Called[]> {
    await waitFor(async () => (await calls(queue, k)).length >= n, `${n} call(s) of the errback ${k}`, 20_000);
    return calls(queue, k);
  }

  /**
   * What Celery calls the errback with, per failed id: the failed task's request, or for a
   * chord the body's (faked) request with the ChordError and no traceback.
   */
  function expected(queue: string, shape: Shape, failedIds: string[], k: string) {
    const chordError = (part: string) => expect.stringMatching(new RegExp(`^ChordError: Dependency \\S+ raised TypeError\\('${part}'\\)$`)) as unknown;
    const one = (id: string, i: number) => {
      if (shape === 'chord' || shape === 'tail') return { id, task: `${queue}.tsum`, exc: chordError(shape), traceback: false, extra: [k] };
      return { id, task: `${queue}.tfail`, exc: `TypeError: ${shape === 'group' ? ['group-a', 'group-b'][i] : shape}`, traceback: true, extra: [k] };
    };
    return failedIds.map(one).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** What the caller's get() raises, as `Type: message`. */
  function callerError(shape: Shape): unknown {
    if (shape === 'chord' || shape === 'tail') return expect.stringMatching(new RegExp(`^ChordError: Dependency \\S+ raised TypeError\\('${shape}'\\)$`));
    // A group's get() raises the first failure to arrive (Python's join_native on Redis), either member's.
    if (shape === 'group') return expect.stringMatching(/^TypeError: group-[ab]$/);
    return `TypeError: ${shape}`;
  }

  it('a Python caller links a new-style errback: the Python worker (oracle) and the Celeriac worker call it alike', async () => {
    const script = `${PY_CLIENT}
from celery import chain, chord, group
pfx = sys.argv[1]
for q in ('py', 'ts'):
    s = lambda name, *a: app.signature(q + '.' + name, args=a, queue=q)
    si = lambda name, *a: s(name, *a).set(immutable=True)
    eb = lambda shape: app.signature(q + '.on_error', args=('%seb:py:%s:%s' % (pfx, q, shape),), queue=q)
    g = group(s('tfail', 'group-a'), s('add', 1, 1), s('tfail', 'group-b'))
    g.link_error(eb('group'))  # on every member: group.apply_async(link_error=) is refused
    runs = (
        ('task', s('tfail', 'task').apply_async(link_error=eb('task'))),
        ('chain', chain(s('add', 1, 1), si('tfail', 'chain'), s('add', 1)).apply_async(link_error=eb('chain'))),
        ('group', g.apply_async()),
        # A chord's errbacks go on its body (chord.link_error); apply_async(link_error=) would give them to the header group.
        ('chord', chord([s('add', 1, 1), si('tfail', 'chord')], s('tsum').on_error(eb('chord'))).apply_async()),
        ('tail', chain(s('add', 1, 1), chord([s('add', 1), si('tfail', 'tail')], s('tsum'))).apply_async(link_error=eb('tail'))),
    )
    for shape, r in runs:
        failed = [r.parent.id] if shape == 'chain' else [r.results[0].id, r.results[2].id] if shape == 'group' else [r.id]
        try:
            (r if shape == 'group' else app.AsyncResult(r.id)).get(timeout=20)
            print(json.dumps([q, shape, r.id, failed, 'no error']))
        except Exception as e:
            print(json.dumps([q, shape, r.id, failed, '%s: %s' % (type(e).__name__, e)]))
        sys.stdout.flush()`;
    const out = await runPython(py, script, [fleet.prefix], 90_000);
    const rows = out.trim().split('\n').map((line) => JSON.parse(line) as [string, Shape, string, string[], string]);
    expect(rows.map(([q, shape]) => `${q}:${shape}`)).toEqual(QUEUES.flatMap((q) => SHAPES.map((sh) => `${q}:${sh}`)));
    for (const [q, shape, id, failedIds, error] of rows) {
      taskIds.push(id, ...failedIds);
      // The caller sees the failure as Celery raises it, whichever worker ran the workflow.
      expect(error, `${q} ${shape}`).toEqual(callerError(shape));
      const k = key('py', q, shape);
      expect(await called(q, k, failedIds.length), `${q} ${shape}`).toEqual(expected(q, shape, failedIds, k));
    }
    // Called once per failed task, in the failing worker: not sent on as an old-style task with the id.
    for (const [q, shape, , failedIds] of rows) expect(await calls(q, key('py', q, shape)), `${q} ${shape}`).toHaveLength(failedIds.length);
  }, 120_000);

  it('a Celeriac caller links a new-style errback: the Python worker calls it as the Celeriac worker does', async () => {
    const rows: [string, Shape, string[]][] = [];
    for (const q of QUEUES) {
      const s = (name: string, ...args: Json[]) => signature(`${q}.${name}`, args, {}, { queue: q }, app);
      const si = (name: string, ...args: Json[]) => s(name, ...args).clone({ immutable: true });
      const eb = (shape: string) => signature(`${q}.on_error`, [key('ts', q, shape)], {}, { queue: q }, app);
      const runs: [Shape, AsyncResult | GroupResult][] = [
        ['task', await s('tfail', 'task').applyAsync([], { linkError: eb('task') })],
        ['chain', await chain(s('add', 1, 1), si('tfail', 'chain'), s('add', 1)).applyAsync([], { linkError: eb('chain') })],
        ['group', await group(s('tfail', 'group-a'), s('add', 1, 1), s('tfail', 'group-b')).set({ linkError: eb('group') }).applyAsync()],
        ['chord', await chord([s('add', 1, 1), si('tfail', 'chord')], s('tsum').linkError(eb('chord'))).applyAsync()],
        ['tail', await chain(s('add', 1, 1), chord([s('add', 1), si('tfail', 'tail')], s('tsum'))).applyAsync([], { linkError: eb('tail') })],
      ];
      for (const [shape, r] of runs) {
        const failedIds = r instanceof GroupResult ? [r.ids[0], r.ids[2]] as string[] : [shape === 'chain' ? (r.parent?.id as string) : r.id];
        taskIds.push(...(r instanceof GroupResult ? r.ids : [r.id]), ...failedIds);
        const err = (await (r instanceof GroupResult ? r : app.asyncResult(r.id)).get(T).catch((e: unknown) => e)) as Error;
        expect(`${err.name}: ${err.message}`, `${q} ${shape}`).toEqual(callerError(shape));
        const k = key('ts', q, shape);
        expect(await called(q, k, failedIds.length), `${q} ${shape}`).toEqual(expected(q, shape, failedIds, k));
        rows.push([q, shape, failedIds]);
      }
    }
    for (const [q, shape, failedIds] of rows) expect(await calls(q, key('ts', q, shape)), `${q} ${shape}`).toHaveLength(failedIds.length);
  }, 120_000);

  it("a failed chord lists the old-style errbacks it sent as its children, for a Python caller, as on a Python worker", async () => {
    const out = await runPython(py, `${PY_CLIENT}
import time
from celery import chord

def ready(x):
    # Polls the stored state: get() on an errback result that may already be there can miss
    # its only pubsub message (subscribe after the publish) and wait out its timeout.
    deadline = time.time() + 30
    while not x.ready():
        if time.time() > deadline:
            return 'not ready: %s %s' % (x.id, x.state)
        time.sleep(0.05)
    return x.result

for q in ('py', 'ts'):
    s = lambda name, *a: app.signature(q + '.' + name, args=a, queue=q)
    r = chord([s('add', 1, 1), s('tfail', 'chord').set(immutable=True)], s('tsum').on_error(s('record_id'))).apply_async()
    err = None
    try:
        app.AsyncResult(r.id).get(timeout=20)
    except Exception as e:
        err = type(e).__name__
    # Celery stores the children with the failure: a fresh handle reads them at once.
    children = app.AsyncResult(r.id).children or []
    sent = [[ready(x) for x in c.results] for c in children]
    print(json.dumps([q, r.id, err, [type(c).__name__ for c in children], sent]))`);
    const rows = out.trim().split('\n').map((line) => JSON.parse(line) as [string, string, string, string[], string[][]]);
    taskIds.push(...rows.map(([, id]) => id));
    // One group of errbacks sent, its one member called with the failed body's id.
    expect(rows).toEqual(QUEUES.map((q, i) => [q, rows[i]?.[1], 'ChordError', ['GroupResult'], [[rows[i]?.[1]]]]));
  }, 60_000);
}, ready);
