/**
 * @module todos/todo-cache
 * The cache rules of the todo service in one place: which reads are cached, under which
 * keys, for how long, and which keys a change drops.
 *
 * - one user's todo list: a hash `todos:list:<userId>` with one field per page, 5 minutes;
 * - one todo: `todos:item:<id>`, 5 minutes;
 * - the statistics: `todos:stats`, 1 hour.
 *
 * A change to a todo drops its item, its owner's list and the statistics. A cache that
 * cannot be reached costs a miss (logged), never a failed request.
 */
import type { Logger } from 'pino';
import type { Cache } from '../cache/cache.js';

/** Seconds each kind of entry lives. */
export const CACHE_TTL = Object.freeze({ list: 300, item: 300, stats: 3600 });

/** The cache keys. */
export const cacheKeys = Object.freeze({
  list: (userId: number) => `todos:list:${userId}`,
  item: (todoId: number) => `todos:item:${todoId}`,
  stats: 'todos:stats',
  heartbeat: 'maintenance:heartbeat:count',
});

/** Read-through and invalidation over a {@link Cache}. */
export class TodoCache {
  constructor(
    readonly cache: Cache,
    private readonly log: Logger,
  ) {}

  /** The cached value of `key` (or of `field` in the hash `key`), else `load()` stored for `ttlSec`. */
  async through<T>(key: string, field: string | null, ttlSec: number, load: () => Promise<T>): Promise<{ value: T; hit: boolean }> {
    const cached = await this.#read(key, field);
    this.cache.count(cached !== null);
    if (cached !== null) return { value: JSON.parse(cached) as T, hit: true };
    const value = await load();
    // A missing row (null) is not cached: it may be created a moment later.
    if (value !== null) await this.write(key, field, value, ttlSec);
    return { value, hit: false };
  }

  /** Stores a value (errors are logged: the cache is an optimisation). */
  async write(key: string, field: string | null, value: unknown, ttlSec: number): Promise<void> {
    const text = JSON.stringify(value);
    try {
      if (field === null) await this.cache.set(key, text, ttlSec);
      else await this.cache.hset(key, field, text, ttlSec);
    } catch (err) {
      this.log.warn({ err, key }, 'cache write failed');
    }
  }

  /** Drops what a change to this user's todo (or todos) makes stale. */
  async invalidate(userIds: Iterable<number>, todoIds: Iterable<number>): Promise<void> {
    const keys = [...new Set(userIds)].map(cacheKeys.list);
    for (const id of new Set(todoIds)) keys.push(cacheKeys.item(id));
    keys.push(cacheKeys.stats);
    try {
      await this.cache.del(keys);
    } catch (err) {
      // Entries live at most their TTL: a failed delete means stale reads until then.
      this.log.error({ err, keys }, 'cache invalidation failed; entries stay until their TTL');
    }
  }

  async #read(key: string, field: string | null): Promise<string | null> {
    try {
      return field === null ? await this.cache.get(key) : await this.cache.hget(key, field);
    } catch (err) {
      this.log.warn({ err, key }, 'cache read failed; reading the database');
      return null;
    }
  }
}
