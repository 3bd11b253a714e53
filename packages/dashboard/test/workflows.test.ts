/**
 * Workflows whole (issue 43 point 3): a chord sent by Python Celery 5.2.6 and one sent by
 * Celeriac, run by a Celeriac or a Python worker with events on, are found by the dashboard
 * with all four tasks (three header parts and the body) from any of them, through its API over
 * a real Redis;
 * "revoke workflow" reaches every unfinished header part of a chord still running.
 * Celery's events name no group: the header parts share nothing but the group in their
 * messages, which the Celeriac client (task-sent) and a Celeriac worker (task-received) pass on,
 * and in their results, which the dashboard reads for tasks Python workers ran.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { chord, group, signature, type App } from 'celeriac';
import { PY_CLIENT, runPython } from '../../celeriac/test/interop/python.js';
import type { RunningDashboard } from '../src/dashboard.js';
import { DashboardCluster, clusterReady } from './support/cluster.js';

const ready = await clusterReady('dashboard workflows');
const cluster = new DashboardCluster('dashwf');
const { fleet } = cluster;

type J = Record<string, unknown>;
interface Node { task: J; group_id: string | null; children: Node[] }
const getJson = async (url: string) => (await (await fetch(url)).json()) as J;

/** Every task id of a workflow tree. */
function idsOf(nodes: readonly Node[]): string[] {
  return nodes.flatMap((n) => [n.task['uuid'] as string, ...idsOf(n.children)]);
}

describe.runIf(ready)('dashboard workflows', () => {
  let dash: RunningDashboard;
  let client: App;

  beforeAll(async () => {
    const app = fleet.app();
    app.task('wf.add', (x: number, y: number) => x + y);
    app.task('wf.tsum', (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    app.task('wf.sleep', async (s: number) => {
      await new Promise((r) => setTimeout(r, s * 1000)); // the task's work: real time
      return s;
    });
    await fleet.worker(app, { queues: ['celery'], hostname: `tswf-${process.pid}@%h`, sendTaskEvents: true, concurrency: 1, prefetchMultiplier: 1 });
    dash = await cluster.dashboard({ app });
    client = fleet.app({ taskSendSentEvent: true });
  }, 60_000);

  afterAll(() => cluster.close(), 60_000);

  /** The workflow of `id` once the dashboard holds `count` tasks of it in one of `states`. */
  const workflow = (id: string, count: number, states: readonly string[] = ['SUCCESS']) =>
    waitFor(async () => {
      const res = await fetch(`${dash.url}/api/task/workflow/${id}`);
      if (res.status !== 200) return null;
      const wf = (await res.json()) as J;
      const nodes = wf['tree'] as Node[];
      const all = idsOf(nodes);
      const settled = (n: Node): boolean => states.includes(n.task['state'] as string) && n.children.every(settled);
      return all.length === count && nodes.every(settled) ? { wf, all } : null;
    }, `the workflow of ${id} to hold ${count} tasks`, { timeoutMs: 30_000, maxIntervalMs: 100 });

  /** Checks the workflow is found whole from the body and from each header part. */
  async function expectWhole(body: string, parts: readonly string[]): Promise<void> {
    const members = [...parts, body].sort();
    for (const from of [body, ...parts]) {
      const { wf, all } = await workflow(from, 4);
      expect(all.sort(), `from ${from}`).toEqual(members);
      expect(wf['count']).toBe(4);
      expect(wf['truncated']).toBe(false);
    }
    // The header parts carry their group in the tree.
    const { wf } = await workflow(body, 4);
    const groups = new Map<string, string | null>();
    const walk = (n: Node) => {
      groups.set(n.task['uuid'] as string, n.group_id);
      n.children.forEach(walk);
    };
    (wf['tree'] as Node[]).forEach(walk);
    expect(new Set(parts.map((p) => groups.get(p))).size).toBe(1);
    expect(groups.get(parts[0] as string)).toEqual(expect.any(String));
  }

  /** A Python client's chord (its script printed body, parts and result): 1+1 + 2+2 + 3+3, found whole. */
  async function expectPythonChordWhole(out: string): Promise<void> {
    const sent = JSON.parse(out) as { body: string; parts: string[]; result: number };
    fleet.taskIds.push(sent.body, ...sent.parts);
    expect(sent.result).toBe(12);
    await expectWhole(sent.body, sent.parts);
  }

  it('finds every task of a chord sent by Python Celery 5.2.6', async () => {
    const out = await runPython(fleet.py, `${PY_CLIENT}
from celery import chord, group, signature
r = chord(group(signature('wf.add', (1, 1), app=app), signature('wf.add', (2, 2), app=app), signature('wf.add', (3, 3), app=app)), signature('wf.tsum', app=app)).apply_async()
print(json.dumps({'body': r.id, 'parts': [c.id for c in r.parent.results], 'result': r.get(timeout=20)}))
`);
    await expectPythonChordWhole(out);
  });

  it('finds every task of a chord sent by Python to a Python worker, from the group ids in the results', async () => {
    await fleet.python({ queues: ['py'], events: true, concurrency: 2 });
    const out = await runPython(fleet.py, `${PY_CLIENT}
from celery import chord, group, signature
s = lambda name, *args: app.signature(name, args=args, queue='py')
r = chord(group(s('py.add', 1, 1), s('py.add', 2, 2), s('py.add', 3, 3)), s('py.tsum'))()
print(json.dumps({'body': r.id, 'parts': [c.id for c in r.parent.results], 'result': r.get(timeout=20)}))
`);
    await expectPythonChordWhole(out);
    expect(dash.ingest.groupLinks.linked).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('finds every task of a chord sent by Celeriac', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const parts = ids.map((taskId, i) => signature('wf.add', [i + 1, i + 1], {}, { taskId }, client));
    const res = await chord(group(...parts), signature('wf.tsum', [], {}, {}, client)).applyAsync();
    expect(await res.get({ timeoutMs: 20_000 })).toBe(12);
    fleet.taskIds.push(res.id, ...ids);
    await expectWhole(res.id, ids);
  });

  it('revokes every unfinished header part of a running chord from any of them', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const parts = ids.map((taskId) => signature('wf.sleep', [3], {}, { taskId }, client));
    const res = await chord(group(...parts), signature('wf.tsum', [], {}, {}, client)).applyAsync();
    fleet.taskIds.push(res.id, ...ids);
    // One worker slot: the first part runs, the other two wait.
    await workflow(ids[2] as string, 3, ['PENDING', 'RECEIVED', 'STARTED']);
    const revoked = await fetch(`${dash.url}/api/task/revoke-workflow/${ids[2] as string}`, { method: 'POST' });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { revoked: string[] }).revoked.sort()).toEqual([...ids].sort());
    const info = async (id: string) => getJson(`${dash.url}/api/task/info/${id}`);
    await waitFor(async () => ((await Promise.all(ids.slice(1).map(info))).every((t) => t['state'] === 'REVOKED') ? true : null), 'the waiting parts to be revoked', { timeoutMs: 20_000, maxIntervalMs: 100 });
  });
});
