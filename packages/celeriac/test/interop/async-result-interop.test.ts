/**
 * Results across languages on one Redis: the children a Celeriac worker records for a task
 * (`addToParent`, then its link callback) are what Python Celery's `AsyncResult.collect()`
 * walks, in Celery's order; and a result Python forgets reads PENDING from Celeriac.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { App } from 'celeriac';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await mixedFleetReady('interop: AsyncResult');

describeOracles('interop: AsyncResult children and forget', (oracle) => {
  const fleet = new MixedFleet('arint', 9, oracle);
  const { py, taskIds } = fleet;
  let app: App;

  beforeAll(async () => {
    app = fleet.app({ taskDefaultQueue: 'ts-ar' });
    const add = app.task('tsar.add', (x: number, y: number) => x + y);
    app.task('tsar.count', (ids: string[]) => ids.length);
    app.task('tsar.fan', async (n: number) => {
      const ids: string[] = [];
      for (let i = 1; i <= n; i++) ids.push((await add.delay(i, 10)).id);
      return ids;
    });
    await fleet.worker(app, { queues: ['ts-ar'], concurrency: 4 });
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it("Python's collect() walks what a Celeriac task sent, then its link callback", async () => {
    const out = await runPython(py, `${PY_CLIENT}
r = app.signature('tsar.fan', args=[2], queue='ts-ar').apply_async(link=app.signature('tsar.count', queue='ts-ar'))
for res, value in r.collect(timeout=20):
    print(res.id + ' ' + json.dumps(value))`);
    const rows = out.trim().split('\n').map((line) => [line.slice(0, line.indexOf(' ')), JSON.parse(line.slice(line.indexOf(' ') + 1))] as [string, unknown]);
    taskIds.push(...rows.map(([id]) => id));
    expect(rows).toHaveLength(4);
    const [root, first, second, callback] = rows;
    const sent = root![1] as string[];
    expect([first![0], second![0]]).toEqual(sent);
    expect([first![1], second![1], callback![1]]).toEqual([11, 12, 2]);
  });

  it('a result Python forgets reads PENDING from Celeriac', async () => {
    const r = await app.sendTask('tsar.add', [1, 2]);
    taskIds.push(r.id);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(3);
    const out = await runPython(py, `${PY_CLIENT}
r = app.AsyncResult(sys.argv[1])
print(r.state); r.forget(); print(r.state)`, [r.id]);
    expect(out.trim().split('\n')).toEqual(['SUCCESS', 'PENDING']);
    expect(await r.status()).toBe('PENDING');
  });
}, ready);
