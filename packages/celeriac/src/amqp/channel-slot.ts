/**
 * @module amqp/channel-slot
 * One channel of an {@link AmqpSession} for one role (publishing with confirms, declaring),
 * opened on first use and opened again on the next connection, or after the broker closed it
 * with a channel error (404, 406), which is never fatal. Every reply the channel waits for (its
 * opening, each operation) is watched by the session (`awaitReply`): one that never comes over
 * a link that died silently gives the connection up instead of waiting for the heartbeat.
 */
import type { Channel } from 'amqplib';
import type { AmqpSession } from './session.js';

/** One channel for one role, reopened after the broker (or the connection) closes it. */
export class ChannelSlot<C extends Channel = Channel> {
  #channel: Promise<C> | undefined;
  /** The channel {@link #channel} resolved to, while it is the slot's. */
  #ready: C | undefined;
  /** The connection each channel was opened on (its replies are watched against it). */
  readonly #generations = new WeakMap<C, number>();

  constructor(
    private readonly session: AmqpSession,
    private readonly confirm: boolean,
    private readonly setup: (channel: C) => void = () => undefined,
  ) {}

  /** The open channel (opens one when none is). */
  get(): Promise<C> {
    if (this.#channel !== undefined) return this.#channel;
    const opening = this.#open();
    this.#channel = opening;
    opening.then(
      (channel) => {
        if (this.#channel === opening) this.#ready = channel;
      },
      () => {
        if (this.#channel === opening) this.#channel = undefined;
      },
    );
    return opening;
  }

  /** The channel when one is open now (no wait), else undefined: for a per-message path. */
  current(): C | undefined {
    return this.#ready;
  }

  async #open(): Promise<C> {
    const model = await this.session.connection();
    const generation = this.session.generation;
    const opened = this.confirm ? model.createConfirmChannel() : model.createChannel();
    const channel = (await this.session.awaitReply(opened, 'a channel open', generation)) as C;
    this.#generations.set(channel, generation);
    const mine = this.#channel;
    const forget = () => {
      if (this.#channel !== mine) return;
      this.#channel = undefined;
      this.#ready = undefined;
    };
    channel.on('close', forget);
    // A channel error (404, 406) also closes the channel; the caller of the failed
    // operation gets the error, later callers a fresh channel.
    channel.on('error', forget);
    this.setup(channel);
    return channel;
  }

  /**
   * Runs `fn` on the channel; a channel-closing error drops the channel and goes up. So does
   * an error amqplib raises itself (no AMQP reply code), after which the channel is closed:
   * an argument it cannot encode (a name longer than 255 bytes) throws after amqplib took
   * the channel's one reply slot, and every later operation on that channel would wait forever.
   */
  async run<T>(fn: (channel: C) => Promise<T>, what = 'an operation'): Promise<T> {
    const channel = await this.get();
    try {
      return await this.session.awaitReply(fn(channel), what, this.#generations.get(channel));
    } catch (err) {
      if (typeof (err as { code?: unknown } | null)?.code !== 'number') this.#retire(channel);
      throw err;
    }
  }

  /**
   * {@link run} for an operation that may be made twice (a declare, a purge, an unbind): when
   * the channel closed under it before its reply, because a sibling's 404 or 406 on the shared
   * channel ended it (amqplib: "Channel ended, no reply will be forthcoming"), it runs once more
   * on a new channel. Its own failure goes up as it is.
   */
  async runIdempotent<T>(fn: (channel: C) => Promise<T>, what?: string): Promise<T> {
    try {
      return await this.run(fn, what);
    } catch (err) {
      if (!endedByAnother(err)) throw err;
      return this.run(fn, what);
    }
  }

  /** Drops `channel` if it is still the slot's, and closes it. */
  #retire(channel: C): void {
    if (this.#ready !== channel) return;
    this.#channel = undefined;
    this.#ready = undefined;
    channel.close().catch(() => undefined);
  }

  /** Closes the channel if open. */
  async close(): Promise<void> {
    const channel = this.#channel;
    this.#channel = undefined;
    this.#ready = undefined;
    if (channel !== undefined) await (await channel.catch(() => undefined))?.close().catch(() => undefined);
  }
}

/** amqplib's error for an operation whose channel closed before its reply: not its own failure. */
export function endedByAnother(err: unknown): boolean {
  return err instanceof Error && typeof (err as { code?: unknown }).code !== 'number' && /^Channel (ended|closed)/.test(err.message);
}
