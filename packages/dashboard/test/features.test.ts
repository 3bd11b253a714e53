/**
 * The dashboard's own features on a live cluster: the workflow tree, re-run with the same
 * arguments, bulk revoke of a group, the broker page with priority buckets and purge, beat
 * entries, the overview series; and what happens when a Python worker is killed mid-task:
 * its task is marked LOST, `flower_worker_online` drops to 0, and past the grace period the
 * worker is forgotten.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sleep, waitFor } from 'celeriac/testing';
import { chain, group, signature, type App } from 'celeriac';
import type { RunningDashboard } from '../src/dashboard.js';
import { DashboardCluster, clusterReady } from './support/cluster.js';

const ready = await clusterReady('dashboard features');
const cluster = new DashboardCluster('dashfeat');
const { fleet } = cluster;

type J = Record<string, unknown>;
const getJson = async (url: string) => (await (await fetch(url)).json()) as J;
const postJson = async (url: string, body?: string) => {
  const res = await fetch(url, { method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body }) });
  return { status: res.status, body: (await res.json().catch(() => null)) as J };
};

describe.runIf(ready)('dashboard features', () => {
  let dash: RunningDashboard;
  let client: App;

  beforeAll(async () => {
    const app = fleet.app({ beatSchedule: { 'dash-tick': { task: 'ts.add', schedule: 3600, args: [20, 22] } } });
    app.task('ts.add', (x: number, y: number) => x + y);
    app.task('ts.sleep', async (s: number) => {
      await sleep(s * 1000); // the task's work: real time
      return s;
    });
    await fleet.worker(app, { queues: ['celery'], hostname: `tsfeat-${process.pid}@%h`, sendTaskEvents: true, concurrency: 1, prefetchMultiplier: 1 });
    dash = await cluster.dashboard({ app, ingest: { inspectIntervalMs: 1000, queuePollMs: 500, flushMs: 50, purgeOfflineAfterMs: 8000, queues: ['celery', 'dash-idle'] } });
    client = fleet.app({ taskSendSentEvent: true });
  }, 60_000);

  afterAll(() => cluster.close(), 60_000);

  const stored = (id: string, states: string[]) =>
    waitFor(async () => {
      const res = await fetch(`${dash.url}/api/task/info/${id}`);
      if (res.status !== 200) return null;
      const t = (await res.json()) as J;
      return states.includes(t['state'] as string) ? t : null;
    }, `task ${id} in ${states.join('/')}`, { timeoutMs: 20_000, maxIntervalMs: 100 });

  it('draws a chain as a tree and re-runs a task with the same arguments', async () => {
    const result = await chain(signature('ts.add', [1, 2], {}, {}, client), signature('ts.add', [3], {}, {}, client)).applyAsync();
    const last = result.id;
    fleet.taskIds.push(last);
    await result.get({ timeoutMs: 15_000 });
    const t = await stored(last, ['SUCCESS']);
    const first = t['parent_id'] as string;
    await stored(first, ['SUCCESS']);
    const wf = await getJson(`${dash.url}/api/task/workflow/${last}`);
    expect(wf).toMatchObject({ root_id: first, count: 2 });
    const tree = wf['tree'] as { task: J; children: { task: J }[] }[];
    expect(tree).toHaveLength(1);
    expect(tree[0]?.task['uuid']).toBe(first);
    expect(tree[0]?.children[0]?.task['uuid']).toBe(last);
    const rerun = await postJson(`${dash.url}/api/task/rerun/${first}`);
    expect(rerun.status).toBe(200);
    expect(rerun.body).toMatchObject({ 'rerun-of': first, name: 'ts.add' });
    // The answer names the new task; it never echoes the arguments.
    expect(Object.keys(rerun.body).sort()).toEqual(['name', 'rerun-of', 'task-id']);
    const again = rerun.body['task-id'] as string;
    fleet.taskIds.push(again);
    expect(await getJson(`${dash.url}/api/task/result/${again}?timeout=15`)).toMatchObject({ state: 'SUCCESS', result: 3 });
    expect((await postJson(`${dash.url}/api/task/rerun/no-such-id`)).status).toBe(404);
  });

  it('revokes the unfinished tasks of a group at once', async () => {
    const r = await group(signature('ts.sleep', [3], {}, {}, client), signature('ts.sleep', [3], {}, {}, client), signature('ts.sleep', [3], {}, {}, client)).applyAsync();
    const ids = r.results.map((x) => x.id);
    fleet.taskIds.push(...ids);
    for (const id of ids) await stored(id, ['PENDING', 'RECEIVED', 'STARTED']);
    const res = await postJson(`${dash.url}/api/task/revoke-workflow/${ids[0] as string}`);
    expect(res.status).toBe(200);
    expect((res.body['revoked'] as string[]).sort()).toEqual([...ids].sort());
    // The two that had not started never run.
    const finals = await Promise.all(ids.map((id) => stored(id, ['REVOKED', 'SUCCESS'])));
    expect(finals.filter((t) => t['state'] === 'REVOKED').length).toBeGreaterThanOrEqual(2);
  });

  it('shows queues with messages per priority, and purges one', async () => {
    await client.sendTask('ts.add', [1, 1], {}, { queue: 'dash-idle', priority: 0 });
    await client.sendTask('ts.add', [1, 1], {}, { queue: 'dash-idle', priority: 9 });
    await client.sendTask('ts.add', [1, 1], {}, { queue: 'dash-idle', priority: 9 });
    const q = await waitFor(async () => {
      const b = await getJson(`${dash.url}/api/broker`);
      const idle = (b['queues'] as J[]).find((x) => x['name'] === 'dash-idle');
      const celery = (b['queues'] as J[]).find((x) => x['name'] === 'celery');
      return idle?.['messages'] === 3 && (celery?.['consumers'] as string[]).length > 0 ? { b, idle, celery } : null;
    }, 'dash-idle to hold 3 messages', { timeoutMs: 10_000, maxIntervalMs: 100 });
    expect(q.idle['priorities']).toEqual({ 0: 1, 3: 0, 6: 0, 9: 2 });
    expect(q.b['broker']).not.toMatch(/:[^/@]*@/);
    expect(q.celery?.['consumers']).toEqual([expect.stringMatching(/^tsfeat-/)]);
    expect(await postJson(`${dash.url}/api/broker/purge/dash-idle`)).toMatchObject({ status: 200, body: { purged: 3 } });
    const metrics = await (await fetch(`${dash.url}/metrics`)).text();
    expect(metrics).toMatch(/flower_queue_length\{queue="celery"\} \d/);
    // The broker's set-aside store, read at scrape time.
    expect(metrics).toMatch(/^celeriac_setaside_records\{category="malformed"\} \d/m);
    expect(metrics).toMatch(/^celeriac_setaside_bytes\{category="dead-letter"\} \d/m);
    expect(metrics).toMatch(/^celeriac_setaside_max_records\{category="dead-letter"\} 10000\.0$/m);
  });

  it('lists beat entries, pauses and resumes one, and runs it now', async () => {
    const list = await getJson(`${dash.url}/api/beat`);
    expect(list['entries']).toEqual([expect.objectContaining({ name: 'dash-tick', task: 'ts.add', args: [20, 22], paused: false, source: 'settings' })]);
    expect((await postJson(`${dash.url}/api/beat/pause/dash-tick`)).status).toBe(200);
    expect(((await getJson(`${dash.url}/api/beat`))['entries'] as J[])[0]?.['paused']).toBe(true);
    expect((await postJson(`${dash.url}/api/beat/resume/dash-tick`)).status).toBe(200);
    expect(((await getJson(`${dash.url}/api/beat`))['entries'] as J[])[0]?.['paused']).toBe(false);
    const run = await postJson(`${dash.url}/api/beat/run/dash-tick`);
    expect(run.status).toBe(200);
    fleet.taskIds.push(run.body['task-id'] as string);
    expect(await getJson(`${dash.url}/api/task/result/${run.body['task-id'] as string}?timeout=15`)).toMatchObject({ result: 42 });
    expect((await postJson(`${dash.url}/api/beat/run/nope`)).status).toBe(404);
  });

  it('overview: succeeded per second and runtime percentiles', async () => {
    const o = await getJson(`${dash.url}/api/overview`);
    const points = o['points'] as { succeeded: number; p50: number | null }[];
    expect(points.reduce((n, p) => n + p.succeeded, 0)).toBeGreaterThanOrEqual(3);
    expect(points.some((p) => p.p50 !== null)).toBe(true);
    expect(o['workers']).toMatchObject({ online: 1 });
  });

  it('counts over the whole history: computed once for many readers at once, and fresh again after a while', async () => {
    const same = (a: unknown, b: unknown) => JSON.stringify(Object.entries(a as J).sort()) === JSON.stringify(Object.entries(b as J).sort());
    // The overview's counts catch up with the store's once the kept ones are old enough.
    await waitFor(async () => same((await getJson(`${dash.url}/api/overview`))['tasks_by_state'], await dash.store.countByState()),
      'the overview counts to match the store', { timeoutMs: 20_000, maxIntervalMs: 200 });
    const byState = vi.spyOn(dash.store, 'countByState');
    const query = vi.spyOn(dash.store, 'queryTasks');
    try {
      const metrics = await Promise.all(Array.from({ length: 10 }, async () => (await fetch(`${dash.url}/metrics`)).text()));
      await Promise.all(Array.from({ length: 10 }, () => getJson(`${dash.url}/api/overview`)));
      expect(byState.mock.calls.length).toBeLessThanOrEqual(1);
      // The stuck gauge: one query for RECEIVED and one for STARTED, at most.
      expect(query.mock.calls.length).toBeLessThanOrEqual(2);
      for (const text of metrics) expect(text).toMatch(/^flower_tasks_by_state\{state="SUCCESS"\} [1-9]/m);
    } finally {
      byState.mockRestore();
      query.mockRestore();
    }
  });

  it('a Python worker killed mid-task: the task is LOST, flower_worker_online 0, then the worker is forgotten', async () => {
    const py = await fleet.python({ name: `pyfeat-${process.pid}@%h`, events: true, queues: ['pyq'] });
    const node = await waitFor(async () => {
      const w = (await getJson(`${dash.url}/workers?json=1`))['data'] as J[];
      return w.find((x) => String(x['hostname']).startsWith('pyfeat-') && x['status'] === true)?.['hostname'] as string | undefined;
    }, 'the Python worker online', { timeoutMs: 20_000, maxIntervalMs: 100 });
    const r = await client.sendTask('py.sleep', [60], {}, { queue: 'pyq' });
    fleet.taskIds.push(r.id);
    await stored(r.id, ['STARTED']);
    await py.stop('SIGKILL');
    await stored(r.id, ['LOST']);
    const online = new RegExp(`flower_worker_online\\{worker="${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\} 0\\.0`);
    expect((await getJson(`${dash.url}/api/workers?status=1`))[node]).toBe(false);
    const metrics = await (await fetch(`${dash.url}/metrics`)).text();
    expect(metrics).toMatch(online);
    await waitFor(async () => {
      const w = (await getJson(`${dash.url}/workers?json=1`))['data'] as J[];
      return !w.some((x) => x['hostname'] === node);
    }, 'the worker forgotten after the grace period', { timeoutMs: 20_000, maxIntervalMs: 200 });
    expect(await (await fetch(`${dash.url}/metrics`)).text()).not.toContain(node);
  }, 60_000);
});

describe.runIf(ready)('backfill on first start', () => {
  it('reads recent results from a Redis result backend into an empty history', async () => {
    const { freePort, RedisServerProcess } = await import('../../celeriac/test/support/redis.js');
    const { createApp } = await import('celeriac');
    const redis = new RedisServerProcess(await freePort());
    await redis.start();
    const app = createApp({ broker: redis.url, backend: redis.url, resultExtended: true }, { env: {} });
    try {
      await app.backend.store({ status: 'SUCCESS', result: { ok: [1, 'a'] }, traceback: null, children: [], date_done: '2026-01-02T03:04:05.000000', task_id: 'bf-1', name: 'old.task', args: [7], kwargs: { user_id: 42 } }, { expiresSec: null } as never);
      const bf = new DashboardCluster('dashbf');
      const d = await bf.dashboard({ app, backfill: 10_000 });
      try {
        expect(await d.backfilled).toBe(1);
        const t = (await (await fetch(`${d.url}/api/task/info/bf-1`)).json()) as J;
        expect(t).toMatchObject({ uuid: 'bf-1', state: 'SUCCESS', name: 'old.task', args: '[7]', kwargs: "{'user_id': 42}", result: "{'ok': [1, 'a']}", succeeded: Date.parse('2026-01-02T03:04:05Z') / 1000 });
      } finally {
        await bf.close();
      }
    } finally {
      await app.close();
      await redis.kill();
    }
  }, 60_000);
});
