/**
 * @module brokers/redis/lease-keeper-thread
 * The keeper thread (lease-keeper.ts): for each broker session, renews the leases the event
 * loop feeds it, on a Redis connection of its own, on its own timer, so a blocked event loop
 * does not let them lapse. It speaks RESP itself (redis/resp-connection.ts): loading
 * node-redis in a fresh thread costs a second or more of CPU. Time is the system clock (the
 * broker uses the keeper only then). While the loop is blocked it renews the broker's presence
 * too (KeeperSession.presence).
 * Every module it imports is loaded again in the thread's own isolate, resident in every worker
 * for its whole life: so it imports node:net and node:worker_threads and pure modules only
 * (node:tls on a TLS target alone; the scripts come from the loop, hashed, in the 'open'
 * message), which lease-keeper-thread.test.ts checks.
 */
import { parentPort } from 'node:worker_threads';
import { RespConnection, RespError, type RespReply } from '../../redis/resp-connection.js';
import type { FromKeeper, KeeperScripts, KeeperSession, ToKeeper } from './lease-keeper.js';
import { discoveryDue, heldBy, renewable, renewLeaseArgs, type KeptLease } from './lease-renewal.js';
import type { RedisScript } from '../../redis/script.js';

const BATCH = 500;
const port = parentPort!;
const post = (m: FromKeeper): void => port.postMessage(m);

