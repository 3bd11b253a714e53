/**
 * The dashboard's HTTP API against real Flower 2.0.1 on the same cluster:
 * a Python Celery worker and a Celeriac worker on Redis, both with events on; each route is
 * called on both servers and the answers compared for status, keys and value types.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import type { RunningDashboard } from '../src/dashboard.js';
import { DashboardCluster, clusterReady } from './support/cluster.js';
import { flowerOracleAvailable, startFlower, type FlowerProcess } from './support/flower-oracle.js';

const ready = (await clusterReady('dashboard API compat')) && flowerOracleAvailable();
const cluster = new DashboardCluster('dashapi');
const { fleet } = cluster;
const FLOWER_PORT = 5561;

type J = Record<string, unknown>;

async function get(base: string, path: string): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // text body
  }
  return { status: res.status, body, text };
}

async function post(base: string, path: string, body?: string, type = 'application/json'): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: body === undefined ? {} : { 'content-type': type }, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text body
  }
  return { status: res.status, body: parsed, text };
}

/** The JSON type of a value, recursively for objects (keys sorted); null matches anything. */
function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Same keys, and the same type wherever both values are non-null. */
function expectSameShape(ours: J, theirs: J, where: string): void {
  expect(Object.keys(ours).sort(), `${where}: keys`).toEqual(Object.keys(theirs).sort());
  for (const k of Object.keys(theirs)) {
    if (ours[k] === null || theirs[k] === null) continue;
    expect(kind(ours[k]), `${where}.${k}: type`).toBe(kind(theirs[k]));
  }
}

