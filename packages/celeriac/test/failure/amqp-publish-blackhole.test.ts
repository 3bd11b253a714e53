/**
 * A send over a RabbitMQ link that dies silently (no FIN, no RST: an expired NAT or firewall
 * entry). The producer waits for RabbitMQ's confirm of every publish, and for the reply to the
 * declaration of a queue it sends to for the first time; over such a link neither comes, and the
 * connection is known dead only when the heartbeat says so, two to three intervals later: up to
 * six minutes at Celery's default of 120 s, while the caller's `delay()` waited. With
 * `replyTimeoutMs` the producer gives the connection up once a reply is that late, and declares
 * and sends again on a new one.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, rabbitmqctl, TEST_AMQP_HOST } from '../support/amqp-env.js';
import { FaultProxy } from '../support/fault-proxy.js';

const ready = await amqpAvailable();

describe.runIf(ready)('failure: a send over a silently dead RabbitMQ link', () => {
  let vhost = '';
  const proxy = new FaultProxy(Number(TEST_AMQP_HOST.split(':')[1] ?? 5672));

  beforeAll(async () => {
    vhost = await createVhost('pubhole');
    await proxy.start();
  }, 60_000);

  afterAll(async () => {
    await proxy.close();
    await deleteVhost(vhost);
  }, 60_000);

  /** Messages waiting in `queue` of the test's vhost. */
  async function waiting(queue: string): Promise<number> {
    const listed = await rabbitmqctl('list_queues', '-p', vhost, 'name', 'messages', '--no-table-headers', '--quiet');
    const line = listed.split('\n').map((l) => l.trim().split(/\s+/)).find(([name]) => name === queue);
    return Number(line?.[1] ?? NaN);
  }

  it('gives the connection up once a confirm is replyTimeoutMs late, and sends the message again on a new one', async () => {
    // Celery's heartbeat (120 s): without the timeout this send would wait four to six minutes.
    const app = createApp(
      { broker: `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost)}`, backend: 'memory://', brokerTransportOptions: { replyTimeoutMs: 1000 } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    const task = app.task('hole.send', () => 1);
    try {
      // The queue is declared on this connection by the first send, so the next one waits on its
      // confirm only (it declared the queue once more before declarations.ts recorded the first
      // for the connection it ran on, and waited on that instead).
      await task.applyAsync([], { queue: 'hole' });
      // The open connection now drops everything both ways; new ones go through.
      proxy.stall();
      proxy.heal();
      const dropped = proxy.stats.droppedToServer;
      await task.applyAsync([], { queue: 'hole' });
      expect(proxy.stats.droppedToServer).toBeGreaterThan(dropped);
      // The copy sent into the dead link never reached RabbitMQ: two messages, not three.
      expect(await waiting('hole')).toBe(2);
    } finally {
      await app.close();
    }
  }, 60_000);

  it('gives the connection up once a declaration is replyTimeoutMs late, and declares the queue again on a new one', async () => {
    const app = createApp(
      { broker: `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost)}`, backend: 'memory://', brokerTransportOptions: { replyTimeoutMs: 1000 } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    const task = app.task('hole.declare', () => 1);
    try {
      await task.applyAsync([], { queue: 'hole-first' });
      proxy.stall();
      proxy.heal();
      const dropped = proxy.stats.droppedToServer;
      // A queue not sent to on this connection yet: its declaration is the first thing to wait.
      await task.applyAsync([], { queue: 'hole-second' });
      expect(proxy.stats.droppedToServer).toBeGreaterThan(dropped);
      expect(await waiting('hole-second')).toBe(1);
    } finally {
      await app.close();
    }
  }, 60_000);

  it("bounds an rpc:// result's confirm by the same replyTimeoutMs: the store fails instead of waiting, and the next one goes on a new connection", async () => {
    const app = createApp(
      { broker: `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost)}`, backend: 'rpc://', brokerTransportOptions: { replyTimeoutMs: 1000 } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    try {
      await app.storeState('hole-rpc-1', 'PROGRESS', 1);
      proxy.stall();
      proxy.heal();
      await expect(app.storeState('hole-rpc-2', 'PROGRESS', 2)).rejects.toMatchObject({ code: 'CELERIAC_ERR_TRANSPORT' });
      await app.storeState('hole-rpc-3', 'PROGRESS', 3);
      expect(await app.backend.get('hole-rpc-3')).toMatchObject({ status: 'PROGRESS', result: 3 });
    } finally {
      await app.close();
    }
  }, 60_000);

  it('bounds the rpc:// backend by the same replyTimeoutMs, and refuses one that is not a positive number of milliseconds', () => {
    for (const bad of [0, -1, 'soon', Number.POSITIVE_INFINITY]) {
      for (const backend of ['memory://', 'rpc://']) {
        const app = createApp({ broker: `amqp://guest:guest@127.0.0.1:${proxy.port}/`, backend, brokerTransportOptions: { replyTimeoutMs: bad } }, { env: {}, logger: pino({ level: 'silent' }) });
        expect(() => (backend === 'rpc://' ? app.backend : app.broker), `${backend} ${String(bad)}`).toThrow(/replyTimeoutMs must be a number of milliseconds > 0/);
      }
    }
  });
});
