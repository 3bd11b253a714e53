/**
 * @module brokers/redis/lease-renewal
 * The pure parts of a lease renewal that the broker's event loop (transitions.ts) and the
 * lease keeper thread (lease-keeper-thread.ts) share: renew-lease.lua's arguments and which
 * held deliveries a keeper renews. It imports nothing at run time: the keeper thread's isolate
 * loads its own copy of every module it reaches, and each one is resident memory of every
 * worker (lease-keeper-thread.test.ts keeps the thread's imports to a few node built-ins). The
 * scripts themselves (lease-scripts.ts: read and hashed with node:crypto) are handed to the
 * thread by the loop when a session opens (lease-keeper.ts).
 */

/** A delivery held under a lease: its tag and the token its fetch gave it. */
export interface Held {
  readonly tag: string;
  readonly token: string;
}

/** A held delivery, as the keeper renews it. */
export interface KeptLease extends Held {
  /** Epoch ms after which it is not renewed while the event loop is blocked; null = no limit. */
  readonly until: number | null;
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

/** renew-lease.lua's arguments: the unacked_index score, the new expiry, then tag and token of each. */
export function renewLeaseArgs(held: readonly Held[], nowMs: number, leaseMs: number): string[] {
  const args = [indexScore(nowMs), String(nowMs + leaseMs)];
  for (const h of held) args.push(h.tag, h.token);
  return args;
}

/**
 * The leases to renew now: every one while the event loop fed the keeper within two renewal
 * periods; once it did not (the loop is blocked), only those whose task is not past its
 * hard time limit.
 */
export function renewable(leases: readonly KeptLease[], fedAt: number, now: number, renewMs: number): KeptLease[] {
  if (now - fedAt <= 2 * renewMs) return [...leases];
  return leases.filter((l) => l.until === null || l.until > now);
}

/** About how many entries of celeriac.lease.data one held-by.lua call reads: a millisecond or so of Redis. */
export const HELD_BY_PAGE = 1000;

/**
 * The deliveries held under `owners`' tokens, found by held-by.lua a stretch of the fleet's
 * leases at a time: `call` runs the script with the arguments given and answers its reply.
 * Calls again from the cursor each reply ends at, until the scan is done.
 */
export async function heldBy(call: (args: readonly string[]) => Promise<readonly string[]>, owners: readonly string[], page = HELD_BY_PAGE): Promise<Held[]> {
  const found: Held[] = [];
  let cursor = '0';
  do {
    const reply = await call([cursor, String(page), ...owners]);
    cursor = reply[0] ?? '';
    // A reply without a cursor (another script under the name) would be asked again forever.
    if (!/^\d+$/.test(cursor)) throw new Error(`held-by.lua answered ${JSON.stringify(cursor.slice(0, 40))} where a cursor goes`);
    for (let i = 1; i + 1 < reply.length; i += 2) found.push({ tag: reply[i] as string, token: reply[i + 1] as string });
  } while (cursor !== '0');
  return found;
}

/**
 * Whether a keeper renewing for a loop that stopped feeding it must look in Redis (held-by.lua)
 * for deliveries no feed told it of, given when the last look that finished began
 * (`discoveredAt`, -Infinity for none since the session opened). An event loop that runs feeds
 * the keeper every renewal period, so the last fetch it sent left at most a period after its
 * last feed (`fedAt`), and that fetch ran in Redis within `settleMs` of leaving (a blocked
 * fetch waits up to its poll). A look begun after both found every such delivery: none is
 * due again until the loop feeds again. A look every period instead read the whole fleet's
 * leases once per blocked worker every few seconds for as long as its loop stayed blocked.
 */
export function discoveryDue(discoveredAt: number, fedAt: number, renewMs: number, settleMs: number): boolean {
  return discoveredAt < fedAt + renewMs + settleMs;
}
