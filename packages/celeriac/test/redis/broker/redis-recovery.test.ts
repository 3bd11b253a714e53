import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/core/spi/broker.js';
import { markRedelivered } from '../../../src/protocol/envelope.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { BrokerKeys } from '../../../src/redis/keys.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { Transitions } from '../../../src/brokers/redis/transitions.js';
import { newPrefix, prefixedUrl, redisAvailable, useRawRedis } from './redis-test-env.js';
import { libraryLoaderArgs, libraryModuleUrl } from '../../support/node-script.js';

const available = await redisAvailable();
const prefix = newPrefix();
const url = prefixedUrl(prefix);
const fast = { pollIntervalMs: 20, recoverAfterSec: 1, leaseRenewMs: 200, sweepIntervalMs: 200 };

/** Consumes `queue` into an array. */
function collect(broker: RedisBroker, queue: string): { got: Delivery[]; close: () => Promise<void> } {
  const got: Delivery[] = [];
  const consumer = broker.consume({ queues: [queue], prefetch: 0, onDelivery: (d) => got.push(d) });
  return { got, close: () => consumer.close() };
}

/**
 * A child node process that consumes `queue`, prints the tag it got, and then hangs. Its lease
 * is long (60 s): the tests read the expiry from Redis and sweep on a clock past it, so its
 * length does not matter, and with 1 s a holder starved of CPU (load 20) missed its renewals
 * and its own sweep gave the delivery back before the test killed it.
 */
