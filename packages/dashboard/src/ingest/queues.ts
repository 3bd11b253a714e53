/**
 * @module ingest/queues
 * Queue depths from the broker, per priority bucket, as Flower reads them (flower-spec.md
 * §5.4): on Redis, `LLEN` of kombu's lists `<prefix><queue>` (priority step 0) and
 * `<prefix><queue>␆␖<step>` for steps 3, 6 and 9, pipelined in one round trip. Other brokers
 * answer through the broker SPI's `queueLength` (all buckets as one number).
 */
import { createClient } from '@redis/client';
import type { Broker } from 'celeriac/spi';

/** kombu's separator between queue name and priority step. */
const SEP = '\x06\x16';
/** kombu's default `priority_steps`. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

/** Depth of one queue. */
export interface QueueDepth {
  readonly name: string;
  /** Ready messages, all buckets. */
  readonly messages: number;
  /** Ready messages by priority step (Redis); null when the broker cannot tell. */
  readonly priorities: Readonly<Record<string, number>> | null;
}

/** Reads queue depths. */
export interface QueueReader {
  lengths(queues: readonly string[]): Promise<QueueDepth[]>;
  close(): Promise<void>;
}

type RedisLike = ReturnType<typeof createClient>;

/** Redis: LLEN every priority list of every queue in one pipeline. */
export class RedisQueueReader implements QueueReader {
  readonly #client: RedisLike;
  readonly #prefix: string;
  #connecting: Promise<unknown> | undefined;

  constructor(url: string) {
    const parsed = new URL(url);
    this.#prefix = parsed.searchParams.get('global_keyprefix') ?? '';
    parsed.search = '';
    this.#client = createClient({
      url: parsed.toString(),
      // Flower's 1 s connect timeout, no reconnect storm: a failed read is retried at the next poll.
      socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(5000, 200 * 2 ** retries) },
      disableOfflineQueue: true,
    });
    this.#client.on('error', () => {
      // Reported by the failing command; the client reconnects on its own.
    });
  }

  async lengths(queues: readonly string[]): Promise<QueueDepth[]> {
    if (queues.length === 0) return [];
    this.#connecting ??= this.#client.connect();
    await this.#connecting;
    const multi = this.#client.multi();
    for (const q of queues) for (const step of PRIORITY_STEPS) multi.lLen(step === 0 ? this.#prefix + q : `${this.#prefix}${q}${SEP}${step}`);
    const replies = (await multi.execAsPipeline()) as unknown as number[];
    return queues.map((name, i) => {
      const priorities: Record<string, number> = {};
      let messages = 0;
      PRIORITY_STEPS.forEach((step, j) => {
        const n = Number(replies[i * PRIORITY_STEPS.length + j] ?? 0);
        priorities[String(step)] = n;
        messages += n;
      });
      return { name, messages, priorities };
    });
  }

  async close(): Promise<void> {
    if (this.#connecting === undefined) return;
    await this.#connecting.catch(() => {});
    // Not quit(): while reconnecting to a broker that went away, it waits for the reconnect
    // (forever if the broker stays down). Nothing a poll sent is worth waiting for.
    if (this.#client.isOpen) this.#client.destroy();
  }
}

/** Any broker: its `queueLength`, one number per queue. */
export class BrokerQueueReader implements QueueReader {
  constructor(readonly broker: Broker) {}

  async lengths(queues: readonly string[]): Promise<QueueDepth[]> {
    return Promise.all(queues.map(async (name) => ({ name, messages: await this.broker.queueLength(name), priorities: null })));
  }

  async close(): Promise<void> {}
}

/** The reader for a broker URL. */
export function queueReaderFor(brokerUrl: string, broker: Broker): QueueReader {
  const scheme = brokerUrl.slice(0, brokerUrl.indexOf(':')).toLowerCase();
  if (scheme === 'redis' || scheme === 'rediss') return new RedisQueueReader(brokerUrl);
  return new BrokerQueueReader(broker);
}
