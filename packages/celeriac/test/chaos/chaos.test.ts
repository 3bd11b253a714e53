/**
 * The chaos suite: two late-ack worker processes reach a private redis-server (append-only
 * file, fsync always) through a TCP fault proxy, while a producer keeps sending and a seeded
 * schedule of faults hits them: connections cut (FIN), reset (RST), stalled (no data, no
 * error) and slowed; a worker killed with SIGKILL mid-task and replaced; Redis killed and
 * restarted from its AOF; Redis turned read-only (a replica of nothing: READONLY) and out of
 * memory (maxmemory 1: OOM). Then every fault heals, and the invariants are checked:
 *
 * - every task the producer saw accepted ends in a final state;
 * - no task completes more often than lost acks allow, and no message runs more often than
 *   workerMaxDeliveries plus the faults that could each cost one extra run (no hot loops);
 * - every worker exits within its shutdown deadline plus the documented bound.
 *
 * The seed is printed with every failure; rerun one with CELERIAC_CHAOS_SEED=<seed>.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from 'celeriac/testing';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { createApp, type App } from '../../src/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests, redisServerOnPath } from '../support/redis.js';
import { counts, DurableRedisServer, FAST, killChildren, MARKED, metas, plainClient, spawnWorker, type ChildWorker, type ChildWorkerConfig } from '../failure/support.js';

const ready = await shouldRunRedisTests('chaos suite');
const hasRedisServer = redisServerOnPath('chaos suite');

// This suite's own ports (7350-7449 belong to the delivery tests).
const REDIS_PORT = 7360;
const PROXY_PORT = 7361;
/** A port nothing listens on: Redis made a replica of it refuses writes (READONLY). */
const NO_MASTER_PORT = 7449;

const MAX_DELIVERIES = 10;
/**
 * The workers' Redis command timeout (30 s by default): a connection stalled by a fault stays
 * dead after it heals, until a command on it times out and the connection is replaced. The
 * default made each stall cost the run half a minute of waiting; slowed connections (at most
 * 100 ms per chunk) still answer well within this.
 */
const COMMAND_TIMEOUT_MS = 3000;
const SHUTDOWN_TIMEOUT_SEC = 2;
/** Documented bound of a warm shutdown past its deadline (docs/workers.md), plus a loaded-machine margin. */
const SHUTDOWN_EXTRA_MS = 6000 + 2000;

