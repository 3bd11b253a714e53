import { afterEach, describe, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import { closeEnvs, deferred, makeEnv, waitFor, waitForState } from './helpers.js';
import { ControlClient, collectEvents } from './control-client.js';

afterEach(closeEnvs);

const NODE = 'w1@testhost';

async function setup(settings = {}) {
  const env = makeEnv(settings);
  const gate = deferred();
  const started = deferred();
  const slow = env.app.task('t.slow', { bind: true }, async (ctx) => {
    started.resolve();
    await Promise.race([gate.promise, new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)))]);
    return 'done';
  });
  const add = env.app.task('t.add', (x: number, y: number) => x + y);
  const worker = await env.startWorker({ concurrency: 1 });
  const client = await new ControlClient(env.app.broker).open();
  return { env, gate, started, slow, add, worker, client };
}

describe('remote control', () => {
  it('answers ping, clock, registered, active_queues, stats and conf with Python shapes', async () => {
    const { client, env } = await setup({ resultExtended: true });
    expect(await client.call('ping')).toEqual([{ [NODE]: { ok: 'pong' } }]);
    const clock = (await client.ask(NODE, 'clock')) as { clock: number };
    expect(clock.clock).toBeGreaterThan(100); // adjusted past the request's clock
    expect(await client.ask(NODE, 'registered')).toEqual(['t.add', 't.slow']);
    expect(await client.ask(NODE, 'registered', { taskinfoitems: ['name'] })).toEqual(['t.add [name=t.add]', 't.slow [name=t.slow]']);
    const queues = (await client.ask(NODE, 'active_queues')) as { name: string; exchange: { type: string } }[];
    expect(queues.map((q) => [q.name, q.exchange.type])).toEqual([['celery', 'direct']]);
    const stats = (await client.ask(NODE, 'stats')) as Record<string, unknown>;
    expect(stats).toMatchObject({ pid: process.pid, prefetch_count: 4, pool: { 'max-concurrency': 1 }, broker: { transport: 'memory' } });
    expect(typeof stats['clock']).toBe('string');
    await (await env.app.sendTask('t.add', [1, 2])).get({ timeoutMs: 2000 });
    await waitFor(async () => ((await client.ask(NODE, 'stats')) as { total: Record<string, number> }).total['t.add'] === 1, 'stats total');
    // Celery's names, as a Python worker answers (`celery inspect conf`).
    expect(await client.ask(NODE, 'conf')).toEqual({ result_extended: true });
    const all = (await client.ask(NODE, 'conf', { with_defaults: true })) as Record<string, unknown>;
    expect(all).toMatchObject({ broker_url: 'memory://', result_backend: 'memory://', task_acks_late: false, worker_prefetch_multiplier: 4, result_extended: true });
    expect(Object.keys(all).filter((k) => /[A-Z]/.test(k))).toEqual([]);
  });

  it('lists active and reserved requests and answers query_task', async () => {
    const { client, slow, started, gate } = await setup();
    const a = await slow.delay();
    const b = await slow.delay();
    await started.promise;
    const active = (await waitFor(async () => {
      const list = (await client.ask(NODE, 'active')) as { id: string }[];
      return list.length === 1 ? list : null;
    }, 'one active')) as Record<string, unknown>[];
    expect(active[0]).toMatchObject({ id: a.id, name: 't.slow', type: 't.slow', args: [], kwargs: {}, hostname: NODE, acknowledged: true, worker_pid: process.pid, delivery_info: { routing_key: 'celery' } });
    expect(typeof active[0]?.['time_start']).toBe('number');
    const reserved = (await waitFor(async () => {
      const list = (await client.ask(NODE, 'reserved')) as { id: string }[];
      return list.length === 1 ? list : null;
    }, 'one reserved')) as { id: string }[];
    expect(reserved[0]?.id).toBe(b.id);
    const q = (await client.ask(NODE, 'query_task', { ids: [a.id, b.id, 'nope'] })) as Record<string, [string, { id: string }]>;
    expect(Object.keys(q).sort()).toEqual([a.id, b.id].sort());
    expect(q[a.id]?.[0]).toBe('active');
    expect(q[b.id]?.[0]).toBe('reserved');
    gate.resolve();
    await a.get({ timeoutMs: 2000 });
  });

  it('lists ETA tasks held by the broker as scheduled', async () => {
    const { client, add } = await setup();
    const r = await add.applyAsync([1, 1], { countdown: 60, priority: 3 });
    const scheduled = (await client.ask(NODE, 'scheduled')) as { eta: string; priority: number; request: { id: string } }[];
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]).toMatchObject({ priority: 3, request: { id: r.id, name: 't.add', args: [1, 1] } });
    expect(Date.parse(scheduled[0]!.eta)).toBeGreaterThan(Date.now() + 50_000);
    // query_task finds it too (Celery's worker would not: it keeps ETA tasks out of its requests).
    const q = (await client.ask(NODE, 'query_task', { ids: [r.id, 'nope'] })) as Record<string, [string, { id: string; eta: string }]>;
    expect(Object.keys(q)).toEqual([r.id]);
    expect(q[r.id]?.[0]).toBe('scheduled');
    expect(q[r.id]?.[1]).toMatchObject({ id: r.id, name: 't.add', eta: scheduled[0]!.eta });
  });

  it('revoke flags ids (persisted, listed by revoked); terminate stops a running task as REVOKED', async () => {
    const { client, env, slow, started } = await setup({ workerSendTaskEvents: true });
    const { events, stop } = await collectEvents(env.app.broker);
    expect(await client.ask(NODE, 'revoke', { task_id: 'x-1' })).toEqual({ ok: 'tasks x-1 flagged as revoked' });
    expect(await env.backend.revoked(['x-1'])).toEqual(new Set(['x-1']));
    expect(await client.ask(NODE, 'revoked')).toEqual(['x-1']);
    expect(await client.ask(NODE, 'revoke', { task_id: ['nope'], terminate: true })).toEqual({ ok: 'terminate: tasks unknown' });
    const r = await slow.delay();
    await started.promise;
    await waitFor(async () => ((await client.ask(NODE, 'active')) as unknown[]).length === 1, 'running');
    expect(await client.ask(NODE, 'terminate', { task_id: r.id, signal: 'SIGKILL' })).toEqual({ ok: `terminate: ${r.id}` });
    const meta = await waitForState(env, r.id, 'REVOKED');
    expect(meta.result).toMatchObject({ exc_type: 'TaskRevokedError', exc_message: ['terminated'] });
    const revoked = await waitFor(() => events.find((e) => e.type === 'task-revoked'), 'task-revoked event');
    expect(revoked).toMatchObject({ uuid: r.id, terminated: true, signum: 9, expired: false, hostname: NODE });
    await stop();
  });

  it('rate_limit, time_limit, pool_grow/shrink and autoscale reply as Celery', async () => {
    const { client, worker } = await setup();
    expect(await client.ask(NODE, 'rate_limit', { task_name: 'nope', rate_limit: '1/s' })).toEqual({ error: 'unknown task' });
    expect(await client.ask(NODE, 'rate_limit', { task_name: 't.add', rate_limit: '1/fortnight' })).toMatchObject({ error: expect.stringContaining('Invalid rate limit string') });
    expect(await client.ask(NODE, 'rate_limit', { task_name: 't.add', rate_limit: '10/m' })).toEqual({ ok: 'new rate limit set successfully' });
    expect(worker.rateLimitOf('t.add')).toBeCloseTo(10 / 60);
    expect(await client.ask(NODE, 'rate_limit', { task_name: 't.add', rate_limit: null })).toEqual({ ok: 'rate limit disabled successfully' });
    expect(await client.ask(NODE, 'time_limit', { task_name: 't.add', hard: 60, soft: 50 })).toEqual({ ok: 'time limits set successfully' });
    expect(worker.timeLimitOverride('t.add')).toEqual({ hard: 60, soft: 50 });
    expect(await client.ask(NODE, 'pool_grow', { n: 2 })).toEqual({ ok: 'pool will grow' });
    expect(worker.remote.target.pool().size).toBe(3);
    expect(await client.ask(NODE, 'pool_shrink', { n: 1 })).toEqual({ ok: 'pool will shrink' });
    expect(worker.remote.target.pool().size).toBe(2);
    // A worker started without --autoscale starts autoscaling: the pool stays as the load
    // wants it, inside the range, and the prefetch window is sized for the max.
    expect(await client.ask(NODE, 'autoscale', { max: 5, min: 1 })).toEqual({ ok: 'autoscale now max=5 min=1' });
    expect(worker.remote.target.pool()).toMatchObject({ size: 2, autoscale: { max: 5, min: 1 } });
    expect(worker.prefetchCount).toBe(5 * 4);
    expect(await client.ask(NODE, 'pool_grow', { n: 1 })).toMatchObject({ error: expect.stringContaining('not supported with autoscale') });
    expect(await client.ask(NODE, 'autoscale', { max: 1 })).toEqual({ ok: 'autoscale now max=1 min=1' });
    expect(worker.remote.target.pool().size).toBe(1);
  });

  it('answers arguments of the wrong type with an error reply, and changes nothing', async () => {
    const { client, worker, add } = await setup();
    expect(await client.ask(NODE, 'time_limit', { task_name: 't.add', hard: 60, soft: 50 })).toEqual({ ok: 'time limits set successfully' });
    // Read leniently before, `hard: 'x'` fell back to no limit and lifted both.
    expect(await client.ask(NODE, 'time_limit', { task_name: 't.add', hard: 'x', soft: {} })).toEqual({ error: 'hard must be a number >= 0, got "x"' });
    expect(await client.ask(NODE, 'time_limit', { task_name: 't.add', hard: -5 })).toEqual({ error: 'hard must be a number >= 0, got -5' });
    expect(worker.timeLimitOverride('t.add')).toEqual({ hard: 60, soft: 50 });
    expect(await client.ask(NODE, 'pool_grow', { n: 2.5 })).toEqual({ error: 'n must be a whole number >= 1, got 2.5' });
    expect(await client.ask(NODE, 'pool_shrink', { n: -3 })).toEqual({ error: 'n must be a whole number >= 1, got -3' });
    expect(await client.ask(NODE, 'autoscale', { max: 4, min: -1 })).toEqual({ error: 'min must be a whole number >= 0, got -1' });
    expect(await client.ask(NODE, 'autoscale', { max: 'many' })).toEqual({ error: 'max must be a whole number >= 1, got "many"' });
    expect(worker.remote.target.pool()).toMatchObject({ size: 1, autoscale: null });
    // `queue: {}` was consumed as a queue named "[object Object]".
    expect(await client.ask(NODE, 'add_consumer', { queue: {} })).toEqual({ error: 'queue name required, got an object' });
    expect(await client.ask(NODE, 'add_consumer', { queue: 5 })).toEqual({ error: 'queue name required, got 5' });
    expect(await client.ask(NODE, 'cancel_consumer', {})).toEqual({ error: 'queue name required, got undefined' });
    expect(((await client.ask(NODE, 'active_queues')) as { name: string }[]).map((q) => q.name)).toEqual(['celery']);
    expect(await client.ask(NODE, 'revoke', { task_id: ['a', { id: 'b' }] })).toEqual({ error: 'task_id must be a task id or a list of them, got an object' });
    expect(await client.ask(NODE, 'revoked')).toEqual([]);
    // Numeric strings are numbers, as Python's float() reads them; a number is a task id.
    expect(await client.ask(NODE, 'time_limit', { task_name: 't.add', hard: '30', soft: '' })).toEqual({ ok: 'time limits set successfully' });
    expect(worker.timeLimitOverride('t.add')).toEqual({ hard: 30, soft: null });
    expect(await client.ask(NODE, 'revoke', { task_id: 42 })).toEqual({ ok: 'tasks 42 flagged as revoked' });
    expect(await (await add.delay(1, 2)).get({ timeoutMs: 2000 })).toBe(3);
  });

  it('add_consumer / cancel_consumer change the queues consumed', async () => {
    const { client, env, add } = await setup();
    expect(await client.ask(NODE, 'add_consumer', { queue: 'extra', exchange: null, exchange_type: 'direct', routing_key: null })).toEqual({ ok: 'add consumer extra' });
    const queues = (await client.ask(NODE, 'active_queues')) as { name: string }[];
    expect(queues.map((q) => q.name)).toEqual(['celery', 'extra']);
    expect(await (await add.applyAsync([2, 2], { queue: 'extra' })).get({ timeoutMs: 2000 })).toBe(4);
    expect(await client.ask(NODE, 'cancel_consumer', { queue: 'extra' })).toEqual({ ok: 'no longer consuming from extra' });
    const r = await add.applyAsync([3, 3], { queue: 'extra' });
    await sleep(100); // bounds an absence: a consumer still on 'extra' would take it meanwhile
    expect(await env.app.broker.queueLength('extra')).toBe(1);
    expect((await env.backend.get(r.id))?.status ?? 'PENDING').toBe('PENDING');
  });

  it('honours destination and pattern, answers unknown commands with a KeyError', async () => {
    const { client } = await setup();
    expect(await client.call('ping', {}, { destination: ['other@host'], timeoutMs: 200 })).toEqual([]);
    expect(await client.call('ping', {}, { pattern: 'w*@test*', matcher: 'glob' })).toEqual([{ [NODE]: { ok: 'pong' } }]);
    expect(await client.call('ping', {}, { pattern: 'x.*', matcher: 'pcre', timeoutMs: 200 })).toEqual([]);
    expect(await client.ask(NODE, 'nosuchcmd')).toEqual({ error: "KeyError('nosuchcmd')" });
    expect(await client.ask(NODE, 'hello', { from_node: NODE, revoked: {} })).toBeNull();
    const hello = (await client.ask(NODE, 'hello', { from_node: 'py@x', revoked: {} })) as { revoked: object; clock: number };
    expect(hello.revoked).toEqual({});
    expect(hello.clock).toBeGreaterThan(0);
  });

  it('shutdown closes the worker (no reply); enable/disable_events switch task events', async () => {
    const { client, worker, env, add } = await setup();
    const { events, stop } = await collectEvents(env.app.broker);
    await (await add.delay(1, 1)).get({ timeoutMs: 2000 });
    expect(await client.ask(NODE, 'enable_events')).toEqual({ ok: 'task events enabled' });
    expect(await client.ask(NODE, 'enable_events')).toEqual({ ok: 'task events already enabled' });
    const r = await add.delay(2, 2);
    await r.get({ timeoutMs: 2000 });
    await waitFor(() => events.some((e) => e.type === 'task-succeeded'), 'task-succeeded');
    expect(events.filter((e) => e.type.startsWith('task-')).every((e) => e['uuid'] === r.id)).toBe(true);
    expect(await client.ask(NODE, 'disable_events')).toEqual({ ok: 'task events disabled' });
    expect(await client.call('shutdown', {}, { timeoutMs: 200 })).toEqual([]);
    await worker.stopped;
    expect(worker.state).toBe('closed');
    await waitFor(() => events.some((e) => e.type === 'worker-offline'), 'worker-offline');
    await stop();
  });
});
