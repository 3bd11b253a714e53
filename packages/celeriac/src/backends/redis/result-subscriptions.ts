/**
 * @module backends/redis/result-subscriptions
 * The Redis backend's pub/sub side: one subscriber connection shared by every waiter, one
 * SUBSCRIBE per task channel however many listeners it has (ref-counted), as Celery's
 * client does (docs/protocol.md §3.4: channel = key name).
 *
 * A channel whose last listener left is unsubscribed lazily: its UNSUBSCRIBE goes out with
 * the connection's next SUBSCRIBE, in the same write, or after {@link UNSUBSCRIBE_LINGER_MS}
 * when none comes, or at once past {@link UNSUBSCRIBE_HELD_MAX} held channels. So a client
 * that sends a task and waits for its result, then the next, makes one socket write fewer
 * per waited task (the SUBSCRIBE carries the last task's UNSUBSCRIBE), and each write it
 * saves is one Redis does not have to wake for. A message that reaches a held channel has
 * no listener and is dropped, as after an UNSUBSCRIBE.
 *
 * When the connection drops, node-redis reconnects and renews the subscriptions it saw
 * acknowledged. A SUBSCRIBE or UNSUBSCRIBE caught in flight is not among them: the SUBSCRIBE is
 * sent once more (it waits for the reconnect), the UNSUBSCRIBE held again.
 */
import type { Buffer } from 'node:buffer';
import { decodeResultMeta } from '../../protocol/result.js';
import type { CarriedPublish, SubscribedPublish, Unsubscribe } from '../../core/spi/backend.js';
import type { ResultMeta } from '../../protocol/types.js';
import { coerceError } from '../../errors.js';
import type { RedisClient } from '../../redis/client.js';
import type { LazyRedisClient } from '../../redis/lazy-client.js';
import { toTransportError } from '../../redis/client.js';
import { classifyRedisFailure } from '../../redis/error-kind.js';
import type { TransportLog } from '../../core/transport-table.js';

type Listener = (meta: ResultMeta) => void;

/** Longest an UNSUBSCRIBE waits for a SUBSCRIBE to go out with (ms). */
export const UNSUBSCRIBE_LINGER_MS = 20;

/** Held UNSUBSCRIBEs past which they all go out at once. */
export const UNSUBSCRIBE_HELD_MAX = 64;

/** Wait before an UNSUBSCRIBE lost with its connection is sent again, when no SUBSCRIBE takes it sooner (ms). */
export const UNSUBSCRIBE_RETRY_MS = 1000;

interface Channel {
  readonly listeners: Set<Listener>;
  /** The node-redis listener of this channel entry; removed by identity on unsubscribe. */
  readonly dispatch: (message: string | Buffer) => void;
  /** Settles when the SUBSCRIBE is acknowledged. */
  ready: Promise<void>;
}

/** Ref-counted channel subscriptions over one subscriber connection. */
export class ResultSubscriptions {
  readonly #connection: LazyRedisClient;
  readonly #log: TransportLog;
  readonly #channels = new Map<string, Channel>();
  /** Channels with no listener left whose UNSUBSCRIBE is held (see the module comment). */
  readonly #held = new Map<string, Channel>();
  #flushTimer: NodeJS.Timeout | undefined;
  /** Set by clear(): the connection is being closed, nothing more is sent on it. */
  #cleared = false;
  #carrying = 0;

  /** @param connection The subscriber connection (its own, never used for commands). */
  constructor(connection: LazyRedisClient, log: TransportLog) {
    this.#connection = connection;
    this.#log = log;
  }

  /** Whether publishes it carried ({@link carry}) still wait for their replies: a close then waits for them too. */
  get carrying(): boolean {
    return this.#carrying > 0;
  }