/** mulberry32: a small seeded generator, so a failing schedule can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Fault = 'cut' | 'reset' | 'stall' | 'slow' | 'kill-worker' | 'restart-redis' | 'readonly' | 'oom';
const FAULTS: readonly Fault[] = ['cut', 'reset', 'stall', 'slow', 'kill-worker', 'restart-redis', 'readonly', 'oom'];

const shared = new URL(REDIS_URL);
shared.pathname = '/9';
const SHARED = shared.toString();

describe.runIf(ready && hasRedisServer)('chaos: faults between workers, producer and Redis', () => {
  // CI runs a fixed schedule, so the build does not depend on the draw; elsewhere each run
  // draws a new one. Seed 1852927173 (resets, two stalls, a kill -9, a cut, OOM, read-only, a
  // Redis restart followed at once by a stall) once left tasks unfinished: a client
  // reconnecting after the restart sent its handshake into the stall and stayed stuck
  // (test/failure/reconnect-into-stall.test.ts, docs/delivery-guarantees.md).
  const fixed = process.env['CELERIAC_CHAOS_SEED'] ?? (process.env['CI'] === 'true' ? '1852927173' : undefined);
  const seed = Number(fixed ?? Math.floor(Math.random() * 2 ** 31));
  const prefix = randomKeyPrefix();
  const server = new DurableRedisServer(REDIS_PORT);
  const proxy = new FaultProxy(REDIS_PORT, PROXY_PORT);
  let counters: RedisClientType | undefined;
  let producer: App | undefined;

  afterAll(async () => {
    await killChildren();
    await producer?.close().catch(() => undefined);
    await proxy.close();
    await counters?.close().catch(() => undefined);
    await server.dispose();
    await deleteKeys(prefix, SHARED);
  }, 30_000);

  it('every accepted task ends final, runs boundedly, and workers exit in time', async () => {
    const random = rng(seed);
    const log: string[] = [`seed ${seed}`];
    try {
      await server.start();
      await proxy.start();
      counters = await plainClient(SHARED);
      const queue = 'chaos';
      const viaProxy = `${proxy.redisUrl()}?global_keyprefix=${encodeURIComponent(prefix)}`;
      const direct = `${server.url}?global_keyprefix=${encodeURIComponent(prefix)}`;
      const config = (n: number): ChildWorkerConfig => ({
        brokerUrl: viaProxy,
        broker: { ...FAST, commandTimeoutMs: COMMAND_TIMEOUT_MS },
        backendUrl: proxy.redisUrl(),
        backendKeyPrefix: '',
        backend: { commandTimeoutMs: COMMAND_TIMEOUT_MS },
        counterUrl: SHARED,
        counterPrefix: prefix,
        queue,
        concurrency: 4,
        prefetchMultiplier: 2,
        acksLate: true,
        hostname: `chaos-${n}-${process.pid}@chaos`,
        settings: { workerMaxDeliveries: MAX_DELIVERIES, workerRedeliveryDelaySec: 0.1, workerShutdownTimeoutSec: SHUTDOWN_TIMEOUT_SEC },
      });
      let spawned = 0;
      const start = async (): Promise<ChildWorker> => {
        const w = spawnWorker(config(++spawned));
        await w.ready;
        return w;
      };
      const workers: ChildWorker[] = await Promise.all([start(), start()]);
      producer = createApp({ broker: direct, backend: server.url }, { env: {}, broker: new RedisBroker(direct) });

      const accepted: string[] = [];
      let serverDown = false;
      const send = async (id: string, runMs: number): Promise<void> => {
        const deadline = Date.now() + 20_000;
        for (;;) {
          try {
            await producer!.sendTask(MARKED, [id, runMs, 0], {}, { queue, taskId: id });
            accepted.push(id);
            return;
          } catch (err) {
            if (Date.now() > deadline) throw new Error(`send of ${id} kept failing (server ${serverDown ? 'down' : 'up'}): ${String(err)}`);
            await sleep(50);
          }
        }
      };

      // Faults that can each cost a message one extra run (a lost ack, a lease that lapsed).
      let faultEvents = 0;
      const admin = async (...args: string[]) => {
        const c = await plainClient(server.url);
        try {
          await c.sendCommand(args);
        } finally {
          c.destroy();
        }
      };
      const rounds = 10;
      for (let round = 0; round < rounds; round++) {
        const batch = Array.from({ length: 12 }, () => randomUUID());
        const sending = Promise.all(batch.map((id) => send(id, Math.floor(random() * 150))));
        const fault = FAULTS[Math.floor(random() * FAULTS.length)]!;
        const lastsMs = 300 + Math.floor(random() * 1200);
        log.push(`round ${round}: ${fault} for ${lastsMs} ms`);
        faultEvents += 1;
        await sleep(Math.floor(random() * 400));
        switch (fault) {
          case 'cut':
            proxy.cut();
            await sleep(lastsMs);
            proxy.heal();
            break;
          case 'reset':
            proxy.reset();
            await sleep(lastsMs);
            proxy.heal();
            break;
          case 'stall':
            proxy.stall();
            await sleep(lastsMs);
            proxy.heal();
            break;
          case 'slow':
            proxy.slow(20 + Math.floor(random() * 80));
            await sleep(lastsMs);
            proxy.heal();
            break;
          case 'kill-worker': {
            const i = Math.floor(random() * workers.length);
            await workers[i]!.kill();
            workers[i] = await start();
            break;
          }
          case 'restart-redis':
            serverDown = true;
            await server.kill();
            await sleep(lastsMs);
            await server.start();
            serverDown = false;
            break;
          case 'readonly':
            await admin('REPLICAOF', '127.0.0.1', String(NO_MASTER_PORT));
            await sleep(lastsMs);
            await admin('REPLICAOF', 'NO', 'ONE');
            break;
          case 'oom':
            await admin('CONFIG', 'SET', 'maxmemory', '1');
            await sleep(lastsMs);
            await admin('CONFIG', 'SET', 'maxmemory', '0');
            break;
        }
        await sending;
      }
      log.push(`${accepted.length} tasks accepted, ${faultEvents} faults`);

      // Everything healed: every accepted task must reach a final state.
      const priv = await plainClient(server.url);
      try {
        let pending: string[] = accepted;
        await waitFor(async () => {
          const ms = await metas(priv, pending);
          pending = pending.filter((_, i) => ms[i]?.status !== 'SUCCESS' && ms[i]?.status !== 'FAILURE');
          return pending.length === 0;
        }, () => `every accepted task to end (${pending.length} never did, e.g. ${pending.slice(0, 3).join(', ')})`, { timeoutMs: 90_000, maxIntervalMs: 200 });
        const finals = await metas(priv, accepted);
        const failures = finals.filter((m) => m?.status === 'FAILURE');
        log.push(`${accepted.length - failures.length} SUCCESS, ${failures.length} FAILURE`);
        // A FAILURE here can only be the dead letter of a message that hit the limit.
        for (const f of failures) expect(f?.result).toMatchObject({ exc_type: 'DeliveryLimitExceeded' });

        let maxAttempts = 0;
        let maxSuccess = 0;
        for (const id of accepted) {
          const c = await counts(counters, prefix, id);
          maxAttempts = Math.max(maxAttempts, c.attempts);
          maxSuccess = Math.max(maxSuccess, c.success);
          expect(c.success, `successes of ${id}`).toBeLessThanOrEqual(c.attempts);
        }
        log.push(`most runs of one message: ${maxAttempts}; most completions: ${maxSuccess}`);
        // No hot loop: runs per message bounded by the delivery limit plus one per fault.
        expect(maxAttempts).toBeLessThanOrEqual(MAX_DELIVERIES + faultEvents);
        // Completions beyond the first need a lost ack: at most one per fault.
        expect(maxSuccess).toBeLessThanOrEqual(1 + faultEvents);
      } finally {
        priv.destroy();
      }

      // Warm shutdown of each worker, in time (both at once, as a fleet is stopped).
      const tookMs = await Promise.all(
        workers.map(async (w) => {
          const t0 = Date.now();
          const exited = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
          w.child.kill('SIGTERM');
          await exited;
          return Date.now() - t0;
        }),
      );
      for (const ms of tookMs) {
        log.push(`worker exit after SIGTERM: ${ms} ms`);
        expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_SEC * 1000 + SHUTDOWN_EXTRA_MS);
      }
      console.log(`chaos: ${log.join('; ')}`);
    } catch (err) {
      throw new Error(`chaos run failed (replay with CELERIAC_CHAOS_SEED=${seed})\n${log.join('\n')}\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }, 180_000);
});
