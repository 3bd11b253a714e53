/**
 * The visibility sweep (restore-stale.lua) gives a big message back without holding Redis for
 * long. It edits the envelope's text to mark it redelivered, and finding `headers` and
 * `properties` crosses the body (base64, the envelope's first member): a scan of the body a
 * byte at a time in Lua held Redis for ten seconds on a 40 MB argument, every other client
 * waiting or refused BUSY. Measured against what the sweep cannot avoid on the same server in
 * the same run (reading the entry and pushing the envelope back: a script that only copies),
 * so the bound holds on a slow or loaded machine as on a fast one. On a redis-server of its
 * own, whose SLOWLOG times every command.
 */
import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeEnvelope, markRedelivered } from '../../../src/protocol/envelope.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { shouldRunRedisTests, usePrivateRedis } from '../../support/redis.js';

const run = await shouldRunRedisTests('the sweep of a big message');

/** Runs of each, the fastest compared: one run alone can be slowed by the machine. */
const ROUNDS = 3;

/** A script that does the unavoidable part of a restore: read the entry, push the envelope back. */
const COPY_ONLY = "local v = redis.call('HGET', KEYS[1], ARGV[1]) redis.call('RPUSH', KEYS[2], string.sub(v, 2, #v - 8)) return #v";

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

describe.runIf(run)('restore-stale.lua on a big message', () => {
  const { server, admin } = usePrivateRedis();

  /** Durations in µs of the SLOWLOG entries whose arguments `match` (each argument cut at 128 bytes there). */
  async function slowlog(match: (args: readonly string[]) => boolean): Promise<number[]> {
    const entries = (await admin().sendCommand(['SLOWLOG', 'GET', '-1'])) as [number, number, number, string[]][];
    return entries.filter(([, , , args]) => match(args)).map(([, , us]) => us);
  }

  it('restores a 30 MB envelope marked, in a few times what copying it costs', async () => {
    const prefix = `big-${randomUUID().slice(0, 6)}:`;
    const queue = 'bigq';
    const tag = randomUUID();
    const m = makeMessage('big');
    m.body = JSON.stringify([['x'.repeat(22_000_000)], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
    const envelope = encodeEnvelope(m, { deliveryTag: tag, exchange: '', routingKey: queue });
    const entry = `[${envelope}, "", ${JSON.stringify(queue)}]`;
    await admin().configSet({ 'slowlog-log-slower-than': '0', 'slowlog-max-len': '100000' });
    // The reference: the same entry read and its envelope pushed to another list, a warm-up
    // then ROUNDS times with the slowlog on.
    await admin().hSet(`${prefix}copy`, tag, entry);
    await admin().eval(COPY_ONLY, { keys: [`${prefix}copy`, `${prefix}copied`], arguments: [tag] });
    await admin().sendCommand(['SLOWLOG', 'RESET']);
    for (let i = 0; i < ROUNDS; i++) await admin().eval(COPY_ONLY, { keys: [`${prefix}copy`, `${prefix}copied`], arguments: [tag] });
    await admin().del([`${prefix}copy`, `${prefix}copied`]);
    const broker = new RedisBroker(`${server().url}?global_keyprefix=${prefix}`, { visibilityTimeoutSec: 1, sweepIntervalMs: 100, recoverAfterSec: 1, leaseRenewMs: 200 });
    const consumer = broker.consume({ queues: [`idle-${randomUUID()}`], prefetch: 1, onDelivery: () => undefined });
    try {
      for (let i = 0; i < ROUNDS; i++) {
        // Python-held bookkeeping, older than the visibility timeout: the sweep's second tier.
        await admin().hSet(`${prefix}unacked`, tag, entry);
        await admin().zAdd(`${prefix}unacked_index`, { score: Date.now() / 1000 - 10, value: tag });
        const restored = await waitFor(() => admin().lPop(`${prefix}${queue}`), 'the message to be restored', { timeoutMs: 60_000 });
        expect(restored.length).toBe(markRedelivered(envelope).length);
        expect(sha1(restored)).toBe(sha1(markRedelivered(envelope)));
      }
    } finally {
      await consumer.close();
      await broker.close();
    }
    const copies = await slowlog((args) => args[0] === 'EVAL' && (args[1] ?? '').startsWith(COPY_ONLY.slice(0, 60)));
    // EVAL the first time (a fresh server has no script cached), EVALSHA after; the fetch's
    // first key is the same and quick, so the sweeps are the ROUNDS slowest of these.
    const sweeps = (await slowlog((args) => (args[0] === 'EVALSHA' || args[0] === 'EVAL') && args[3] === `${prefix}unacked`)).sort((a, b) => b - a).slice(0, ROUNDS);
    expect(copies.length).toBe(ROUNDS);
    // The fastest of each: on a loaded machine (CI runs tests side by side on two vCPUs) one
    // run that had its pages reclaimed or its core taken took 12x the copy, where the same
    // code takes 3-4x on a quiet one. With the byte-at-a-time scan: about 30x.
    const sweep = Math.min(...sweeps);
    const copy = Math.min(...copies);
    expect(sweep, `the sweeps took ${sweeps.join(', ')} µs, the copies ${copies.join(', ')} µs`).toBeLessThan(10 * copy);
  }, 120_000);
});
