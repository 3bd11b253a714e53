/**
 * The lease keeper thread on a real Redis: the event loop blocked 2.5 s with a 1 s lease and
 * another process sweeping, a held delivery keeps its lease and one past its hard-limit
 * deadline is taken back (brokers/redis/lease-keeper.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sleep } from 'celeriac/testing';
import type { Delivery } from '../../../src/core/spi/broker.js';
import { makeMessage } from '../../../src/testing/broker-harness.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { newPrefix } from './redis-test-env.js';
import { quietClient, shouldRunRedisTests, usePrivateRedis } from '../../support/redis.js';
import { libraryLoaderArgs, libraryModuleUrl } from '../../support/node-script.js';
import { heldBy } from '../../../src/brokers/redis/lease-renewal.js';
import { HELD_BY_SCRIPT } from '../../../src/brokers/redis/lease-scripts.js';

/** [k1, v1, k2, v2, ...] as pairs. */
function chunkPairs(flat: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] as string, flat[i + 1] as string]);
  return pairs;
}

// On a redis-server of its own: one test MONITORs it, which would slow every other test's Redis.
describe.runIf(await shouldRunRedisTests('the lease keeper thread'))('the lease keeper thread, on Redis', () => {
  const prefix = newPrefix();
  const { server, admin: raw } = usePrivateRedis();
  const prefixedUrl = (p: string) => `${server().url}?global_keyprefix=${encodeURIComponent(p)}`;
  // quietPollIntervalMs too: a blocked fetch may run a quiet poll after it left (fetchSettleMs).
  const fast = { pollIntervalMs: 20, quietPollIntervalMs: 20, recoverAfterSec: 1, leaseRenewMs: 200, sweepIntervalMs: 200 };

  /** Blocks this thread's event loop, as a CPU-bound task in the async pool does. */
  const block = (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      // busy
    }
  };

  /** Another process whose broker sweeps expired leases every 100 ms (a second worker). */
  function spawnSweeper(): Promise<() => void> {
    const brokerModule = libraryModuleUrl('brokers/redis/redis-broker.ts');
    const code = `
      const { RedisBroker } = await import(${JSON.stringify(brokerModule)});
      const broker = new RedisBroker(${JSON.stringify(prefixedUrl(prefix))}, { recoverAfterSec: 1, leaseRenewMs: 200, sweepIntervalMs: 100 });
      broker.consume({ queues: ['sweeper-idle'], prefetch: 1, onDelivery: () => undefined });
      console.log('READY');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return new Promise((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('READY')) resolve(() => child.kill('SIGKILL'));
      });
      child.on('exit', (c) => reject(new Error(`sweeper exited (${String(c)})`)));
    });
  }

  it('renews while the event loop is blocked; a delivery past its hard-limit deadline is left to be taken back', async () => {
    const stopSweeper = await spawnSweeper();
    const broker = new RedisBroker(prefixedUrl(prefix), fast);
    const queue = `keep-${randomUUID().slice(0, 6)}`;
    await broker.publish(makeMessage('free'), { exchange: '', routingKey: queue });
    await broker.publish(makeMessage('limited'), { exchange: '', routingKey: queue });
    const got: Delivery[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 2, onDelivery: (d) => got.push(d) });
    try {
      await waitFor(() => got.length === 2 && broker.leaseRenewer === 'thread', 'two deliveries and a running keeper', 10_000);
      const [free, limited] = got as [Delivery, Delivery];
      limited.limitLease?.(Date.now() + 300);
      // A renewal by the loop hands the keeper the deadline (its liveness tick).
      const expiry = async (tag: string) => (await raw().zScore(`${prefix}celeriac.leases`, tag)) ?? 0;
      const before = await expiry(limited.tag);
      await waitFor(async () => (await expiry(limited.tag)) > before, 'a renewal after the deadline was set', 5000);
      // 2.5 s with a 1 s lease and the other process sweeping every 100 ms.
      block(2500);
      // The free delivery was renewed all along and is still ours; the limited one was swept back.
      await free.ack();
      await expect(limited.ack()).rejects.toMatchObject({ code: 'CELERIAC_ERR_LEASE_LOST' });
    } finally {
      stopSweeper();
      await consumer.close();
      await broker.close();
    }
  }, 30_000);

  it('keeps a delivery no feed told it of: the loop blocks inside the handler of the fetch that brought it, and the fleet\'s leases are read for it once or twice, not every period', async () => {
    const stopSweeper = await spawnSweeper();
    // Every scan of the lease data while the loop is blocked is a held-by.lua look (the
    // sweeper's scripts do not scan it): 2.5 s at a 200 ms period were eleven looks before.
    const leaseData = `"HSCAN" "${prefix}celeriac.lease.data"`;
    let looks = 0;
    let blockedAt = Number.POSITIVE_INFINITY;
    let blockEnd = Number.POSITIVE_INFINITY;
    // The monitor's lines of the block are read once the loop turns again: a command sent
    // after the block, once seen, says they all were.
    const marker = `${prefix}after-the-look-block`;
    let seenMarker = false;
    const monitor = await quietClient(server().url);
    await monitor.monitor((line: string) => {
      const at = Number.parseFloat(line) * 1000;
      if (line.includes(leaseData) && at >= blockedAt && at <= blockEnd) looks++;
      if (line.includes(marker)) seenMarker = true;
    });
    const broker = new RedisBroker(prefixedUrl(prefix), fast);
    const queue = `fresh-${randomUUID().slice(0, 6)}`;
    const got: Delivery[] = [];
    let blocked = false;
    const consumer = broker.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: (d) => {
        got.push(d);
        // Before any feed could carry it: the keeper must find it in Redis (held-by.lua).
        blocked = true;
        blockedAt = Date.now();
        block(2500);
        blockEnd = Date.now();
      },
    });
    try {
      await waitFor(() => broker.leaseRenewer === 'thread', 'a running keeper', 10_000);
      await broker.publish(makeMessage('fresh'), { exchange: '', routingKey: queue });
      await waitFor(() => blocked, 'the delivery', 10_000);
      await (got[0] as Delivery).ack();
      await raw().get(marker);
      await waitFor(() => seenMarker, 'the monitor to catch up', 10_000);
      // Fed every 200 ms, a fetch run within 320 ms of leaving (lease-keeper.ts fetchSettleMs):
      // a look begun 520 ms after the last feed is the last one due, the third at most.
      expect(looks).toBeGreaterThanOrEqual(1);
      expect(looks).toBeLessThanOrEqual(4);
    } finally {
      monitor.destroy();
      stopSweeper();
      await consumer.close();
      await broker.close();
    }
  }, 30_000);

  it('renews a blocked worker\'s presence even when its look in Redis fails', async () => {
    // The lease data made unreadable while the loop is blocked: held-by.lua (and the lease
    // renewals) fail. The presence must still be renewed, or the others would report this
    // worker's early-acked tasks lost; it was renewed only after a look that went through.
    const leaseDataKey = `${prefix}celeriac.lease.data`;
    const presenceRenewal = `"ZADD" "${prefix}celeriac.promoters" "XX"`;
    let renewals = 0;
    let blockedAt = Number.POSITIVE_INFINITY;
    let blockEnd = Number.POSITIVE_INFINITY;
    const monitor = await quietClient(server().url);
    await monitor.monitor((line: string) => {
      const at = Number.parseFloat(line) * 1000;
      if (line.includes(presenceRenewal) && at >= blockedAt && at <= blockEnd) renewals++;
      if (line.includes(marker)) seenMarker = true;
    });
    // The monitor's lines of the block are read once the loop turns again: a command sent
    // after the block, once seen, says they all were.
    const marker = `${prefix}after-the-block`;
    let seenMarker = false;
    const broker = new RedisBroker(prefixedUrl(prefix), fast);
    const queue = `unreadable-${randomUUID().slice(0, 6)}`;
    const cli = (...args: string[]) => execFileSync('redis-cli', ['-u', server().url, ...args], { encoding: 'utf8' });
    let blocked = false;
    const consumer = broker.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: () => {
        // Synchronous: the loop stays blocked from here to the handler's end.
        cli('RENAME', leaseDataKey, `${leaseDataKey}.aside`);
        cli('SET', leaseDataKey, 'not a hash');
        blocked = true;
        blockedAt = Date.now();
        block(1500);
        blockEnd = Date.now();
        cli('DEL', leaseDataKey);
        cli('RENAME', `${leaseDataKey}.aside`, leaseDataKey);
      },
    });
    try {
      await waitFor(() => broker.leaseRenewer === 'thread', 'a running keeper', 10_000);
      await broker.publish(makeMessage('unreadable'), { exchange: '', routingKey: queue });
      await waitFor(() => blocked && blockEnd !== Number.POSITIVE_INFINITY, 'the block to end', 10_000);
      await raw().get(marker);
      await waitFor(() => seenMarker, 'the monitor to catch up', 10_000);
      // Fed every 200 ms: the thread steps in 300 ms after the last feed and every 200 ms after.
      expect(renewals).toBeGreaterThanOrEqual(3);
    } finally {
      monitor.destroy();
      await consumer.close();
      await broker.close();
    }
  }, 30_000);

  it('serves a loop that blocks before the thread runs: its deliveries are kept, each only until a deadline given meanwhile', async () => {
    // In a process of its own, so the thread boots when the consumer starts (none lingers from
    // another test), and the loop blocks on the first fetch's deliveries, before it runs: a
    // broker used directly consumes at once (a Worker waits for the thread, at most 2 s). Run
    // with --input-type=module, which the threads' boot code must survive.
    const stopSweeper = await spawnSweeper();
    // A 3 s lease: the thread must boot within it to keep the free one, which on a loaded
    // machine (a full CI run) took more than the 1 s of the other tests' leases; and 3.5 s
    // after it for the sweeper to take the limited one back (with 1 s it once had not, with
    // 2.5 s once in a full local run: the commands recorded below tell which side was late).
    const slowBoot = { ...fast, recoverAfterSec: 3, leaseRenewMs: 500 };
    const queue = `early-${randomUUID().slice(0, 6)}`;
    const code = `
      const { RedisBroker } = await import(${JSON.stringify(libraryModuleUrl('brokers/redis/redis-broker.ts'))});
      const { makeMessage } = await import(${JSON.stringify(libraryModuleUrl('testing/broker-harness.ts'))});
      const broker = new RedisBroker(${JSON.stringify(prefixedUrl(prefix))}, ${JSON.stringify(slowBoot)});
      for (const id of ['free', 'limited']) await broker.publish(makeMessage(id), { exchange: '', routingKey: ${JSON.stringify(queue)} });
      const got = [];
      broker.consume({ queues: [${JSON.stringify(queue)}], prefetch: 2, onDelivery: (d) => {
        got.push(d);
        // The limited one comes back once swept: the block is for the first two only.
        if (got.length !== 2) return;
        const renewer = broker.leaseRenewer;
        got[1].limitLease(Date.now() + 300);
        const end = Date.now() + 6500;
        while (Date.now() < end) {}
        const blockEnd = Date.now();
        Promise.allSettled(got.slice(0, 2).map((g) => g.ack())).then((settled) => {
          console.log(JSON.stringify({ renewer, limited: got[1].tag, blockEnd, acks: settled.map((x) => (x.status === 'fulfilled' ? 'ok' : x.reason.code)) }));
          process.exit(0);
        });
      } });`;
    // Every command Redis runs on this test's keys, with Redis's own time (MONITOR): which
    // renewals named which delivery, and when; on a failure, whether the limited one was renewed
    // past its deadline or just not swept back in time.
    const commands: { atMs: number; line: string }[] = [];
    const monitor = await quietClient(server().url);
    await monitor.monitor((line: string) => {
      if (line.includes(prefix)) commands.push({ atMs: Number.parseFloat(line) * 1000, line: line.slice(0, 400) });
    });
    try {
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], { cwd: fileURLToPath(new URL('.', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
        child.on('exit', (c) => (c === 0 ? resolve(text) : reject(new Error(`child exited (${String(c)}): ${text}`))));
      });
      const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { renewer: string; limited: string; blockEnd: number; acks: string[] };
      // The thread was not running yet when the loop blocked.
      expect(result.renewer).toBe('event-loop');
      const naming = (tag: string) => commands.filter((c) => c.line.includes(`"${tag}"`)).map((c) => `${Math.round(c.atMs - result.blockEnd)} ms from the block's end: ${c.line}`);
      // Kept through 6.5 s of a 3 s lease; the limited one let go at its deadline and swept back.
      expect(result.acks, naming(result.limited).join('\n')).toEqual(['ok', 'CELERIAC_ERR_LEASE_LOST']);
      // Never renewed past its deadline while the loop was blocked, not even once as the thread
      // took over: the one write of its lease expiry before the block ended is the fetch's (its
      // deadline was set before the block began; after it, the loop acks it, and fetches it
      // again once swept back). MONITOR shows the scripts' own commands too.
      const leaseWrites = commands.filter((c) => c.atMs < result.blockEnd && c.line.includes(`"ZADD" "${prefix}celeriac.leases"`) && c.line.includes(`"${result.limited}"`));
      expect(leaseWrites.map((c) => c.line), naming(result.limited).join('\n')).toHaveLength(1);
    } finally {
      monitor.destroy();
      stopSweeper();
    }
  }, 30_000);

  it('held-by.lua reads the fleet\'s leases a stretch per call, and the calls together find every lease of the given consumers', async () => {
    const key = `${prefix}fleet.lease.data`;
    const mine = new Map<string, string>();
    const entries: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const owner = ['wa-1:', 'wb-2:', 'wc-3:'][i % 3] as string;
      const tag = `tag-${i}`;
      const token = `${owner}${i}.0`;
      entries.push(tag, `${token} bench\x06\x163`);
      if (owner !== 'wc-3:') mine.set(tag, token);
    }
    for (let i = 0; i < entries.length; i += 1000) await raw().hSet(key, Object.fromEntries(chunkPairs(entries.slice(i, i + 1000))));
    const cursors: string[] = [];
    const found = await heldBy(
      async (args) => {
        const reply = (await raw().eval(HELD_BY_SCRIPT.source, { keys: [key], arguments: [...args] })) as string[];
        cursors.push(reply[0] as string);
        return reply;
      },
      ['wa-1:', 'wb-2:'],
      500,
    );
    await raw().del(key);
    // About 6,000 / 500 calls, each ending where the next goes on, the last at cursor 0.
    expect(cursors.length).toBeGreaterThanOrEqual(8);
    expect(cursors.at(-1)).toBe('0');
    expect(cursors.slice(0, -1)).not.toContain('0');
    expect(new Map(found.map((h) => [h.tag, h.token]))).toEqual(mine);
  });

  it('a broker with a fake clock (or leaseRenewal: event-loop) renews on the event loop', async () => {
    const fake = new RedisBroker(prefixedUrl(prefix), { ...fast, leaseRenewal: 'event-loop' });
    const consumer = fake.consume({ queues: [`idle-${randomUUID().slice(0, 6)}`], prefetch: 1, onDelivery: () => undefined });
    await sleep(50); // bounds an absence: a keeper thread, had one started, would be usable by now
    expect(fake.leaseRenewer).toBe('event-loop');
    await consumer.close();
    await fake.close();
    expect(() => new RedisBroker(prefixedUrl(prefix), { leaseRenewal: 'elsewhere' as never })).toThrow(/leaseRenewal must be 'thread' or 'event-loop'/);
  });
  // Last: it stops the server, then starts it again.
  it('with Redis down, says why a renewal failed and why the withdrawal on close failed as text, without stacks', async () => {
    const logs: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
    const broker = new RedisBroker(prefixedUrl(prefix), { ...fast, log: (_level, msg, fields) => void logs.push({ msg, fields }) });
    const queue = `report-${randomUUID().slice(0, 6)}`;
    await broker.publish(makeMessage('held'), { exchange: '', routingKey: queue });
    const got: Delivery[] = [];
    const consumer = broker.consume({ queues: [queue], prefetch: 1, onDelivery: (d) => got.push(d) });
    try {
      await waitFor(() => got.length === 1 && broker.leaseRenewer === 'thread', 'a delivery and a running keeper', 10_000);
      await server().kill();
      const report = () => logs.find((l) => l.msg.includes('lease keeper could not renew'));
      await waitFor(() => report() !== undefined, "the keeper's report of the failed renewal", 10_000);
      // It carried an Error made in the message handler, whose stack pointed there.
      expect(report()?.fields).toEqual({ reason: expect.stringMatching(/\S/) });
      // A close with Redis down cannot withdraw the broker as an ETA promoter: expected, and
      // said once, its presence left to expire (it was logged with the error's stack).
      await consumer.close();
      await broker.close();
      const withdrawal = logs.find((l) => l.msg.startsWith('withdrawing as ETA promoter failed'));
      expect(withdrawal?.fields).toEqual({ reason: expect.stringMatching(/^Redis error during withdraw: /) });
    } finally {
      await server().start();
      await consumer.close();
      await broker.close();
    }
  }, 30_000);
});
