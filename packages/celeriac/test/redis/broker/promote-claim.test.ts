/**
 * The fleet shares the ETA promotion duty (maintenance.ts, promote-due.lua): each broker looks
 * at the delayed set every `promoteIntervalMs` times the live promoters (jittered), and only
 * the broker holding the claim on the next due time waits for that exact time. Before, each
 * idle worker looked five times a second, and every worker that knew the next due time called
 * at it: with ETA messages due every few milliseconds, each worker of the fleet did.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { Transitions } from '../../../src/brokers/redis/transitions.js';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { quietClient, shouldRunRedisTests, usePrivateRedis } from '../../support/redis.js';
import { newPrefix, redisAvailable, useRawRedis } from './redis-test-env.js';

const available = await redisAvailable();
const privateServer = await shouldRunRedisTests('the shared promote duty on a private redis-server');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keys under a prefix of the enclosing describe's own, and a raw client that deletes them after its tests. */
function ownKeys(): { keys: BrokerKeys; raw: ReturnType<typeof useRawRedis> } {
  const prefix = newPrefix();
  return { keys: new BrokerKeys(prefix), raw: useRawRedis(prefix) };
}

describe.skipIf(!available)('promote-due.lua: the claim on the next due time', () => {
  const { keys, raw } = ownKeys();

  it('goes to the first caller that sees a due time, stays with it, passes when the head changes, and lapses after its slack', async () => {
    const t = new Transitions((fn) => fn(raw() as never), keys, '');
    const now = Date.now();
    const member = (id: string) => JSON.stringify([keys.bucket('claimed', 0), id]);
    await raw().zAdd(keys.delayed, { score: now + 10_000, value: member('later') });
    await raw().zAdd(keys.promoters, [
      { score: now + 60_000, value: 'a' },
      { score: now + 60_000, value: 'b' },
      { score: now - 1, value: 'gone' },
    ]);
    const call = (id: string, at = now, slackMs = 200) => t.promoteDue(at, 100, { id, slackMs });
    expect(await call('a')).toEqual({ moved: 0, nextDue: now + 10_000, claimed: true, promoters: 2 });
    expect((await call('b')).claimed).toBe(false);
    expect((await call('a')).claimed).toBe(true);
    // An earlier message: the next caller takes the claim on the new head.
    await raw().zAdd(keys.delayed, { score: now + 5_000, value: member('sooner') });
    expect(await call('b')).toMatchObject({ nextDue: now + 5_000, claimed: true });
    expect((await call('a')).claimed).toBe(false);
    // Claimed at its due time with a second of slack (50 ms was too short for the next call on
    // a loaded CI host): gone a second later, and the next caller has it.
    expect((await call('b', now + 5_000 - 1, 1000)).claimed).toBe(true);
    expect((await call('a', now + 5_000 - 1)).claimed).toBe(false);
    await waitFor(async () => (await raw().exists(keys.promoteClaim)) === 0, 'the claim to lapse');
    expect((await call('a', now + 5_000 - 1)).claimed).toBe(true);
    // A publisher's call (no claimant) claims nothing and counts no promoters.
    expect(await t.promoteDue(now, 100)).toEqual({ moved: 0, nextDue: now + 5_000, claimed: false, promoters: 0 });
    expect(await raw().get(keys.promoteClaim)).toBe(`${now + 5_000} a`);
  });
});

