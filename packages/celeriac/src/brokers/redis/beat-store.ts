/**
 * @module brokers/redis/beat-store
 * Beat's store on the broker's Redis (keys in redis/keys.ts, one Lua script per transition:
 * scripts/beat-*.lua). It sits beside the queues so that the broker's fenced publish
 * (scripts/publish-fenced.lua) checks the lease and pushes the message in one atomic step.
 * Lease expiry is Redis's own (PX), so beat processes' clocks never decide who leads.
 */
import type { BeatStore, EntryRunState, LeaseAttempt, PublishFence, StoredEntries } from '../../core/spi/beat-store.js';
import { toTransportError } from '../../redis/client.js';
import { type RedisTarget } from '../../redis/url.js';
import { LazyRedisClient } from '../../redis/lazy-client.js';
import { loadScript, runScript, type RedisScript } from '../../redis/script.js';
import { BrokerKeys, type BeatKeys } from '../../redis/keys.js';
import type { TransportLog } from '../../core/transport-table.js';

const script = (name: string): RedisScript => loadScript(new URL(`./scripts/${name}.lua`, import.meta.url));

const SCRIPTS = {
  acquire: script('beat-acquire'),
  renew: script('beat-renew'),
  release: script('beat-release'),
  record: script('beat-record'),
  put: script('beat-put-entry'),
  setPaused: script('beat-set-paused'),
  remove: script('beat-remove-entry'),
  read: script('beat-read-entries'),
} as const;

/** A {@link BeatStore} on Redis. Made by `RedisBroker.beatStore()`; closed with the broker. */
export class RedisBeatStore implements BeatStore {
  /** Adapter name. */
  readonly kind = 'redis';
  /** Key names. */
  readonly keys: BeatKeys;
  readonly #client: LazyRedisClient;

  constructor(target: RedisTarget, log?: TransportLog) {
    this.keys = new BrokerKeys(target.transportOptions.globalKeyprefix).beat;
    this.#client = new LazyRedisClient(target, { name: 'celeriac-beat', ...(log ? { log } : {}) });
  }

  async #run(what: string, s: RedisScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const client = await this.#client.connect();
    try {
      return await runScript(client, s, keys, args.map(String));
    } catch (error) {
      throw toTransportError(error, `beat ${what}`);
    }
  }

  async acquire(holder: string, ttlMs: number): Promise<LeaseAttempt> {
    const [token, retry] = (await this.#run('lease acquire', SCRIPTS.acquire, [this.keys.lease, this.keys.epoch], [holder, Math.ceil(ttlMs)])) as [string, number];
    return token === '' ? { token: null, retryInMs: Number(retry) } : { token: String(token), retryInMs: 0 };
  }

  async renew(token: string, ttlMs: number): Promise<boolean> {
    return (await this.#run('lease renew', SCRIPTS.renew, [this.keys.lease], [token, Math.ceil(ttlMs)])) === 1;
  }

  /** Whether its connection is known to be down now (BeatStore.offline). */
  offline(): boolean {
    return this.#client.offline;
  }

  async release(token: string): Promise<void> {
    await this.#run('lease release', SCRIPTS.release, [this.keys.lease], [token]);
  }

  fence(token: string, entry: string, state: EntryRunState): PublishFence {
    return { key: this.keys.lease, token, record: { key: this.keys.state, field: entry, value: JSON.stringify(state) } };
  }

  async record(token: string, entry: string, state: EntryRunState): Promise<boolean> {
    return (await this.#run('record', SCRIPTS.record, [this.keys.lease, this.keys.state], [token, entry, JSON.stringify(state)])) === 1;
  }

  async states(): Promise<Map<string, EntryRunState>> {
    const client = await this.#client.connect();
    let all: Record<string, string>;
    try {
      all = (await client.hGetAll(this.keys.state)) as Record<string, string>;
    } catch (error) {
      throw toTransportError(error, 'beat read states');
    }
    const out = new Map<string, EntryRunState>();
    for (const [name, text] of Object.entries(all)) {
      const parsed = parseState(text);
      if (parsed !== undefined) out.set(name, parsed);
    }
    return out;
  }

  async version(): Promise<number> {
    const client = await this.#client.connect();
    try {
      return Number((await client.get(this.keys.version)) ?? 0);
    } catch (error) {
      throw toTransportError(error, 'beat read version');
    }
  }

  async entries(): Promise<StoredEntries> {
    const k = this.keys;
    const [version, flat, paused] = (await this.#run('read entries', SCRIPTS.read, [k.entries, k.paused, k.version], [])) as [number, string[], string[]];
    const definitions = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) definitions.set(String(flat[i]), String(flat[i + 1]));
    return { version: Number(version), definitions, paused: new Set(paused.map(String)) };
  }

  async put(name: string, definition: string): Promise<number> {
    return Number(await this.#run('put entry', SCRIPTS.put, [this.keys.entries, this.keys.version], [name, definition]));
  }

  async setPaused(name: string, paused: boolean): Promise<number> {
    return Number(await this.#run('pause entry', SCRIPTS.setPaused, [this.keys.paused, this.keys.version], [name, paused ? '1' : '0']));
  }

  async remove(name: string): Promise<boolean> {
    const k = this.keys;
    const [existed] = (await this.#run('remove entry', SCRIPTS.remove, [k.entries, k.paused, k.state, k.version], [name])) as [number, number];
    return Number(existed) === 1;
  }

  /** Closes the store's connection. */
  async close(): Promise<void> {
    await this.#client.close();
  }
}

/** A stored run state, or undefined when unreadable (then the entry starts afresh). */
function parseState(text: string): EntryRunState | undefined {
  try {
    const v = JSON.parse(text) as Partial<EntryRunState>;
    if (typeof v.lastRunAt === 'number' && typeof v.totalRunCount === 'number') return { lastRunAt: v.lastRunAt, totalRunCount: v.totalRunCount };
  } catch {
    // Written by something else: ignore.
  }
  return undefined;
}
