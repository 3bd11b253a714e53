/**
 * A send, a consumer's start or a subscription over a RabbitMQ link that dies silently (no FIN,
 * no RST: an expired NAT or firewall entry). The producer waits for RabbitMQ's confirm of every
 * publish, and for the reply to the declaration of a queue it sends to for the first time; a
 * consumer for the replies to its channel's opening, `basic.qos` and `basic.consume`; a
 * subscription (a worker's remote control, a monitor's events) for its declarations and
 * consume. Over such a link none comes, and the connection is known dead only when the
 * heartbeat says so, two to three intervals later: up to six minutes at Celery's default of
 * 120 s, while the caller's `delay()` (or the worker) waited. With `replyTimeoutMs` the
 * connection is given up once a reply is that late, and the work goes again on a new one.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, listQueues, TEST_AMQP_HOST } from '../support/amqp-env.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../../src/testing/wait-for.js';

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
    const listed = await listQueues(vhost, ['messages']);
    const line = listed.split('\n').map((l) => l.trim().split(/\s+/)).find(([name]) => name === queue);
    return Number(line?.[1] ?? NaN);
  }

  /**
   * An app through the proxy with `replyTimeoutMs: 1000` (Celery's 120 s heartbeat otherwise:
   * four to six minutes), after `first` ran on its connection, and that connection then
   * silently dead: it drops everything both ways, while new ones go through. Closed after `then`.
   */
  async function afterSilentDeath(backend: string, first: (app: App) => Promise<unknown>, then: (app: App) => Promise<void>): Promise<void> {
    const app = createApp(
      { broker: `amqp://guest:guest@127.0.0.1:${proxy.port}/${encodeURIComponent(vhost)}`, backend, brokerTransportOptions: { replyTimeoutMs: 1000 } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    try {
      await first(app);
      proxy.stall();
      proxy.heal();
      await then(app);
    } finally {
      await app.close();
    }
  }

  it('gives the connection up once a confirm is replyTimeoutMs late, and sends the message again on a new one', async () => {
    // The queue is declared on this connection by the first send, so the next one waits on its
    // confirm only (it declared the queue once more before declarations.ts recorded the first
    // for the connection it ran on, and waited on that instead).
    const send = (app: App) => app.sendTask('hole.send', [], {}, { queue: 'hole' });
    await afterSilentDeath('memory://', send, async (app) => {
      const dropped = proxy.stats.droppedToServer;
      await send(app);
      expect(proxy.stats.droppedToServer).toBeGreaterThan(dropped);
      // The copy sent into the dead link never reached RabbitMQ: two messages, not three.
      expect(await waiting('hole')).toBe(2);
    });
  }, 60_000);

  it('gives the connection up once a declaration is replyTimeoutMs late, and declares the queue again on a new one', async () => {
    await afterSilentDeath('memory://', (app) => app.sendTask('hole.declare', [], {}, { queue: 'hole-first' }), async (app) => {
      const dropped = proxy.stats.droppedToServer;
      // A queue not sent to on this connection yet: its declaration is the first thing to wait.
      await app.sendTask('hole.declare', [], {}, { queue: 'hole-second' });
      expect(proxy.stats.droppedToServer).toBeGreaterThan(dropped);
      expect(await waiting('hole-second')).toBe(1);
    });
  }, 60_000);

  it("gives the connection up once a consumer channel's opening is replyTimeoutMs late, and consumes on a new one", async () => {
    // A worker's consumer opens its own channel, then sends basic.qos and basic.consume. None of
    // their replies was watched: a consumer started (or reopened) on a link that had just died
    // silently waited for the heartbeat, minutes with Celery's default, taking nothing and
    // holding its close.
    const queue = 'hole-consume';
    await afterSilentDeath('memory://', (app) => app.sendTask('hole.consume', [], {}, { queue }), async (app) => {
      const dropped = proxy.stats.droppedToServer;
      const got: string[] = [];
      const consumer = app.broker.consume({ queues: [queue], prefetch: 10, onDelivery: (d) => got.push(d.queue) });
      try {
        await waitFor(() => got.length > 0, 'the message, consumed on a new connection', 30_000);
        expect(got).toEqual([queue]);
        expect(proxy.stats.droppedToServer).toBeGreaterThan(dropped);
      } finally {
        await consumer.close();
      }
    });
  }, 60_000);

  it('gives the connection up once a subscription\'s declarations are replyTimeoutMs late, and subscribes on a new one', async () => {
    // A worker's remote control and a monitor's events subscribe on channels opened for it;
    // their declarations and consume were unwatched as the consumer's were.
    await afterSilentDeath('memory://', (app) => app.sendTask('hole.sub', [], {}, { queue: 'hole-sub' }), async (app) => {
      const dropped = proxy.stats.droppedToServer;
      const got: string[] = [];
      const unsubscribe = await app.broker.subscribeFanout('hole.fanout', '#', (raw) => got.push(raw));
      try {
        expect(proxy.stats.droppedToServer).toBeGreaterThan(dropped);
        await app.broker.publishFanout('hole.fanout', 'any', '{"hello": 1}');
        await waitFor(() => got.length > 0, 'the message, on the new subscription', 10_000);
        expect(got[0]).toContain('hello');
      } finally {
        await unsubscribe();
      }
    });
  }, 60_000);

  it("bounds an rpc:// result's confirm by the same replyTimeoutMs: the store fails instead of waiting, and the next one goes on a new connection", async () => {
    await afterSilentDeath('rpc://', (app) => app.storeState('hole-rpc-1', 'PROGRESS', 1), async (app) => {
      await expect(app.storeState('hole-rpc-2', 'PROGRESS', 2)).rejects.toMatchObject({ code: 'CELERIAC_ERR_TRANSPORT' });
      await app.storeState('hole-rpc-3', 'PROGRESS', 3);
      expect(await app.backend.get('hole-rpc-3')).toMatchObject({ status: 'PROGRESS', result: 3 });
    });
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
