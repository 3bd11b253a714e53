/**
 * @module brokers/redis/bulk-publish
 * `publishMany` of the Redis broker: N messages in one pipelined write instead of N
 * LPUSH + PUBLISH pairs. Messages are grouped by destination list, keeping their order, so
 * each list gets one LPUSH of many values (LPUSH pushes its values left to right, and
 * consumers pop from the right: the first message of the batch is popped first, exactly as
 * if they had been published one by one); each queue gets doorbell tokens (bell.ts) and one
 * wake-up PUBLISH per batch; future ETAs go to the delayed set in one ZADD. Same layout as `publish`, so
 * Python workers consume these messages like any other.
 *
 * Envelopes are written by an `EnvelopeWriter`, which lays out a run of like messages once.
 * They go to the client as their UTF-8 bytes, exactly what it would write for the text:
 * text arguments are measured, concatenated into one command string and encoded again by
 * node-redis, which for a batch costs more than the bytes, and the many-piece envelope text
 * can be collected while the rest of the batch is still being encoded.
 */
import type { PublishRequest } from '../../core/spi/broker.js';
import { checkDeliverAt, checkQueueName } from '../../core/spi/broker-args.js';
import { uuid7 } from '../../core/uuid.js';
import { EnvelopeWriter } from '../../protocol/envelope-writer.js';
import { stepOf, type PriorityStep, type BrokerKeys } from '../../redis/keys.js';
import { delayedMember } from './transitions.js';
import { BELL_BULK_TOKENS, ringBell, type BellCommands } from './bell.js';

/** Most values per LPUSH / ZADD, so one huge batch does not become one huge command. */
const CHUNK = 1000;

/** The commands a bulk publish sends (a subset of node-redis's client). */
export interface BulkCommands extends BellCommands {
  lPush(key: string, values: Buffer[] | string[]): Promise<number>;
  zAdd(key: string, members: { score: number; value: string }[]): Promise<number>;
  publish(channel: string, message: string): Promise<number>;
}

/** What a batch turned into: per list the envelopes (UTF-8) in order, the delayed members, the queues to wake (with their message counts). */
export interface BulkPlan {
  readonly lists: Map<string, Buffer[]>;
  readonly delayed: { score: number; value: string }[];
  readonly wake: Map<string, number>;
}

/** `keys.bucket`, each name built once per batch (a batch mostly fills one or two lists). */
function bucketNames(keys: BrokerKeys): (queue: string, step: PriorityStep) => string {
  const byStep = new Map<PriorityStep, Map<string, string>>();
  return (queue, step) => {
    let names = byStep.get(step);
    if (names === undefined) byStep.set(step, (names = new Map()));
    let name = names.get(queue);
    if (name === undefined) names.set(queue, (name = keys.bucket(queue, step)));
    return name;
  };
}

/**
 * Checks and encodes every message (nothing is sent if one is invalid) and groups them.
 * `route` resolves a named exchange to its queues (awaited once per distinct pair).
 */
export async function planBulkPublish(
  keys: BrokerKeys,
  batch: readonly PublishRequest[],
  now: number,
  route: (exchange: string, routingKey: string) => Promise<string[]>,
): Promise<BulkPlan> {
  const plan: BulkPlan = { lists: new Map(), delayed: [], wake: new Map() };
  const routes = new Map<string, string[]>();
  const bucketOf = bucketNames(keys);
  const envelopes = new EnvelopeWriter();
  for (const { message, options } of batch) {
    const routingKey = checkQueueName(options.routingKey);
    const deliverAt = checkDeliverAt(options.deliverAt);
    const raw = envelopes.write(message, { deliveryTag: uuid7(now), exchange: options.exchange, routingKey });
    const step = stepOf(options.priority);
    let queues: string[] | undefined = options.exchange === '' ? [routingKey] : routes.get(`${options.exchange}\u0000${routingKey}`);
    if (queues === undefined) {
      queues = await route(options.exchange, routingKey);
      routes.set(`${options.exchange}\u0000${routingKey}`, queues);
    }
    let bytes: Buffer | undefined;
    for (const q of queues) {
      const bucket = bucketOf(q, step);
      if (deliverAt !== undefined && deliverAt > now) {
        plan.delayed.push({ score: deliverAt, value: delayedMember(bucket, raw) });
        continue;
      }
      let list = plan.lists.get(bucket);
      if (list === undefined) plan.lists.set(bucket, (list = []));
      list.push((bytes ??= Buffer.from(raw, 'utf8')));
      plan.wake.set(q, (plan.wake.get(q) ?? 0) + 1);
    }
  }
  return plan;
}

/** Sends a plan; the commands are issued in one turn, so node-redis writes them together. */
export async function sendBulkPlan(c: BulkCommands, keys: BrokerKeys, plan: BulkPlan): Promise<void> {
  const sent: Promise<number>[] = [];
  for (const [bucket, values] of plan.lists) {
    for (let i = 0; i < values.length; i += CHUNK) sent.push(c.lPush(bucket, values.slice(i, i + CHUNK)));
  }
  for (let i = 0; i < plan.delayed.length; i += CHUNK) sent.push(c.zAdd(keys.delayed, plan.delayed.slice(i, i + CHUNK)));
  // Wake-ups last: a consumer woken by one finds its messages already pushed. A doorbell
  // token per message up to a few, so that as many blocked consumers share the batch.
  // A refused wake-up (an ACL without the channel) must not fail a batch that is in its queues.
  for (const [q, n] of plan.wake) sent.push(ringBell(c, keys.bell(q), Math.min(n, BELL_BULK_TOKENS)), c.publish(keys.wakeChannel(q), '').catch(() => 0));
  await Promise.all(sent);
}
