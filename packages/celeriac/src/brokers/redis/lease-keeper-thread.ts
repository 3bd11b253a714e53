/**
 * @module brokers/redis/lease-keeper-thread
 * The keeper thread (lease-keeper.ts): for each broker session, renews the leases the event
 * loop feeds it, on a Redis connection of its own, on its own timer, so a blocked event loop
 * does not let them lapse. It speaks RESP itself (redis/resp-connection.ts): loading
 * node-redis in a fresh thread costs a second or more of CPU. Time is the system clock (the
 * broker uses the keeper only then).
 */
import { parentPort } from 'node:worker_threads';
import { RespConnection, RespError, type RespReply } from '../../redis/resp-connection.js';
import { renewable, type FromKeeper, type KeeperSession, type KeptLease, type ToKeeper } from './lease-keeper.js';
import { RENEW_LEASE_SCRIPT, renewLeaseArgs } from './transitions.js';

const BATCH = 500;
const port = parentPort!;
const post = (m: FromKeeper): void => port.postMessage(m);
const script = RENEW_LEASE_SCRIPT;

/** One broker's leases and connection. */
class Session {
  readonly #redis: RespConnection;
  /** Leases by tag: the last feed's, and those added since (an add is O(its size), not O(all held)). */
  #leases = new Map<string, KeptLease>();
  #fedAt = Date.now();
  #renewedAt = Number.NEGATIVE_INFINITY;
  #renewing = false;
  #failing = false;
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly id: number,
    private readonly config: KeeperSession,
  ) {
    this.#redis = new RespConnection(config.target, config.commandTimeoutMs);
    const every = config.leaseRenewMs;
    // The event loop feeds (and so renews) every period; the thread steps in once a feed is late.
    this.#timer = setInterval(() => {
      const now = Date.now();
      if (now - this.#fedAt >= 1.5 * every && now - this.#renewedAt >= every) void this.#renew(renewable([...this.#leases.values()], this.#fedAt, now, every));
    }, Math.max(10, every / 4));
  }

  feed(leases: readonly KeptLease[]): void {
    this.#leases = new Map(leases.map((l) => [l.tag, l]));
    this.#fedAt = Date.now();
    void this.#renew(leases);
  }

  /** Held since the last feed (or a new deadline): replaces by tag. */
  add(leases: readonly KeptLease[]): void {
    for (const l of leases) this.#leases.set(l.tag, l);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#redis.close();
  }

  /** renew-lease.lua by EVALSHA, by EVAL once when the server does not know it yet. */
  async #renewBatch(batch: readonly KeptLease[]): Promise<string[]> {
    const { keys, recoverAfterMs } = this.config;
    const rest = [String(keys.length), ...keys, ...renewLeaseArgs(batch, Date.now(), recoverAfterMs)];
    let reply: RespReply = await this.#redis.command(['EVALSHA', script.sha1, ...rest]);
    if (reply instanceof RespError && reply.message.startsWith('NOSCRIPT')) reply = await this.#redis.command(['EVAL', script.source, ...rest]);
    if (reply instanceof RespError) throw reply;
    return Array.isArray(reply) ? reply.map(String) : [];
  }

  async #renew(batch: readonly KeptLease[]): Promise<void> {
    if (this.#renewing || batch.length === 0) return;
    this.#renewing = true;
    this.#renewedAt = Date.now();
    try {
      const gone = new Set<string>();
      for (let i = 0; i < batch.length; i += BATCH) for (const tag of await this.#renewBatch(batch.slice(i, i + BATCH))) gone.add(tag);
      if (gone.size > 0) {
        for (const tag of gone) this.#leases.delete(tag);
        post({ type: 'lost', session: this.id, tags: [...gone] });
      }
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
  if (m.type === 'open') sessions.set(m.session, new Session(m.session, m.config));
  else if (m.type === 'held') sessions.get(m.session)?.feed(m.leases);
  else if (m.type === 'add') sessions.get(m.session)?.add(m.leases);
  else {
    sessions.get(m.session)?.close();
    sessions.delete(m.session);
  }
});

post({ type: 'ready' });
