/**
 * @module brokers/redis/wake-subscriber
 * The dedicated pub/sub connection of a consuming broker: each consumer watches its
 * queues here, the subscriber keeps one subscription per watched queue's wake-up channel and
 * wakes that queue's watchers when a Celeriac publisher pushed there. Purely a latency aid:
 * a lost wake-up (Python producer, reconnect gap) costs at most one poll interval, never a
 * message; and a break in the subscription tells every watcher (`missed`), whose poll is then
 * fast again (waiting.ts PollPace).
 */
import { closeRedisClient, createRedisClient, type RedisClient, type RedisClientOptions } from '../../redis/client.js';
import { type RedisTarget } from '../../redis/url.js';
import type { BrokerKeys } from '../../redis/keys.js';

type Listener = (message: string, channel: string) => void;
interface PubSub {
  subscribe(channels: string[], listener: Listener): Promise<void>;
  unsubscribe(channels: string[], listener: Listener): Promise<void>;
}

/** Something to wake when its queue gets a message (a consumer). */
export interface Wakeable {
  wake(): void;
  /**
   * The subscription broke (an error on its connection, a reconnect, a new Sentinel master):
   * wake-ups sent meanwhile are lost. Called for every watcher, each time.
   */
  missed?(): void;
}

/** The consumer's side of a {@link WakeSubscriber}. */
export interface WakeWatch {
  /** Wakes `target` on every wake-up of `queue` from now on (subscribing when first watched). */
  watch(queue: string, target: Wakeable): Promise<void>;
  /** Undoes {@link WakeWatch.watch} (unsubscribing when nobody watches the queue any more). */
  unwatch(queue: string, target: Wakeable): Promise<void>;
  /**
   * Whether Redis answered the SUBSCRIBE of `queue`'s wake-up channel (a refused one is tried
   * again at each reconnect), and did so at least {@link SUBSCRIBED_AFTER_MS} ago.
   */
  subscribed(queue: string): boolean;
}

/**
 * How long a publisher skips the wake-ups of a queue after one of them reached nobody
 * (publisher.ts QuietWakes, which also skips doorbell tokens nobody took).
 */
export const QUIET_WAKE_MS = 100;

/**
 * How long after its SUBSCRIBE was answered (or renewed at a reconnect) a channel counts as
 * subscribed. A publisher whose wake-up of a queue reached nobody skips that queue's next ones
 * for {@link QUIET_WAKE_MS} (publisher.ts QuietWakes): a consumer that subscribed meanwhile hears
 * none of them, so it keeps its fast poll over that window, twice over for a publisher slow to
 * read its reply. Without this, a quiet worker missed the messages sent in the 100 ms after its
 * start until its quiet poll.
 */
export const SUBSCRIBED_AFTER_MS = 2 * QUIET_WAKE_MS;

/**
 * Wait before a connect that failed is tried again while queues are watched (ms). Each try
 * lasts up to `connectTimeoutMs`; a refused one (a wrong password) fails at once, so one try
 * in this long at most. Meanwhile the watchers poll fast: nothing is lost, only latency.
 */
export const RETRY_CONNECT_MS = 2000;

