/**
 * @module ingest/queues
 * Queue depths from the broker, per priority bucket, as Flower reads them: on Redis, `LLEN` of kombu's lists `<prefix><queue>` (priority step 0) and
 * `<prefix><queue>␆␖<step>` for steps 3, 6 and 9, pipelined in one round trip with `LINDEX -1`
 * of each (the next message out: the oldest), whose uuid7 delivery tag tells since when it has
 * waited (the engine's `waitingSince`). Other brokers answer through the broker SPI's
 * `queueLength` (all buckets as one number), and tell the age where they play the queue-age
 * role (RabbitMQ: the next message of a classic queue, taken and given back; never a quorum
 * queue's): at most once per queue per poll period, however often /api/broker is asked, and
 * only for a queue with messages.
 */
import { queueAgeReadingOf, type Broker, type QueueAgeReading } from 'celeriac/spi';
import { BrokerKeys, closeRedisClient, createRedisClient, kombuUrlDefaults, parseRedisUrl, PRIORITY_STEPS, waitingSince, type RedisClient, type RedisTarget } from 'celeriac/redis';

/** Depth of one queue. */
export interface QueueDepth {
  readonly name: string;
  /** Ready messages, all buckets. */
  readonly messages: number;
  /** Ready messages by priority step (Redis); null when the broker cannot tell. */
  readonly priorities: Readonly<Record<string, number>> | null;
  /**
   * Unix ms since which the oldest ready message whose send time is known has waited: the
   * earliest over the next message of each priority list (Redis, messages a Celeriac producer
   * sent; RabbitMQ: the next message of a classic queue, stamped by a Celeriac producer). A
   * lower bound of the queue's age when a Redis list's next message tells no time; null when
   * none does (Python Celery's messages, a quorum queue) or the queue is empty.
   */
  readonly waitingSince: number | null;
}

/** Seconds the oldest ready message of `depth` whose send time is known has waited at `nowMs`; null when unknown. */
export function queueAgeSec(depth: QueueDepth, nowMs: number): number | null {
  return depth.waitingSince === null ? null : Math.max(0, nowMs - depth.waitingSince) / 1000;
}

/** Reads queue depths. */
export interface QueueReader {
  lengths(queues: readonly string[]): Promise<QueueDepth[]>;
  close(): Promise<void>;
}

/**
 * Redis: LLEN every priority list of every queue, sent together (one round trip). The key
 * names and the connection (Sentinel, TLS, ACL, `global_keyprefix`) are the engine's.
 */
export class RedisQueueReader implements QueueReader {
  readonly #target: RedisTarget;
  readonly #keys: BrokerKeys;
  /** The connection, once a connect was begun; dropped when that connect failed. */
  #client: { readonly redis: RedisClient; readonly connected: Promise<unknown> } | undefined;

  /** @param transportOptions the app's `brokerTransportOptions`: kombu's `master_name` for a `sentinel://` URL without one, `sentinel_kwargs` for sentinels that need a password. */
  constructor(url: string, transportOptions: Readonly<Record<string, unknown>> = {}) {
    this.#target = parseRedisUrl(url, kombuUrlDefaults(transportOptions));
    this.#keys = new BrokerKeys(this.#target.transportOptions.globalKeyprefix, this.#target.db);
  }

