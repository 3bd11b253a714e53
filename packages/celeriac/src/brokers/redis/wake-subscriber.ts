/**
 * @module brokers/redis/wake-subscriber
 * The dedicated pub/sub connection of a consuming broker: it subscribes to the wake-up
 * channel of every queue some consumer of this broker reads, and pokes those consumers
 * when a Celeriac publisher pushed there. Purely a latency aid: a lost wake-up (Python
 * producer, reconnect gap) costs at most one poll interval, never a message.
 */
import { closeRedisClient, createRedisClient, type RedisClient, type RedisLog } from '../../redis/client.js';
import { type RedisTarget } from '../../redis/url.js';
import type { BrokerKeys } from '../../redis/keys.js';

type Listener = (message: string, channel: string) => void;
interface PubSub {
  subscribe(channels: string[], listener: Listener): Promise<void>;
  unsubscribe(channels: string[], listener: Listener): Promise<void>;
}

/** Keeps one subscription per wanted queue on its own connection. */
export class WakeSubscriber {
  #client: RedisClient | undefined;
  #connected: Promise<PubSub> | undefined;
  /** channel -> queue, for the channels currently subscribed. */
  readonly #channels = new Map<string, string>();
  readonly #listener: Listener = (_message, channel) => {
    const queue = this.#channels.get(channel);
    if (queue !== undefined) this.onWake(queue);
  };
  #chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: RedisTarget,
    private readonly keys: BrokerKeys,
    private readonly onWake: (queue: string) => void,
    private readonly log: RedisLog | undefined,
  ) {}

  /** Subscribes to exactly the wake-up channels of `queues`; changes are applied in order. */
  sync(queues: Iterable<string>): Promise<void> {
    const wanted = new Map<string, string>();
    for (const q of queues) wanted.set(this.keys.wakeChannel(q), q);
    this.#chain = this.#chain.catch(() => undefined).then(() => this.#apply(wanted));
    return this.#chain;
  }

  async #apply(wanted: Map<string, string>): Promise<void> {
    const add = [...wanted.keys()].filter((c) => !this.#channels.has(c));
    const drop = [...this.#channels.keys()].filter((c) => !wanted.has(c));
    if (add.length === 0 && drop.length === 0) return;
    const sub = await this.#connect();
    for (const c of drop) this.#channels.delete(c);
    if (drop.length > 0) await sub.unsubscribe(drop, this.#listener);
    for (const c of add) this.#channels.set(c, wanted.get(c) as string);
    if (add.length > 0) await sub.subscribe(add, this.#listener);
  }

  #connect(): Promise<PubSub> {
    this.#connected ??= (async () => {
      // node-redis PINGs in subscribed mode too, so a silent idle period means a dead path.
      const client = createRedisClient(this.target, { name: 'celeriac-broker-wake', idleTimeoutMs: 30_000, ...(this.log ? { log: this.log } : {}) });
      this.#client = client;
      await client.connect();
      return client as unknown as PubSub;
    })();
    return this.#connected;
  }

  /** Closes the connection; a (un)subscribe stuck on a dead connection is waited for 2 s at most. */
  async close(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)));
    await Promise.race([this.#chain.catch(() => undefined), late]);
    clearTimeout(timer);
    this.#channels.clear();
    if (this.#client !== undefined) await closeRedisClient(this.#client);
    this.#client = undefined;
    this.#connected = undefined;
  }
}