/** Keeps one subscription per watched queue on its own connection. */
export class WakeSubscriber implements WakeWatch {
  #client: RedisClient | undefined;
  #connected: Promise<PubSub> | undefined;
  /** channel -> queue, for the channels currently subscribed (or being subscribed to). */
  readonly #channels = new Map<string, string>();
  /** The channels whose SUBSCRIBE Redis answered, and when it did (performance.now ms; renewed at a reconnect). */
  readonly #confirmed = new Map<string, number>();
  /** queue -> who to wake. */
  readonly #watchers = new Map<string, Set<Wakeable>>();
  readonly #listener: Listener = (_message, channel) => {
    const queue = this.#channels.get(channel);
    const watchers = queue === undefined ? undefined : this.#watchers.get(queue);
    if (watchers !== undefined) for (const w of watchers) w.wake();
  };
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  /** The sync that follows a failed connect (see {@link RETRY_CONNECT_MS}). */
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly target: RedisTarget,
    private readonly keys: BrokerKeys,
    /** Client options of its connection: log, PING interval, idle timeout (redis-broker.ts). */
    private readonly clientOptions: Omit<RedisClientOptions, 'name'>,
  ) {}

  watch(queue: string, target: Wakeable): Promise<void> {
    let set = this.#watchers.get(queue);
    if (set === undefined) this.#watchers.set(queue, (set = new Set()));
    set.add(target);
    return this.#sync();
  }

  unwatch(queue: string, target: Wakeable): Promise<void> {
    const set = this.#watchers.get(queue);
    if (set === undefined || !set.delete(target)) return Promise.resolve();
    if (set.size === 0) this.#watchers.delete(queue);
    return this.#sync();
  }

  subscribed(queue: string): boolean {
    const at = this.#confirmed.get(this.keys.wakeChannel(queue));
    return at !== undefined && performance.now() - at >= SUBSCRIBED_AFTER_MS;
  }

  /** Subscribes to exactly the wake-up channels of the watched queues; changes are applied in order. No-op once closing. */
  #sync(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const wanted = new Map<string, string>();
    for (const q of this.#watchers.keys()) wanted.set(this.keys.wakeChannel(q), q);
    this.#chain = this.#chain.catch(() => undefined).then(() => this.#apply(wanted));
    return this.#chain;
  }

  async #apply(wanted: Map<string, string>): Promise<void> {
    const add = [...wanted.keys()].filter((c) => !this.#channels.has(c));
    const drop = [...this.#channels.keys()].filter((c) => !wanted.has(c));
    if (add.length === 0 && drop.length === 0) return;
    const sub = await this.#connect();
    for (const c of drop) {
      this.#channels.delete(c);
      this.#confirmed.delete(c);
    }
    if (drop.length > 0) await sub.unsubscribe(drop, this.#listener);
    for (const c of add) this.#channels.set(c, wanted.get(c) as string);
    if (add.length === 0) return;
    try {
      await sub.subscribe(add, this.#listener);
    } catch (error) {
      // Not subscribed: the next sync (a watch change, a reconnect, a new master) tries again.
      for (const c of add) this.#channels.delete(c);
      throw error;
    }
    const now = performance.now();
    for (const c of add) this.#confirmed.set(c, now);
  }

  /** Calls `fn` for every watcher of every queue. */
  #tell(fn: (w: Wakeable) => void): void {
    if (this.#closed) return;
    for (const set of this.#watchers.values()) for (const w of set) fn(w);
  }

  #connect(): Promise<PubSub> {
    this.#connected ??= (async () => {
      // node-redis PINGs in subscribed mode too, so a silent idle period means a dead path.
      const client = createRedisClient(this.target, { ...this.clientOptions, name: 'celeriac-broker-wake', subscriberOnly: true });
      this.#client = client;
      // A plain client reports each break with an error and comes back 'ready' (subscribed
      // again); a Sentinel one reports errors, and a new master (where it subscribes again) as
      // a 'topology-change' (its other kinds, replicas and sentinels seen, leave pub/sub be).
      // Either way, a SUBSCRIBE Redis refused is tried again then.
      const missed = () => this.#tell((w) => (w.missed ? w.missed() : w.wake()));
      const retry = () => void this.#sync().catch(() => undefined);
      const emitter = client as unknown as { on(event: string, fn: (arg?: { type?: unknown }) => void): unknown };
      emitter.on('error', missed);
      emitter.on('topology-change', (change) => {
        if (change?.type !== 'MASTER_CHANGE') return;
        missed();
        retry();
      });
      emitter.on('ready', () => {
        // Subscribed again just now: see SUBSCRIBED_AFTER_MS.
        const now = performance.now();
        for (const c of this.#confirmed.keys()) this.#confirmed.set(c, now);
        this.#tell((w) => w.wake());
        retry();
      });
      try {
        await client.connect();
      } catch (error) {
        // The next sync connects afresh, as the fanout does: a watch change, or this retry.
        this.#connected = undefined;
        this.#client = undefined;
        await closeRedisClient(client, 0);
        this.#retryLater();
        throw error;
      }
      return client as unknown as PubSub;
    })();
    return this.#connected;
  }

  /** Syncs again in {@link RETRY_CONNECT_MS} while queues are watched (one timer at a time). */
  #retryLater(): void {
    if (this.#closed || this.#retryTimer !== undefined || this.#watchers.size === 0) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#sync().catch(() => undefined);
    }, RETRY_CONNECT_MS);
    this.#retryTimer.unref();
  }

  /**
   * Closes the connection; a (un)subscribe stuck on a dead connection is waited for 2 s at
   * most. Watch changes made from now on are not sent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)));
    await Promise.race([this.#chain.catch(() => undefined), late]);
    clearTimeout(timer);
    this.#channels.clear();
    this.#confirmed.clear();
    this.#watchers.clear();
    if (this.#client !== undefined) await closeRedisClient(this.#client);
    this.#client = undefined;
    this.#connected = undefined;
  }
}
