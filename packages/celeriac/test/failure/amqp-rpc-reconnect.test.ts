/**
 * The rpc:// backend's result queue over lost connections (backends/rpc/rpc-backend.ts), on a
 * vhost of its own: after each loss it consumes its queue again, on one channel, and after
 * RabbitMQ cancels its consumer (the queue deleted) too, waiting longer each time while the
 * queue cannot be declared. Its channel's
 * `close` retry and the session's reconnect both consumed once, a channel more per loss; over a
 * flaky network a long-lived process would run into RabbitMQ's channel limit.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import { RpcBackend } from '../../src/backends/rpc/rpc-backend.js';
import type { ResultMeta } from '../../src/protocol/types.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { amqpAvailable, closeConnections, createVhost, deleteQueue, deleteVhost, onChannel, rabbitmqctl, vhostUrl } from '../support/amqp-env.js';

const ready = await amqpAvailable();

describe.runIf(ready)('failure: the rpc:// result queue over lost connections', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('rpc-reconnect');
  }, 60_000);
  afterAll(async () => {
    await deleteVhost(vhost);
  }, 60_000);

  /**
   * Consumers of `queue` (0 while it does not exist), by a passive declare on a connection of
   * its own (the tests close every connection of the vhost): cheap enough to poll, where each
   * `rabbitmqctl` starts an Erlang VM (about a CPU-second).
   */
  const consumers = async (queue: string): Promise<number> => {
    const conn = await amqp.connect(vhostUrl(vhost));
    conn.on('error', () => undefined);
    try {
      return await onChannel(conn, (ch) => ch.checkQueue(queue)).then((q) => q.consumerCount, () => 0);
    } finally {
      await conn.close().catch(() => undefined);
    }
  };

  /** Consumers of `queue`, and the channels of the vhost's connections (only rabbitmqctl tells those). */
  const counts = async (queue: string): Promise<{ consumers: number; channels: number }> => {
    // list_connections lists every vhost's: this one's lines only.
    const channels = (await rabbitmqctl('list_connections', 'vhost', 'channels', '--no-table-headers', '--quiet'))
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([v]) => v === vhost)
      .reduce((sum, [, n]) => sum + Number(n), 0);
    return { consumers: await consumers(queue), channels };
  };

  it('consumes its queue again after each loss, on one channel', async () => {
    const backend = new RpcBackend({ brokerUrl: vhostUrl(vhost), replyTo: 'rpc-reconnect-reply', resultExpiresSec: null });
    try {
      await backend.connect();
      await backend.beforePublish();
      const before = await counts('rpc-reconnect-reply');
      expect(before.consumers).toBe(1);
      for (let loss = 0; loss < 3; loss++) {
        await closeConnections(vhost, 'celeriac test');
        await waitFor(async () => (await consumers('rpc-reconnect-reply')) >= 1, 'the result queue consumed again', 30_000);
        // Past the channel's own retry (200 ms): a second consumer would be there by now.
        await sleep(1000);
      }
      expect(await counts('rpc-reconnect-reply')).toEqual(before);
    } finally {
      await backend.close();
    }
  }, 120_000);

  it('consumes its queue again when RabbitMQ cancels the consumer (the queue deleted)', async () => {
    const backend = new RpcBackend({ brokerUrl: vhostUrl(vhost), replyTo: 'rpc-cancelled-reply', resultExpiresSec: null });
    try {
      await backend.connect();
      await backend.beforePublish();
      await deleteQueue(vhost, 'rpc-cancelled-reply');
      await waitFor(async () => (await consumers('rpc-cancelled-reply')) === 1, 'the result queue declared and consumed again', 30_000);
      // A result sent to it now reaches its waiter.
      const id = 'cancelled-then-stored';
      const heard = new Promise<string>((resolve) => void backend.subscribe(id, (meta) => resolve(meta.status)));
      await backend.store({ task_id: id, status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null } as ResultMeta, { replyTo: 'rpc-cancelled-reply', expiresSec: 60 });
      expect(await heard).toBe('SUCCESS');
    } finally {
      await backend.close();
    }
  }, 60_000);

  it('waits longer each time it cannot declare its queue again, and consumes it once it can', async () => {
    const queue = 'rpc-conflict-reply';
    const failures: number[] = [];
    const backend = new RpcBackend({
      brokerUrl: vhostUrl(vhost),
      replyTo: queue,
      resultExpiresSec: null,
      log: (level, msg) => void (level === 'warn' && msg === 'rpc:// result channel closed' && failures.push(performance.now())),
    });
    const conn = await amqp.connect(vhostUrl(vhost));
    conn.on('error', () => undefined);
    try {
      await backend.connect();
      await backend.beforePublish();
      // The queue deleted (its consumer cancelled) and declared again at once as durable: the
      // backend's own declaration (not durable, auto-delete) is refused while it stays so.
      await onChannel(conn, async (ch) => {
        await ch.deleteQueue(queue);
        await ch.assertQueue(queue, { durable: true, autoDelete: false });
      });
      const start = performance.now();
      await waitFor(() => failures.length >= 4, 'four refused declarations', 30_000);
      // 200 + 400 + 800 + 1,600 ms between them at the least; a fixed 200 ms wait made it 800.
      expect(failures[3]! - start).toBeGreaterThan(2500);
      await onChannel(conn, (ch) => ch.deleteQueue(queue));
      await waitFor(async () => (await consumers(queue)) === 1, 'the result queue consumed again', 30_000);
      const id = 'conflict-then-stored';
      const heard = new Promise<string>((resolve) => void backend.subscribe(id, (meta) => resolve(meta.status)));
      await backend.store({ task_id: id, status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null } as ResultMeta, { replyTo: queue, expiresSec: 60 });
      expect(await heard).toBe('SUCCESS');
    } finally {
      await backend.close();
      await conn.close().catch(() => undefined);
    }
  }, 60_000);
});
