/**
 * Events and remote control on RabbitMQ across languages (docs/protocol-amqp.md §4, §5):
 * Python's `celery inspect` and `celery events --dump` see a Celeriac worker, Celeriac's
 * ControlClient and EventReceiver see a Python worker. One vhost for the file.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, Worker, type App } from '../../src/index.js';
import { ControlClient, EventReceiver } from '../../src/exports/monitor.js';
import { amqpAvailable, createVhost, deleteVhost, rabbitmqctl, vhostUrl } from '../support/amqp-env.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { shouldRunPythonTests } from '../support/python.js';
import { CeleryCli } from './celery-cli.js';
import { describeOracles } from '../support/oracles.js';
import { startPythonWorker, type PyWorker } from './python.js';

const ready = (await amqpAvailable()) && shouldRunPythonTests('amqp monitor interop');
const NODE = `ts-${process.pid}@amqp`;
const PY_NODE = `py-${process.pid}@amqp`;

describeOracles('inspect, control and events on RabbitMQ, both ways', (oracle) => {
  let vhost = '';
  let app: App;
  let worker: Worker;
  let pyWorker: PyWorker;
  let cli: CeleryCli;

  beforeAll(async () => {
    vhost = await createVhost('monitor');
    app = createApp({ broker: vhostUrl(vhost), backend: 'rpc://' }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('ts.add', (x: number, y: number) => x + y);
    worker = new Worker(app, { hostname: NODE, queues: ['ts'], concurrency: 2, sendTaskEvents: true });
    await worker.start();
    pyWorker = await startPythonWorker({ broker: vhostUrl(vhost), backend: 'rpc://', oracle }, { queues: ['py'], name: PY_NODE, events: true });
    cli = new CeleryCli({ broker: vhostUrl(vhost), backend: 'rpc://', keyPrefix: '', oracle });
  }, 90_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await app?.close();
    await pyWorker?.stop();
    cli?.dispose();
    await deleteVhost(vhost);
  }, 60_000);

  it('celery inspect ping and active_queues reach the Celeriac worker', async () => {
    expect(await cli.inspect('ping', [], NODE)).toEqual({ [NODE]: { ok: 'pong' } });
    const queues = (await cli.inspect('active_queues', [], NODE))[NODE] as { name: string }[];
    expect(queues.map((q) => q.name)).toEqual(['ts']);
  }, 60_000);

  it('the worker declared its pidbox and task queues with Celery\'s arguments', async () => {
    const out = await rabbitmqctl('list_queues', '-p', vhost, 'name', 'durable', 'auto_delete', 'arguments');
    const line = (name: string) => out.split('\n').find((l) => l.startsWith(`${name}\t`)) ?? '';
    expect(line(`${NODE}.celery.pidbox`)).toMatch(/false\ttrue\t.*x-message-ttl.*300000.*x-expires.*10000/);
    expect(line('ts')).toMatch(/^ts\ttrue\tfalse\t\[\]/);
  }, 30_000);

  it('celery inspect scheduled and query_task see countdown tasks waiting in the delay queues', async () => {
    // One sent by Celeriac (straight into the delay queues), one by Python (queued with its
    // eta header, then deferred into the delay queues by the Celeriac worker that takes it).
    const ts = await app.sendTask('ts.add', [1, 2], {}, { queue: 'ts', countdown: 300 });
    const call = await cli.run(['call', 'ts.add', '--args', '[3, 4]', '--countdown', '300', '--queue', 'ts']);
    const py = call.stdout.trim();
    expect(py).toMatch(/^[0-9a-f-]{36}$/);
    const ids = [ts.id, py].sort();
    const scheduledIds = async () => {
      const reply = (await cli.inspect('scheduled', [], NODE))[NODE] as { eta: string; request: { id: string; name: string; args: unknown[] } }[];
      return reply.map((s) => s.request.id).sort();
    };
    await waitFor(async () => JSON.stringify(await scheduledIds()) === JSON.stringify(ids), 'both countdown tasks in inspect scheduled', { timeoutMs: 30_000, maxIntervalMs: 500 });
    const [scheduled, query] = await cli.inspectAll([['scheduled'], ['query_task', ts.id, py]], NODE);
    const entries = scheduled?.[NODE] as { eta: string; priority: number; request: { id: string; name: string; args: unknown[] } }[];
    const tsEntry = entries.find((s) => s.request.id === ts.id);
    expect(tsEntry?.request).toMatchObject({ name: 'ts.add', args: [1, 2] });
    expect(Math.abs(Date.parse(tsEntry?.eta ?? '') - (Date.now() + 300_000))).toBeLessThan(60_000);
    expect(entries.find((s) => s.request.id === py)?.request.args).toEqual([3, 4]);
    const q = query?.[NODE] as Record<string, [string, { id: string; eta: string }]>;
    expect(Object.keys(q).sort()).toEqual(ids);
    expect(q[ts.id]?.[0]).toBe('scheduled');
    expect(q[py]?.[1].eta).toBe(entries.find((s) => s.request.id === py)?.eta);
  }, 90_000);

  it('Celeriac\'s ControlClient pings the Python worker', async () => {
    const client = new ControlClient(app.broker);
    const replies = await client.ping({ destination: [PY_NODE], timeoutMs: 5000 });
    expect(replies).toEqual({ [PY_NODE]: { ok: 'pong' } });
  }, 30_000);

  it('celery events --dump shows a Celeriac task\'s events', async () => {
    const dump = cli.spawn(['events', '--dump']);
    try {
      // The dump's queue exists once it started; until then events go nowhere, so send again.
      // The dump prints a task's events a little after get() returns, so any task sent so far
      // counts (checking only the newest one raced with the printing).
      const sent: string[] = [];
      const succeeded = () => sent.find((id) => dump.output().includes(`task succeeded: ts.add(${id})`));
      await waitFor(
        async () => {
          if (succeeded()) return true;
          const r = await app.sendTask('ts.add', [1, 2], {}, { queue: 'ts' });
          await r.get({ timeoutMs: 10_000 });
          sent.push(r.id);
          return succeeded() !== undefined;
        },
        'task-succeeded in celery events --dump',
        // Python's CLI takes a while to start on a loaded machine; the wait only ends early.
        { timeoutMs: 60_000, maxIntervalMs: 500 },
      );
      expect(succeeded()).toBeDefined();
    } catch (err) {
      throw new Error(`${String(err)}; celery events --dump printed:\n${dump.output().slice(-3000)}`);
    } finally {
      const exited = new Promise((resolve) => dump.child.once('exit', resolve));
      dump.child.kill('SIGINT');
      const kill = setTimeout(() => dump.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(kill);
    }
  }, 90_000);

  it('Celeriac\'s EventReceiver sees a Python worker\'s task events', async () => {
    const seen: { type: string; uuid?: unknown }[] = [];
    const receiver = new EventReceiver(app.broker, (event) => seen.push(event as never));
    await receiver.start();
    try {
      const r = await app.sendTask('py.add', [20, 22], {}, { queue: 'py' });
      expect(await r.get({ timeoutMs: 20_000 })).toBe(42);
      await waitFor(() => seen.some((e) => e.type === 'task-succeeded' && e.uuid === r.id), 'task-succeeded from Python', 20_000);
      expect(seen.some((e) => e.type === 'worker-heartbeat')).toBe(true);
    } finally {
      await receiver.close();
    }
  }, 60_000);
}, ready);
