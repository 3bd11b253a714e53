/**
 * `celeriac migrate` with a message its destination cannot carry: a task id of 300 bytes,
 * fine on Redis, cannot be RabbitMQ's `correlation_id` (255 bytes at most). That message stays
 * on the source, the others move, and the run ends with an INVALID_ARGUMENT naming it. Before,
 * the one message stopped the migration (retried four times as a lost connection first).
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { MigrateError, migrateMessages } from '../../src/cli/commands/migrate.js';
import { ErrorCodes } from '../../src/errors.js';
import { createApp } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { deleteKeys, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = (await shouldRunRedisTests('celeriac migrate to RabbitMQ')) && (await amqpAvailable());
const DB_URL = REDIS_URL.replace(/\/\d+$/, '/7');

/** Task ids of the messages in a RabbitMQ queue, taken off it. */
async function takeIds(vhost: string, queue: string): Promise<string[]> {
  const conn = await amqp.connect(vhostUrl(vhost));
  try {
    const ch = await conn.createChannel();
    const ids: string[] = [];
    for (let m = await ch.get(queue, { noAck: true }); m !== false; m = await ch.get(queue, { noAck: true })) ids.push(String((m.properties.headers as { id: string }).id));
    return ids;
  } finally {
    await conn.close();
  }
}

describe.runIf(ready)('celeriac migrate with a message the destination cannot take', () => {
  it('leaves it on the source, moves the rest, and says which', { timeout: 60_000 }, async () => {
    const vhost = await createVhost('migrate-refused');
    const prefix = `mig-ref-${randomUUID().slice(0, 8)}:`;
    const source = createApp({ broker: `${DB_URL}?global_keyprefix=${prefix}`, logLevel: 'silent' }, { env: {} });
    const destination = createApp({ broker: vhostUrl(vhost), logLevel: 'silent' }, { env: {} });
    const client = createClient({ url: DB_URL });
    await client.connect();
    try {
      const long = 'x'.repeat(300);
      const ids = [randomUUID(), long, randomUUID()];
      for (const taskId of ids) await source.sendTask('t.move', [], {}, { taskId });
      const outcome = await migrateMessages({ source: source.broker, destination: destination.broker, queues: ['celery'], idleMs: 1_000, forever: false, onMoved: () => undefined }).then(
        (moved) => moved,
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(MigrateError);
      const error = outcome as MigrateError;
      expect(error).toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT, moved: 2, notGivenBack: 0 });
      expect(error.message).toMatch(/^migrate stopped after 2 messages: the destination cannot take t\.move\[x{300}\], left on the source: correlation id \(the task id\) "x{40}\.\.\." is 300 bytes; RabbitMQ takes at most 255/);
      expect(await takeIds(vhost, 'celery')).toEqual([ids[0], ids[2]]);
      const left = await client.lRange(`${prefix}celery`, 0, -1);
      expect(left.map((m) => (JSON.parse(m) as { headers: { id: string } }).headers.id)).toEqual([long]);
      expect(await client.hLen(`${prefix}unacked`)).toBe(0);
    } finally {
      await client.close();
      await Promise.all([source.close(), destination.close()]);
      await deleteVhost(vhost);
      await deleteKeys(prefix, DB_URL);
    }
  });
});
