/**
 * The client side of monitoring against a real Python Celery worker (5.2 and 5.6) on Redis:
 * `celeriac inspect`, `control`, `status` (the CLI in-process, with -b) and the event
 * receiver behind `celeriac events`. Broker keys and channels are isolated by a kombu
 * global_keyprefix; result keys are per task id and deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { runEvents } from '../../src/cli/events-watch.js';
import { type App } from '../../src/index.js';
import { systemClock } from '../../src/exports/spi.js';
import { ClusterState } from '../../src/monitor/cluster-state.js';
import { EventReceiver } from '../../src/monitor/event-receiver.js';
import { run } from '../cli/helpers.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import type { PyWorker } from './python.js';

const ready = await mixedFleetReady('monitor interop');

describeOracles('celeriac inspect / control / status / events against a Python worker', (oracle) => {
  const fleet = new MixedFleet('mon', 8, oracle);
  const { prefix, py, taskIds } = fleet;
  const BROKER = fleet.brokerUrl;
  const cli = (...args: string[]) => run(['-b', BROKER, ...args]);
  // With -d the client stops at the first reply instead of waiting out the timeout.
  let node = '';
  const at = (...args: string[]) => cli(...args, '-d', node, '-t', '5');
  let worker: PyWorker;
  let app: App;

  beforeAll(async () => {
    worker = await fleet.python({ name: `pymon-${process.pid}@%h`, events: true });
    app = fleet.app();
    const res = await waitFor(async () => {
      const r = await cli('inspect', 'ping', '-j', '-t', '2');
      return r.code === 0 ? r : undefined;
    }, 'a ping reply', { timeoutMs: 20_000, maxIntervalMs: 200 });
    node = Object.keys(JSON.parse(res.stdout) as object)[0] as string;
  }, 60_000);

  afterAll(() => fleet.close(), 30_000);

  it('inspect ping: text and JSON, as celery prints them', async () => {
    expect(node).toMatch(/^pymon-\d+@/);
    expect(await at('inspect', 'ping')).toEqual({ code: 0, stdout: `->  ${node}: OK\n        pong\n\n1 node online.\n`, stderr: '' });
    expect((await at('inspect', 'ping', '-j')).stdout).toBe(`{"${node}": {"ok": "pong"}}\n`);
  });

  it('status lists the worker', async () => {
    expect(await at('status')).toEqual({ code: 0, stdout: `->  ${node}: OK\n\n1 node online.\n`, stderr: '' });
  });

  it('inspect stats, registered, active_queues, clock, conf, reserved, scheduled, revoked, report', async () => {
    const json = async (...args: string[]) => {
      const r = await at('inspect', ...args, '-j');
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return (JSON.parse(r.stdout) as Record<string, unknown>)[node];
    };
    expect(await json('stats')).toMatchObject({ pid: worker.process.pid, pool: { 'max-concurrency': 2 }, broker: { transport: 'redis' } });
    expect(await json('registered')).toEqual(expect.arrayContaining(['py.add', 'py.sleep']));
    expect(await json('active_queues')).toEqual([expect.objectContaining({ name: 'celery' })]);
    expect(await json('clock')).toEqual({ clock: expect.any(Number) });
    expect(await json('conf')).toMatchObject({ result_extended: true });
    expect(await json('reserved')).toEqual([]);
    expect(await json('scheduled')).toEqual([]);
    expect(Array.isArray(await json('revoked'))).toBe(true);
    expect(await json('report')).toEqual({ ok: expect.stringContaining(`celery:${oracle.version}`) });
    const text = await at('inspect', 'registered');
    expect(text.stdout).toMatch(new RegExp(`^->  ${node}: OK\\n(    \\* (py|mix)\\.\\w+\\n)+\\n1 node online\\.\\n$`));
  });

  it('inspect active and query_task see a running task', async () => {
    const result = await app.sendTask('py.sleep', [8]);
    taskIds.push(result.id);
    const active = await waitFor(async () => {
      const r = await at('inspect', 'active', '-j');
      const list = (JSON.parse(r.stdout || '{}') as Record<string, { id: string }[]>)[node] ?? [];
      return list.find((t) => t.id === result.id);
    }, 'the task to be active', { timeoutMs: 20_000, maxIntervalMs: 200 });
    expect(active).toMatchObject({ id: result.id, name: 'py.sleep', args: [8], hostname: node });
    const text = await at('inspect', 'active');
    expect(text.stdout).toContain(`    * {'id': '${result.id}', 'name': 'py.sleep', 'args': [8]`);
    const q = await at('inspect', 'query_task', result.id, '-j');
    expect(JSON.parse(q.stdout)).toEqual({ [node]: { [result.id]: ['active', expect.objectContaining({ id: result.id })] } });
  }, 30_000);

  it('control rate_limit: OK, then visible in registered; an unknown task is an ERROR reply', async () => {
    expect(await at('control', 'rate_limit', 'py.add', '10/m')).toEqual({ code: 0, stdout: `->  ${node}: OK\n        new rate limit set successfully\n`, stderr: '' });
    expect((await at('inspect', 'registered', 'rate_limit')).stdout).toContain('    * py.add [rate_limit=10/m]\n');
    expect(await at('control', 'rate_limit', 'nosuch', '1/s', '-j')).toEqual({ code: 0, stdout: `[{"${node}": {"error": "unknown task"}}]\n`, stderr: '' });
    expect((await at('control', 'rate_limit', 'py.add', '')).stdout).toContain('rate limit disabled successfully');
  });

  it('control time_limit, add_consumer / cancel_consumer, enable_events, heartbeat', async () => {
    expect((await at('control', 'time_limit', 'py.add', '5', '10')).stdout).toContain('time limits set successfully');
    expect((await at('control', 'add_consumer', 'extraq')).stdout).toContain('add consumer extraq');
    expect((await at('control', 'cancel_consumer', 'extraq')).stdout).toContain('no longer consuming from extraq');
    expect((await at('control', 'enable_events')).stdout).toContain('task events already enabled');
    expect((await at('control', 'heartbeat')).stdout).toBe(`->  ${node}: OK\n    None\n`);
  });

  it('control revoke: flagged, then listed by inspect revoked', async () => {
    const id = randomUUID();
    const res = await at('control', 'revoke', id);
    // The worker's own text: 5.2 joins the ids, 5.3+ prints the Python set (docs/interop.md).
    const ids = oracle.name === '5.2' ? id : `{'${id}'}`;
    expect(res.stdout).toBe(`->  ${node}: OK\n        tasks ${ids} flagged as revoked\n`);
    const revoked = JSON.parse((await at('inspect', 'revoked', '-j')).stdout) as Record<string, string[]>;
    expect(revoked[node]).toContain(id);
  });

  it('a destination nobody has: exit 69 and Celery\'s message', async () => {
    expect(await cli('inspect', 'ping', '-d', 'nobody@nowhere', '-t', '0.5')).toEqual({ code: 69, stdout: '', stderr: 'Error: No nodes replied within time constraint\n' });
  });

  it('leaves no reply queue or binding behind', async () => {
    await cli('inspect', 'ping', '-t', '1');
    const { createClient } = await import('redis');
    const client = createClient({ url: py.broker });
    await client.connect();
    try {
      const keys: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${prefix}*reply.celery.pidbox*`, COUNT: 500 })) keys.push(...batch);
      expect(keys.filter((k) => k !== `${prefix}_kombu.binding.reply.celery.pidbox`)).toEqual([]);
      expect(await client.sMembers(`${prefix}_kombu.binding.reply.celery.pidbox`)).toEqual([]);
    } finally {
      client.destroy();
    }
  });

  it('events --dump prints the worker heartbeats and the events of a task', async () => {
    const out: string[] = [];
    let stop!: () => void;
    const broker = fleet.newApp();
    const running = runEvents({
      broker: broker.broker, clock: systemClock, dump: true, refreshMs: 1000, maxTasks: 100, title: '',
      out: (s) => void out.push(s), screen: () => ({ width: 100, height: 30, color: false }),
      stop: new Promise<void>((resolve) => (stop = resolve)),
    });
    const nodeLine = node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // The wake-up heartbeat request makes the worker announce itself at once (freq=5).
    await waitFor(async () => new RegExp(`^${nodeLine} \\[[\\d-]+ [\\d:.]+\\] heartbeat: .*freq=`, 'm').test(out.join('')), 'a heartbeat line', { timeoutMs: 20_000, maxIntervalMs: 200 });
    const result = await app.sendTask('py.add', [20, 22]);
    taskIds.push(result.id);
    const text = await waitFor(async () => (out.join('').includes(`task succeeded: py.add(${result.id})`) ? out.join('') : undefined), 'the task-succeeded line', { timeoutMs: 20_000, maxIntervalMs: 200 });
    stop();
    await running;
    await broker.close();
    expect(text.startsWith('-> evdump: starting capture...\n')).toBe(true);
    expect(text).toMatch(new RegExp(`${nodeLine} \\[.*\\] task received: py\\.add\\(${result.id}\\) args=\\(20, 22\\) kwargs=\\{\\} clock=\\d+, eta=None, expires=None, .*retries=0`));
    expect(text).toMatch(new RegExp(`task succeeded: py\\.add\\(${result.id}\\) args=\\(20, 22\\) kwargs=\\{\\} .*result=42, runtime=`));
  }, 30_000);

  it('the event receiver feeds the cluster state: the Python worker is online, its task folded to SUCCESS', async () => {
    const state = new ClusterState();
    const receiverApp = fleet.newApp();
    const receiver = new EventReceiver(receiverApp.broker, (e, at) => void state.apply(e, at));
    await receiver.start();
    try {
      await waitFor(async () => state.isOnline(node, Date.now()), 'the worker online', { timeoutMs: 20_000, maxIntervalMs: 200 });
      expect(state.worker(node)).toMatchObject({ swIdent: 'py-celery', swVer: oracle.version, freq: expect.any(Number) });
      const result = await app.sendTask('py.add', [1, 2]);
      taskIds.push(result.id);
      const task = await waitFor(async () => (state.task(result.id)?.state === 'SUCCESS' ? state.task(result.id) : undefined), 'the task to succeed', { timeoutMs: 20_000, maxIntervalMs: 200 });
      expect(task).toMatchObject({ name: 'py.add', args: '(1, 2)', result: '3', worker: node });
    } finally {
      await receiver.close();
      await receiverApp.close();
    }
  }, 30_000);
}, ready);
