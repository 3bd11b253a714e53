/**
 * Python's `celery inspect` and `celery control` against a Celeriac worker on Redis: the
 * replies parse as Celery's and the commands take effect. Broker keys and pub/sub channels
 * are isolated by a kombu global_keyprefix; result keys are per task id and deleted. Checks
 * that follow one another with nothing changing between them run in one Python process
 * (CeleryCli.runAll: Celery's own command, one interpreter start).
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, Worker, type App } from 'celeriac';
import { shouldRunPythonTests } from '../support/python.js';
import { deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { describeOracles } from '../support/oracles.js';
import { CeleryCli } from './celery-cli.js';

const DB = 11;
const prefix = `ctl-${randomUUID().slice(0, 8)}:`;
const BROKER = `redis://127.0.0.1:6379/${DB}`;
const ready = (await shouldRunRedisTests('control interop')) && shouldRunPythonTests('control interop');
const NODE = `ts-${process.pid}@interop`;
const taskIds: string[] = [];

describeOracles('celery inspect / control against a Celeriac worker', (oracle) => {
  let app: App;
  let worker: Worker;
  let cli: CeleryCli;
  let release: () => void = () => undefined;

  beforeAll(async () => {
    app = createApp({ broker: `${BROKER}?global_keyprefix=${prefix}`, backend: BROKER }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('interop.add', (x: number, y: number) => x + y);
    app.task('interop.block', { bind: true }, (ctx) => new Promise((resolve, reject) => {
      release = () => resolve('released');
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
    }));
    worker = new Worker(app, { hostname: NODE, concurrency: 1 });
    await worker.start();
    cli = new CeleryCli({ broker: BROKER, backend: BROKER, keyPrefix: prefix, oracle });
  }, 30_000);

  afterAll(async () => {
    release();
    if (worker?.state !== 'closed') await worker?.close({ deadlineMs: 2000 });
    await app?.close();
    cli?.dispose();
    await deleteKeys(prefix, BROKER);
    await deleteResults(taskIds, BROKER);
  }, 30_000);

  const send = async (name: string, args: unknown[] = [], options: Record<string, unknown> = {}) => {
    const r = await app.sendTask(name, args as never, {}, options);
    taskIds.push(r.id);
    return r;
  };

  it('inspect ping, stats, registered, active_queues', async () => {
    const [ping, stats, registered, queues, conf] = await cli.inspectAll([['ping'], ['stats'], ['registered'], ['active_queues'], ['conf']], NODE);
    // Celery's setting names, the URL's password masked as Celery masks it.
    expect(conf?.[NODE]).toEqual({ broker_url: `${BROKER}?global_keyprefix=${prefix}`, result_backend: BROKER });
    expect(ping).toEqual({ [NODE]: { ok: 'pong' } });
    expect(stats?.[NODE]).toMatchObject({ pid: process.pid, prefetch_count: 4, pool: { 'max-concurrency': 1 }, broker: { transport: 'redis', virtual_host: String(DB) } });
    expect(registered).toEqual({ [NODE]: ['interop.add', 'interop.block'] });
    expect((queues?.[NODE] as { name: string }[]).map((q) => q.name)).toEqual(['celery']);
  }, 60_000);

  it('inspect active, reserved, query_task and scheduled show what the worker holds', async () => {
    const blocked = await send('interop.block');
    const waiting = await send('interop.add', [1, 2]);
    const eta = await send('interop.add', [3, 4], { countdown: 300 });
    await waitFor(() => worker.active === 1 && worker.reserved === 1, 'one active, one reserved', 15_000);
    const replies = await cli.inspectAll([['active'], ['reserved'], ['query_task', blocked.id, waiting.id], ['scheduled']], NODE);
    const [active, reserved, q, scheduled] = replies.map((r) => r[NODE]) as [{ id: string; name: string }[], { id: string }[], Record<string, [string, { id: string }]>, { eta: string; request: { id: string } }[]];
    expect(active.map((r) => [r.id, r.name])).toEqual([[blocked.id, 'interop.block']]);
    expect(reserved.map((r) => r.id)).toEqual([waiting.id]);
    expect(q[blocked.id]?.[0]).toBe('active');
    expect(q[waiting.id]?.[0]).toBe('reserved');
    expect(scheduled.map((s) => s.request.id)).toEqual([eta.id]);
    release();
    expect(await waiting.get({ timeoutMs: 10_000 })).toBe(3);
  }, 60_000);

  it('control revoke flags the id (inspect revoked lists it) and the task is not run', async () => {
    const id = randomUUID();
    taskIds.push(id);
    // One Python process: the revoke, then `inspect revoked`.
    const [r, revoked] = await cli.runAll([['control', 'revoke', id, '-t', '5', '-d', NODE], ['inspect', 'revoked', '-j', '-t', '5', '-d', NODE]]);
    expect(r?.stdout).toContain(`tasks ${id} flagged as revoked`);
    expect((JSON.parse(revoked?.stdout ?? '') as Record<string, unknown>)[NODE]).toContain(id);
    const res = await app.sendTask('interop.add', [1, 1], {}, { taskId: id });
    await waitFor(async () => (await app.backend.get(res.id))?.status === 'REVOKED', 'REVOKED state', 15_000);
  }, 60_000);

  it('control terminate stops a running task: REVOKED', async () => {
    const blocked = await send('interop.block');
    await waitFor(() => worker.active === 1, 'task running', 15_000);
    const r = await cli.run(['control', 'terminate', 'SIGKILL', blocked.id, '-t', '5', '-d', NODE]);
    expect(r.stdout).toContain(`terminate: ${blocked.id}`);
    await waitFor(async () => (await app.backend.get(blocked.id))?.status === 'REVOKED', 'REVOKED state', 15_000);
  }, 60_000);

  it('control rate_limit, add_consumer and cancel_consumer take effect', async () => {
    const rl = await cli.run(['control', 'rate_limit', 'interop.add', '10/m', '-t', '5', '-d', NODE]);
    expect(rl.stdout).toContain('new rate limit set successfully');
    expect(worker.rateLimitOf('interop.add')).toBeCloseTo(10 / 60);
    const [off, add] = await cli.runAll([['control', 'rate_limit', 'interop.add', '0', '-t', '5', '-d', NODE], ['control', 'add_consumer', 'extraq', '-t', '5', '-d', NODE]]);
    expect(off?.stdout).toContain('rate limit disabled successfully');
    expect(add?.stdout).toContain('add consumer extraq');
    expect(await (await send('interop.add', [20, 22], { queue: 'extraq' })).get({ timeoutMs: 10_000 })).toBe(42);
    const [cancel, queues] = await cli.runAll([['control', 'cancel_consumer', 'extraq', '-t', '5', '-d', NODE], ['inspect', 'active_queues', '-j', '-t', '5', '-d', NODE]]);
    expect(cancel?.stdout).toContain('no longer consuming from extraq');
    expect(((JSON.parse(queues?.stdout ?? '') as Record<string, { name: string }[]>)[NODE] ?? []).map((q) => q.name)).toEqual(['celery']);
  }, 60_000);

  it('a starting Python worker syncs revoked ids from the Celeriac worker (mingle hello)', async () => {
    const id = randomUUID();
    await cli.run(['control', 'revoke', id, '-t', '5', '-d', NODE]);
    const pyNode = `py-mingle-${process.pid}@interop`;
    const py = cli.spawn(['worker', '-n', pyNode, '-Q', `pymingle-${process.pid}`, '-c', '1', '-P', 'solo', '--without-gossip', '--without-heartbeat', '-l', 'INFO']);
    try {
      await waitFor(() => /ready\./.test(py.output()), 'python worker ready', 30_000);
      expect(py.output()).toMatch(/mingle: sync with 1 nodes/);
      expect(py.output()).not.toMatch(/ValueError|Traceback/);
      expect((await cli.inspect('revoked', [], pyNode))[pyNode]).toContain(id);
    } finally {
      py.child.kill('SIGTERM');
      await new Promise((resolve) => py.child.once('exit', resolve));
    }
  }, 60_000);

  it('control shutdown stops the worker', async () => {
    const r = await cli.run(['control', 'shutdown', '-t', '2', '-d', NODE]);
    expect(r.code).not.toBe(0); // shutdown never replies: "No nodes replied within time constraint"
    await waitFor(() => worker.state === 'closed', 'worker closed', 15_000);
    await worker.stopped;
  }, 60_000);
}, ready);
