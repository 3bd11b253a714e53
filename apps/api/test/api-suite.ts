/**
 * The API test suite, run as it is on the embedded PGlite and on a real Postgres
 * (api.pglite.test.ts, api.postgres.test.ts): every route, the todo rules, and bad input.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REMINDER_LEAD_MS } from '../src/todos/service.js';
import { SECURITY_HEADERS } from '../src/http/server.js';
import { waitFor } from 'celeriac/testing';
import { startTestApi, type TestApi } from './support/harness.js';
import { readSse } from './support/sse.js';

type Body = Record<string, unknown> & { items?: Record<string, unknown>[] };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Registers the suite for one database. */
export function apiSuite(database: 'pglite' | 'postgres'): void {
  let t: TestApi;
  const hit = new Set<string>();

  const call = async (method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await t.server.inject({ method: method as 'GET', url, payload: payload as string, headers });
    const text = res.body;
    let body: Body = {};
    if (res.headers['content-type']?.toString().includes('json') && text !== '') body = JSON.parse(text) as Body;
    return { status: res.statusCode, body, text, headers: res.headers };
  };
  const ok = async (method: string, url: string, payload?: unknown, expected = 200) => {
    const r = await call(method, url, payload);
    if (r.status !== expected) throw new Error(`${method} ${url}: expected ${expected}, got ${r.status}: ${r.text}`);
    return r.body;
  };
  const user = async (email = 'ada@example.com') => (await ok('POST', '/users', { email, name: 'Ada' }, 201)) as { id: number };
  const todo = async (userId: number, input: Record<string, unknown>) => (await ok('POST', `/users/${userId}/todos`, input, 201)) as Record<string, unknown> & { id: number };
  const taskDone = (id: string) =>
    waitFor(async () => {
      const s = await ok('GET', `/tasks/${id}`);
      return s['ready'] === true ? s : undefined;
    }, `task ${id}`, 15_000);
  /** The server's port, listening on a free one the first time. */
  const listening = async (): Promise<number> => {
    if (!t.server.server.listening) await t.server.listen({ host: '127.0.0.1', port: 0 });
    return (t.server.server.address() as { port: number }).port;
  };
  const delayed = async () => (await t.broker.delayedMessages(['celery'], 1000)).map((d) => JSON.parse(d.raw) as { headers: { id: string; eta: string | null; task: string } });

  beforeAll(async () => {
    t = await startTestApi({
      database,
      onServer: (server) =>
        server.addHook('onRequest', async (request) => {
          hit.add(`${request.method} ${request.routeOptions.url ?? ''}`);
        }),
    });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  }, 60_000);
  beforeEach(async () => {
    await t.reset();
  });

  describe(`the API on ${database}`, () => {
    it('serves the OpenAPI document, the docs and the live page, offline', async () => {
      const doc = await ok('GET', '/openapi.json');
      expect(doc['openapi']).toBe('3.0.3');
      expect(Object.keys(doc['paths'] as object)).toEqual(expect.arrayContaining(['/tasks/{name}', '/users/{userId}/todos', '/todos/bulk-update', '/health']));
      const docs = await call('GET', '/docs/');
      expect(docs.status).toBe(200);
      expect(docs.text).not.toMatch(/https?:\/\/(?!localhost)[^"']*\.(js|css)/);
      const page = await call('GET', '/');
      expect(page.text).toContain('<main>');
      expect(page.headers['content-security-policy']).toBe(SECURITY_HEADERS['content-security-policy']);
      expect((await call('GET', '/live/app.js')).text).toContain('EventSource');
      expect((await call('GET', '/live/app.css')).status).toBe(200);
      expect((await call('GET', '/live/icon.svg')).headers['content-type']).toBe('image/svg+xml');
    });

    it('sends an allow-listed task by name and reports its status and result', async () => {
      const sent = await ok('POST', '/tasks/demo.add', { args: [2, 3] }, 202);
      const status = await taskDone(sent['taskId'] as string);
      expect(status).toMatchObject({ state: 'SUCCESS', result: 5, worker: expect.stringMatching(/^test@/) });
      const kw = await ok('POST', '/tasks/demo.sleep', { kwargs: { seconds: 0 }, options: { priority: 1 } }, 202);
      expect(await taskDone(kw['taskId'] as string)).toMatchObject({ state: 'SUCCESS', result: { slept: 0 } });
    });

    it('reports progress, failures with their traceback, and revokes', async () => {
      const slow = await ok('POST', '/tasks/demo.sleep', { args: [30] }, 202);
      const id = slow['taskId'] as string;
      const progress = await waitFor(async () => {
        const s = await ok('GET', `/tasks/${id}`);
        return s['state'] === 'PROGRESS' ? s : undefined;
      }, 'progress', 15_000);
      expect(progress['progress']).toMatchObject({ current: 0, total: 30 });
      expect(await ok('POST', `/tasks/${id}/revoke`, { terminate: true }, 202)).toMatchObject({ revoked: true, terminate: true });
      expect(await taskDone(id)).toMatchObject({ state: 'REVOKED', error: { type: 'TaskRevokedError' } });
      // No body at all (a bare `curl -X POST .../revoke`): a plain revoke, as the schema says the body is optional.
      expect(await ok('POST', `/tasks/${randomUUID()}/revoke`, undefined, 202)).toMatchObject({ revoked: true, terminate: false });
      const bad = await ok('POST', '/tasks/demo.add', { args: ['a', 1] }, 202);
      const failed = await taskDone(bad['taskId'] as string);
      expect(failed).toMatchObject({ state: 'FAILURE', error: { type: 'TypeError' } });
      expect(failed['traceback']).toContain('demo.add takes two numbers');
    });

    it('retries the flaky task with backoff until the dependency answers', async () => {
      const sent = await ok('POST', '/tasks/demo.flaky', { kwargs: { city: 'Porto' } }, 202);
      const s = await taskDone(sent['taskId'] as string);
      expect(s['state']).toBe('SUCCESS');
      // The harness's dependency fails twice, and jitter is 0: two retries, no waiting.
      expect(s['result']).toMatchObject({ city: 'Porto', attempts: 3 });
    });

    it('sends workflows: chain, group (readable by id) and chord', async () => {
      const c = await ok('POST', '/workflows', { chain: [{ task: 'demo.add', args: [1, 1] }, { task: 'demo.add', args: [10] }] }, 202);
      expect(await taskDone(c['id'] as string)).toMatchObject({ result: 12 });
      const g = await ok('POST', '/workflows', { group: [{ task: 'demo.add', args: [1, 1] }, { task: 'demo.add', args: [2, 2] }] }, 202);
      const gs = await waitFor(async () => {
        const s = await ok('GET', `/groups/${g['id'] as string}`);
        return s['ready'] === true ? s : undefined;
      }, 'group', 15_000);
      expect(gs).toMatchObject({ total: 2, completed: 2 });
      const ch = await ok('POST', '/workflows', { chord: { header: [{ task: 'demo.add', args: [1, 2] }, { task: 'demo.add', args: [3, 4] }], body: { task: 'demo.add', args: [0], immutable: true, kwargs: {} } } }, 202);
      expect(ch['kind']).toBe('chord');
    });

    it('streams one task\'s state changes as server-sent events until it is ready', async () => {
      const sent = await ok('POST', '/tasks/demo.add', { args: [20, 22] }, 202);
      const id = sent['taskId'] as string;
      await taskDone(id);
      const res = await call('GET', `/tasks/${id}/events`);
      expect(res.headers['content-type']).toContain('text/event-stream');
      expect(res.text).toMatch(/event: task\ndata: .*"state":"SUCCESS"/);
    });

    it('a terminated task: the status, the event stream and the live page all end REVOKED, and the stream closes', async () => {
      const port = await listening();
      const live = await readSse(`http://127.0.0.1:${port}/live/stream`);
      try {
        await live.next((e) => e.event === 'snapshot');
        const sent = await ok('POST', '/live/tasks', { count: 1, seconds: 30 }, 202);
        const id = (sent['tasks'] as { taskId: string }[])[0]?.taskId as string;
        const isThis = (e: { event: string; data: unknown }) => e.event === 'task' && (e.data as { id?: string }).id === id;
        await live.next((e) => isThis(e) && (e.data as { progress?: { current: number } | null }).progress?.current === 1);
        const events = await readSse(`http://127.0.0.1:${port}/tasks/${id}/events`);
        try {
          await events.next((e) => (e.data as { state?: string }).state === 'PROGRESS');
          await ok('POST', `/tasks/${id}/revoke`, { terminate: true }, 202);
          // The stream sends REVOKED and ends by itself (no client abort: `ended` resolves).
          await events.next((e) => (e.data as { state?: string }).state === 'REVOKED');
          await events.ended(15_000);
          expect((events.events.at(-1)?.data as { state: string }).state).toBe('REVOKED');
        } finally {
          events.close();
        }
        await live.next((e) => isThis(e) && (e.data as { state: string }).state === 'REVOKED');
        expect(await ok('GET', `/tasks/${id}`)).toMatchObject({ state: 'REVOKED', ready: true });
        // A stream opened after the end sends the final state and closes at once.
        const again = await call('GET', `/tasks/${id}/events`);
        expect(again.text).toMatch(/"state":"REVOKED"/);
      } finally {
        live.close();
      }
    }, 60_000);

    it('the live page: sends demo.process tasks and pushes their events (progress, worker) over /live/stream', async () => {
      const port = await listening();
      const stream = await readSse(`http://127.0.0.1:${port}/live/stream`);
      try {
        await stream.next((e) => e.event === 'snapshot');
        const sent = await ok('POST', '/live/tasks', { count: 2, seconds: 1 }, 202);
        const ids = (sent['tasks'] as { taskId: string; taskNum: number }[]).map((x) => x.taskId);
        for (const id of ids) {
          const done = await stream.next((e) => e.event === 'task' && (e.data as { id: string; state: string }).id === id && (e.data as { state: string }).state === 'SUCCESS');
          expect(done.data).toMatchObject({ name: 'demo.process', worker: expect.stringMatching(/^test@/) });
          const progressed = stream.events.some((e) => (e.data as { id?: string; progress?: { total: number } | null }).id === id && (e.data as { progress?: { total: number } | null }).progress?.total === 1);
          expect(progressed).toBe(true);
        }
      } finally {
        stream.close();
      }
    });

    it('keeps users and todos, with pagination', async () => {
      const u = await user();
      expect(await ok('GET', `/users/${u.id}`)).toMatchObject({ email: 'ada@example.com' });
      expect((await ok('GET', '/users?page=1&pageSize=5'))['total']).toBe(1);
      for (let i = 1; i <= 5; i += 1) await todo(u.id, { title: `todo ${i}` });
      const page2 = await ok('GET', `/users/${u.id}/todos?page=2&pageSize=2`);
      expect(page2).toMatchObject({ page: 2, pageSize: 2, total: 5 });
      expect(page2.items?.map((x) => x['title'])).toEqual(['todo 3', 'todo 4']);
      const one = await ok('GET', `/users/${u.id}/todos/3`);
      expect(one).toMatchObject({ id: 3, title: 'todo 3', completed: false });
      await ok('PATCH', `/users/${u.id}/todos/3`, { completed: true, description: 'done' });
      expect((await ok('GET', `/users/${u.id}/todos?completed=true`))['total']).toBe(1);
      expect((await call('DELETE', `/users/${u.id}/todos/3`)).status).toBe(204);
      expect((await call('GET', `/users/${u.id}/todos/3`)).status).toBe(404);
      expect((await call('POST', '/users', { email: 'ada@example.com', name: 'Again' })).status).toBe(409);
    });

    it('caches reads (a hit on the second read) and drops them on every change', async () => {
      const u = await user();
      const td = await todo(u.id, { title: 'cache me' });
      expect((await ok('GET', `/users/${u.id}/todos`))['cached']).toBe(false);
      expect((await ok('GET', `/users/${u.id}/todos`))['cached']).toBe(true);
      expect((await ok('GET', `/users/${u.id}/todos/${td.id}`))['cached']).toBe(false);
      expect((await ok('GET', `/users/${u.id}/todos/${td.id}`))['cached']).toBe(true);
      const status = await ok('GET', '/cache/status');
      expect(status).toMatchObject({ backend: 'memory', reachable: true });
      expect((status['keys'] as { key: string; ttlSec: number }[]).map((k) => k.key)).toEqual([`todos:item:${td.id}`, `todos:list:${u.id}`]);
      expect(status['hits']).toBeGreaterThanOrEqual(2);
      await ok('PATCH', `/users/${u.id}/todos/${td.id}`, { title: 'changed' });
      const list = await ok('GET', `/users/${u.id}/todos`);
      expect(list['cached']).toBe(false);
      expect(list.items?.[0]?.['title']).toBe('changed');
      expect(await ok('GET', `/users/${u.id}/todos/${td.id}`)).toMatchObject({ cached: false, title: 'changed' });
      // TTLs: a list page lives 5 minutes, by the (fake) clock.
      expect((await ok('GET', `/users/${u.id}/todos`))['cached']).toBe(true);
      t.clock.advance(301_000);
      expect((await ok('GET', `/users/${u.id}/todos`))['cached']).toBe(false);
    });

    it('computes statistics with a task, caches them an hour, and drops them on change', async () => {
      const u = await user();
      const a = await todo(u.id, { title: 'a', deadline: new Date(t.clock.now() - HOUR).toISOString() });
      await todo(u.id, { title: 'b' });
      await ok('PATCH', `/users/${u.id}/todos/${a.id}`, { completed: true });
      const s1 = await ok('GET', '/todos/statistics');
      expect(s1).toMatchObject({ users: 1, todos: 2, completed: 1, open: 1, overdue: 0, completionRate: 0.5, cached: false });
      expect((await ok('GET', '/todos/statistics'))['cached']).toBe(true);
      await todo(u.id, { title: 'c' });
      expect(await ok('GET', '/todos/statistics')).toMatchObject({ todos: 3, cached: false });
      t.clock.advance(3_601_000);
      expect((await ok('GET', '/todos/statistics'))['cached']).toBe(false);
    });

    it('schedules a reminder one day before the deadline, moves it with the deadline, revokes it on completion', async () => {
      const u = await user();
      const deadline = new Date(t.clock.now() + 3 * DAY);
      const td = await todo(u.id, { title: 'remind me', deadline: deadline.toISOString() });
      const first = td['reminderTaskId'] as string;
      expect(td['reminderEta']).toBe(new Date(deadline.getTime() - REMINDER_LEAD_MS).toISOString());
      expect((await delayed()).find((m) => m.headers.id === first)).toMatchObject({ headers: { task: 'todos.remind' } });
      const moved = new Date(t.clock.now() + 5 * DAY);
      const after = await ok('PATCH', `/users/${u.id}/todos/${td.id}`, { deadline: moved.toISOString() });
      const second = after['reminderTaskId'] as string;
      expect(second).not.toBe(first);
      expect(after['reminderEta']).toBe(new Date(moved.getTime() - REMINDER_LEAD_MS).toISOString());
      expect([...(await t.backend.revoked([first, second]))]).toEqual([first]);
      expect((await delayed()).some((m) => m.headers.id === second)).toBe(true);
      const done = await ok('PATCH', `/users/${u.id}/todos/${td.id}`, { completed: true });
      expect(done['reminderTaskId']).toBeNull();
      expect((await t.backend.revoked([second])).has(second)).toBe(true);
      // Deleting revokes too.
      const other = await todo(u.id, { title: 'delete me', deadline: moved.toISOString() });
      await call('DELETE', `/users/${u.id}/todos/${other.id}`);
      expect((await t.backend.revoked([other['reminderTaskId'] as string])).size).toBe(1);
    });

    it('runs a reminder due at once, notifies once, and a superseded reminder does nothing', async () => {
      const u = await user();
      const td = await todo(u.id, { title: 'soon', deadline: new Date(t.clock.now() + 2 * HOUR).toISOString() });
      expect(td['reminderEta']).toBeNull();
      const ran = await t.rt.celery.asyncResult(td['reminderTaskId'] as string).get({ timeoutMs: 10_000 });
      expect(ran).toEqual({ sent: true });
      const notes = await ok('GET', `/users/${u.id}/notifications`);
      expect((notes as unknown as { kind: string }[]).map((n) => n.kind)).toEqual(['reminder']);
      // A stale reminder (another id than the todo's) does nothing.
      const stale = await t.rt.tasks.todos.remind.delay(td.id);
      expect(await stale.get({ timeoutMs: 10_000 })).toMatchObject({ sent: false, reason: 'superseded by another reminder' });
    });

    it('check_overdue marks overdue todos once, by the fake clock; daily_cleanup removes old completed todos', async () => {
      const u = await user();
      const late = await todo(u.id, { title: 'late', deadline: new Date(t.clock.now() + 2 * HOUR).toISOString() });
      // Its reminder is due at once: it notifies before the clock moves on (run after the 31 days
      // below, on a loaded machine, its notification was too new for the cleanup to delete).
      expect(await t.rt.celery.asyncResult(late['reminderTaskId'] as string).get({ timeoutMs: 10_000 })).toEqual({ sent: true });
      await todo(u.id, { title: 'no deadline' });
      const overdue = t.rt.tasks.todos.overdue;
      expect(await (await overdue.delay()).get({ timeoutMs: 10_000 })).toEqual({ overdue: 0, notified: 0 });
      t.clock.advance(3 * HOUR);
      expect(await (await overdue.delay()).get({ timeoutMs: 10_000 })).toEqual({ overdue: 1, notified: 1 });
      expect(await (await overdue.delay()).get({ timeoutMs: 10_000 })).toEqual({ overdue: 0, notified: 0 });
      expect(await ok('GET', `/users/${u.id}/todos/${late.id}`)).toMatchObject({ overdueAt: new Date(t.clock.now()).toISOString() });
      await ok('PATCH', `/users/${u.id}/todos/${late.id}`, { completed: true });
      const cleanup = t.rt.tasks.todos.cleanup;
      expect(await (await cleanup.delay()).get({ timeoutMs: 10_000 })).toMatchObject({ todosDeleted: 0 });
      await ok('GET', `/users/${u.id}/todos`);
      t.clock.advance(31 * DAY);
      expect(await (await cleanup.delay()).get({ timeoutMs: 10_000 })).toEqual({ todosDeleted: 1, notificationsDeleted: 2 });
      const left = await ok('GET', `/users/${u.id}/todos`);
      expect(left).toMatchObject({ total: 1, cached: false });
    });

    it('exports todos to a file with progress, then serves the download', async () => {
      const u = await user();
      await todo(u.id, { title: 'one, "quoted"' });
      await todo(u.id, { title: '=cmd()', description: 'line\nbreak' });
      const started = await ok('POST', '/todos/export?format=json', undefined, 202);
      const id = started['taskId'] as string;
      const done = await waitFor(async () => {
        const s = await ok('GET', `/todos/export/${id}`);
        return s['state'] === 'SUCCESS' ? s : undefined;
      }, 'export', 15_000);
      expect(done).toMatchObject({ result: { count: 2, format: 'json' }, download: `/todos/export/${id}/file` });
      const file = await call('GET', `/todos/export/${id}/file`);
      expect(file.headers['content-disposition']).toBe(`attachment; filename="todos-${id}.json"`);
      expect((JSON.parse(file.text) as { title: string }[]).map((x) => x.title)).toEqual(['one, "quoted"', '=cmd()']);
      const csv = await ok('POST', `/todos/export?format=csv&userId=${u.id}`, undefined, 202);
      await taskDone(csv['taskId'] as string);
      const text = (await call('GET', `/todos/export/${csv['taskId'] as string}/file`)).text;
      expect(text.split('\n')[1]).toContain('"one, ""quoted"""');
      expect(text).toContain("'=cmd()");
    });

    it('bulk-updates as a group with a chord that counts what was updated', async () => {
      const u = await user();
      const ids = [(await todo(u.id, { title: 'x' })).id, (await todo(u.id, { title: 'y' })).id];
      const sent = await ok('POST', '/todos/bulk-update', { ids: [...ids, 999], update: { completed: true } }, 202);
      const report = await waitFor(async () => {
        const s = await ok('GET', `/todos/bulk-update/${sent['groupId'] as string}`);
        return s['ready'] === true ? s : undefined;
      }, 'bulk update', 15_000);
      expect(report).toEqual({ groupId: sent['groupId'], total: 3, completed: 3, ready: true, report: { requested: 3, updated: 2, missing: [999] } });
      expect((await ok('GET', `/users/${u.id}/todos?completed=true`))['total']).toBe(2);
    });

    it('counts heartbeats in the cache and logs each with its task id', async () => {
      const r = await (await t.rt.tasks.maintenance.heartbeat.applyAsync([], { ignoreResult: false })).get({ timeoutMs: 10_000 });
      expect(r).toBe(1);
      const line = t.logs.find((l) => l.msg === 'heartbeat');
      expect(line).toMatchObject({ heartbeat: 1, taskId: expect.any(String), taskName: 'maintenance.heartbeat' });
    });

    it('reports health of every dependency', async () => {
      const h = await ok('GET', '/health');
      expect(h['status']).toBe('ok');
      expect(Object.keys(h['checks'] as object).sort()).toEqual(['broker', 'cache', 'database', 'resultBackend']);
    });

    it('carries the request id in the response and in the log lines of the request', async () => {
      const r = await call('POST', '/tasks/demo.add', { args: [1, 1] }, { 'x-request-id': 'req-abc.1' });
      expect(r.headers['x-request-id']).toBe('req-abc.1');
      expect(t.logs.find((l) => l.msg === 'task sent' && l['reqId'] === 'req-abc.1')).toMatchObject({ taskId: r.body['taskId'] });
      const odd = await call('GET', '/health', undefined, { 'x-request-id': 'bad id with spaces' });
      expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    badInput(() => t, call);

    it('has exercised every route of the OpenAPI document', async () => {
      const doc = await ok('GET', '/openapi.json');
      const missing: string[] = [];
      for (const [path, methods] of Object.entries(doc['paths'] as Record<string, object>)) {
        for (const m of Object.keys(methods)) {
          const key = `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;
          if (!hit.has(key)) missing.push(key);
        }
      }
      expect(missing).toEqual([]);
    });
  });
}

type Call = (method: string, url: string, payload?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: Body; text: string }>;

function badInput(getApi: () => TestApi, call: Call): void {
  const cases: [string, string, string, unknown, number, Record<string, string>?][] = [
    ['wrong type for args', 'POST', '/tasks/demo.add', { args: 'x' }, 400],
    ['wrong type for kwargs', 'POST', '/tasks/demo.add', { kwargs: [1] }, 400],
    ['unknown property', 'POST', '/tasks/demo.add', { args: [], extra: 1 }, 400],
    ['bad call option', 'POST', '/tasks/demo.add', { options: { priority: 12 } }, 400],
    ['countdown and eta together', 'POST', '/tasks/demo.add', { options: { countdown: 5, eta: '2030-01-01T00:00:00Z' } }, 400],
    ['eta further off than 30 days', 'POST', '/tasks/demo.add', { args: [1, 2], options: { eta: '9999-12-31T23:59:59Z' } }, 400],
    ['workflow step with an eta further off than 30 days', 'POST', '/workflows', { chain: [{ task: 'demo.add', args: [1, 1], options: { eta: new Date(Date.now() + 31 * 86_400_000).toISOString() } }] }, 400],
    ['workflow step with a keyword name Python cannot take', 'POST', '/workflows', { task: 'demo.add', kwargs: { 'not a name': 1 } }, 400],
    ['keyword name Python cannot take', 'POST', '/tasks/demo.add', { kwargs: { 'x-y': 1 } }, 400],
    ['name outside the allow-list', 'POST', '/tasks/todos.daily_cleanup', {}, 403],
    ['allowed by the glob but not a registered task', 'POST', '/tasks/demo.nope', {}, 404],
    ['workflow with an allowed name no task has', 'POST', '/workflows', { chain: [{ task: 'demo.add', args: [1, 1] }, { task: 'demo.nope' }] }, 404],
    ['name that is not a name', 'POST', '/tasks/..%2F..', {}, 400],
    ['workflow with a name off the list', 'POST', '/workflows', { chain: [{ task: 'demo.add', args: [1, 1] }, { task: 'os.system', args: ['rm'] }] }, 403],
    ['workflow of the wrong shape', 'POST', '/workflows', { chain: 'demo.add' }, 400],
    ['empty workflow', 'POST', '/workflows', { group: [] }, 400],
    ['invalid JSON', 'POST', '/tasks/demo.add', '{"args": [1,', 400, { 'content-type': 'application/json' }],
    ['wrong media type', 'POST', '/tasks/demo.add', 'args=1', 415, { 'content-type': 'application/x-www-form-urlencoded' }],
    ['oversized body', 'POST', '/tasks/demo.add', { args: ['x'.repeat(20_000)] }, 413],
    ['deeply nested body', 'POST', '/tasks/demo.add', `{"args":[${'['.repeat(5000)}${']'.repeat(5000)}]}`, 400, { 'content-type': 'application/json' }],
    ['prototype poisoning', 'POST', '/tasks/demo.add', '{"args":[],"__proto__":{"x":1}}', 400, { 'content-type': 'application/json' }],
    ['task id with bad characters', 'GET', '/tasks/abc%20def', undefined, 400],
    ['revoke with a bad signal', 'POST', '/tasks/abc/revoke', { signal: 'kill -9' }, 400],
    ['user id that is not a number', 'GET', '/users/abc', undefined, 400],
    ['user id out of range', 'GET', '/users/99999999999', undefined, 400],
    ['unknown user', 'GET', '/users/4242', undefined, 404],
    ['todos of an unknown user', 'GET', '/users/4242/todos', undefined, 404],
    ['todo of an unknown user', 'POST', '/users/4242/todos', { title: 'x' }, 404],
    ['unknown todo', 'GET', '/users/1/todos/4242', undefined, 404],
    ['change an unknown todo', 'PATCH', '/users/1/todos/4242', { title: 'x' }, 404],
    ['delete an unknown todo', 'DELETE', '/users/1/todos/4242', undefined, 404],
    ['notifications of an unknown user', 'GET', '/users/4242/notifications', undefined, 404],
    ['empty change', 'PATCH', '/users/1/todos/1', {}, 400],
    ['completed as text', 'PATCH', '/users/1/todos/1', { completed: 'yes' }, 400],
    ['deadline that is not a date', 'POST', '/users/1/todos', { title: 'x', deadline: 'tomorrow' }, 400],
    // Dates the format allowed and Postgres or JavaScript could not hold: a 500, and one stored
    // (year 10000 in UTC) failed every later listing of the user's todos.
    ['deadline in year 0', 'POST', '/users/1/todos', { title: 'x', deadline: '0000-06-01T00:00:00Z' }, 400],
    ['deadline in year 10000 once in UTC', 'POST', '/users/1/todos', { title: 'x', deadline: '9999-12-31T23:59:59-14:00' }, 400],
    ['deadline before year 1 once in UTC', 'PATCH', '/users/1/todos/1', { deadline: '0001-01-01T00:00:00+14:00' }, 400],
    ['deadline with an offset past 14 hours', 'POST', '/users/1/todos', { title: 'x', deadline: '2030-01-01T00:00:00+23:59' }, 400],
    ['deadline with 1,000 digits of seconds', 'POST', '/users/1/todos', { title: 'x', deadline: `2030-01-01T00:00:00.${'1'.repeat(1000)}Z` }, 400],
    ['bulk update to a deadline out of range', 'POST', '/todos/bulk-update', { ids: [1], update: { deadline: '9999-12-31T23:59:59-14:00' } }, 400],
    ['title too long', 'POST', '/users/1/todos', { title: 'x'.repeat(201) }, 400],
    // Postgres's text holds no NUL: the insert failed, a 500.
    ['title with a NUL', 'POST', '/users/1/todos', { title: 'a\u0000b' }, 400],
    ['description with a NUL', 'PATCH', '/users/1/todos/1', { description: '\u0000' }, 400],
    ['name with a NUL', 'POST', '/users', { email: 'nul@example.com', name: '\u0000' }, 400],
    ['email that is not one', 'POST', '/users', { email: 'nope', name: 'x' }, 400],
    ['page size too large', 'GET', '/users?pageSize=1000', undefined, 400],
    ['page of text', 'GET', '/users?page=abc', undefined, 400],
    ['export in an unknown format', 'POST', '/todos/export?format=xml', undefined, 400],
    ['export of an unknown user', 'POST', '/todos/export?userId=4242', undefined, 404],
    ['download of an unknown export', 'GET', '/todos/export/no-such-export/file', undefined, 404],
    ['download with a path in the id', 'GET', '/todos/export/..%2F..%2Fetc%2Fpasswd/file', undefined, 400],
    ['bulk update without ids', 'POST', '/todos/bulk-update', { ids: [], update: { completed: true } }, 400],
    ['bulk update with repeated ids', 'POST', '/todos/bulk-update', { ids: [1, 1], update: { completed: true } }, 400],
    ['bulk update of text ids', 'POST', '/todos/bulk-update', { ids: ['1'], update: { completed: true } }, 400],
    ['status of an unknown bulk update', 'GET', '/todos/bulk-update/no-such-group', undefined, 404],
    ['unknown group', 'GET', '/groups/no-such-group', undefined, 404],
    ['live: too many tasks', 'POST', '/live/tasks', { count: 11, seconds: 1 }, 400],
    ['live: count as text', 'POST', '/live/tasks', { count: 'ten', seconds: 1 }, 400],
    ['unknown route', 'GET', '/nope', undefined, 404],
    ['wrong method', 'PUT', '/health', undefined, 404],
  ];

  describe('bad input: always a 4xx with a JSON error body, never a 500', () => {
    it.each(cases)('%s', async (_what, method, url, payload, status, headers) => {
      void getApi;
      const u = await call('POST', '/users', { email: 'owner@example.com', name: 'Owner' });
      if (u.status === 201) await call('POST', `/users/${u.body['id'] as number}/todos`, { title: 'first' });
      const r = await call(method, url, typeof payload === 'string' ? payload : payload, headers);
      expect(r.status, r.text).toBe(status);
      expect(r.body).toMatchObject({ statusCode: status, code: expect.any(String), message: expect.any(String), requestId: expect.any(String) });
    });

    it('garbage of every kind to every route is never answered with a 5xx', async () => {
      const garbage: string[] = ['null', '0', '-1', '1e308', 'true', '"text"', '[]', '[null]', '{}', '{"constructor":{"prototype":1}}', '{"args":[{"__proto__":null}]}', '{"args":[1e999]}', '"\\ud800"'];
      const routes: [string, string][] = [
        ['POST', '/tasks/demo.add'], ['POST', '/tasks/abc/revoke'], ['POST', '/workflows'], ['POST', '/users'], ['POST', '/users/1/todos'],
        ['PATCH', '/users/1/todos/1'], ['POST', '/todos/bulk-update'], ['POST', '/live/tasks'], ['POST', '/todos/export'],
      ];
      for (const [method, url] of routes) {
        for (const g of garbage) {
          const r = await call(method, url, g, { 'content-type': 'application/json' });
          expect(r.status, `${method} ${url} ${g}: ${r.text}`).toBeLessThan(500);
        }
      }
    });
  });
}

