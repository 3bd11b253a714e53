/**
 * @module cache/cache
 * The key-value cache in front of database reads: Redis when `REDIS_URL` is set (shared by
 * every process, so a worker's change invalidates what the API serves), else a map in this
 * process. Values are strings with a TTL; a hash holds a family of values (one user's list
 * pages) that is invalidated in one step. Hits and misses are counted by this process.
 */
import type { Clock } from 'celeriac/spi';
// node-redis's createClient, without the young generation its client factory grows (celeriac/spi).
import { newRedisClient } from 'celeriac/spi';

/** One key and the seconds it has left (-1 = no expiry). */
export interface CacheKeyInfo {
  readonly key: string;
  readonly ttlSec: number;
}

/** What `GET /cache/status` shows. */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
}

/** The cache. Keys are given without the prefix; the Redis cache adds it. */
export interface Cache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSec: number): Promise<void>;
  /** A field of a hash; the hash's TTL starts with its first field. */
  hget(key: string, field: string): Promise<string | null>;
  hset(key: string, field: string, value: string, ttlSec: number): Promise<void>;
  del(keys: readonly string[]): Promise<void>;
  /** Adds one to a counter (never expires); returns the new value. */
  incr(key: string): Promise<number>;
  /** Throws when the cache cannot be reached. */
  ping(): Promise<void>;
  /** Up to `limit` keys with their TTLs, sorted by name. */
  keys(limit: number): Promise<CacheKeyInfo[]>;
  /** Counts a lookup (callers count, because only they know what a hit is worth). */
  count(hit: boolean): void;
  stats(): CacheStats;
  close(): Promise<void>;
}

/** Shared hit/miss counting. */
abstract class CountingCache {
  #hits = 0;
  #misses = 0;

  count(hit: boolean): void {
    if (hit) this.#hits += 1;
    else this.#misses += 1;
  }

  stats(): CacheStats {
    return { hits: this.#hits, misses: this.#misses };
  }
}

interface Entry {
  value: string | Map<string, string>;
  /** Epoch ms; Infinity = never. */
  expiresAt: number;
}

/** The in-process cache: a map whose entries expire by the injected clock. */
export class MemoryCache extends CountingCache implements Cache {
  readonly kind = 'memory';
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly clock: Clock) {
    super();
  }

  #live(key: string): Entry | undefined {
    const e = this.#entries.get(key);
    if (e !== undefined && e.expiresAt <= this.clock.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  async get(key: string): Promise<string | null> {
    const v = this.#live(key)?.value;
    return typeof v === 'string' ? v : null;
  }

  async set(key: string, value: string, ttlSec: number): Promise<void> {
    this.#entries.set(key, { value, expiresAt: this.clock.now() + ttlSec * 1000 });
  }

  async hget(key: string, field: string): Promise<string | null> {
    const v = this.#live(key)?.value;
    return v instanceof Map ? (v.get(field) ?? null) : null;
  }

  async hset(key: string, field: string, value: string, ttlSec: number): Promise<void> {
    const e = this.#live(key);
    if (e !== undefined && e.value instanceof Map) e.value.set(field, value);
    else this.#entries.set(key, { value: new Map([[field, value]]), expiresAt: this.clock.now() + ttlSec * 1000 });
  }

  async del(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.#entries.delete(k);
  }

  async incr(key: string): Promise<number> {
    const n = Number((await this.get(key)) ?? 0) + 1;
    this.#entries.set(key, { value: String(n), expiresAt: Infinity });
    return n;
  }

  async ping(): Promise<void> {}

  async keys(limit: number): Promise<CacheKeyInfo[]> {
    const now = this.clock.now();
    return [...this.#entries.keys()]
      .filter((k) => this.#live(k) !== undefined)
      .sort()
      .slice(0, limit)
      .map((key) => {
        const at = this.#entries.get(key)?.expiresAt ?? Infinity;
        return { key, ttlSec: at === Infinity ? -1 : Math.ceil((at - now) / 1000) };
      });
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}

/** Options of {@link RedisCache}. */
export interface RedisCacheOptions {
  url: string;
  /** Prepended to every key. */
  prefix: string;
  /**
   * Milliseconds a command may take, from its call to its reply, before it fails (a Redis that
   * is unreachable, or reachable and frozen, must not hang requests). @default 2000
   */
  commandTimeoutMs?: number;
}

type Client = ReturnType<typeof newRedisClient>;

/** Most commands waiting on the client: past it a command fails at once (a frozen Redis and a busy API). */
const MAX_WAITING_COMMANDS = 1000;

/** The cache in Redis, shared by every process of the deployment. */
export class RedisCache extends CountingCache implements Cache {
  readonly kind = 'redis';
  readonly #client;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  #connected: Promise<unknown> | undefined;

  constructor(options: RedisCacheOptions) {
    super();
    this.#prefix = options.prefix;
    const timeout = (this.#timeoutMs = options.commandTimeoutMs ?? 2000);
    this.#client = newRedisClient({
      url: options.url,
      // Fail commands at once while disconnected instead of queueing them: a cache that is
      // down must cost a miss, not a stuck request.
      disableOfflineQueue: true,
      commandsQueueMaxLength: MAX_WAITING_COMMANDS,
      socket: { connectTimeout: timeout, reconnectStrategy: (retries) => Math.min(200 * 2 ** retries, 5000) },
    });
    // Reconnects are the client's job; errors surface on the commands that fail.
    this.#client.on('error', () => undefined);
  }

  async #c() {
    this.#connected ??= this.#client.connect().catch((err: unknown) => {
      this.#connected = undefined;
      throw err;
    });
    await this.#connected;
    return this.#client;
  }

