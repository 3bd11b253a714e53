/**
 * RabbitMQ connection loss under late-ack load (docs/protocol-amqp.md §7): the broker closes
 * every connection of the test's vhost (`rabbitmqctl close_all_connections`, which is what a
 * broker restart does to clients, without stopping the shared node) while tasks run. The
 * worker reconnects by itself, re-declares and consumes again; RabbitMQ redelivers what was
 * unacked, and the worker, which still runs those tasks, settles the redeliveries when they
 * end instead of running them again. Every task finishes, each exactly once (Celery 5.2.6
 * runs such tasks twice), also when the connection is lost twice while redeliveries wait for
 * the deliveries the worker still holds, and when the ack of such a redelivery is lost with
 * the connection (whether the task ended before the redelivery came or after). The worker reaches RabbitMQ through a fault proxy, which can drop what the
 * worker sends before it closes the connection. A queue deleted under a consumer is consumed
 * again once re-declared.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import { createApp, Worker, type App } from '../../src/index.js';
import { amqpAvailable, closeConnections, createVhost, deleteQueue, deleteVhost, listQueues, TEST_AMQP_HOST } from '../support/amqp-env.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../../src/testing/wait-for.js';

const ready = await amqpAvailable();

describe.runIf(ready)('failure: RabbitMQ drops every connection under late-ack load', () => {
  let vhost = '';
  let app: App;
  let worker: Worker;
  const runs = new Map<string, number>();
  const proxy = new FaultProxy(Number(TEST_AMQP_HOST.split(':')[1] ?? 5672));
  /** Ends the runs of 'fail.gated' waiting now, and lets later ones through until the next gate. */
  let openGate: () => void = () => undefined;
  let gate = Promise.resolve();

  beforeAll(async () => {
    vhost = await createVhost('fail');
    await proxy.start();
    // heartbeat=5: a dead socket is noticed quickly; the backend is this process's memory.
    const broker = `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost)}?heartbeat=5`;
    app = createApp({ broker, backend: 'memory://', taskAcksLate: true }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('fail.work', { bind: true }, async (ctx, ms: number) => {
      runs.set(ctx.request.id, (runs.get(ctx.request.id) ?? 0) + 1);
      await sleep(ms); // the task's work: real time
      return ctx.request.id;
    });
    app.task('fail.gated', { bind: true }, async (ctx) => {
      runs.set(ctx.request.id, (runs.get(ctx.request.id) ?? 0) + 1);
      await gate;
      return ctx.request.id;
    });
    worker = new Worker(app, { queues: ['fail'], concurrency: 8 });
    await worker.start();
  }, 60_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await app?.close();
    await proxy.close();
    await deleteVhost(vhost);
  }, 60_000);

  /** Waits until one consumer of `queue` holds `unacked` messages (rabbitmqctl's view). */
  async function waitForHeld(queue: string, unacked: number): Promise<void> {
    let listed = '';
    const held = async () => {
      listed = await listQueues(vhost, ['consumers', 'messages_unacknowledged']);
      return listed.split('\n').some((l) => l.trim().split(/\s+/).join(' ') === `${queue} 1 ${unacked}`);
    };
    await waitFor(held, () => `${unacked} held by one consumer of ${queue}; queues: ${JSON.stringify(listed)}`, 30_000);
  }

  /** Waits until `worker` runs and holds nothing and `queue` has no message, ready or unacked. */
  async function waitForEmpty(queue: string, worker: Worker): Promise<void> {
    const empty = async () =>
      worker.active === 0 && worker.reserved === 0 && (await listQueues(vhost, ['messages'])).split('\n').some((l) => l.trim().split(/\s+/).join(' ') === `${queue} 0`);
    await waitFor(empty, `${queue} empty and its worker idle`, 60_000);
  }

  it('reconnects, loses no task and runs none twice', async () => {
    const results = await app.sendTasks(Array.from({ length: 150 }, () => ({ name: 'fail.work', args: [150], options: { queue: 'fail' } })));
    const ids = results.map((r) => r.id);
    for (const threshold of [20, 70]) {
      await waitFor(() => runs.size >= threshold, `${threshold} tasks started`, 30_000);
      await closeConnections(vhost, 'celeriac failure test');
    }
    const values = await Promise.all(results.map((r) => r.get({ timeoutMs: 60_000 })));
    expect(values).toEqual(ids);
    const twice = ids.filter((id) => runs.get(id) !== 1);
    expect(twice, `tasks not run exactly once: ${twice.map((id) => `${id}=${runs.get(id)}`).join(', ')}`).toEqual([]);
    // Still consuming on the new connection.
    const after = await app.sendTask('fail.work', [1], {}, { queue: 'fail' });
    expect(await after.get({ timeoutMs: 20_000 })).toBe(after.id);
  }, 120_000);

  it('lost twice while prefetched tasks wait: each still runs once', async () => {
    // One task at a time, three prefetched: after the first loss all four come back on the new
    // connection while this worker still holds them; the second loss takes those redeliveries
    // away too, and the messages come back a third time. The first task runs until both losses
    // are done (a task of fixed length could end them all before a loaded machine saw them held).
    const slow = new Worker(app, { queues: ['twice'], concurrency: 1, prefetchMultiplier: 4 });
    gate = new Promise<void>((resolve) => (openGate = resolve));
    try {
      await slow.start();
      const results = await app.sendTasks(Array.from({ length: 4 }, () => ({ name: 'fail.gated', args: [], options: { queue: 'twice' } })));
      const ids = results.map((r) => r.id);
      await waitFor(() => ids.some((id) => runs.has(id)), 'the first task running', 30_000);
      for (let loss = 0; loss < 2; loss++) {
        // One consumer holds all four: the first running, three prefetched (or redelivered).
        await waitForHeld('twice', 4);
        await closeConnections(vhost, 'celeriac failure test');
      }
      openGate();
      expect(await Promise.all(results.map((r) => r.get({ timeoutMs: 60_000 })))).toEqual(ids);
      // Nothing left to run or settle: a second run of any of them would have happened by now.
      await waitForEmpty('twice', slow);
      expect(ids.map((id) => runs.get(id))).toEqual([1, 1, 1, 1]);
    } finally {
      openGate();
      await slow.close({ deadlineMs: 2000 });
    }
  }, 120_000);

  /**
   * One gated task on `queue` through a worker of its own (one at a time): `lose` runs once the
   * task runs, breaks what it breaks, and opens the gate. Then the queue must empty with the
   * task run once.
   */
  async function runsOnceAcross(queue: string, lose: (id: string, ended: () => Promise<unknown>) => Promise<void>): Promise<void> {
    const one = new Worker(app, { queues: [queue], concurrency: 1 });
    gate = new Promise<void>((resolve) => (openGate = resolve));
    try {
      await one.start();
      const [result] = await app.sendTasks([{ name: 'fail.gated', args: [], options: { queue } }]);
      const sent = result as NonNullable<typeof result>;
      await waitFor(() => runs.has(sent.id), 'the task running', 30_000);
      await lose(sent.id, async () => expect(await sent.get({ timeoutMs: 10_000 })).toBe(sent.id));
      await waitForEmpty(queue, one);
      expect(runs.get(sent.id)).toBe(1);
    } finally {
      openGate();
      await one.close({ deadlineMs: 2000 });
    }
  }

  /** Stalls every open connection, lets the gated task end, and waits until its ack went into the stalled link. */
  async function endIntoStall(ended: () => Promise<unknown>): Promise<void> {
    proxy.stall();
    const dropped = proxy.stats.droppedToServer;
    openGate();
    await ended();
    await waitFor(() => proxy.stats.droppedToServer > dropped, 'the ack sent into the stalled link', 10_000);
  }

  it('the ack of a redelivery lost with the connection: the next redelivery is acked, not run', async () => {
    await runsOnceAcross('inflight', async (_id, ended) => {
      // The first loss while it runs: its redelivery comes back on the new connection, held.
      await closeConnections(vhost, 'celeriac failure test');
      await waitForHeld('inflight', 1);
      // What the worker sends from now on never arrives: the task ends and acks its redelivery.
      await endIntoStall(ended);
      // Then the connection is lost: RabbitMQ never saw the ack and delivers the message again.
      proxy.cut();
      proxy.heal();
    });
  }, 120_000);

  it('a redelivery settled for a run that ended offline, its ack lost with the connection: the next one is acked too', async () => {
    await runsOnceAcross('offline-end', async (id, ended) => {
      // The connection lost and kept down while the task ends: its ack waits for the redelivery.
      proxy.cut();
      openGate();
      await ended();
      // Back up, but the connection that gets the redelivery (its bytes hold the task id) loses
      // what the worker sends after it: the ack the worker had waiting for it.
      // The count is read before the trap: read after it, it could already hold the ack, and the
      // wait went on until a heartbeat, seconds later.
      const dropped = proxy.stats.droppedToServer;
      proxy.heal();
      proxy.dropSendsAfter(id);
      await waitFor(() => proxy.stats.trapped > 0, 'the redelivery', 30_000);
      await waitFor(() => proxy.stats.droppedToServer > dropped, 'the ack sent into the lost link', 10_000);
      proxy.cut();
      proxy.heal();
    });
  }, 120_000);

  it('an ack sent into a link that died silently, noticed only by heartbeat: its redelivery is acked, not run', async () => {
    // A link that drops everything without a FIN or a RST (a NAT that forgot the flow): the worker
    // learns of it only when heartbeats stop coming, two to three intervals (5 s here) after the
    // last frame. The ack of the task that ends meanwhile never reaches RabbitMQ, which delivers
    // the message again. Settlements were taken as received when sent over 5 s before their
    // channel died, whatever the heartbeat, and the redelivery ran the task a second time.
    await runsOnceAcross('silent', async (_id, ended) => {
      await endIntoStall(ended);
      // New connections go through: the worker's next one, once it has given this one up.
      proxy.heal();
    });
  }, 120_000);

  it('a task queue deleted under the consumer is consumed again once it exists again', async () => {
    await deleteQueue(vhost, 'fail');
    // The next publish declares the queue again; the consumer, cancelled by the broker, comes back.
    const r = await app.sendTask('fail.work', [1], {}, { queue: 'fail' });
    expect(await r.get({ timeoutMs: 30_000 })).toBe(r.id);
  }, 60_000);
});
