/**
 * @module brokers/amqp/ladder-declare
 * Declares a delay ladder (delayed.ts) on RabbitMQ, once per connection. The entry level is
 * declared last and kombu declares the delivery exchange last, so when the entry level's
 * queue and the delivery exchange both exist the ladder is complete and two passive checks are
 * enough (not the entry exchange alone: a Celery 5.6 producer declares that one by itself when
 * it sends a countdown). A first declaration (about 150 operations) runs on several channels
 * at once.
 */
import type { Channel } from 'amqplib';
import { typeTable } from '../../amqp/tables.js';
import type { AmqpSession } from '../../amqp/session.js';
import { CELERIAC_LADDER, declarations, entryExchange, KOMBU_LADDER, type DelayLadder, type LevelDeclaration } from './delayed.js';

/** Parallel channels of a first declaration. */
const CHANNELS = 4;

async function declareLevel(ch: Channel, level: LevelDeclaration): Promise<void> {
  await ch.assertExchange(level.name, 'topic', { durable: true });
  await ch.assertExchange(level.next, 'topic', { durable: true });
  await ch.assertQueue(level.name, { durable: true, autoDelete: false, arguments: typeTable(level.arguments) });
  await ch.bindQueue(level.name, level.name, level.queueBinding);
  await ch.bindExchange(level.next, level.name, level.nextBinding);
}

/** Makes sure the whole ladder exists. */
export async function declareLadder(session: AmqpSession, ladder: DelayLadder): Promise<void> {
  const probe = await session.openChannel();
  probe.on('error', () => undefined);
  try {
    const exists = await probe
      .checkQueue(entryExchange(ladder))
      .then(() => probe.checkExchange(ladder.deliverExchange))
      .then(
        () => true,
        () => false,
      );
    if (exists) return;
    const levels = declarations(ladder);
    const entry = levels.shift() as LevelDeclaration;
    const groups: LevelDeclaration[][] = Array.from({ length: CHANNELS }, () => []);
    levels.forEach((level, i) => groups[i % CHANNELS]?.push(level));
    await Promise.all(
      groups.map(async (group) => {
        const ch = await session.openChannel();
        for (const level of group) await declareLevel(ch, level);
        await ch.close();
      }),
    );
    const last = await session.openChannel();
    await declareLevel(last, entry);
    await last.close();
  } finally {
    await probe.close().catch(() => undefined);
  }
}

/** Every ladder there is: Celeriac's and kombu's. */
const LADDERS: readonly DelayLadder[] = [CELERIAC_LADDER, KOMBU_LADDER];

/** A passive declare that answers null for a missing queue (its 404 closes the channel). */
async function levelCount(session: AmqpSession, name: string): Promise<number | null> {
  const ch = await session.openChannel();
  ch.on('error', () => undefined);
  try {
    return (await ch.checkQueue(name)).messageCount;
  } catch {
    return null;
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/** The ladders that exist on the broker (a probe of each one's lowest level). */
export async function existingLadders(session: AmqpSession): Promise<DelayLadder[]> {
  const out: DelayLadder[] = [];
  for (const ladder of LADDERS) if ((await levelCount(session, ladder.levelName(0))) !== null) out.push(ladder);
  return out;
}

