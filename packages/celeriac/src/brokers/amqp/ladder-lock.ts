/**
 * @module brokers/amqp/ladder-lock
 * One reader of the delay queues at a time, across every process on the vhost. A listing
 * (list-delayed.ts) and a purge walk (purge-delayed.ts) take the level queues' messages and
 * give them back, so two at once would each miss what the other holds: every worker answering
 * one `inspect scheduled` together, a dashboard listing beside them, a purge that would leave
 * a message a listing held. The lock is an exclusive queue, `celeriac.delayed.reader`: one
 * connection at a time may declare it (another gets 405 RESOURCE_LOCKED), and RabbitMQ deletes
 * it with its connection, so a holder that dies frees it. Readers sharing one connection take
 * turns on a promise chain first. A reader that waited `waitMs` reads anyway (best effort).
 */
import type { Channel } from 'amqplib';
import type { AmqpSession } from '../../amqp/session.js';

/** The lock queue's name. */
export const LADDER_LOCK_QUEUE = 'celeriac.delayed.reader';

const turns = new WeakMap<AmqpSession, Promise<unknown>>();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const noop = () => undefined;

/** Declares the lock queue on a channel of its own; the channel on success, null when another connection holds it. */
async function tryLock(session: AmqpSession): Promise<Channel | null> {
  const ch = await session.openChannel();
  ch.on('error', noop);
  try {
    await ch.assertQueue(LADDER_LOCK_QUEUE, { exclusive: true, durable: false, autoDelete: false });
    return ch;
  } catch (err) {
    if ((err as { code?: unknown }).code === 405) return null;
    throw err;
  }
}

/** Runs `read` holding the delay queues' reader lock. */
export async function withLadderLock<T>(session: AmqpSession, read: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const before = turns.get(session) ?? Promise.resolve();
  let done: () => void = noop;
  const mine = new Promise<void>((resolve) => (done = resolve));
  turns.set(session, before.then(() => mine));
  await before.catch(noop);
  let lock: Channel | null = null;
  try {
    const deadline = performance.now() + waitMs;
    while ((lock = await tryLock(session)) === null && performance.now() < deadline) await sleep(20 + Math.random() * 30);
    return await read();
  } finally {
    if (lock !== null) {
      await lock.deleteQueue(LADDER_LOCK_QUEUE).catch(noop);
      await lock.close().catch(noop);
    }
    done();
  }
}
