/**
 * Redis Sentinel as production runs it, on private servers for one test file: a master and
 * two replicas (AOF on, fsync always, each in a directory of its own) watched by three
 * sentinels (quorum 2). `url(db)` is kombu's form, one `sentinel://` per sentinel, with no
 * master name: it goes in the transport options (`masterName`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../src/testing/wait-for.js';
import { freePort, RedisServerProcess, SentinelProcess } from './redis.js';

/** A running master + 2 replicas + 3 sentinels. */
export class SentinelCluster {
  readonly servers: RedisServerProcess[] = [];
  readonly sentinels: SentinelProcess[] = [];
  readonly #dirs: string[] = [];

  private constructor(readonly masterName: string) {}

  /** Starts the servers and sentinels and waits until every sentinel sees both replicas and the other two sentinels. */
  static async start(masterName: string): Promise<SentinelCluster> {
    const cluster = new SentinelCluster(masterName);
    try {
      const master = await cluster.#server();
      await cluster.#server(['--replicaof', '127.0.0.1', String(master.port)]);
      await cluster.#server(['--replicaof', '127.0.0.1', String(master.port)]);
      for (let i = 0; i < 3; i += 1) {
        const s = new SentinelProcess(await freePort(), masterName, master.port, 2);
        cluster.sentinels.push(s);
        await s.start();
      }
      // Each sentinel learns the replicas from the master's INFO and the other sentinels from hello messages.
      await waitFor(async () => {
        for (const s of cluster.sentinels) {
          const replicas = (await s.command(['SENTINEL', 'REPLICAS', masterName])) as unknown[];
          const peers = (await s.command(['SENTINEL', 'SENTINELS', masterName])) as unknown[];
          if (replicas.length !== 2 || peers.length !== 2) return false;
        }
        return true;
      }, 'the sentinels to see both replicas and each other', 30_000);
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

  /** A redis-server with AOF (fsync always) in a directory of its own. */
  async #server(extra: string[] = []): Promise<RedisServerProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-sentinel-node-'));
    this.#dirs.push(dir);
    const s = new RedisServerProcess(await freePort(), ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', ...extra]);
    this.servers.push(s);
    await s.start();
    return s;
  }
}
