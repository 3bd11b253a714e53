/**
 * @module brokers/redis/fanout
 * Fanout/topic exchanges on Redis pub/sub, as kombu's Redis transport does them
 * (docs/protocol.md §2.5): PUBLISH on `<global_keyprefix>/<db>.<exchange>[/<routing key>]`,
 * PSUBSCRIBE on the same name with the binding key's `#` turned into `*`. Redis globs are
 * looser than topic rules (`*` crosses dots), so each received message is checked again
 * against the binding key with kombu's topic matching before the listener sees it.
 *
 * Subscriptions share one connection of their own (a subscribed connection cannot run
 * other commands); node-redis re-subscribes after a reconnect. Messages published while
 * disconnected are lost, as with kombu: events and control requests are fire-and-forget.
 */
import type { DelayedRecord, Unsubscribe } from '../../core/spi/broker.js';
import { topicMatches } from '../../protocol/topic.js';
import { closeRedisClient, createRedisClient, toTransportError, type RedisClient, type RedisClientOptions } from '../../redis/client.js';
import { type RedisTarget } from '../../redis/url.js';
import type { BrokerKeys } from '../../redis/keys.js';

type Listener = (message: string, channel: string) => void;
interface PatternPubSub {
  pSubscribe(patterns: string, listener: Listener): Promise<void>;
  pUnsubscribe(patterns: string, listener: Listener): Promise<void>;
}

/** The fanout side of one Redis broker. */
export class RedisFanout {
  #client: RedisClient | undefined;
  #connected: Promise<PatternPubSub> | undefined;
  readonly #active = new Set<{ pattern: string; listener: Listener }>();

  constructor(
    private readonly target: RedisTarget,
    private readonly keys: BrokerKeys,
    private readonly publishOn: (channel: string, raw: string | Buffer) => Promise<unknown>,
    /** Client options of its connection: log, PING interval, idle timeout (redis-broker.ts). */
    private readonly clientOptions: Omit<RedisClientOptions, 'name'>,
  ) {}

  /**
   * PUBLISHes the envelope (text or its UTF-8 bytes, sent as they are) on the exchange's channel
   * for `routingKey`; resolves with the subscribers it reached (PUBLISH's reply).
   */
  async publish(exchange: string, routingKey: string, raw: string | Buffer): Promise<number> {
    return Number(await this.publishOn(this.keys.fanoutChannel(exchange, routingKey), raw));
  }

  /** PSUBSCRIBEs for `bindingKey` on `exchange`; see {@link Broker.subscribeFanout}. */
  async subscribe(exchange: string, bindingKey: string, listener: (raw: string, routingKey: string) => void): Promise<Unsubscribe> {
    const base = this.keys.fanoutChannel(exchange, '');
    const entry = {
      pattern: this.keys.fanoutPattern(exchange, bindingKey),
      listener: (message: string, channel: string) => {
        const routingKey = routingKeyOf(base, channel);
        if (routingKey !== undefined && topicMatches(bindingKey, routingKey)) listener(message, routingKey);
      },
    };
    const sub = await this.#connect();
    try {
      await sub.pSubscribe(entry.pattern, entry.listener);
    } catch (error) {
      throw toTransportError(error, `subscribe to ${exchange}`);
    }
    this.#active.add(entry);
    return async () => {
      if (!this.#active.delete(entry)) return;
      await sub.pUnsubscribe(entry.pattern, entry.listener).catch(() => undefined);
    };
  }

  #connect(): Promise<PatternPubSub> {
    this.#connected ??= (async () => {
      // Idle (no PING answered) = a dead path, handshake included: node-redis reconnects and
      // subscribes again (redis/client.ts IDLE_PING_INTERVALS).
      const client = createRedisClient(this.target, { ...this.clientOptions, name: 'celeriac-broker-fanout', subscriberOnly: true });
      this.#client = client;
      try {
        await client.connect();
      } catch (error) {
        this.#connected = undefined;
        this.#client = undefined;
        throw toTransportError(error, 'connect for pub/sub');
      }
      return client as unknown as PatternPubSub;
    })();
    return this.#connected;
  }

  /** Drops every subscription and closes the pub/sub connection. */
  async close(): Promise<void> {
    this.#active.clear();
    const client = this.#client;
    this.#client = undefined;
    this.#connected = undefined;
    if (client !== undefined) await closeRedisClient(client);
  }
}

/**
 * The delayed-set entries (`[bucketKey, envelope]` members scored by due ms) that belong to
 * `queues`, earliest first, at most `limit`. Kept beside the fanout code because both only
 * serve monitoring (`inspect scheduled`).
 */
export function delayedOf(keys: BrokerKeys, entries: readonly { value: string; score: number }[], queues: readonly string[] | null, limit: number): DelayedRecord[] {
  const wanted = queues === null ? null : new Set(queues);
  const out: DelayedRecord[] = [];
  for (const { value, score } of entries) {
    if (out.length >= limit) break;
    try {
      const [bucket, raw] = JSON.parse(value) as [unknown, unknown];
      const queue = typeof bucket === 'string' ? keys.queueOfBucket(bucket) : undefined;
      if (queue !== undefined && (wanted === null || wanted.has(queue)) && typeof raw === 'string') out.push({ raw, queue, deliverAt: score });
    } catch {
      // Not one of ours: skip it.
    }
  }
  return out;
}

/** The routing key of a message received on `channel`, or undefined if it is another exchange's. */
function routingKeyOf(base: string, channel: string): string | undefined {
  if (channel === base) return '';
  if (channel.startsWith(`${base}/`)) return channel.slice(base.length + 1);
  return undefined;
}
