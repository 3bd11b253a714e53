/**
 * Parity of the one Lua script that builds key names from data found in Redis
 * (restore-stale.lua, which gives back messages a Python worker left in `unacked`) with the key
 * module (src/redis/keys.ts): for every priority, out-of-range ones included, and for the
 * default exchange and a bound named exchange, the message lands in exactly the list
 * `BrokerKeys.bucket()` names, with and without a `global_keyprefix`. The empty prefix is
 * kombu's default layout, so it runs on a redis-server of its own (unprefixed `unacked` keys
 * must not be shared).
 */
import { randomUUID } from 'node:crypto';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Transitions } from '../../src/brokers/redis/transitions.js';
import { bindingMember, BrokerKeys, stepOf } from '../../src/redis/keys.js';
import { deleteKeys, freePort, randomKeyPrefix, REDIS_URL, RedisServerProcess, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('Lua key templates against redis/keys.ts');

/** Priorities a Python message may carry: every valid one, and some kombu clamps or truncates. */
const PRIORITIES = [-3, 0, 1, 2, 3, 4, 4.7, 5, 6, 7, 8, 9, 12];

/** A Python-style envelope as kombu stores it in `unacked`: `[envelope, exchange, routing key]`. */
function unackedValue(tag: string, priority: number, exchange: string, routingKey: string): string {
  const envelope = `{"body": "W10=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"id": "${tag}"}, "properties": {"delivery_info": {"exchange": "${exchange}", "routing_key": "${routingKey}"}, "priority": ${priority}, "body_encoding": "base64", "delivery_tag": "${tag}"}}`;
  return JSON.stringify([JSON.parse(envelope), exchange, routingKey]);
}

/** Leaves one stale Python delivery per priority and exchange, sweeps, and reports where each landed. */
async function sweepAndLocate(raw: RedisClientType, keys: BrokerKeys): Promise<{ expected: Record<string, string>; found: Record<string, string> }> {
  const queue = `parity-${randomUUID().slice(0, 6)}`;
  const routed = `${queue}-routed`;
  const exchange = `ex-${randomUUID().slice(0, 6)}`;
  await raw.sAdd(keys.binding(exchange), bindingMember('rk', routed));
  const expected: Record<string, string> = {};
  for (const [i, priority] of PRIORITIES.entries()) {
    for (const [ex, rk, target] of [['', queue, queue], [exchange, 'rk', routed]] as const) {
      const tag = `tag-${ex === '' ? 'direct' : 'routed'}-${i}`;
      await raw.hSet(keys.unacked, tag, unackedValue(tag, priority, ex, rk));
      await raw.zAdd(keys.unackedIndex, { score: 1, value: tag });
      expected[tag] = keys.bucket(target, stepOf(priority));
    }
  }
  const t = new Transitions((fn) => fn(raw), keys);
  const outcome = await t.restoreStale(Date.now(), 1000, randomUUID(), 1000);
  expect(outcome).toEqual({ ours: 0, theirs: Object.keys(expected).length });
  const found: Record<string, string> = {};
  for (const key of new Set([...keys.buckets(queue), ...keys.buckets(routed)])) {
    for (const item of await raw.lRange(key, 0, -1)) found[(JSON.parse(item) as { headers: { id: string } }).headers.id] = key;
  }
  return { expected, found };
}

describe.runIf(ready)('restore-stale.lua builds the names redis/keys.ts builds', () => {
  describe('under a global_keyprefix, on the shared Redis', () => {
    const prefix = randomKeyPrefix();
    let raw: RedisClientType;
    beforeAll(async () => {
      raw = createClient({ url: REDIS_URL }) as RedisClientType;
      await raw.connect();
    });
    afterAll(async () => {
      await raw?.close();
      await deleteKeys(prefix);
    });

    it('puts every Python message back in the list of its queue and priority', async () => {
      const { expected, found } = await sweepAndLocate(raw, new BrokerKeys(prefix));
      expect(found).toEqual(expected);
    });
  });

  describe('with no prefix (kombu\'s default layout), on a redis-server of its own', () => {
    let server: RedisServerProcess;
    let raw: RedisClientType;
    beforeAll(async () => {
      server = new RedisServerProcess(await freePort());
      await server.start();
      raw = createClient({ url: server.url }) as RedisClientType;
      await raw.connect();
    });
    afterAll(async () => {
      await raw?.close();
      await server?.kill();
    });

    it('puts every Python message back in the list of its queue and priority', async () => {
      const { expected, found } = await sweepAndLocate(raw, new BrokerKeys(''));
      expect(found).toEqual(expected);
    });
  });
});
