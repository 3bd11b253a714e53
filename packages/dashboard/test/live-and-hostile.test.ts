/**
 * The live stream, and what the server does with hostile or broken input: garbage
 * parameters, huge and deep bodies, path tricks, a broker that goes away and comes back, and
 * a database that refuses connections for a while.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp } from 'celeriac';
import type { EventDict } from 'celeriac/monitor';
import { createClient } from 'redis';
import { pino } from 'pino';
import type { RunningDashboard } from '../src/dashboard.js';
import pg from 'pg';
import { EVENT_EXCHANGE, encodeEventEnvelope } from '../../celeriac/src/protocol/events.js';
import { FaultProxy } from '../../celeriac/test/support/fault-proxy.js';
import { freePort, RedisServerProcess } from '../../celeriac/test/support/redis.js';
import { DashboardCluster, PG_URL, clusterReady } from './support/cluster.js';

const ready = await clusterReady('dashboard live and hostile input');
const cluster = new DashboardCluster('dashhostile');
const { fleet } = cluster;

async function status(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

describe.runIf(ready)('live stream and hostile input', () => {
  let dash: RunningDashboard;
  let worker = '';

  beforeAll(async () => {
    const app = fleet.app();
    app.task('ts.mul', (x: number, y: number) => x * y);
    app.task('ts.echo', { params: ['a', 'b', 'id'] }, (a: unknown, b: unknown, id: unknown) => [a, b, { id }]);
    app.task('ts.boom', () => {
      throw new RangeError('boom for the traceback');
    });
    const w = await fleet.worker(app, { queues: ['celery'], hostname: `tshostile-${process.pid}@%h`, sendTaskEvents: true, concurrency: 2 });
    worker = w.hostname;
    dash = await cluster.dashboard({ app });
  }, 60_000);

  afterAll(() => cluster.close(), 60_000);

  it('a traced message’s trace id reaches the task detail, where the task page links it', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const client = fleet.app();
    // No tracer provider here: the header a traced producer wrote travels as it is.
    const r = await client.sendTask('ts.mul', [2, 3], {}, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    fleet.taskIds.push(r.id);
    const detail = await waitFor(async () => {
      const res = await fetch(`${dash.url}/api/task/detail/${r.id}`);
      if (res.status !== 200) return null;
      const body = (await res.json()) as { events: { type: string; fields: Record<string, unknown> }[] };
      return body.events.some((e) => e.type === 'task-received') ? body : null;
    }, 'the task-received event in the store', 10_000);
    expect(detail.events.find((e) => e.type === 'task-received')?.fields['trace_id']).toBe(traceId);
    expect(((await (await fetch(`${dash.url}/api/config`)).json()) as { traceUrl: unknown }).traceUrl).toBeNull();
  });

  it('/api/live pushes a task as it runs, without polling', async () => {
    const ctl = new AbortController();
    const res = await fetch(`${dash.url}/api/live`, { signal: ctl.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const client = fleet.app();
    const r = await client.sendTask('ts.mul', [6, 7]);
    fleet.taskIds.push(r.id);
    try {
      await waitFor(async () => {
        const chunk = await reader.read();
        text += decoder.decode(chunk.value ?? new Uint8Array());
        return text.split('\n\n').some((frame) => frame.startsWith('event: task\n') && frame.includes(`"uuid":"${r.id}"`) && frame.includes('"state":"SUCCESS"'));
      }, 'the live stream to carry the task', { timeoutMs: 15_000 });
    } finally {
      ctl.abort();
    }
    expect(text).toMatch(/^retry: 2000\n\nevent: hello\n/);
    expect(text).toMatch(/event: task\ndata: \{/);
  });

  it('garbage parameters are 400s, never 500s', async () => {
    const base = dash.url;
    expect(await status(`${base}/api/tasks?limit=abc`)).toBe(400);
    expect(await status(`${base}/api/tasks?limit=-1`)).toBe(400);
    expect(await status(`${base}/api/tasks?offset=-5&limit=1`)).toBe(200);
    expect(await status(`${base}/api/tasks?received_start=yesterday`)).toBe(400);
    // Past 2**53, or a time no Date holds: Postgres took them as bigints out of range (500s).
    expect(await status(`${base}/api/tasks?offset=99999999999999999999&limit=1`)).toBe(400);
    expect(await status(`${base}/api/tasks/search?offset=1e20`)).toBe(400);
    for (const key of ['received_start', 'received_end', 'started_start', 'started_end']) {
      expect(await status(`${base}/api/tasks?${key}=99999999999999999999`), key).toBe(400);
    }
    expect(await status(`${base}/api/tasks?received_start=${8.64e12}`)).toBe(200);
    expect(await status(`${base}/api/tasks?state=%00%01&limit=5`)).toBe(400);
    expect(await status(`${base}/api/tasks?state=%01&limit=5`)).toBe(200);
    expect(await status(`${base}/api/tasks?search=${'x'.repeat(5000)}`)).toBe(400);
    expect(await status(`${base}/api/tasks?search=${encodeURIComponent('('.repeat(500))}`)).toBe(400);
    expect(await status(`${base}/api/tasks/search?limit=100000`)).toBe(400);
    // Searches Postgres refused as they were (500s): a fraction or 1e20 as an integer or bigint.
    for (const search of ['received>-1.5ms', 'retries>1.5', 'retries<1e20']) {
      expect(await status(`${base}/api/tasks?search=${encodeURIComponent(search)}&limit=1`), search).toBe(200);
    }
    expect(await status(`${base}/api/tasks?search=${encodeURIComponent('received>99999999999999999999')}`)).toBe(400);
    expect(await status(`${base}/api/tasks?after=not-a-cursor&limit=5`)).toBe(400);
    expect(await status(`${base}/api/tasks/search?after=${encodeURIComponent("'; DROP TABLE tasks")}`)).toBe(400);
    expect(await status(`${base}/api/workers?refresh=maybe`)).toBe(400);
    expect(await status(`${base}/api/task/result/x?timeout=abc`)).toBe(400);
    expect(await status(`${base}/api/overview?since=-1`)).toBe(400);
    expect(await status(`${base}/api/task/info/${'a'.repeat(5000)}`)).toBeLessThan(500);
    expect(await status(`${base}/api/worker/pool/grow/${encodeURIComponent(worker)}?n=two`, { method: 'POST' })).toBe(400);
  });

  it('huge bodies are refused with 413; deep and odd bodies do not crash the server', async () => {
    const huge = JSON.stringify({ args: ['x'.repeat(2 * 1024 * 1024)] });
    expect(await status(`${dash.url}/api/task/send-task/ts.mul`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: huge })).toBe(413);
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    expect(await status(`${dash.url}/api/task/send-task/ts.mul`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep })).toBeLessThan(500);
    expect(await status(`${dash.url}/api/task/send-task/ts.mul`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([0, 255, 1]) })).toBe(400);
    expect(await status(`${dash.url}/api/task/send-task/ts.mul`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"just a string"' })).toBe(400);
    expect(await status(`${dash.url}/healthcheck`)).toBe(200);
  });

  it('/api/task/result of a result or exception nested too deep for JSON answers its repr, not a 500', async () => {
    // Only a writer other than a worker stores such a meta (py-json refuses past 1,000 levels).
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const ok = `deep-ok-${process.pid}`;
    const failed = `deep-failed-${process.pid}`;
    fleet.taskIds.push(ok, failed);
    const raw = createClient({ url: fleet.py.backend });
    await raw.connect();
    try {
      await raw.set(`celery-task-meta-${ok}`, `{"task_id": "${ok}", "status": "SUCCESS", "result": ${deep}}`, { EX: 600 });
      await raw.set(`celery-task-meta-${failed}`, `{"task_id": "${failed}", "status": "FAILURE", "result": {"exc_type": "ValueError", "exc_message": [${deep}, "x"], "exc_module": "builtins"}}`, { EX: 600 });
    } finally {
      await raw.close();
    }
    const okRes = await fetch(`${dash.url}/api/task/result/${ok}`);
    expect(okRes.status).toBe(200);
    expect(await okRes.json()).toMatchObject({ 'task-id': ok, state: 'SUCCESS', result: expect.stringMatching(/^\[+\.\.\.\]+$/) });
    const failedRes = await fetch(`${dash.url}/api/task/result/${failed}?timeout=1`);
    expect(failedRes.status).toBe(200);
    expect(await failedRes.json()).toMatchObject({ state: 'FAILURE', result: expect.stringMatching(/^ValueError\("\[+\.\.\.\]+", "x"\)$/) });
  });

  it('/api/task/result of a Python int past 2**53 (read as a bigint) answers its digits, not a 500', async () => {
    const big = `big-${process.pid}`;
    fleet.taskIds.push(big);
    const raw = createClient({ url: fleet.py.backend });
    await raw.connect();
    try {
      await raw.set(`celery-task-meta-${big}`, `{"task_id": "${big}", "status": "SUCCESS", "result": [1, 18446744073709551616]}`, { EX: 600 });
    } finally {
      await raw.close();
    }
    const res = await fetch(`${dash.url}/api/task/result/${big}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ 'task-id': big, state: 'SUCCESS', result: '[1, 18446744073709551616]' });
  });

  it('send-task with an integer past 2**53 in args or kwargs sends it exactly, as Flower does', async () => {
    const raw = createClient({ url: fleet.py.backend });
    await raw.connect();
    try {
      // As JSON, and as text (curl -d without a content type), which the route reads as JSON too.
      for (const type of ['application/json', 'text/plain']) {
        const body = '{"args": [18446744073709551616, 1234567890123456789], "kwargs": {"id": -9007199254740993}}';
        const res = await fetch(`${dash.url}/api/task/send-task/ts.echo`, { method: 'POST', headers: { 'content-type': type }, body });
        expect(res.status).toBe(200);
        const id = ((await res.json()) as { 'task-id': string })['task-id'];
        fleet.taskIds.push(id);
        // The worker got the exact integers and stored them back (py-json writes a bigint as its digits).
        const stored = await waitFor(async () => {
          const text = await raw.get(`celery-task-meta-${id}`);
          return text !== null && /"status": "(SUCCESS|FAILURE)"/.test(text) ? text : null;
        }, 'the echo stored', 10_000);
        expect(stored).toContain('"result": [18446744073709551616, 1234567890123456789, {"id": -9007199254740993}]');
      }
    } finally {
      await raw.close();
    }
  });

  it('a wait for a result ends when its client goes away: apply and result?timeout= unsubscribe', async () => {
    const redis = createClient({ url: fleet.py.backend });
    await redis.connect();
    const subscribers = async (id: string) => Number((await redis.sendCommand(['PUBSUB', 'NUMSUB', `celery-task-meta-${id}`]) as [string, number])[1]);
    try {
      // A queue nobody consumes: the task never runs, and Flower's apply waits for as long as it takes.
      const applied = randomUUID();
      const leaving = new AbortController();
      const apply = fetch(`${dash.url}/api/task/apply/ts.mul`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: leaving.signal,
        body: JSON.stringify({ args: [2, 3], queue: `nobody-${applied}`, task_id: applied }),
      }).catch(() => undefined);
      await waitFor(async () => (await subscribers(applied)) === 1, 'the apply to wait on its result', 10_000);
      leaving.abort();
      await apply;
      await waitFor(async () => (await subscribers(applied)) === 0, 'the wait to end with its client', 10_000);

      const read = randomUUID();
      const reading = new AbortController();
      const result = fetch(`${dash.url}/api/task/result/${read}?timeout=100000`, { signal: reading.signal }).catch(() => undefined);
      await waitFor(async () => (await subscribers(read)) === 1, 'the read to wait on the result', 10_000);
      reading.abort();
      await result;
      await waitFor(async () => (await subscribers(read)) === 0, 'the read to end with its client', 10_000);
    } finally {
      await redis.quit();
    }
  });

  it('Flower parity: send-task with a bad eta or priority is a 400 with a reason; /api/tasks rows carry traceback and children; limit=0 is every task', async () => {
    for (const bad of [{ eta: 'not a time' }, { priority: 'high' }, { priority: 42 }, { countdown: 'soon' }]) {
      const res = await fetch(`${dash.url}/api/task/send-task/ts.mul`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ args: [1, 2], ...bad }) });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/^Invalid option: (eta|priority|countdown) /);
    }
    const client = fleet.app();
    const boom = await client.sendTask('ts.boom', []);
    const first = await client.sendTask('ts.mul', [2, 3], {}, { link: { task: 'ts.mul', args: [4], kwargs: {}, options: {}, subtask_type: null, immutable: false, chord_size: null } as never });
    fleet.taskIds.push(boom.id, first.id);
    type Row = { traceback: string | null; children: string[]; state: string };
    const rows = await waitFor(async () => {
      const all = (await (await fetch(`${dash.url}/api/tasks?limit=0`)).json()) as Record<string, Row & { parent_id: string | null }>;
      const child = Object.entries(all).find(([, t]) => t.parent_id === first.id);
      return all[boom.id]?.state === 'FAILURE' && child !== undefined && all[first.id]?.children.length === 1 ? { all, childId: child[0] } : undefined;
    }, 'the failure and the chain in /api/tasks', { timeoutMs: 20_000 });
    expect(rows.all[boom.id]?.traceback).toContain('boom for the traceback');
    expect(rows.all[first.id]?.children).toEqual([rows.childId]);
    const info = (await (await fetch(`${dash.url}/api/task/info/${boom.id}`)).json()) as Row;
    expect(rows.all[boom.id]?.traceback).toBe(info.traceback);
    // limit=0 is no limit, as Flower: the same rows as no limit at all.
    const unlimited = (await (await fetch(`${dash.url}/api/tasks`)).json()) as Record<string, unknown>;
    expect(Object.keys(rows.all).length).toBeGreaterThanOrEqual(3);
    expect(Object.keys(rows.all).sort()).toEqual(Object.keys(unlimited).sort());
  }, 60_000);

  it('static files never escape the UI directory', async () => {
    for (const p of ['/..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/package.json', '/js/..%2f..%2f..%2fpackage.json', '/%00']) {
      const res = await fetch(`${dash.url}${p}`);
      const body = await res.text();
      expect(body, p).not.toContain('"name": "@celeriac/dashboard"');
    }
  });

  it('a history database that goes away: readiness and the history routes say 503, and recover', async () => {
    const proxy = new FaultProxy(Number(new URL(PG_URL).port || 5432));
    await proxy.start();
    const url = new URL(PG_URL);
    url.port = String(proxy.port);
    // A broker of its own with no worker: no event to write, so only a read can tell.
    const redis = new RedisServerProcess(await freePort());
    await redis.start();
    const app = createApp({ broker: redis.url, backend: redis.url }, { env: {}, logger: pino({ level: 'silent' }) });
    const d = await cluster.dashboard({ app, databaseUrl: url.toString() });
    try {
      await waitFor(async () => (await status(`${d.url}/readyz`)) === 200, 'ready with the database up', { timeoutMs: 10_000, maxIntervalMs: 100 });
      proxy.cut();
      // Before, readiness read only the last write (none with no events), and the routes answered 500.
      await waitFor(async () => (await status(`${d.url}/readyz`)) === 503, 'not ready with the database down', { timeoutMs: 10_000, maxIntervalMs: 100 });
      const readyz = (await (await fetch(`${d.url}/readyz`)).json()) as { checks: { store: { ok: boolean; detail: string } } };
      expect(readyz.checks.store).toMatchObject({ ok: false, detail: expect.stringMatching(/history database/) });
      for (const path of ['/api/tasks?limit=1', '/api/tasks/search?limit=1', '/api/task/info/abc']) expect(await status(`${d.url}${path}`), path).toBe(503);
      expect(await status(`${d.url}/healthcheck`)).toBe(200);
      proxy.heal();
      await waitFor(async () => (await status(`${d.url}/readyz`)) === 200, 'ready again once the database is back', { timeoutMs: 20_000, maxIntervalMs: 200 });
      expect(await status(`${d.url}/api/tasks?limit=1`)).toBe(200);
    } finally {
      await d.close();
      await app.close();
      await redis.kill();
      await proxy.close();
    }
  });

  it('a broker that goes away: liveness stays OK, readiness and broker routes say 503, and recover', async () => {
    const redis = new RedisServerProcess(await freePort());
    await redis.start();
    const app = createApp({ broker: redis.url, backend: redis.url }, { env: {}, logger: pino({ level: 'silent' }) });
    const d = await cluster.dashboard({ app });
    try {
      await waitFor(async () => (await status(`${d.url}/readyz`)) === 200, 'ready with the broker up', { timeoutMs: 10_000, maxIntervalMs: 100 });
      await redis.kill();
      expect(await status(`${d.url}/healthcheck`)).toBe(200);
      // The client may not have seen the socket close yet: a read just after the kill can still pass.
      await waitFor(async () => (await status(`${d.url}/api/queues/length`)) === 503, 'queue lengths to fail with the broker down', { timeoutMs: 15_000, maxIntervalMs: 100 });
      await waitFor(async () => (await status(`${d.url}/readyz`)) === 503, 'not ready with the broker down', { timeoutMs: 10_000, maxIntervalMs: 100 });
      expect(await status(`${d.url}/api/task/revoke/abc`, { method: 'POST' })).toBe(503);
      expect(await status(`${d.url}/api/workers?refresh=1`)).toBe(503);
      // The result backend (the same Redis) is down too: 503, not a 500 after the client's 10 s.
      expect(await status(`${d.url}/api/task/result/abc`)).toBe(503);
      expect(await status(`${d.url}/api/tasks?limit=5`)).toBe(200);
      await redis.start();
      await waitFor(async () => (await status(`${d.url}/readyz`)) === 200, 'ready again once the broker is back', { timeoutMs: 20_000, maxIntervalMs: 200 });
    } finally {
      await d.close();
      await app.close();
      await redis.kill();
    }
  }, 60_000);

  it('an event whose numbers no column holds is stored without them, and every write after it goes on', { timeout: 60_000 }, async () => {
    // As a foreign sender could write them: a timestamp no Date holds, retries and a pid past
    // Postgres's integer, a processed count past bigint. One such event failed its whole batch,
    // and each later write retried that batch first: nothing was stored from then on.
    const client = fleet.app();
    const id = `poison-${randomUUID()}`;
    const host = `poison-${process.pid}@host`;
    const poison: EventDict[] = [
      { type: 'task-received', uuid: id, hostname: host, timestamp: 1e300, clock: 1, utcoffset: 0, pid: 2 ** 40, name: 'py.poison', args: '()', kwargs: '{}', retries: 2 ** 31 },
      { type: 'worker-heartbeat', hostname: host, timestamp: 1e13, clock: 2, utcoffset: 0, pid: 2 ** 40, freq: 2, active: 2 ** 31, processed: 1e20 },
    ];
    await client.broker.publishFanout(EVENT_EXCHANGE, 'task.multi', encodeEventEnvelope(poison, { hostname: host, routingKey: 'task.multi', deliveryTag: randomUUID() }));
    const r = await client.sendTask('ts.mul', [3, 4]);
    fleet.taskIds.push(r.id);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(12);
    await waitFor(async () => (await dash.store.getTask(r.id))?.task.state === 'SUCCESS', 'the task after the poison event stored', 20_000);
    const stored = await dash.store.getTask(id);
    expect(stored?.task).toMatchObject({ name: 'py.poison', state: 'RECEIVED', retries: null });
    // Dated when it came, as an event without a timestamp is.
    expect(Math.abs((stored?.task.received ?? 0) - Date.now())).toBeLessThan(120_000);
    const row = (await dash.store.listWorkers()).find((w) => w.hostname === host);
    expect(row).toMatchObject({ pid: null, active: null, processed: null });
    expect(dash.ingest.storeError).toBeNull();
  });

  it('a database that refuses connections: writes back off instead of looping, and every task is stored once it is back', async () => {
    const target = new URL(PG_URL);
    const proxy = new FaultProxy(Number(target.port || 5432));
    await proxy.start();
    const viaProxy = new URL(PG_URL);
    viaProxy.port = String(proxy.port);
    const schema = `${cluster.schema}_outage`;
    const d = await cluster.dashboard({ databaseUrl: viaProxy.toString(), storeOptions: { schema } });
    const client = fleet.app();
    const send = async (i: number) => {
      const r = await client.sendTask('ts.mul', [i, 2]);
      fleet.taskIds.push(r.id);
      await r.get({ timeoutMs: 20_000 });
      return r.id;
    };
    const stored = (ids: string[]) => waitFor(async () => (await Promise.all(ids.map((id) => d.store.getTask(id)))).every((t) => t?.task.state === 'SUCCESS'), 'the tasks stored', 30_000);
    try {
      await stored([await send(1)]);
      // Postgres refuses (RST) every connection, as a stopped server does.
      proxy.reset();
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await send(i));
      await waitFor(() => d.ingest.storeError !== null, 'the failed write seen', 10_000);
      // The flush timer runs every 50 ms here: retried at its pace, three more attempts would
      // come within ~150 ms. With the backoff they come 100, 200 and 400 ms apart, so they take
      // at least 700 ms after the first failure (a slower machine only makes that longer).
      const before = proxy.stats.accepted;
      const seen = Date.now();
      await waitFor(() => proxy.stats.accepted - before >= 3, 'three more attempts', 20_000);
      expect(Date.now() - seen).toBeGreaterThanOrEqual(500);
      // Scrapes and the overview still answer while the database refuses: their counts over
      // the history fail, and are left out rather than waited for.
      const answers = await Promise.all([
        ...Array.from({ length: 5 }, () => fetch(`${d.url}/metrics`)),
        fetch(`${d.url}/api/overview`),
      ]);
      for (const res of answers) {
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      proxy.heal();
      // The explicit flush of a new batch or the next retry writes what was held: nothing lost.
      await stored(ids);
      expect(d.ingest.storeError).toBeNull();
      // A failed count is not kept: once the database is back, the scrape counts the tasks.
      await waitFor(async () => /^flower_tasks_by_state\{state="SUCCESS"\} (2[1-9]|[3-9]\d)/m.test(await (await fetch(`${d.url}/metrics`)).text()),
        'the count by state back in /metrics', { timeoutMs: 20_000, maxIntervalMs: 200 });
    } finally {
      await d.close();
      await proxy.close();
      const db = new pg.Client({ connectionString: PG_URL });
      await db.connect();
      await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => db.end());
    }
  }, 90_000);
});
