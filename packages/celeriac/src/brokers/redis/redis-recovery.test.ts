import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../core/spi/broker.js';
import { markRedelivered } from '../../protocol/envelope.js';
import { makeMessage, sleep } from '../../testing/broker-harness.js';
import { RedisBroker } from './redis-broker.js';
import { newPrefix, prefixedUrl, redisAvailable, useRawRedis } from './redis-test-env.js';

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

async function waitFor(check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(10);
  }
}

/** A child node process that consumes `queue`, prints the tag it got, and then hangs. */
function spawnHolder(queue: string): { tag: Promise<string>; kill: () => void } {
  const brokerModule = new URL('./redis-broker.ts', import.meta.url).href;
  const code = `
    const { RedisBroker } = await import(${JSON.stringify(brokerModule)});
    const broker = new RedisBroker(${JSON.stringify(url)}, { recoverAfterSec: 1, leaseRenewMs: 200 });
    broker.consume({ queues: [${JSON.stringify(queue)}], prefetch: 1, onDelivery: (d) => console.log('TAG ' + d.tag) });
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
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

  it('restores a delivery whose holder was SIGKILLed, after recoverAfterSec, and delivers it again', async () => {
    const queue = `crash-${randomUUID().slice(0, 6)}`;
    const producer = new RedisBroker(url);
    await producer.publish(makeMessage('crash'), { exchange: '', routingKey: queue });
    const holder = spawnHolder(queue);
    const tag = await holder.tag;
    holder.kill();
    expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(1);
    expect(await raw().lLen(`${prefix}${queue}`)).toBe(0);
    const killedAt = Date.now();
    const rescuer = new RedisBroker(url, fast);
    const { got, close } = collect(rescuer, queue);
    await waitFor(() => got.length === 1, 4000);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(700);
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
    // What kombu writes when a Python worker fetches it.
    await raw().hSet(`${prefix}unacked`, tag, `[${withTag}, "", "${queue}"]`);
    await raw().zAdd(`${prefix}unacked_index`, { score: Date.now() / 1000, value: tag });
    const broker = new RedisBroker(url, { ...fast, visibilityTimeoutSec: 3 });
    const { got, close } = collect(broker, queue);
    await sleep(1800);
    expect(got).toHaveLength(0);
    expect(await raw().hExists(`${prefix}unacked`, tag)).toBe(1);
    await waitFor(() => got.length === 1, 3000);
    expect(got[0]?.tag).toBe(tag);
    expect(got[0]?.raw).toBe(markRedelivered(withTag));
    expect(got[0]?.redelivered).toBe(true);
    await got[0]?.ack();
    await close();
    await Promise.all([broker.close(), producer.close()]);
  }, 15_000);

  it('renews the lease of a long-held delivery so no other consumer gets it', async () => {
    const queue = `long-${randomUUID().slice(0, 6)}`;
    const holder = new RedisBroker(url, fast);
    const other = new RedisBroker(url, fast);
    await holder.publish(makeMessage('long'), { exchange: '', routingKey: queue });
    const mine = collect(holder, queue);
    await waitFor(() => mine.got.length === 1, 2000);
    const theirs = collect(other, queue);
    await sleep(2500);
    expect(theirs.got).toHaveLength(0);
    await mine.got[0]?.ack();
    expect(await raw().hLen(`${prefix}unacked`)).toBe(0);
    await Promise.all([mine.close(), theirs.close()]);
    await Promise.all([holder.close(), other.close()]);
  }, 15_000);

  it('a holder whose lease was taken back cannot ack the copy delivered again', async () => {
    const queue = `lost-${randomUUID().slice(0, 6)}`;
    const stalled = new RedisBroker(url, { ...fast, leaseRenewMs: 5000, recoverAfterSec: 10 });
    await stalled.publish(makeMessage('lost'), { exchange: '', routingKey: queue });
    const first = collect(stalled, queue);
    await waitFor(() => first.got.length === 1, 2000);
    await first.close();
    // Simulate a frozen holder: its last renewal 11 s ago, so its 10 s lease expired 1 s ago
    // (both scores move together, as fetch and renew-lease write them).
    const tag = first.got[0]?.tag as string;
    await raw().zAdd(`${prefix}celeriac.leases`, { score: Date.now() - 1000, value: tag });
    await raw().zAdd(`${prefix}unacked_index`, { score: (Date.now() - 11_000) / 1000, value: tag });
    const rescuer = new RedisBroker(url, fast);
    const second = collect(rescuer, queue);
    await waitFor(() => second.got.length === 1, 3000);
    await expect(first.got[0]?.ack()).rejects.toMatchObject({ code: 'CELERIAC_ERR_STATE' });
    expect(await raw().hExists(`${prefix}unacked`, second.got[0]?.tag as string)).toBe(1);
    await second.got[0]?.ack();
    await second.close();
    await Promise.all([stalled.close(), rescuer.close()]);
  }, 15_000);
});