  /**
   * The connection, connecting it first. Flower's 1 s connect timeout: a client whose first
   * connect failed (Redis or every sentinel away when the dashboard started) has given up for
   * good, so the next poll makes a new one. Kept, it failed every later read.
   */
  async #connected(): Promise<RedisClient> {
    if (this.#client === undefined) {
      const redis = createRedisClient(this.#target, { name: 'celeriac-flower-queues', connectTimeoutMs: 1000 });
      const client = { redis, connected: redis.connect() };
      this.#client = client;
      client.connected.catch(() => {
        // Not when close() took it meanwhile: close() closes it.
        if (this.#client !== client) return;
        this.#client = undefined;
        void closeRedisClient(redis, 0).catch(() => undefined);
      });
    }
    const { redis, connected } = this.#client;
    await connected;
    return redis;
  }

  async lengths(queues: readonly string[]): Promise<QueueDepth[]> {
    if (queues.length === 0) return [];
    const client = await this.#connected();
    const keys = queues.flatMap((q) => this.#keys.buckets(q));
    const [lengths, nexts] = await Promise.all([
      Promise.all(keys.map((key) => client.lLen(key))),
      Promise.all(keys.map((key) => client.lIndex(key, -1))),
    ]);
    return queues.map((name, i) => {
      const priorities: Record<string, number> = {};
      let messages = 0;
      let since: number | null = null;
      PRIORITY_STEPS.forEach((step, j) => {
        const n = Number(lengths[i * PRIORITY_STEPS.length + j] ?? 0);
        priorities[String(step)] = n;
        messages += n;
        const t = waitingSince(nexts[i * PRIORITY_STEPS.length + j]);
        if (t !== null && (since === null || t < since)) since = t;
      });
      return { name, messages, priorities, waitingSince: since };
    });
  }

  async close(): Promise<void> {
    const client = this.#client;
    if (client === undefined) return;
    this.#client = undefined;
    await client.connected.catch(() => {});
    // Nothing a poll sent is worth waiting for while the broker is away.
    await closeRedisClient(client.redis, 0);
  }
}

/** A part of the poll period a queue's age read may come early by (timers fire a little early or late). */
const AGE_READ_SLACK = 0.9;

/**
 * Any broker: its `queueLength`, one number per queue, and the age where the broker plays the
 * queue-age role. An age read costs RabbitMQ a `basic.get` and a return, so each queue's is
 * kept for the poll period (`minAgeReadMs`) and reused meanwhile; since it is a point in
 * time, the age it gives still grows.
 */
export class BrokerQueueReader implements QueueReader {
  readonly #ages: QueueAgeReading | undefined;
  readonly #lastAge = new Map<string, { since: number | null; at: number }>();
  #inFlight: { key: string; read: Promise<QueueDepth[]> } | undefined;

  /** @param minAgeReadMs the poll period: no queue's age is read again sooner (by {@link AGE_READ_SLACK} of it). */
  constructor(
    readonly broker: Broker,
    readonly minAgeReadMs = 5000,
  ) {
    this.#ages = queueAgeReadingOf(broker);
  }

  /**
   * One poll at a time, and in a poll one count after the other: RabbitMQ answers a missing
   * queue's passive declare by closing the channel the broker checks queues on, which fails
   * every check in flight on it ("Channel ended"); and a count made while this reader holds a
   * queue's next message for its age would be one short. A call made while a poll of the same
   * queues is in flight gets that poll's answer, so polls never pile up behind a broker that
   * is slow to answer (each check waits up to the broker's connect wait while it is away).
   */
  lengths(queues: readonly string[]): Promise<QueueDepth[]> {
    const key = queues.join('\0');
    if (this.#inFlight?.key === key) return this.#inFlight.read;
    const read = (this.#inFlight?.read.catch(() => undefined) ?? Promise.resolve()).then(() => this.#read(queues));
    const entry = { key, read };
    this.#inFlight = entry;
    const done = () => {
      if (this.#inFlight === entry) this.#inFlight = undefined;
    };
    read.then(done, done);
    return read;
  }

  async #read(queues: readonly string[]): Promise<QueueDepth[]> {
    const counts: number[] = [];
    for (const name of queues) counts.push(await this.broker.queueLength(name));
    return Promise.all(
      queues.map(async (name, i) => {
        const messages = counts[i] ?? 0;
        return { name, messages, priorities: null, waitingSince: messages > 0 ? await this.#waitingSince(name) : this.#forget(name) };
      }),
    );
  }

  #forget(queue: string): null {
    this.#lastAge.delete(queue);
    return null;
  }

  async #waitingSince(queue: string): Promise<number | null> {
    if (this.#ages === undefined) return null;
    const now = performance.now();
    const last = this.#lastAge.get(queue);
    if (last !== undefined && now - last.at < this.minAgeReadMs * AGE_READ_SLACK) return last.since;
    const entry = { since: last?.since ?? null, at: now };
    this.#lastAge.set(queue, entry);
    // An age that cannot be read is unknown; the length stands.
    entry.since = await this.#ages.queueWaitingSince(queue).catch(() => null);
    return entry.since;
  }

  async close(): Promise<void> {}
}

/** The URL schemes of a Redis broker (the engine's parseRedisUrl takes each). */
export const REDIS_SCHEMES: ReadonlySet<string> = new Set(['redis', 'rediss', 'sentinel', 'redis+sentinel']);

/**
 * The reader for a broker URL; `transportOptions` are the app's `brokerTransportOptions`
 * (`master_name`, `sentinel_kwargs`), `pollMs` the poll period (the least time between two age reads of a queue).
 */
export function queueReaderFor(brokerUrl: string, broker: Broker, transportOptions: Readonly<Record<string, unknown>> = {}, pollMs = 5000): QueueReader {
  const scheme = brokerUrl.slice(0, brokerUrl.indexOf(':')).toLowerCase();
  if (REDIS_SCHEMES.has(scheme)) return new RedisQueueReader(brokerUrl, transportOptions);
  return new BrokerQueueReader(broker, pollMs);
}
