/**
 * What differs on the wire between Celery 5.2 and 5.6 (docs/interop.md, "Celery versions"),
 * each row held against both oracles: Celery 5.3+ stamps reach a Celeriac worker, survive its
 * retry and land in its extended result; the `ignore_result` header, which overrides the
 * task's own setting on 5.6 and Celeriac workers but not on 5.2.6; the two forms of `date_done`.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from '../../src/index.js';
import { waitFor } from '../../src/testing/index.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('Celery versions interop');

const PY_QUIET = `
@app.task(name='py.quiet', ignore_result=True)
def quiet(key):
    return count(key)
`;

describeOracles('what changed between Celery 5.2 and 5.6, on the wire', (oracle) => {
  const fleet = new MixedFleet('xver', 9, oracle);
  const { py, taskIds } = fleet;
  let app: App;
  const raw = createClient({ url: py.backend });

  beforeAll(async () => {
    await raw.connect();
    app = fleet.app({ resultExtended: true });
    app.task('xver.flaky', { bind: true }, (ctx, x: number) => {
      if (ctx.request.retries === 0) ctx.retry({ countdown: 0 });
      return x * 2;
    });
    await fleet.worker(app, { queues: ['xver-ts'], concurrency: 2 });
    app.task('xver.quiet', { ignoreResult: true }, (x: number) => x);
    await fleet.python({ queues: ['xver-py'], concurrency: 1, extraTasks: PY_QUIET });
  }, 60_000);

  afterAll(async () => {
    await raw.close();
    await fleet.close();
  }, 30_000);

  const rawMeta = async (id: string) => JSON.parse((await raw.get(`celery-task-meta-${id}`)) ?? 'null') as Record<string, unknown> | null;

  it.runIf(oracle.name !== '5.2')('stamps from a 5.6 caller: kept by a Celeriac retry, stored in the extended result', async () => {
    const out = await runPython(py, `${PY_CLIENT}
from celery.canvas import StampingVisitor
class Tenant(StampingVisitor):
    def on_signature(self, sig, **headers): return {'tenant': 'acme'}
s = app.signature('xver.flaky', args=(21,), queue='xver-ts')
s.stamp(visitor=Tenant())
r = s.apply_async()
print(r.id); print(json.dumps(r.get(timeout=20)))`);
    const [id, value] = out.trim().split('\n');
    taskIds.push(id as string);
    expect(value).toBe('42');
    const meta = await rawMeta(id as string);
    // The stored SUCCESS is the retry's run (retries 1): the stamps went along with it.
    expect(meta).toMatchObject({ status: 'SUCCESS', retries: 1, stamped_headers: ['tenant'], tenant: 'acme' });
    expect(Object.keys(meta ?? {}).slice(-4)).toEqual(['queue', 'stamped_headers', 'tenant', 'task_id']);
  });

  it(`the ignore_result header wins over the task's own setting: ${oracle.name === '5.2' ? 'not on a 5.2.6 worker' : 'on a 5.6 worker'}, and on a Celeriac worker`, async () => {
    const counter = `${fleet.prefix}runs`;
    // py.quiet is declared ignore_result=True; sendTask writes the header ignore_result false.
    const quiet = await app.sendTask('py.quiet', [counter], {}, { queue: 'xver-py' });
    const ignored = await app.sendTask('py.count', [counter], {}, { queue: 'xver-py', ignoreResult: true });
    taskIds.push(quiet.id, ignored.id);
    await waitFor(async () => Number(await raw.get(counter)) === 2, 'both Python runs', 20_000);
    // A task sent after them on the same one-process worker stores its result after theirs.
    const after = await app.sendTask('py.add', [1, 1], {}, { queue: 'xver-py' });
    taskIds.push(after.id);
    expect(await after.get({ timeoutMs: 20_000 })).toBe(2);
    if (oracle.name === '5.2') expect(await rawMeta(quiet.id)).toBeNull();
    else expect(await rawMeta(quiet.id)).toMatchObject({ status: 'SUCCESS' });
    expect(await rawMeta(ignored.id)).toBeNull();

    // The Celeriac side, as 5.6: the header decides (xver.quiet is declared ignoreResult).
    const out = await runPython(py, `${PY_CLIENT}
q = app.send_task('xver.quiet', args=[1], queue='xver-ts')
r = app.send_task('xver.flaky', args=[1], queue='xver-ts', ignore_result=True)
s = app.send_task('xver.flaky', args=[2], queue='xver-ts')
print(q.id); print(r.id); print(s.id); print(json.dumps(q.get(timeout=20))); print(json.dumps(s.get(timeout=20)))`);
    const [quietTs, ignoredTs, kept, quietValue, value] = out.trim().split('\n');
    taskIds.push(quietTs as string, ignoredTs as string, kept as string);
    expect([quietValue, value]).toEqual(['1', '4']);
    await waitFor(async () => (await app.backend.get(kept as string))?.status === 'SUCCESS', 'the kept result', 10_000);
    expect(await app.backend.get(ignoredTs as string)).toBeNull();
  });

  it(`date_done as each side writes it: ${oracle.name === '5.2' ? 'naive' : 'with +00:00'} from Python, naive from Celeriac`, async () => {
    const r = await app.sendTask('py.add', [2, 3], {}, { queue: 'xver-py' });
    taskIds.push(r.id);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(5);
    const pyDone = String((await rawMeta(r.id))?.['date_done']);
    expect(pyDone).toMatch(oracle.name === '5.2' ? /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/ : /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
    const ts = await app.sendTask('xver.flaky', [5], {}, { queue: 'xver-ts' });
    taskIds.push(ts.id);
    expect(await ts.get({ timeoutMs: 20_000 })).toBe(10);
    expect((await rawMeta(ts.id))?.['date_done']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/);
    // Python reads both forms as a time.
    const out = await runPython(py, `${PY_CLIENT}
from celery.result import AsyncResult
for i in sys.argv[1:]:
    print(AsyncResult(i, app=app).date_done.year)`, [r.id, ts.id]);
    expect(out.trim().split('\n')).toEqual([String(new Date().getUTCFullYear()), String(new Date().getUTCFullYear())]);
  });
}, ready);