  /** Channels with at least one listener (to re-read after a reconnect). */
  channels(): string[] {
    return [...this.#channels.keys()];
  }

  /**
   * Adds `listener` to `channel`; resolves once Redis acknowledged the SUBSCRIBE (at once
   * when the channel is already subscribed).
   * @throws CeleriacError TRANSPORT when the subscriber connection or SUBSCRIBE fails.
   */
  async add(channel: string, listener: Listener): Promise<Unsubscribe> {
    // Wrap so the same function added twice is two subscriptions, removed one by one.
    const entry: Listener = (meta) => listener(meta);
    const ch = this.#channels.get(channel) ?? this.#open(channel);
    ch.listeners.add(entry);
    return this.#acknowledged(channel, ch, entry);
  }

  /**
   * As {@link add}, with the publish `publisher` gives queued right behind the channel's
   * SUBSCRIBE and a GET of its key in this turn: all go out in one write, in that order, so the
   * subscription is in Redis before anything the publish sends, and the GET hands the listener
   * what was stored before it; no GET for a `newId` (an id made for this send has nothing
   * stored). A channel already subscribed, or whose SUBSCRIBE is ahead on the
   * connection, needs none. Undefined (nothing queued) unless the connection
   * is ready now and speaks RESP3, or when `publisher` declines; a connection not open yet is
   * opened for the next call.
   */
  carry(channel: string, listener: Listener, publisher: () => CarriedPublish | undefined, newId = false): SubscribedPublish | undefined {
    const client = this.#connection.ready;
    if (client === undefined || !this.#connection.resp3 || this.#cleared) {
      // Opened for the next one (a RESP2 connection stays one: nothing is carried on it).
      if (client === undefined && !this.#cleared) this.#connection.connect().catch(ignore);
      return undefined;
    }
    const publish = publisher();
    if (publish === undefined) return undefined;
    const entry: Listener = (meta) => listener(meta);
    const ch = this.#channels.get(channel) ?? this.#open(channel, client);
    ch.listeners.add(entry);
    // What was stored before the send (a task id sent again after its SUCCESS, which a worker
    // does not store or publish over): read behind the SUBSCRIBE, ahead of the publish.
    const before = newId
      ? Promise.resolve()
      : client.get(channel).then((text) => {
          if (text !== null) this.#deliverTo(channel, entry, text);
        });
    let published: Promise<void>;
    try {
      published = publish(client);
    } catch (err) {
      published = Promise.reject(err as Error);
    }
    this.#carrying++;
    const settled = (): void => void this.#carrying--;
    published.then(settled, settled);
    // A failed read fails the subscription too: the wait then reads for itself (AsyncResult).
    const subscribed = this.#acknowledged(channel, ch, entry);
    return { published, subscribed: before.then(() => subscribed, (err: unknown) => subscribed.then((u) => u()).then(() => Promise.reject(toTransportError(err, `GET ${channel}`)))) };
  }

  /** Resolves to `entry`'s unsubscribe once `ch`'s SUBSCRIBE is acknowledged; a failed one takes `entry` off. */
  #acknowledged(channel: string, ch: Channel, entry: Listener): Promise<Unsubscribe> {
    return ch.ready.then(
      () => {
        let done = false;
        return () => {
          if (!done) {
            done = true;
            this.#remove(channel, ch, entry);
          }
          return Promise.resolve();
        };
      },
      (err: unknown) => {
        ch.listeners.delete(entry);
        throw toTransportError(err, `SUBSCRIBE ${channel}`);
      },
    );
  }

  /**
   * SUBSCRIBEs once more every channel that has listeners, each with its own dispatch: node-redis
   * sends nothing for a channel whose listener it still has, and a SUBSCRIBE for one it lost.
   * Its Sentinel client loses them all when a SUBSCRIBE sent while its pub/sub connection was
   * being made fails (node-redis 5's PubSubProxy drops that connection and its subscriptions),
   * which happens around a failover (backends/redis/resubscribe-watch.ts calls this then).
   * Rejects when a SUBSCRIBE failed; nothing to do once cleared.
   */
  async renew(): Promise<void> {
    if (this.#cleared || this.#channels.size === 0) return;
    const client = await this.#connection.connect();
    await Promise.all([...this.#channels].map(([channel, ch]) => client.subscribe(channel, ch.dispatch)));
  }

  /** Delivers `text` (a stored meta) to every listener of `channel`, as if it was published. */
  deliver(channel: string, text: string): void {
    this.#channels.get(channel)?.dispatch(text);
  }

  /** Forgets every listener and held UNSUBSCRIBE (the connection itself is closed by its owner). */
  clear(): void {
    this.#cleared = true;
    this.#channels.clear();
    this.#held.clear();
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }

  /** A new channel entry; its SUBSCRIBE queued on `client` in this turn when given, else once connected. */
  #open(channel: string, client?: RedisClient): Channel {
    // Still subscribed in Redis (its UNSUBSCRIBE is held): taken back, no command at all.
    const held = this.#held.get(channel);
    if (held !== undefined) {
      this.#held.delete(channel);
      this.#channels.set(channel, held);
      return held;
    }
    // The held UNSUBSCRIBEs go out first, in the same write as this SUBSCRIBE.
    this.#flush();
    const ch: Channel = {
      listeners: new Set(),
      dispatch: (message) => this.#dispatch(channel, ch, message.toString()),
      ready: Promise.resolve(),
    };
    this.#channels.set(channel, ch);
    const subscribe = () => this.#connection.connect().then((c: RedisClient) => c.subscribe(channel, ch.dispatch));
    ch.ready = (client === undefined ? subscribe() : client.subscribe(channel, ch.dispatch))
      // A SUBSCRIBE written as the connection dropped fails, and node-redis does not renew it
      // when it reconnects (it renews the acknowledged ones): sent once more, it waits for the
      // reconnect in node-redis's offline queue. Once only: a second failure is the caller's.
      .catch((err: unknown) => (classifyRedisFailure(err) === 'transient' ? subscribe() : Promise.reject(err)))
      .then(() => undefined)
      .catch((err: unknown) => {
        if (this.#channels.get(channel) === ch) this.#channels.delete(channel);
        throw err;
      });
    return ch;
  }

  /** Takes `entry` off `channel`; the last one out holds the channel's UNSUBSCRIBE. */
  #remove(channel: string, ch: Channel, entry: Listener): void {
    ch.listeners.delete(entry);
    if (ch.listeners.size > 0 || this.#channels.get(channel) !== ch) return;
    this.#channels.delete(channel);
    this.#hold(channel, ch, UNSUBSCRIBE_LINGER_MS);
  }

  /** Holds the UNSUBSCRIBE of `channel`, to go out with the next SUBSCRIBE or after `waitMs`. */
  #hold(channel: string, ch: Channel, waitMs: number): void {
    this.#held.set(channel, ch);
    if (this.#held.size >= UNSUBSCRIBE_HELD_MAX) this.#flush();
    else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.#flush(), waitMs);
      this.#flushTimer.unref();
    }
  }

  /**
   * An UNSUBSCRIBE lost with its connection: node-redis subscribes the channel again when it
   * reconnects, so it is held again, to go with the next SUBSCRIBE or in a second at most
   * (one try per second while the server is away, not a loop). Not when the channel has a
   * listener again, nor after clear().
   */
  #unsubscribeFailed(channel: string, ch: Channel, err: unknown): void {
    if (this.#cleared || classifyRedisFailure(err) !== 'transient') return;
    if (this.#channels.has(channel) || this.#held.has(channel)) return;
    this.#hold(channel, ch, UNSUBSCRIBE_RETRY_MS);
  }

  /** Sends every held UNSUBSCRIBE now (synchronously queued: they share the caller's write). */
  #flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#held.size === 0) return;
    const held = [...this.#held];
    this.#held.clear();
    // The connection is up (each held channel was subscribed on it): this resolves in the
    // current turn, ahead of a SUBSCRIBE asked for after it.
    this.#connection.connect().then(
      (client) => {
        // By listener identity: a newer entry for the same channel keeps its subscription,
        // and node-redis sends UNSUBSCRIBE only when the channel has no listener left.
        for (const [channel, ch] of held) client.unsubscribe(channel, ch.dispatch).catch((err: unknown) => this.#unsubscribeFailed(channel, ch, err));
      },
      // Closed or disconnected: the server forgets a dead connection's subscriptions anyway.
      ignore,
    );
  }

  #dispatch(channel: string, ch: Channel, message: string): void {
    for (const listener of [...ch.listeners]) {
      if (ch.listeners.has(listener) && !this.#deliverTo(channel, listener, message)) return;
    }
  }

  /** Decodes `message` for `listener` (each gets its own copy to mutate) and calls it; false when it cannot be decoded. */
  #deliverTo(channel: string, listener: Listener, message: string): boolean {
    let meta: ResultMeta;
    try {
      meta = decodeResultMeta(message);
    } catch (err) {
      this.#log('warn', 'ignoring an undecodable result', { channel, err: coerceError(err) });
      return false;
    }
    try {
      listener(meta);
    } catch {
      // The SPI makes listeners own their errors; one failing must not starve the others.
    }
    return true;
  }
}

const ignore = (): void => undefined;
