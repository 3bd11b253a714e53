/**
 * Acks that fail while Redis is unreachable are retried after the reconnect, with their lease
 * token, so a late-ack task that finished during the outage does not run again. Before, a
 * failed ack was only logged: the message stayed held, its lease lapsed, and the sweep gave
 * it back (10 of 2,000 late-ack tasks completed twice about 60 s later).
 *
 * Two outages: (1) the path to Redis stalls (a fault proxy drops every byte while keeping the
 * connections open), so acks sent into it never arrive and fail by the reply watchdog: the
 * case that lost acks; (2) a private redis-server (AOF, fsync always) on a port of its own is
 * SIGKILLed and restarted. Results and run counters live on the shared Redis, so only the
 * acks meet the outage. The worker is in-process, with 1 s command and offline timeouts so an
 * ack fails fast, and a 20 s lease, longer than the outage.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { createApp } from '../../src/index.js';
import { deleteKeys, deleteResults, randomKeyPrefix, REDIS_URL, shouldRunRedisTests, redisServerOnPath } from '../support/redis.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { waitFor } from 'celeriac/testing';
import { counts, DurableRedisServer, killChildren, MARKED, metas, plainClient, startLocalWorker, workerConfigs, type LocalWorker } from './support.js';

const ready = await shouldRunRedisTests('failure: acks during a Redis outage');
const hasRedisServer = redisServerOnPath('failure: acks during a Redis outage');
const base = new URL(REDIS_URL);
base.pathname = '/9';
const SHARED = base.toString();
const prefix = randomKeyPrefix();
/** A port of this test's own (7450-7489: clear of the chaos suite's 7350-7449). */
const PORT = 7450 + (process.pid % 40);
const N = 4;

describe.runIf(ready && hasRedisServer)('failure: acks during a Redis outage', () => {
  const server = new DurableRedisServer(PORT);
  const ids: string[] = [];
  let shared: RedisClientType | undefined;
  let local: LocalWorker | undefined;

  const proxy = new FaultProxy(Number(new URL(REDIS_URL).port || 6379));

  afterAll(async () => {
    await local?.stop().catch(() => undefined);
    await proxy.close();
    await killChildren();
    await server.dispose();
    await shared?.close();
    await deleteKeys(prefix, SHARED);
    await deleteResults(ids, SHARED);
  }, 30_000);

  /** Sends N `failure.marked` tasks (1.5 s on their first run) through `brokerUrl`; returns their ids. */
  async function sendSome(brokerUrl: string, queue: string): Promise<string[]> {
    const producer = createApp({ broker: brokerUrl, backend: SHARED }, { env: {}, broker: new RedisBroker(brokerUrl) });
    const sent: string[] = [];
    for (let i = 0; i < N; i++) {
      const id = randomUUID();
      sent.push(id);
      ids.push(id);
      await producer.sendTask(MARKED, [id, 1500], {}, { queue, taskId: id });
    }
    await producer.close();
    return sent;
  }

  const failedAcks = (warnings: readonly string[]) => warnings.filter((w) => /^ack failed; retrying until Redis answers \[tag (?!none\])\S+\]$/.test(w)).length;

  it('acks sent into a stalled connection are sent again once Redis answers; no task runs twice', async () => {
    await proxy.start();
    shared = await plainClient(SHARED);
    const brokerUrl = `${proxy.redisUrl(Number(base.pathname.slice(1)))}?global_keyprefix=${encodeURIComponent(prefix)}`;
    const warnings: string[] = [];
    const options = { recoverAfterSec: 20, leaseRenewMs: 500, sweepIntervalMs: 500, pollIntervalMs: 20, commandTimeoutMs: 1000, connectTimeoutMs: 1000, log: (_level: string, m: string, fields?: { tag?: string }) => void warnings.push(`${m} [tag ${fields?.tag ?? 'none'}]`) };
    const config = workerConfigs(SHARED, prefix, options)('stalled', `ack-stall-${process.pid}@failure`, { concurrency: N, brokerUrl });
    local = await startLocalWorker(config, shared);
    const sent = await sendSome(brokerUrl, 'stalled');
    await waitFor(async () => (await Promise.all(sent.map((id) => counts(shared!, prefix, id)))).every((c) => c.attempts === 1), 'every task to start', 15_000);

    proxy.stall();
    await waitFor(async () => (await metas(shared!, sent)).every((m) => m?.status === 'SUCCESS'), 'every result stored (on the shared Redis)', 15_000);
    await waitFor(() => failedAcks(warnings) >= N, 'every ack to fail once', 15_000);
    proxy.heal();

    await waitFor(async () => (await shared!.hLen(`${prefix}unacked`)) === 0, 'every ack to go through', 15_000);
    expect(await shared.zCard(`${prefix}celeriac.leases`)).toBe(0);
    expect(await shared.lLen(`${prefix}stalled`)).toBe(0);
    for (const id of sent) expect(await counts(shared, prefix, id)).toEqual({ attempts: 1, success: 1 });
    await local.stop();
    local = undefined;
  }, 90_000);

  it('a late-ack task that finished during the outage is acked after the restart and runs once', async () => {
    await server.start();
    shared ??= await plainClient(SHARED);
    const brokerUrl = `${server.url}?global_keyprefix=${encodeURIComponent(prefix)}`;
    const warnings: string[] = [];
    const options = { recoverAfterSec: 20, leaseRenewMs: 500, sweepIntervalMs: 500, pollIntervalMs: 20, connectTimeoutMs: 1000, log: (_level: string, m: string, fields?: { tag?: string }) => void warnings.push(`${m} [tag ${fields?.tag ?? 'none'}]`) };
    const config = workerConfigs(SHARED, prefix, options)('outage', `ack-outage-${process.pid}@failure`, { concurrency: N, brokerUrl });
    local = await startLocalWorker(config, shared);

    const sent = await sendSome(brokerUrl, 'outage');
    await waitFor(async () => (await Promise.all(sent.map((id) => counts(shared!, prefix, id)))).every((c) => c.attempts === 1), 'every task to start', 15_000);

    await server.kill();
    await waitFor(async () => (await metas(shared!, sent)).every((m) => m?.status === 'SUCCESS'), 'every result stored (on the shared Redis)', 15_000);
    await waitFor(() => failedAcks(warnings) >= N, 'every ack to fail once', 15_000);

    await server.start();
    const priv = await plainClient(server.url);
    try {
      await waitFor(async () => (await priv.hLen(`${prefix}unacked`)) === 0, 'every ack to go through', 15_000);
      // Nothing is held, queued or delayed: no way for a task to run again.
      expect(await priv.zCard(`${prefix}celeriac.leases`)).toBe(0);
      expect(await priv.lLen(`${prefix}outage`)).toBe(0);
      expect(await priv.zCard(`${prefix}celeriac.delayed`)).toBe(0);
    } finally {
      await priv.close();
    }
    for (const id of sent) expect(await counts(shared, prefix, id)).toEqual({ attempts: 1, success: 1 });
  }, 90_000);
});