  /**
   * `run` on the connected client, failed after `commandTimeoutMs` from now. node-redis's own
   * timeout ends at the write: a Redis that accepts connections and never answers (frozen,
   * SIGSTOPped, a dead path) held every request that read the cache for as long as it lasted.
   */
  #bounded<T>(what: string, run: (c: Client) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`cache ${what}: no answer from Redis within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    return Promise.race([this.#c().then(run), late]).finally(() => clearTimeout(timer));
  }

  get(key: string): Promise<string | null> {
    return this.#bounded('get', (c) => c.get(this.#prefix + key));
  }

  async set(key: string, value: string, ttlSec: number): Promise<void> {
    await this.#bounded('set', (c) => c.set(this.#prefix + key, value, { expiration: { type: 'EX', value: ttlSec } }));
  }

  hget(key: string, field: string): Promise<string | null> {
    return this.#bounded('hget', (c) => c.hGet(this.#prefix + key, field));
  }

  async hset(key: string, field: string, value: string, ttlSec: number): Promise<void> {
    const k = this.#prefix + key;
    // One round trip; EXPIRE NX keeps the TTL the hash got with its first field.
    await this.#bounded('hset', (c) => c.multi().hSet(k, field, value).expire(k, ttlSec, 'NX').exec());
  }

  async del(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.#bounded('del', (c) => c.del(keys.map((k) => this.#prefix + k)));
  }

  incr(key: string): Promise<number> {
    return this.#bounded('incr', (c) => c.incr(this.#prefix + key));
  }

  async ping(): Promise<void> {
    await this.#bounded('ping', (c) => c.ping());
  }

  keys(limit: number): Promise<CacheKeyInfo[]> {
    return this.#bounded('keys', async (c) => {
      const found: string[] = [];
      for await (const batch of c.scanIterator({ MATCH: `${this.#prefix}*`, COUNT: 200 })) {
        found.push(...batch);
        if (found.length >= limit) break;
      }
      const keys = found.sort().slice(0, limit);
      const ttls = keys.length === 0 ? [] : await Promise.all(keys.map((k) => c.ttl(k)));
      return keys.map((k, i) => ({ key: k.slice(this.#prefix.length), ttlSec: Number(ttls[i]) }));
    });
  }

  async close(): Promise<void> {
    if (this.#connected !== undefined) this.#client.destroy();
  }
}

/** Opens Redis when a URL is given, else the in-process cache. */
export function openCache(options: { url: string | null; prefix: string; clock: Clock }): Cache {
  return options.url === null ? new MemoryCache(options.clock) : new RedisCache({ url: options.url, prefix: options.prefix });
}
