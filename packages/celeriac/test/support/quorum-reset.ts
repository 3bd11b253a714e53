/**
 * @module test/support/quorum-reset
 * Makes a used quorum test vhost as good as new but for kombu's delay ladder, so the run's
 * pool (scripts/test-vhosts.ts) hands it to the next quorum file instead of a fresh vhost.
 *
 * Why: every quorum suite's app declares the 28 `celery_delayed_N` quorum queues; with a vhost
 * per file, each run created and deleted some 150 quorum queues (a Ra cluster each), and after
 * hours of that the shared RabbitMQ 3.10 wedged (vhost adds hung, leader elections stalled).
 * Reused, the ladder is declared once per vhost and kept: the reset deletes every other queue
 * and exchange (a file's own, their bindings to the delivery exchange with them) and purges
 * the ladder's queues, so the next file sees what a fresh vhost with the ladder shows.
 * No vitest here: the pool's global setup runs it.
 */
import amqp, { type Channel } from 'amqplib';
import { KOMBU_LADDER } from '../../src/brokers/amqp/delayed.js';
import { listVhost, vhostUrl } from './rabbitmqctl.js';

const LADDER_QUEUES = new Set(Array.from({ length: KOMBU_LADDER.levels }, (_, i) => KOMBU_LADDER.levelName(i)));
const LADDER_EXCHANGES = new Set([...LADDER_QUEUES, KOMBU_LADDER.deliverExchange]);

/** How many purge rounds a message moving down the ladder gets before the vhost is given up. */
const PURGE_ROUNDS = 5;

/** True when `vhost` holds the whole kombu ladder: worth keeping for the next quorum file. */
export function hasKombuLadder(queues: readonly string[]): boolean {
  const have = new Set(queues);
  return [...LADDER_QUEUES].every((q) => have.has(q));
}

/**
 * Deletes every queue and exchange of `vhost` but the kombu ladder's (and RabbitMQ's own),
 * then purges the ladder's queues until all are empty. Returns false when the vhost has no
 * whole ladder (nothing worth keeping: it is left as it is); throws when it cannot be cleaned,
 * and the caller must not hand it out again.
 */
export async function resetQuorumVhost(vhost: string): Promise<boolean> {
  const { queues, exchanges } = await listVhost(vhost);
  if (!hasKombuLadder(queues)) return false;
  const conn = await amqp.connect(vhostUrl(vhost));
  try {
    // A failed operation closes its channel: each gets one of its own, and any failure fails the reset.
    const on = async (fn: (ch: Channel) => Promise<unknown>) => {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await fn(ch);
      await ch.close();
    };
    for (const q of queues) if (!LADDER_QUEUES.has(q)) await on((ch) => ch.deleteQueue(q));
    for (const x of exchanges) if (x !== '' && !x.startsWith('amq.') && !LADDER_EXCHANGES.has(x)) await on((ch) => ch.deleteExchange(x));
    // Highest level first, and again while any holds a message: one moving down is caught below.
    const levels = [...LADDER_QUEUES].reverse();
    for (let round = 0; round < PURGE_ROUNDS; round++) {
      let left = 0;
      for (const q of levels) await on(async (ch) => (left += (await ch.purgeQueue(q)).messageCount));
      if (left === 0) return true;
    }
    throw new Error(`the delay ladder of ${vhost} still held messages after ${PURGE_ROUNDS} purges`);
  } finally {
    await conn.close().catch(() => undefined);
  }
}