/** Metric family -> label names, from an exposition. */
function metricLabels(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? /.exec(line);
    if (m === null) continue;
    const labels = (m[2] ?? '').split(/,(?=[a-z_]+=")/).filter((s) => s !== '').map((s) => s.slice(0, s.indexOf('=')));
    if (!out.has(m[1] as string)) out.set(m[1] as string, labels);
  }
  return out;
}

describe.runIf(ready)('HTTP API: Celeriac dashboard vs Flower 2.0.1', () => {
  let dash: RunningDashboard;
  let flower: FlowerProcess;
  let ours: string;
  let theirs: string;
  let pyNode = '';
  let tsNode = '';
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    await fleet.python({ name: `pydash-${process.pid}@%h`, events: true });
    const tsApp = fleet.app();
    tsApp.task('ts.add', (x: number, y: number) => x + y);
    await fleet.worker(tsApp, { queues: ['ts'], hostname: `tsdash-${process.pid}@%h`, sendTaskEvents: true, concurrency: 2 });
    // Actions wait up to 5 s for the Python worker (a loaded machine answers pool_shrink late).
    dash = await cluster.dashboard({ ingest: { inspectIntervalMs: 2000, queuePollMs: 1000, enableEventsMs: 2000, flushMs: 50, inspectTimeoutMs: 5000 } });
    flower = await startFlower(fleet.py, FLOWER_PORT);
    ours = dash.url;
    theirs = flower.url;
    // Both monitors receive events before any task is sent: Flower answers /healthcheck before
    // its event receiver is connected, and an event sent before that is missed for good. A
    // worker counts as online from its heartbeat events, so both online means events flow.
    for (const base of [ours, theirs]) {
      await waitFor(async () => {
        const s = (await get(base, '/api/workers?status=1')).body as Record<string, boolean>;
        return Object.values(s).filter((v) => v === true).length >= 2;
      }, `${base} to receive both workers' heartbeats`, { timeoutMs: 30_000, maxIntervalMs: 200 });
    }
    const client = fleet.app();
    const sent = {
      py: await client.sendTask('py.add', [2, 3]),
      ts: await client.sendTask('ts.add', [4, 5], {}, { queue: 'ts' }),
      fail: await client.sendTask('py.fail', ['nope']),
      kw: await client.sendTask('py.echo', [1], { user_id: 42 }),
    };
    for (const [k, r] of Object.entries(sent)) {
      ids[k] = r.id;
      fleet.taskIds.push(r.id);
      await r.get({ timeoutMs: 20_000, propagate: false });
    }
    // Both monitors have seen every task finish.
    for (const base of [ours, theirs]) {
      for (const id of Object.values(ids)) {
        await waitFor(async () => {
          const r = await get(base, `/api/task/info/${id}`);
          return r.status === 200 && ['SUCCESS', 'FAILURE'].includes((r.body as J)['state'] as string);
        }, `${base} to see task ${id} finish`, { timeoutMs: 20_000, maxIntervalMs: 200 });
      }
    }
    const status = await waitFor(async () => {
      const s = (await get(theirs, '/api/workers?status=1')).body as Record<string, boolean>;
      return Object.keys(s).length >= 2 ? s : null;
    }, 'Flower to see both workers', { timeoutMs: 20_000, maxIntervalMs: 200 });
    pyNode = Object.keys(status).find((n) => n.startsWith('pydash-')) as string;
    tsNode = Object.keys(status).find((n) => n.startsWith('tsdash-')) as string;
    // Flower inspects once at start; make sure its cache has both workers.
    await get(theirs, '/api/workers?refresh=1');
  }, 120_000);

  afterAll(async () => {
    await flower?.stop();
    await cluster.close();
  }, 60_000);

  it('/healthcheck answers OK on both', async () => {
    expect((await get(ours, '/healthcheck')).text).toBe('OK');
    expect((await get(theirs, '/healthcheck')).text).toBe('OK');
  });

  it('/api/workers: both workers, the same keys per worker', async () => {
    const a = (await get(ours, '/api/workers?refresh=1')).body as Record<string, J>;
    const b = (await get(theirs, '/api/workers')).body as Record<string, J>;
    for (const node of [pyNode, tsNode]) {
      expect(a[node], node).toBeDefined();
      expectSameShape(a[node] as J, b[node] as J, `/api/workers ${node}`);
      expect(Object.keys((a[node] as J)['stats'] as J).sort()).toEqual(Object.keys((b[node] as J)['stats'] as J).sort());
    }
    const one = (await get(ours, `/api/workers?workername=${encodeURIComponent(pyNode)}`)).body as J;
    expect(Object.keys(one)).toEqual([pyNode]);
  });

  it('/api/workers?status=1: online flags from events', async () => {
    const a = (await get(ours, '/api/workers?status=1')).body as J;
    const b = (await get(theirs, '/api/workers?status=1')).body as J;
    expect(a[pyNode]).toBe(true);
    expect(a[tsNode]).toBe(true);
    expect(b[pyNode]).toBe(true);
  });

  it('/api/task/info: same keys, types and values', async () => {
    for (const [k, id] of Object.entries(ids)) {
      const a = (await get(ours, `/api/task/info/${id}`)).body as J;
      const b = (await get(theirs, `/api/task/info/${id}`)).body as J;
      expectSameShape(a, b, `/api/task/info (${k})`);
      for (const f of ['uuid', 'name', 'state', 'args', 'kwargs', 'result', 'worker', 'exception', 'retries']) expect(a[f], `${k}.${f}`).toEqual(b[f]);
    }
  });

  it('/api/task/info of an unknown id: 404 on both', async () => {
    expect((await get(ours, '/api/task/info/no-such-task')).status).toBe(404);
    expect((await get(theirs, '/api/task/info/no-such-task')).status).toBe(404);
  });

  it('/api/tasks: an object keyed by uuid with task dicts; filters by name and state', async () => {
    const a = (await get(ours, '/api/tasks')).body as Record<string, J>;
    const b = (await get(theirs, '/api/tasks')).body as Record<string, J>;
    for (const id of Object.values(ids)) expectSameShape(a[id] as J, b[id] as J, `/api/tasks[${id}]`);
    const byName = (await get(ours, '/api/tasks?taskname=py.add')).body as J;
    expect(Object.keys(byName)).toEqual([ids['py']]);
    const failed = (await get(ours, '/api/tasks?state=FAILURE')).body as J;
    expect(Object.keys(failed)).toEqual([ids['fail']]);
    const limited = await fetch(`${ours}/api/tasks?limit=1&offset=1`);
    expect(Object.keys((await limited.json()) as J)).toHaveLength(1);
    expect(Number(limited.headers.get('x-total-count'))).toBe(4);
    // Flower's offset paging and the cursor walk give the same tasks in the same order.
    const walked: string[] = [];
    let after: string | null = '';
    while (after !== null) {
      const res = await fetch(`${ours}/api/tasks?limit=3${after === '' ? '' : `&after=${encodeURIComponent(after)}`}`);
      walked.push(...Object.keys((await res.json()) as J));
      after = res.headers.get('x-next-cursor');
    }
    expect(walked).toEqual(Object.keys(a));
  });

  it('/api/tasks?search= finds a task by a kwarg; a bad search is 400 {error}', async () => {
    const found = (await get(ours, `/api/tasks?search=${encodeURIComponent('kwargs.user_id:42')}`)).body as J;
    expect(Object.keys(found)).toEqual([ids['kw']]);
    const bad = await get(ours, `/api/tasks?search=${encodeURIComponent('name:(')}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: expect.stringMatching(/\.$/) });
  });

  it('/api/tasks?sort_by=bogus: 400 here (Flower answers 500)', async () => {
    expect((await get(ours, '/api/tasks?sort_by=bogus')).status).toBe(400);
    // Names of Object.prototype's members too: they were looked up in the sort table (a 500).
    for (const sort of ['constructor', '-__proto__', 'toString']) expect((await get(ours, `/api/tasks?sort_by=${sort}`)).status).toBe(400);
    expect((await get(theirs, '/api/tasks?sort_by=bogus')).status).toBe(500);
  });

  it('/api/task/types lists the names seen', async () => {
    const a = (await get(ours, '/api/task/types')).body as J;
    const b = (await get(theirs, '/api/task/types')).body as J;
    expect(Object.keys(a)).toEqual(['task-types']);
    expect(a['task-types']).toEqual(expect.arrayContaining(b['task-types'] as string[]));
  });

  it('/api/queues/length: the active queues with their message counts', async () => {
    const a = (await get(ours, '/api/queues/length')).body as { active_queues: J[] };
    const b = (await get(theirs, '/api/queues/length')).body as { active_queues: J[] };
    expect(a.active_queues.map((q) => q['name']).sort()).toEqual(b.active_queues.map((q) => q['name']).sort());
    for (const q of a.active_queues) expectSameShape(q, b.active_queues[0] as J, 'active_queues[]');
  });

  it('/metrics: Flower metric names and label names', async () => {
    const a = metricLabels((await get(ours, '/metrics')).text);
    const b = metricLabels((await get(theirs, '/metrics')).text);
    for (const [name, labels] of b) {
      if (!name.startsWith('flower_')) continue;
      expect(a.get(name), name).toEqual(labels);
    }
    expect(a.get('flower_queue_length')).toEqual(['queue']);
    // The process collector's series that memory and fd alerts use: Flower's (Python's) names are ours too.
    const processSeries = [...b.keys()].filter((n) => n.startsWith('process_'));
    expect(processSeries).toEqual(expect.arrayContaining(['process_resident_memory_bytes', 'process_open_fds']));
    for (const name of processSeries) expect(a.get(name), name).toEqual(b.get(name));
  });

  it('/workers?json=1 rows carry every key Flower gives', async () => {
    const a = (await get(ours, '/workers?json=1')).body as { data: J[] };
    const b = (await get(theirs, '/workers?json=1')).body as { data: J[] };
    const row = (rows: J[], n: string) => rows.find((r) => r['hostname'] === n) as J;
    for (const key of Object.keys(row(b.data, pyNode))) expect(row(a.data, pyNode), key).toHaveProperty(key);
  });

  it('POST /api/task/async-apply and send-task: {task-id, state}; result answers', async () => {
    for (const route of ['async-apply', 'send-task']) {
      const a = await post(ours, `/api/task/${route}/py.add`, JSON.stringify({ args: [1, 2] }));
      const b = await post(theirs, `/api/task/${route}/py.add`, JSON.stringify({ args: [1, 2] }));
      expect(a.status, route).toBe(200);
      expectSameShape(a.body as J, b.body as J, route);
      const id = (a.body as J)['task-id'] as string;
      fleet.taskIds.push(id, (b.body as J)['task-id'] as string);
      const result = (await get(ours, `/api/task/result/${id}?timeout=10`)).body as J;
      const flowerResult = (await get(theirs, `/api/task/result/${id}?timeout=10`)).body as J;
      expect(result).toEqual({ 'task-id': id, state: 'SUCCESS', result: 3 });
      expectSameShape(result, flowerResult, 'result');
    }
  });

  it('POST apply bodies: bad JSON and non-array args are 400 on both; an unknown task 404', async () => {
    for (const base of [ours, theirs]) {
      expect((await post(base, '/api/task/async-apply/py.add', '{nope')).status).toBe(400);
      expect((await post(base, '/api/task/async-apply/py.add', JSON.stringify({ args: 5 }))).status).toBe(400);
      expect((await post(base, '/api/task/async-apply/py.add', '[1]')).status).toBe(400);
      expect((await post(base, '/api/task/async-apply/no.such.task', '{}')).status).toBe(404);
    }
  });

  it('POST /api/task/revoke: the same message', async () => {
    const a = await post(ours, '/api/task/revoke/11111111-2222-3333-4444-555555555555?terminate=false');
    const b = await post(theirs, '/api/task/revoke/11111111-2222-3333-4444-555555555555?terminate=false');
    expect(a.body).toEqual(b.body);
    expect((await post(ours, '/api/task/revoke/x?terminate=maybe')).status).toBe(400);
    // A signal no worker knows is the caller's mistake: 400, checked before the broadcast (it was a 503 after it).
    const bad = await post(ours, '/api/task/revoke/x?terminate=true&signal=SIGFOO');
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: expect.stringContaining('unknown signal "SIGFOO"') });
  });

  it('worker routes: unknown worker 404 with the same text; grow/shrink a Python pool', async () => {
    const a = await post(ours, '/api/worker/pool/grow/nobody@nowhere');
    const b = await post(theirs, '/api/worker/pool/grow/nobody@nowhere');
    expect(a.status).toBe(404);
    expect(b.status).toBe(404);
    expect(a.text).toBe(b.text);
    const grow = await post(ours, `/api/worker/pool/grow/${encodeURIComponent(pyNode)}?n=1`);
    expect(grow).toMatchObject({ status: 200, body: { message: `Growing '${pyNode}' worker's pool by 1` } });
    const shrink = await post(ours, `/api/worker/pool/shrink/${encodeURIComponent(pyNode)}`, 'n=1', 'application/x-www-form-urlencoded');
    expect(shrink).toMatchObject({ status: 200, body: { message: `Shrinking '${pyNode}' worker's pool by 1` } });
    const autoscale = await post(ours, `/api/worker/pool/autoscale/${encodeURIComponent(pyNode)}?min=1`);
    expect(autoscale.status).toBe(400);
  });

  it('add and cancel a consumer on the Celeriac worker', async () => {
    const node = encodeURIComponent(tsNode);
    const add = await post(ours, `/api/worker/queue/add-consumer/${node}?queue=dash-extra`);
    expect(add.status, add.text).toBe(200);
    expect((add.body as J)['message']).toMatch(/dash-extra/);
    const cancel = await post(ours, `/api/worker/queue/cancel-consumer/${node}?queue=dash-extra`);
    expect(cancel.status, cancel.text).toBe(200);
  });
});
