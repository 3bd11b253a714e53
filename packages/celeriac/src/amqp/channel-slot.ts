/**
 * @module amqp/channel-slot
 * One channel of an {@link AmqpSession} for one role (publishing with confirms, declaring),
 * opened on first use and opened again on the next connection, or after the broker closed it
 * with a channel error (404, 406), which is never fatal. Every reply the channel waits for (its
 * opening, each operation) is watched by the session (`awaitReply`): one that never comes over
 * a link that died silently gives the connection up instead of waiting for the heartbeat.
 */
import type { Channel } from 'amqplib';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { AmqpSession } from './session.js';

/** One channel for one role, reopened after the broker (or the connection) closes it. */
export class ChannelSlot<C extends Channel = Channel> {
  #channel: Promise<C> | undefined;
  /** The channel {@link #channel} resolved to, while it is the slot's. */
  #ready: C | undefined;
  /** The connection each channel was opened on (its replies are watched against it). */
  readonly #generations = new WeakMap<C, number>();
  /** Why the broker closed a channel (its close frame as amqplib's error). */
  readonly #closedBy = new WeakMap<C, Error>();

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

  /**
   * {@link refusedAsTooLarge} of why the broker closed `channel`: the error for a publish it
   * failed, which amqplib reports only as "channel closed" (the close frame comes first).
   */
  refusedAsTooLarge(channel: C, what: string): CeleriacError | undefined {
    return refusedAsTooLarge(this.#closedBy.get(channel), what);
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
    channel.on('error', (err: Error) => {
      this.#closedBy.set(channel, err);
      forget();
    });
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

/**
 * RabbitMQ's refusal of a message past its `max_message_size` (a 406 that closes the channel:
 * 128 MiB by default up to 3.13, 16 MiB from 4.0), from the error the channel closed with, as
 * an INVALID_ARGUMENT that no retry sends again; undefined for any other close. The publish
 * itself fails with a bare "channel closed", a TRANSPORT error: a send was retried three times
 * with the whole message, a worker retried storing an `rpc://` result for good.
 *
 * @param what The message refused, for the error: `the result of <id>`.
 */
export function refusedAsTooLarge(closedBy: Error | undefined, what: string): CeleriacError | undefined {
  if (closedBy === undefined || (closedBy as { code?: unknown }).code !== 406 || !/message size/i.test(closedBy.message)) return undefined;
  return new CeleriacError(
    ErrorCodes.INVALID_ARGUMENT,
    `RabbitMQ refused ${what} as too large (${closedBy.message}): send less (a reference to the data, not the data), or raise max_message_size on the server`,
    { cause: closedBy },
  );
}
