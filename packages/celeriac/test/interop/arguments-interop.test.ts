/**
 * A bad call seen from Python: the same `mix.add(x, y)` task in a Python Celery worker and in
 * a Celeriac worker, called by a Python producer with too few, too many and mistyped
 * arguments. The Python caller gets the same exception class and text from both.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('arguments interop');

/** Sends each call to `queue` from Python and prints what `get()` raised (or returned). */
const PY_CALLS = `${PY_CLIENT}
calls = json.loads(sys.argv[1])
out = []
for args in calls:
    r = app.send_task('mix.add', args=args, queue=sys.argv[2])
    try:
        out.append({'value': r.get(timeout=30)})
    except Exception as e:
        out.append({'type': type(e).__name__, 'text': str(e)})
    finally:
        r.forget()
print(json.dumps(out))
`;

describeOracles('argument errors between Python callers and Celeriac workers', (oracle) => {
  const fleet = new MixedFleet('xargs', 9, oracle);
  beforeAll(async () => {
    const app = fleet.app();
    // Named as the Python function is named: CPython's text names the function.
    app.task('mix.add', function mix_add(x: number, y: number) {
      return x + y;
    });
    await fleet.worker(app, { queues: ['xargs-ts'], concurrency: 2, hostname: 'ts-xargs@%h' });
    await fleet.python({ queues: ['xargs-py'], name: 'py-xargs@%h' });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it('a Python caller gets the same TypeError from a Celeriac worker as from a Celery one', async () => {
    const calls = JSON.stringify([[1], [1, 2, 3], [], [2, 3]]);
    const [fromPython, fromCeleriac] = await Promise.all([
      runPython(fleet.py, PY_CALLS, [calls, 'xargs-py']),
      runPython(fleet.py, PY_CALLS, [calls, 'xargs-ts']),
    ]);
    const celery = JSON.parse(fromPython) as unknown[];
    expect(celery).toEqual([
      { type: 'TypeError', text: "mix_add() missing 1 required positional argument: 'y'" },
      { type: 'TypeError', text: 'mix_add() takes 2 positional arguments but 3 were given' },
      { type: 'TypeError', text: "mix_add() missing 2 required positional arguments: 'x' and 'y'" },
      { value: 5 },
    ]);
    expect(JSON.parse(fromCeleriac)).toEqual(celery);
  }, 90_000);
}, ready);