describe.skipIf(!available)('promote-due.lua with keys of another type where the claim and the promoters go', () => {
  const { keys, raw } = ownKeys();

  it('still moves due messages and answers, claiming nothing, call after call', async () => {
    const t = new Transitions((fn) => fn(raw() as never), keys, '');
    const now = Date.now();
    await raw().hSet(keys.promoteClaim, 'not', 'a string');
    await raw().set(keys.promoters, 'not a zset');
    for (const id of ['due-1', 'due-2']) {
      await raw().zAdd(keys.delayed, [
        { score: now - 1, value: JSON.stringify([keys.bucket('odd-keys', 0), id]) },
        { score: now + 60_000, value: JSON.stringify([keys.bucket('odd-keys', 0), `${id}-later`]) },
      ]);
      expect(await t.promoteDue(now, 100, { id: 'a', slackMs: 200 })).toEqual({ moved: 1, nextDue: now + 60_000, claimed: false, promoters: 0 });
    }
    // A publisher's call, which only counts the promoters.
    await raw().zAdd(keys.delayed, { score: now - 1, value: JSON.stringify([keys.bucket('odd-keys', 0), 'due-3']) });
    expect(await t.promoteDue(now, 100, 'count')).toEqual({ moved: 1, nextDue: now + 60_000, claimed: false, promoters: 0 });
    expect(await raw().lRange(keys.bucket('odd-keys', 0), 0, -1)).toEqual(['due-3', 'due-2', 'due-1']);
  });
});