/** One broker's leases and connection. */
class Session {
  readonly #redis: RespConnection;
  /** Leases by tag: the last feed's, and those added since (an add is O(its size), not O(all held)). */
  #leases = new Map<string, KeptLease>();
  /** Token prefixes of the broker's consumers: held-by.lua finds what they fetched since the last feed. */
  #owners: readonly string[] = [];
  /** When the loop last fed it, or this session began (the loop is given a period and a half for its first feed). */
  #fedAt = Date.now();
  /**
   * When the loop last fed it; never, for a loop blocked before this thread ran. Deadlines are
   * honoured from that feed on, so such a loop's leases past theirs are not renewed once more
   * as if it had just fed (a delivery whose task is past its hard limit kept a whole lease).
   */
  #lastFeed = Number.NEGATIVE_INFINITY;
  #renewedAt = Number.NEGATIVE_INFINITY;
  /** When the last look in Redis for deliveries no feed told of (held-by.lua) that finished began. */
  #discoveredAt = Number.NEGATIVE_INFINITY;
  #renewing = false;
  #failing = false;
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly id: number,
    private readonly config: KeeperSession,
    private readonly scripts: KeeperScripts,
  ) {
    this.#redis = new RespConnection(config.target, config.commandTimeoutMs);
    const every = config.leaseRenewMs;
    // The event loop feeds (and so renews) every period; the thread steps in once a feed is late.
    this.#timer = setInterval(() => {
      const now = Date.now();
      if (now - this.#fedAt >= 1.5 * every && now - this.#renewedAt >= every) void this.#renew(null);
    }, Math.max(10, every / 4));
  }

  feed(leases: readonly KeptLease[], owners: readonly string[]): void {
    this.#owners = owners;
    this.#leases = new Map(leases.map((l) => [l.tag, l]));
    this.#fedAt = this.#lastFeed = Date.now();
    void this.#renew(leases);
  }

  /** A new deadline: replaces by tag. The loop ran since the last feed, so a look in Redis is due again. */
  add(leases: readonly KeptLease[]): void {
    for (const l of leases) this.#leases.set(l.tag, l);
    this.#discoveredAt = Number.NEGATIVE_INFINITY;
  }

  setOwners(owners: readonly string[]): void {
    this.#owners = owners;
    this.#discoveredAt = Number.NEGATIVE_INFINITY;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#redis.close();
  }

  /** A script by EVALSHA, by EVAL once when the server does not know it yet; its reply as strings. */
  async #eval(script: RedisScript, keys: readonly string[], args: readonly string[]): Promise<string[]> {
    const rest = [String(keys.length), ...keys, ...args];
    let reply: RespReply = await this.#redis.command(['EVALSHA', script.sha1, ...rest]);
    if (reply instanceof RespError && reply.message.startsWith('NOSCRIPT')) reply = await this.#redis.command(['EVAL', script.source, ...rest]);
    if (reply instanceof RespError) throw reply;
    return Array.isArray(reply) ? reply.map(String) : [];
  }

  #renewBatch(batch: readonly KeptLease[]): Promise<string[]> {
    return this.#eval(this.scripts.renew, this.config.keys, renewLeaseArgs(batch, Date.now(), this.config.recoverAfterMs));
  }

  /**
   * Adds the deliveries held under its consumers' tokens that no feed told it of (held-by.lua),
   * when a look is due since the last feed (lease-renewal.ts discoveryDue).
   */
  async #discover(): Promise<void> {
    const began = Date.now();
    if (!discoveryDue(this.#discoveredAt, this.#fedAt, this.config.leaseRenewMs, this.config.fetchSettleMs)) return;
    // keys are bookKeys(): unacked, unacked_index, leases, lease data.
    const leaseData = [this.config.keys[3] as string];
    const found = this.#owners.length === 0 ? [] : await heldBy((args) => this.#eval(this.scripts.heldBy, leaseData, args), this.#owners);
    for (const { tag, token } of found) {
      if (this.#leases.get(tag)?.token !== token) this.#leases.set(tag, { tag, token, until: null });
    }
    this.#discoveredAt = began;
  }

  /** Renews `batch`, or (null: the loop stopped feeding) what it holds and can find, within their deadlines. */
  async #renew(batch: readonly KeptLease[] | null): Promise<void> {
    if (this.#renewing || batch?.length === 0) return;
    this.#renewing = true;
    this.#renewedAt = Date.now();
    const blocked = batch === null;
    try {
      // The presence first: a look in Redis that fails must not get a blocked worker's
      // early-acked tasks reported lost by the others.
      const presence = blocked ? this.config.presence : undefined;
      if (presence !== undefined) {
        const reply = await this.#redis.command(['ZADD', presence.key, 'XX', String(Date.now() + presence.ttlMs), presence.member]);
        if (reply instanceof RespError) throw reply;
      }
      let missed: unknown;
      if (batch === null) {
        // A failed look still renews what the thread knows of; it is reported after, and tried again.
        await this.#discover().catch((err: unknown) => void (missed = err ?? new Error('held-by.lua failed')));
        batch = renewable([...this.#leases.values()], this.#lastFeed, Date.now(), this.config.leaseRenewMs);
      }
      const gone = new Set<string>();
      for (let i = 0; i < batch.length; i += BATCH) for (const tag of await this.#renewBatch(batch.slice(i, i + BATCH))) gone.add(tag);
      if (gone.size > 0) {
        for (const tag of gone) this.#leases.delete(tag);
        post({ type: 'lost', session: this.id, tags: [...gone] });
      }
      if (missed !== undefined) throw missed;
      if (this.#failing) post({ type: 'log', session: this.id, level: 'warn', msg: 'redis broker: the lease keeper renews again', error: null });
      this.#failing = false;
    } catch (err) {
      // Once per outage: the next renewal retries on a fresh connection.
      if (!this.#failing) post({ type: 'log', session: this.id, level: 'warn', msg: 'redis broker: the lease keeper could not renew; retrying', error: (err as Error).message });
      this.#failing = true;
    } finally {
      this.#renewing = false;
    }
  }
}

const sessions = new Map<number, Session>();

port.on('message', (m: ToKeeper) => {
  if (m.type === 'open') sessions.set(m.session, new Session(m.session, m.config, m.scripts));
  else if (m.type === 'held') sessions.get(m.session)?.feed(m.leases, m.owners);
  else if (m.type === 'add') sessions.get(m.session)?.add(m.leases);
  else if (m.type === 'owners') sessions.get(m.session)?.setOwners(m.owners);
  else {
    sessions.get(m.session)?.close();
    sessions.delete(m.session);
  }
});

post({ type: 'ready' });
