/**
 * @module brokers/redis/lease-scripts
 * The scripts the lease keeper thread runs (renew-lease.lua, held-by.lua), apart from
 * transitions.ts: the keeper (lease-keeper.ts) hands them to its thread, so that neither
 * node-redis (a second or more of start-up CPU in a fresh thread) nor node:crypto (resident
 * memory in the thread's isolate) is loaded there. Their arguments are lease-renewal.ts's.
 */
import { loadScript, type RedisScript } from '../../redis/script.js';
import type { BrokerKeys } from '../../redis/keys.js';

export { indexScore, renewLeaseArgs, type Held } from './lease-renewal.js';

/** renew-lease.lua: run by the broker and by the lease keeper thread on a connection of its own. */
export const RENEW_LEASE_SCRIPT: RedisScript = loadScript(new URL('./scripts/renew-lease.lua', import.meta.url));

/** held-by.lua, for the lease keeper thread: the deliveries held under some consumers' tokens. */
export const HELD_BY_SCRIPT: RedisScript = loadScript(new URL('./scripts/held-by.lua', import.meta.url));

/** The keys renew-lease.lua (and every settlement) works on. */
export function bookKeys(keys: BrokerKeys): string[] {
  return [keys.unacked, keys.unackedIndex, keys.leases, keys.leaseData];
}
