/**
 * RabbitMQ connection loss twice in a row with late acks (docs/protocol-amqp.md §7): one task
 * runs at a time and three wait prefetched when the broker closes every connection of the test's
 * vhost (`rabbitmqctl close_all_connections`). The worker still holds all four; RabbitMQ
 * redelivers them on the new connection, where the consumer ties each redelivery to the
 * delivery it holds. Then the connection is lost again while some of them still wait: those
 * redeliveries are gone too, and the messages come back a third time. Each task must still run
 * once (amqp-connection-loss.test.ts covers a single loss under load).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import { createApp, Worker, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, rabbitmqctl, vhostUrl } from '../support/amqp-env.js';
import { waitFor } from '../../src/testing/wait-for.js';

const ready = await amqpAvailable();

describe.runIf(ready)('failure: RabbitMQ drops every connection twice while prefetched tasks wait', () => {
  let vhost = '';
  let app: App;
  let worker: Worker;
  const runs = new Map<string, number>();

  beforeAll(async () => {
    vhost = await createVhost('twice');
    app = createApp({ broker: vhostUrl(vhost, '?heartbeat=5'), backend: 'memory://', taskAcksLate: true }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('twice.slow', { bind: true }, async (ctx) => {
      runs.set(ctx.request.id, (runs.get(ctx.request.id) ?? 0) + 1);
      // Real time: the two losses (a few rabbitmqctl calls) come while the first ones run.
      await sleep(3000);
      return ctx.request.id;
    });
    worker = new Worker(app, { queues: ['twice'], concurrency: 1, prefetchMultiplier: 4 });
    await worker.start();
  }, 60_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await app?.close();
    await deleteVhost(vhost);
  }, 60_000);

  it('each task still runs once', async () => {
    const results = await app.sendTasks(Array.from({ length: 4 }, () => ({ name: 'twice.slow', args: [], options: { queue: 'twice' } })));
    const ids = results.map((r) => r.id);
    let listed = '';
    /** One consumer holds the tasks not yet run, two or more: some wait prefetched (or redelivered). */
    const held = async () => {
      listed = await rabbitmqctl('list_queues', '-p', vhost, 'name', 'consumers', 'messages_unacknowledged', '--no-table-headers', '--quiet');
      return listed.split('\n').some((l) => /^twice\s+1\s+[234]$/.test(l.trim()));
    };
    await waitFor(() => runs.size === 1, 'the first task running', 30_000);
    for (let loss = 0; loss < 2; loss++) {
      await waitFor(held, () => `tasks held by one consumer; queues: ${JSON.stringify(listed)}`, 30_000);
      await rabbitmqctl('close_all_connections', '--vhost', vhost, 'celeriac failure test');
    }
    expect(await Promise.all(results.map((r) => r.get({ timeoutMs: 60_000 })))).toEqual(ids);
    // Nothing left to run or settle: a second run of any of them would have happened by now.
    const idle = async () => worker.active === 0 && worker.reserved === 0 && (await rabbitmqctl('list_queues', '-p', vhost, 'name', 'messages', '--no-table-headers', '--quiet')).split('\n').some((l) => /^twice\s+0$/.test(l.trim()));
    await waitFor(idle, () => `the worker idle and the queue empty (runs: ${JSON.stringify([...runs.values()])})`, 60_000);
    expect(ids.map((id) => runs.get(id))).toEqual([1, 1, 1, 1]);
  }, 120_000);
});
