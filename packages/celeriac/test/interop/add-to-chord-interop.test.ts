/**
 * `add_to_chord` across languages on one Redis: a header part of a chord adds tasks, or a
 * whole chord, to its own chord (Celery 5.2.6's `Task.add_to_chord`: INCR of the chord's
 * `.t` key, then the part is sent with the chord's group id; Celeriac's `ctx.addToChord`).
 * The adding part, the added parts and the body each run on a Python or a Celeriac worker,
 * in every mix, sent by a Python caller and by a Celeriac caller; all-Python is the oracle,
 * and every mix must return its result. Broker keys are isolated by a kombu global_keyprefix;
 * result keys are per task id and deleted afterwards.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chord, group, signature, type App } from '../../src/index.js';
import type { Json } from '../../src/protocol/types.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('add_to_chord interop');
const T = { timeoutMs: 30_000 };

const PY_ADDING = `
from celery import group as _group

def _sig(q, name, *args):
    return app.signature(q + '.' + name, args=args, queue=q)

@app.task(name='py.add_to_chord', bind=True)
def add_to_chord(self, nums, val, q):
    for n in nums:
        self.add_to_chord(_sig(q, 'add', n, val))
    return 0

@app.task(name='py.add_chord_to_chord', bind=True)
def add_chord_to_chord(self, nums, val, q):
    self.add_to_chord(_group([_sig(q, 'add', n, val) for n in nums]) | _sig(q, 'tsum'))
    return 0

@app.task(name='py.sorted')
def py_sorted(values):
    return sorted(values)
`;

/**
 * [adding part's queue, added parts' queue, body's queue]; the first is all-Python, the oracle.
 * The header is the adding part and `add(2, 2)` on the adding part's queue.
 */
const MIXES = [
  ['py', 'py', 'py'],
  ['ts', 'ts', 'ts'],
  ['ts', 'py', 'py'],
  ['py', 'ts', 'ts'],
  ['ts', 'py', 'ts'],
  ['py', 'ts', 'py'],
] as const;
/** nums [1, 2, 3], val 4: tasks add 5, 6, 7; a chord adds their sum; 0 from the adding part, 4 from add(2, 2). */
const EXPECTED = { add_to_chord: [0, 4, 5, 6, 7], add_chord_to_chord: [0, 4, 18] };
const KINDS = ['add_to_chord', 'add_chord_to_chord'] as const;

describeOracles('add_to_chord between Python Celery and Celeriac', (oracle) => {
  const fleet = new MixedFleet('atctest', 9, oracle);
  const { py, taskIds } = fleet;
  let app: App;

  beforeAll(async () => {
    app = fleet.app({ taskDefaultQueue: 'ts' });
    const sig = (q: string, name: string, ...args: Json[]) => signature(`${q}.${name}`, args, {}, { queue: q }, app);
    app.task('ts.add', (x: number, y: number) => x + y);
    app.task('ts.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    app.task('ts.sorted', (values: number[]) => [...values].sort((a, b) => a - b));
    app.task('ts.add_to_chord', { bind: true }, async (ctx, nums: number[], val: number, q: string) => {
      for (const n of nums) await ctx.addToChord(sig(q, 'add', n, val));
      return 0;
    });
    app.task('ts.add_chord_to_chord', { bind: true }, async (ctx, nums: number[], val: number, q: string) => {
      await ctx.addToChord(chord(group(nums.map((n) => sig(q, 'add', n, val))), sig(q, 'tsum')));
      return 0;
    });
    await fleet.worker(app, { queues: ['ts'], concurrency: 4 });
    await fleet.python({ queues: ['py'], concurrency: 4, extraTasks: PY_ADDING });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it('sent by Python: every mix of Python and Celeriac workers returns what all-Python returns', async () => {
    const script = `${PY_CLIENT}
from celery import chord
mixes = json.loads(sys.argv[1])
for kind in ('add_to_chord', 'add_chord_to_chord'):
    for a, b, body in mixes:
        s = lambda q, name, *args: app.signature(q + '.' + name, args=args, queue=q)
        r = chord([s(a, kind, [1, 2, 3], 4, b), s(a, 'add', 2, 2).set(immutable=True)], s(body, 'sorted')).apply_async()
        try:
            print(json.dumps([kind, '/'.join((a, b, body)), r.id, r.get(timeout=30)]))
        except Exception as e:
            print(json.dumps([kind, '/'.join((a, b, body)), r.id, 'ERROR %s: %s' % (type(e).__name__, e)]))
        sys.stdout.flush()`;
    const out = await runPython(py, script, [JSON.stringify(MIXES)], 150_000);
    const rows = out.trim().split('\n').map((line) => JSON.parse(line) as [string, string, string, Json]);
    taskIds.push(...rows.map(([, , id]) => id));
    const got = rows.map(([kind, mix, , value]) => [kind, mix, value]);
    expect(got).toEqual(KINDS.flatMap((kind) => MIXES.map((m) => [kind, m.join('/'), EXPECTED[kind]])));
  }, 180_000);

  it('sent by Celeriac: every mix returns the same, the Python worker adding to a chord Celeriac sent and the other way', async () => {
    const got: [string, string, unknown][] = [];
    for (const kind of KINDS) {
      for (const [a, b, body] of MIXES) {
        const s = (q: string, name: string, ...args: Json[]) => signature(`${q}.${name}`, args, {}, { queue: q }, app);
        const r = await chord([s(a, kind, [1, 2, 3], 4, b), s(a, 'add', 2, 2).clone({ immutable: true })], s(body, 'sorted')).applyAsync();
        taskIds.push(r.id);
        got.push([kind, [a, b, body].join('/'), await r.get(T).catch((e: unknown) => `ERROR ${(e as Error).name}: ${(e as Error).message}`)]);
      }
    }
    expect(got).toEqual(KINDS.flatMap((kind) => MIXES.map((m) => [kind, m.join('/'), EXPECTED[kind]])));
  }, 180_000);
}, ready);