describe.skipIf(!privateServer)('the promote duty of a fleet', () => {
  const redis = usePrivateRedis();

  it('looks about once per promoteIntervalMs in all, not once per broker, and one broker waits for each due time', async () => {
    const url = redis.server().url;
    const brokers = [0, 1, 2, 3].map(() => new RedisBroker(url));
    const producer = new RedisBroker(url);
    /** promote-due.lua's calls (its first command, on the delayed set), by Redis's clock. */
    const looks: number[] = [];
    const got = new Map<string, number>();
    const monitor = await quietClient(url);
    try {
      await monitor.monitor((line: string) => {
        if (line.includes('"ZRANGEBYSCORE" "celeriac.delayed"')) looks.push(Number(line.slice(0, line.indexOf(' '))) * 1000);
      });
      for (const b of brokers) {
        b.consume({
          queues: ['eta-fleet'],
          prefetch: 10,
          onDelivery: (d) => void d.ack().then(() => got.set((JSON.parse(d.raw) as { headers: { id: string } }).headers.id, Date.now())),
        });
      }
      await waitFor(async () => (await redis.admin().zCard('celeriac.promoters')) === 4, 'the four promoters');
      // Each looks once as it starts.
      await waitFor(() => looks.length >= 4, 'the four first looks');
      // Idle: the four together look about five times a second, where each did (a rate, so a
      // window of real time).
      const idleFrom = Date.now();
      looks.length = 0;
      await sleep(3_000);
      const idle = looks.filter((at) => at >= idleFrom).length;
      expect(idle, `looks of four idle brokers in 3 s (${idle})`).toBeLessThanOrEqual(30);
      expect(idle).toBeGreaterThanOrEqual(3);
      // ETA messages due every 20 ms: one broker waits for each, the others keep their pace.
      looks.length = 0;
      const start = Date.now() + 800;
      const due = new Map<string, number>();
      for (let i = 0; i < 50; i++) {
        const id = `eta-${i}-${randomUUID().slice(0, 4)}`;
        due.set(id, start + i * 20);
        await producer.publish(makeMessage(id), { exchange: '', routingKey: 'eta-fleet', deliverAt: start + i * 20 });
      }
      await waitFor(() => got.size === due.size, 'every ETA message', 15_000);
      const during = looks.filter((at) => at >= start - 200 && at <= start + 50 * 20 + 200).length;
      expect(during, `looks while 50 messages came due over 1 s (${during})`).toBeLessThanOrEqual(100);
      const late = [...due].map(([id, at]) => got.get(id)! - at);
      console.log(`promote looks of four brokers: ${idle} in 3 s idle, ${during} while 50 ETA messages came due over 1 s; delivered ${Math.min(...late)}-${Math.max(...late)} ms after due`);
      for (const [id, at] of due) expect(got.get(id)! - at, `${id} promoted late`).toBeLessThan(1_000);
      for (const [id, at] of due) expect(got.get(id)!).toBeGreaterThanOrEqual(at);
    } finally {
      monitor.destroy();
      for (const b of brokers) await b.close();
      await producer.close();
    }
  });

  it('a publisher that consumes nothing looks as one more of the live promoters, and every promoteIntervalMs, with a rescue, while none is live', async () => {
    const url = redis.server().url;
    const producer = new RedisBroker(url);
    const looks: number[] = [];
    const rescues: number[] = [];
    const monitor = await quietClient(url);
    /** Publishes every 10 ms for `ms` (an API server under load); returns when it started. */
    const sendFor = async (ms: number): Promise<number> => {
      const from = Date.now();
      while (Date.now() - from < ms) {
        await producer.publish(makeMessage(randomUUID()), { exchange: '', routingKey: 'api-sends' });
        await sleep(10); // the load: an API server sending every 10 ms (what is counted is its looks over real time)
      }
      return from;
    };
    try {
      await monitor.monitor((line: string) => {
        if (line.includes('"ZRANGEBYSCORE" "celeriac.delayed"')) looks.push(Date.now());
        // rescue-delayed.lua counts the live promoters past its `now`, exclusive (promote-due.lua's count is inclusive).
        if (line.includes('"ZCOUNT" "celeriac.promoters" "(')) rescues.push(Date.now());
      });
      // Three workers' presence (nothing else runs here to look).
      const alive = Date.now() + 600_000;
      await redis.admin().zAdd('celeriac.promoters', ['a', 'b', 'c'].map((value) => ({ score: alive, value })));
      await sendFor(100);
      const busy = await sendFor(3_000);
      const withWorkers = looks.filter((at) => at >= busy).length;
      // One look per 200 ms x 4 (jittered 0.5-1.5x): 8 at most in 3 s; each looked 15 times before.
      expect(withWorkers, `looks in 3 s of sends with three live promoters (${withWorkers})`).toBeLessThanOrEqual(8);
      expect(rescues.filter((at) => at >= busy), 'rescues while promoters are live').toEqual([]);
      // No worker left: every promoteIntervalMs, each with a rescue (after the look already due).
      await redis.admin().del('celeriac.promoters');
      await sendFor(1_300);
      const alone = await sendFor(2_000);
      const lone = looks.filter((at) => at >= alone).length;
      console.log(`promote looks of a publisher that consumes nothing: ${withWorkers} in 3 s with three live promoters, ${lone} in 2 s with none`);
      expect(lone, `looks in 2 s of sends with no promoter (${lone})`).toBeGreaterThanOrEqual(5);
      expect(rescues.filter((at) => at >= alone).length).toBeGreaterThanOrEqual(5);
    } finally {
      monitor.destroy();
      await producer.close();
    }
  });

  it("however many promoters are live, a publisher looks at least once per a promoter's presence, so a rescue after the last one died is not put off for minutes", async () => {
    const url = redis.server().url;
    // A presence of 3 x 500 ms: the look every 1.5 s at most, where 1,000 promoters make it 200 s.
    const producer = new RedisBroker(url, { leaseRenewMs: 500 });
    const looks: number[] = [];
    const monitor = await quietClient(url);
    try {
      await monitor.monitor((line: string) => {
        if (line.includes('"ZRANGEBYSCORE" "celeriac.delayed"')) looks.push(Date.now());
      });
      const alive = Date.now() + 600_000;
      await redis.admin().zAdd('celeriac.promoters', Array.from({ length: 1000 }, (_, i) => ({ score: alive, value: `p${i}` })));
      const from = Date.now();
      while (Date.now() - from < 3_500) {
        await producer.publish(makeMessage(randomUUID()), { exchange: '', routingKey: 'api-sends' });
        await sleep(10); // the load: an API server sending every 10 ms (what is counted is its looks over real time)
      }
      // The first look, then one at most 1.5 s after each: 3 or more in 3.5 s.
      expect(looks.filter((at) => at >= from).length).toBeGreaterThanOrEqual(3);
    } finally {
      monitor.destroy();
      await producer.close();
      await redis.admin().del('celeriac.promoters');
    }
  });
});
