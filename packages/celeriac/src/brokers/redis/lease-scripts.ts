/**
 * @module brokers/redis/lease-scripts
 * What the lease keeper thread needs of the broker's scripts (renew-lease.lua, held-by.lua and
 * their arguments), apart from transitions.ts: the thread boots on every worker start, before
 * the first fetch, and this module imports no Redis client. Loading node-redis in a fresh
 * thread multiplies the thread's start-up CPU several times over, and the worker waits for it.
 * lease-keeper-thread.test.ts checks that the thread's imports reach no npm package.
 */
import { loadScript, type RedisScript } from '../../redis/script.js';
import type { BrokerKeys } from '../../redis/keys.js';

/** A delivery held under a lease: its tag and the token its fetch gave it. */
export interface Held {
  readonly tag: string;
  readonly token: string;
}

/**
 * The unacked_index score we write: epoch seconds, whole. Redis keeps a zset of up to 128
 * members as a listpack, where an integer score compares as an integer but a fractional one
 * is parsed (strtod) at every comparison; each insert scans the whole list, so a worker
 * holding about a hundred deliveries spent more per fetched message in ZADD than anywhere else.
 * kombu only compares this score with now minus its visibility timeout (an hour by default),
 * and our sweep with a lease expiry that is later still: a second's precision is plenty.
 */
export const indexScore = (ms: number): string => String(Math.floor(ms / 1000));

/** renew-lease.lua: run by the broker and by the lease keeper thread on a connection of its own. */
export const RENEW_LEASE_SCRIPT: RedisScript = loadScript(new URL('./scripts/renew-lease.lua', import.meta.url));

/** held-by.lua, for the lease keeper thread: the deliveries held under some consumers' tokens. */
export const HELD_BY_SCRIPT: RedisScript = loadScript(new URL('./scripts/held-by.lua', import.meta.url));

/** The keys renew-lease.lua (and every settlement) works on. */
export function bookKeys(keys: BrokerKeys): string[] {
  return [keys.unacked, keys.unackedIndex, keys.leases, keys.leaseData];
}

/** renew-lease.lua's arguments: the unacked_index score, the new expiry, then tag and token of each. */
export function renewLeaseArgs(held: readonly Held[], nowMs: number, leaseMs: number): string[] {
  const args = [indexScore(nowMs), String(nowMs + leaseMs)];
  for (const h of held) args.push(h.tag, h.token);
  return args;
}
