/**
 * `celery inspect stats` of a Celeriac worker started as `celeriac worker -P prefork -c 2
 * --max-tasks-per-child 3` and of a Python 5.2.6 worker started with the same flags: the pool
 * part has the same fields, the real child processes (not the worker's own pid), the same
 * concurrency and recycling limit, and Celery's `writes` figures counting the tasks each child
 * was given. (Before, a Celeriac worker said `celeriac:async`, `processes: [main pid]` and
 * `max-tasks-per-child: "N/A"` whatever its pool.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CeleryCli } from './celery-cli.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { fixtureApp, killAll, spawnCli, type Cli } from '../cli/spawn.js';

const fleet = new MixedFleet('xpoolstats');
const ready = await mixedFleetReady('pool stats interop');
const FLAGS = ['-P', 'prefork', '-c', '2', '--max-tasks-per-child', '3'];
const TS_NODE = `ts-poolstats-${process.pid}@interop`;
const PY_NODE = `py-poolstats-${process.pid}@interop`;

type Pool = Record<string, unknown> & { processes: number[]; writes: Record<string, unknown> };

describe.runIf(ready)('inspect stats reports the real pool, as a Python worker does', () => {
  let cli: CeleryCli;
  let worker: Cli;

  beforeAll(async () => {
    worker = spawnCli(['-A', fixtureApp('app'), 'worker', ...FLAGS, '-n', TS_NODE, '-Q', 'xpoolstats-ts', '-b', fleet.brokerUrl, '--result-backend', fleet.py.backend], { timeoutMs: 120_000 });
    await worker.waitFor(/ready/i, 60_000);
    await fleet.python({ queues: ['xpoolstats-py'], name: PY_NODE, concurrency: 2, extraArgs: ['--max-tasks-per-child', '3'] });
    cli = new CeleryCli({ broker: fleet.py.broker, backend: fleet.py.backend, keyPrefix: fleet.prefix });
  }, 120_000);

  afterAll(async () => {
    cli?.dispose();
    await killAll();
    await fleet.close();
  }, 60_000);

  it('the same pool fields: child pids, concurrency, max-tasks-per-child and writes', async () => {
    // One task on each, so writes count something.
    const app = fleet.app();
    const sent = [await app.sendTask('fixture.add', [1, 2], {}, { queue: 'xpoolstats-ts' }), await app.sendTask('py.add', [1, 2], {}, { queue: 'xpoolstats-py' })];
    for (const r of sent) fleet.taskIds.push(r.id);
    expect(await Promise.all(sent.map((r) => r.get({ timeoutMs: 30_000 })))).toEqual([3, 3]);
    const [ts] = await cli.inspectAll([['stats']], TS_NODE);
    const [py] = await cli.inspectAll([['stats']], PY_NODE);
    const tsStats = ts?.[TS_NODE] as { pid: number; pool: Pool };
    const pyStats = py?.[PY_NODE] as { pid: number; pool: Pool };
    const { implementation, busy, ...tsPool } = tsStats.pool;
    expect(implementation).toBe('celeriac:prefork');
    expect(busy).toBe(0);
    expect(Object.keys(tsPool).sort()).toEqual(Object.keys(pyStats.pool).sort());
    expect(Object.keys(tsPool.writes).sort()).toEqual(Object.keys(pyStats.pool.writes).sort());
    for (const [stats, pool] of [[tsStats, tsPool], [pyStats, pyStats.pool]] as const) {
      expect(pool).toMatchObject({ 'max-concurrency': 2, 'max-tasks-per-child': 3, 'put-guarded-by-semaphore': false });
      expect(pool.processes).toHaveLength(2);
      expect(pool.processes).not.toContain(stats.pid);
      expect(pool.writes).toMatchObject({ total: 1, strategy: 'fair', inqueues: { total: 2, active: 0 } });
    }
    // Only the children given a task are counted, as Celery's counter does.
    expect({ raw: tsPool.writes['raw'], all: tsPool.writes['all'], avg: tsPool.writes['avg'] }).toEqual({ raw: '1', all: '1.00', avg: '1.00' });
    expect(tsPool.writes).toEqual(pyStats.pool.writes);
  }, 90_000);
});
