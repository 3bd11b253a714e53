/**
 * The deployment as separate processes (scripts/run-processes.ts, what docker compose runs)
 * against a real Redis (a private server with a password) and a Postgres database made for
 * this run: an API, two workers, beat and the dashboard. Tasks spread over both workers; beat sends the
 * heartbeat; a worker killed with SIGKILL in the middle of its tasks loses none of them
 * (late acks: the other worker runs them once their lease expires). The processes run the app
 * compiled to JavaScript (support/compiled-app.ts): main.test.ts covers loading it through tsx.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServerProcess, shouldRunRedisTests } from '../../../packages/celeriac/test/support/redis.js';
import { buildDistIfStale } from '../../../packages/celeriac/test/support/node-script.js';
import { planProcesses, ProcessGroup } from '../scripts/run-processes.js';
import { waitFor } from 'celeriac/testing';
import { createTestDatabase, shouldRunPostgresTests, type TestDatabase } from './support/postgres.js';
import { compileApp, type CompiledApp } from './support/compiled-app.js';

const ready = (await shouldRunRedisTests('apps/api processes')) && (await shouldRunPostgresTests('apps/api processes'));
const PASSWORD = 'process-test-secret';

interface Status {
  state: string;
  worker?: string;
  ready: boolean;
}

describe.runIf(ready)('apps/api as separate processes on Redis and Postgres', () => {
  // The app and the bin load the dashboard (and celeriac) from dist/.
  beforeAll(() => buildDistIfStale(), 300_000);
  let redis: RedisServerProcess;
  let db: TestDatabase;
  let group: ProcessGroup;
  let base: string;
  let flowerPort: number;
  let app: CompiledApp;
  const output: string[] = [];

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBe(202);
    return (await res.json()) as Record<string, unknown>;
  };
  const status = async (id: string) => (await (await fetch(`${base}/tasks/${id}`)).json()) as Status;
  const allDone = (ids: string[], timeoutMs: number) =>
    waitFor(async () => {
      const all = await Promise.all(ids.map(status));
      return all.every((s) => s.ready) ? all : undefined;
    }, `tasks ${ids.join(', ')} to finish\n${output.slice(-40).join('\n')}`, timeoutMs);

  beforeAll(async () => {
    redis = new RedisServerProcess(await freePort(), ['--requirepass', PASSWORD]);
    await redis.start();
    db = await createTestDatabase();
    const port = await freePort();
    flowerPort = await freePort();
    const url = (n: number) => `redis://:${PASSWORD}@127.0.0.1:${redis.port}/${n}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      CELERY_BROKER_URL: url(0),
      REDIS_URL: url(1),
      DATABASE_URL: db.url,
      API_PORT: String(port),
      FLOWER_PORT: String(flowerPort),
      FLOWER_BASIC_AUTH: 'admin:process-test-flower',
      WORKER_CONCURRENCY: '2',
      HEARTBEAT_EVERY: '1',
      LOG_LEVEL: 'info',
      DATA_DIR: `/tmp/celeriac-app-processes-${port}`,
      // A killed worker's deliveries come back after 4 s instead of a minute.
      CELERY_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ recoverAfterSec: 4, leaseRenewMs: 1000, sweepIntervalMs: 1000 }),
    };
    app = compileApp();
    group = new ProcessGroup(planProcesses({ workers: 2 }), env, (name, line) => output.push(`[${name}] ${line}`), app.mainArgs);
    base = `http://127.0.0.1:${port}`;
    await waitFor(async () => ((await fetch(`${base}/health`).catch(() => null))?.status === 200 ? true : undefined), `the API to be healthy\n${output.join('\n')}`, 90_000);
  }, 120_000);

  afterAll(async () => {
    const codes = await group?.stop();
    await redis?.kill();
    await db?.drop();
    app?.dispose();
    // Every process still alive at the end stopped cleanly on SIGTERM.
    expect(Object.entries(codes ?? {}).filter(([name, code]) => name !== 'worker1' && code !== 0)).toEqual([]);
  }, 60_000);

  it('runs the dashboard in its own process: behind basic auth, it sees both workers', async () => {
    const dashboard = `http://127.0.0.1:${flowerPort}`;
    const auth = { authorization: `Basic ${Buffer.from('admin:process-test-flower').toString('base64')}` };
    await waitFor(async () => ((await fetch(`${dashboard}/healthcheck`).catch(() => null))?.status === 200 ? true : undefined), `the dashboard to answer\n${output.slice(-40).join('\n')}`, 90_000);
    expect((await fetch(`${dashboard}/api/workers`)).status).toBe(401);
    const names = await waitFor(async () => {
      const res = await fetch(`${dashboard}/api/workers?refresh=1`, { headers: auth });
      const workers = Object.keys((await res.json()) as Record<string, unknown>).map((w) => w.split('@')[0]).sort();
      return workers.includes('worker1') && workers.includes('worker2') ? workers : undefined;
    }, 'the dashboard to list both workers', 60_000);
    expect(names).toEqual(expect.arrayContaining(['worker1', 'worker2']));
  });

  it('spreads tasks over both workers', async () => {
    const sent = (await post('/live/tasks', { count: 10, seconds: 1 }))['tasks'] as { taskId: string }[];
    const done = await allDone(sent.map((t) => t.taskId), 60_000);
    expect(done.every((s) => s.state === 'SUCCESS')).toBe(true);
    expect(new Set(done.map((s) => s.worker?.split('@')[0]))).toEqual(new Set(['worker1', 'worker2']));
  }, 90_000);

  it('runs beat in its own process: the heartbeat counter grows', async () => {
    const client = createClient({ url: `redis://:${PASSWORD}@127.0.0.1:${redis.port}/1` });
    await client.connect();
    try {
      const count = await waitFor(async () => {
        const n = Number((await client.get('celeriac-app:maintenance:heartbeat:count')) ?? 0);
        return n >= 2 ? n : undefined;
      }, 'two heartbeats', 30_000);
      expect(count).toBeGreaterThanOrEqual(2);
    } finally {
      client.destroy();
    }
    expect(output.some((l) => l.startsWith('[worker') && l.includes('"msg":"heartbeat"') && l.includes('"taskId"'))).toBe(true);
  }, 60_000);

  it('loses nothing when a worker is killed with SIGKILL mid-task', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) ids.push((await post('/tasks/demo.sleep', { args: [3] }))['taskId'] as string);
    // Wait until worker1 is running at least one of them, then kill it without warning.
    const held = await waitFor(async () => {
      const all = await Promise.all(ids.map(status));
      const running = ids.filter((_, i) => all[i]?.worker?.startsWith('worker1@') && all[i]?.ready === false);
      return running.length > 0 ? running : undefined;
    }, 'worker1 to be running a task', 30_000);
    const victim = group.processes.get('worker1');
    victim?.child.kill('SIGKILL');
    expect(await victim?.exited).toBeNull();
    const done = await allDone(ids, 90_000);
    expect(done.map((s) => s.state)).toEqual(ids.map(() => 'SUCCESS'));
    // The tasks worker1 was running ran again, to the end, on worker2.
    expect(held.map((id) => done[ids.indexOf(id)]?.worker?.split('@')[0])).toEqual(held.map(() => 'worker2'));
  }, 120_000);
});
