/**
 * @module ingest/queues
 * Queue depths from the broker, per priority bucket, as Flower reads them: on Redis, `LLEN` of kombu's lists `<prefix><queue>` (priority step 0) and
 * `<prefix><queue>␆␖<step>` for steps 3, 6 and 9, pipelined in one round trip with `LINDEX -1`
 * of each (the next message out: the oldest), whose uuid7 delivery tag tells since when it has
 * waited (the engine's `waitingSince`). Other brokers answer through the broker SPI's
 * `queueLength` (all buckets as one number) and tell no age.
 */
import type { Broker } from 'celeriac/spi';
import { BrokerKeys, closeRedisClient, createRedisClient, parseRedisUrl, PRIORITY_STEPS, waitingSince, type RedisClient } from 'celeriac/redis';

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
   * sent). A lower bound of the queue's age when a list's next message tells no time; null
   * when none does (Python Celery's messages, RabbitMQ) or the queue is empty.
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
  readonly #client: RedisClient;
  readonly #keys: BrokerKeys;
  #connecting: Promise<unknown> | undefined;

  /** @param masterName kombu's `master_name` transport option, for a `sentinel://` URL without one. */
  constructor(url: string, masterName?: string) {
    const target = parseRedisUrl(url, masterName === undefined ? {} : { masterName });
    this.#keys = new BrokerKeys(target.transportOptions.globalKeyprefix, target.db);
    // Flower's 1 s connect timeout; a failed read is retried at the next poll.
    this.#client = createRedisClient(target, { name: 'celeriac-flower-queues', connectTimeoutMs: 1000 });
  }

  async lengths(queues: readonly string[]): Promise<QueueDepth[]> {
    if (queues.length === 0) return [];
    this.#connecting ??= this.#client.connect();
    await this.#connecting;
    const keys = queues.flatMap((q) => this.#keys.buckets(q));
    const [lengths, nexts] = await Promise.all([
      Promise.all(keys.map((key) => this.#client.lLen(key))),
      Promise.all(keys.map((key) => this.#client.lIndex(key, -1))),
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
    if (this.#connecting === undefined) return;
    await this.#connecting.catch(() => {});
    // Nothing a poll sent is worth waiting for while the broker is away.
    await closeRedisClient(this.#client, 0);
  }
}

/** Any broker: its `queueLength`, one number per queue. */
export class BrokerQueueReader implements QueueReader {
  constructor(readonly broker: Broker) {}

  async lengths(queues: readonly string[]): Promise<QueueDepth[]> {
    return Promise.all(queues.map(async (name) => ({ name, messages: await this.broker.queueLength(name), priorities: null, waitingSince: null })));
  }

  async close(): Promise<void> {}
}

/** The URL schemes of a Redis broker (the engine's parseRedisUrl takes each). */
export const REDIS_SCHEMES: ReadonlySet<string> = new Set(['redis', 'rediss', 'sentinel', 'redis+sentinel']);

/** The reader for a broker URL; `transportOptions` are the app's `brokerTransportOptions` (`master_name`). */
export function queueReaderFor(brokerUrl: string, broker: Broker, transportOptions: Readonly<Record<string, unknown>> = {}): QueueReader {
  const scheme = brokerUrl.slice(0, brokerUrl.indexOf(':')).toLowerCase();
  const masterName = transportOptions['master_name'];
  if (REDIS_SCHEMES.has(scheme)) return new RedisQueueReader(brokerUrl, typeof masterName === 'string' ? masterName : undefined);
  return new BrokerQueueReader(broker);
}
