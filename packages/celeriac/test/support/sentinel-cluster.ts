/**
 * Redis Sentinel on private servers for one test file. By default as production runs it: a
 * master and two replicas (AOF on, fsync always, each in a directory of its own) watched by
 * three sentinels (quorum 2); `{ replicas: 1, sentinels: 1, durable: false }` is the small
 * one (a master, a replica, one sentinel) of the suites that only need a failover to happen.
 * `url(db)` is kombu's form, one `sentinel://` per sentinel, with no master name: it goes in
 * the transport options (`masterName`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../src/testing/wait-for.js';
import { freePort, RedisServerProcess, SentinelProcess } from './redis.js';

/** How many of each a {@link SentinelCluster} runs. */
export interface SentinelClusterShape {
  /** @default 2 */
  readonly replicas?: number;
  /** @default 3 */
  readonly sentinels?: number;
  /** AOF with fsync always on every server. @default true */
  readonly durable?: boolean;
  /** The sentinels' `down-after-milliseconds`. @default {@link DOWN_AFTER_MS} */
  readonly downAfterMs?: number;
  /** The sentinels' own `requirepass`. @default none */
  readonly sentinelPassword?: string;
}

/** The sentinels' `down-after-milliseconds` (see start()). */
export const DOWN_AFTER_MS = 3000;

/** A running master, its replicas and sentinels. */
export class SentinelCluster {
  readonly servers: RedisServerProcess[] = [];
  readonly sentinels: SentinelProcess[] = [];
  readonly #dirs: string[] = [];

  private constructor(readonly masterName: string) {}

  /**
   * Starts the servers and sentinels (a majority of them the quorum) and waits until every
   * sentinel sees every replica and every other sentinel.
   */
  static async start(masterName: string, shape: SentinelClusterShape = {}): Promise<SentinelCluster> {
    const { replicas = 2, sentinels = 3, durable = true, downAfterMs = DOWN_AFTER_MS, sentinelPassword } = shape;
    const cluster = new SentinelCluster(masterName);
    try {
      const master = await cluster.#server(durable);
      for (let i = 0; i < replicas; i += 1) await cluster.#server(durable, ['--replicaof', '127.0.0.1', String(master.port)]);
      for (let i = 0; i < sentinels; i += 1) {
        // 3 s, not 1: with 1 s, a promoted replica that stalled a second under a loaded CI run
        // (AOF, fsync always) was failed over in turn, and the sends it had acknowledged were
        // lost as it resynced from the next master (bench/results/2026-11-26-vm-session14.md).
        const s = new SentinelProcess(await freePort(), masterName, master.port, Math.floor(sentinels / 2) + 1, downAfterMs, sentinelPassword);
        cluster.sentinels.push(s);
        await s.start();
      }
      // Each sentinel learns the replicas from the master's INFO (every 10 s at first) and the other sentinels from hello messages.
      await waitFor(async () => {
        for (const s of cluster.sentinels) {
          const seen = (await s.command(['SENTINEL', 'REPLICAS', masterName])) as unknown[];
          const peers = (await s.command(['SENTINEL', 'SENTINELS', masterName])) as unknown[];
          if (seen.length !== replicas || peers.length !== sentinels - 1) return false;
        }
        return true;
      }, 'the sentinels to see every replica and each other', 30_000);
      return cluster;
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
  }

  /** The first master (the one {@link killMaster} kills). */
  get master(): RedisServerProcess {
    return this.servers[0] as RedisServerProcess;
  }

  /** The first replica. */
  get replica(): RedisServerProcess {
    return this.servers[1] as RedisServerProcess;
  }

  /** The first sentinel. */
  get sentinel(): SentinelProcess {
    return this.sentinels[0] as SentinelProcess;
  }

  /** kombu's URL of database `db`: `sentinel://127.0.0.1:<p1>;...;sentinel://127.0.0.1:<p3>/<db>`. */
  url(db: number): string {
    return `${this.sentinels.map((s) => `sentinel://127.0.0.1:${s.port}`).join(';')}/${db}`;
  }

  /** kill -9 of the master; resolves with the time the sentinels named another one (ms since the epoch). */
  async killMaster(): Promise<number> {
    const port = this.master.port;
    await this.master.kill();
    await waitFor(async () => (await (this.sentinels[0] as SentinelProcess).masterPortNow()) !== port, 'a replica promoted', 30_000);
    return Date.now();
  }

  /** Stops every process and removes the data directories. */
  async dispose(): Promise<void> {
    for (const s of this.sentinels) await s.dispose();
    for (const s of this.servers) await s.kill();
    for (const d of this.#dirs) rmSync(d, { recursive: true, force: true });
  }

  /** A redis-server; `durable`: with AOF (fsync always) in a directory of its own. */
  async #server(durable: boolean, extra: string[] = []): Promise<RedisServerProcess> {
    let persistence: string[] = [];
    if (durable) {
      const dir = mkdtempSync(join(tmpdir(), 'celeriac-sentinel-node-'));
      this.#dirs.push(dir);
      persistence = ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'];
    }
    const s = new RedisServerProcess(await freePort(), [...persistence, ...extra]);
    this.servers.push(s);
    await s.start();
    return s;
  }
}