function spawnHolder(queue: string): { tag: Promise<string>; kill: () => void } {
  const brokerModule = libraryModuleUrl('brokers/redis/redis-broker.ts');
  const code = `
    const { RedisBroker } = await import(${JSON.stringify(brokerModule)});
    const broker = new RedisBroker(${JSON.stringify(url)}, { recoverAfterSec: 60, leaseRenewMs: 1000 });
    broker.consume({ queues: [${JSON.stringify(queue)}], prefetch: 1, onDelivery: (d) => console.log('TAG ' + d.tag) });
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tag = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /TAG (\S+)/.exec(out);
      if (m) resolve(m[1] as string);
    });
    child.on('exit', (code) => reject(new Error(`holder exited (${String(code)}) before a delivery`)));
  });
  return { tag, kill: () => child.kill('SIGKILL') };
}

describe.skipIf(!available)('RedisBroker: crash recovery and leases', () => {
  const raw = useRawRedis(prefix);
  /** One run of the recovery sweep at `nowMs`, as a broker's sweep duty runs it. */
  const sweep = (nowMs: number, visibilityMs = 3_600_000) =>
    new Transitions((fn) => fn(raw() as never), new BrokerKeys(prefix)).restoreStale(nowMs, visibilityMs, randomUUID(), 100);

  it('restores a delivery whose holder was SIGKILLed once its lease expired, and delivers it again', async () => {
    const queue = `crash-${randomUUID().slice(0, 6)}`;
    const producer = new RedisBroker(url);
    await producer.publish(makeMessage('crash'), { exchange: '', routingKey: queue });
    const holder = spawnHolder(queue);
    const tag = await holder.tag;
    holder.kill();
    expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(1);
    expect(await raw().lLen(`${prefix}${queue}`)).toBe(0);
    // Time is the lease's, not the machine's: a sweep just before the expiry leaves it held,
    // one just after restores it (restore-stale.lua, as the rescuer's sweep runs it).
    const expiry = (await raw().zScore(`${prefix}celeriac.leases`, tag)) as number;
    expect(await sweep(expiry - 1)).toEqual({ ours: 0, theirs: 0 });
    expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(1);
    // A rescuer whose clock is past the expiry restores it at its first sweep and gets it.
    const clock = new FakeClock(expiry + 1);
    const rescuer = new RedisBroker(url, { ...fast, clock });
    const { got, close } = collect(rescuer, queue);
    clock.advance(0);
    await waitFor(() => got.length === 1, 'the restored delivery');
    expect(got[0]?.tag).toBe(tag);
    await got[0]?.ack();
    await close();
    await Promise.all([rescuer.close(), producer.close()]);
  }, 15_000);

  it('leaves a Python-held tag alone until the visibility timeout, then restores it', async () => {
    const queue = `py-${randomUUID().slice(0, 6)}`;
    const tag = randomUUID();
    const producer = new RedisBroker(url);
    await producer.publish(makeMessage('py-held'), { exchange: '', routingKey: queue, priority: 7 });
    const envelope = (await raw().rPop(`${prefix}${queue}\x06\x166`)) as string;
    const withTag = envelope.replace(/"delivery_tag": "[^"]*"/, `"delivery_tag": "${tag}"`);
    // What kombu writes when a Python worker fetches it (whole seconds here, to compare exactly).
    const takenAt = Math.floor(Date.now() / 1000) * 1000;
    await raw().hSet(`${prefix}unacked`, tag, `[${withTag}, "", "${queue}"]`);
    await raw().zAdd(`${prefix}unacked_index`, { score: takenAt / 1000, value: tag });
    // Not ours, so no lease: only the visibility timeout (3 s here) makes it stale.
    expect(await sweep(takenAt + 2_999, 3_000)).toEqual({ ours: 0, theirs: 0 });
    expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(1);
    const clock = new FakeClock(takenAt + 3_001);
    const broker = new RedisBroker(url, { ...fast, clock, visibilityTimeoutSec: 3 });
    const { got, close } = collect(broker, queue);
    clock.advance(0);
    await waitFor(() => got.length === 1, 'the restored delivery');
    expect(got[0]?.tag).toBe(tag);
    expect(got[0]?.raw).toBe(markRedelivered(withTag));
    expect(got[0]?.redelivered).toBe(true);
    await got[0]?.ack();
    await close();
    await Promise.all([broker.close(), producer.close()]);
  }, 15_000);

  it('renews the lease of a long-held delivery, so a sweep past its first expiry leaves it alone', async () => {
    const queue = `long-${randomUUID().slice(0, 6)}`;
    const clock = new FakeClock(Date.now());
    const holder = new RedisBroker(url, { ...fast, clock });
    await holder.publish(makeMessage('long'), { exchange: '', routingKey: queue });
    const mine = collect(holder, queue);
    await waitFor(() => mine.got.length === 1, 'the delivery');
    const tag = mine.got[0]?.tag as string;
    const lease = () => raw().zScore(`${prefix}celeriac.leases`, tag);
    const first = (await lease()) as number;
    expect(first).toBe(clock.now() + fast.recoverAfterSec * 1000);
    // 800 ms later on the holder's clock, its renewal moves the lease to now + recoverAfterSec.
    clock.advance(800);
    await waitFor(async () => (await lease()) === clock.now() + fast.recoverAfterSec * 1000, 'the renewed lease');
    // Past the first expiry, before the renewed one: a sweep leaves it held.
    expect(await sweep(first + 500)).toEqual({ ours: 0, theirs: 0 });
    expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(1);
    await mine.got[0]?.ack();
    expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(0);
    await mine.close();
    await holder.close();
  }, 15_000);

  it('a holder whose lease was taken back cannot ack the copy delivered again', async () => {
    const queue = `lost-${randomUUID().slice(0, 6)}`;
    const stalled = new RedisBroker(url, { ...fast, leaseRenewMs: 5000, recoverAfterSec: 10 });
    await stalled.publish(makeMessage('lost'), { exchange: '', routingKey: queue });
    const first = collect(stalled, queue);
    await waitFor(() => first.got.length === 1, 'the first delivery');
    await first.close();
    // Simulate a frozen holder: its last renewal 11 s ago, so its 10 s lease expired 1 s ago
    // (both scores move together, as fetch and renew-lease write them).
    const tag = first.got[0]?.tag as string;
    await raw().zAdd(`${prefix}celeriac.leases`, { score: Date.now() - 1000, value: tag });
    await raw().zAdd(`${prefix}unacked_index`, { score: (Date.now() - 11_000) / 1000, value: tag });
    const rescuer = new RedisBroker(url, fast);
    const second = collect(rescuer, queue);
    await waitFor(() => second.got.length === 1, 'the second delivery');
    await expect(first.got[0]?.ack()).rejects.toMatchObject({ code: 'CELERIAC_ERR_LEASE_LOST' });
    expect(await raw().hExists(`${prefix}unacked`, second.got[0]?.tag as string)).toBe(1);
    await second.got[0]?.ack();
    await second.close();
    await Promise.all([stalled.close(), rescuer.close()]);
  }, 15_000);
});
