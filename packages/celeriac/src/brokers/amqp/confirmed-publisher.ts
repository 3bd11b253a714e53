/**
 * @module brokers/amqp/confirmed-publisher
 * The RabbitMQ broker's publishing: every message on a confirm channel, waited for until
 * RabbitMQ confirms it; a mandatory message RabbitMQ returns (no queue bound) is an
 * UnroutableError; a nack (a quorum queue without a leader) is sent again with backoff up to
 * the connect wait, on a channel of its own after the second; a publish cut by a lost
 * connection is sent again on the next one, up to three attempts.
 *
 * A confirm that has not come after `replyTimeoutMs` gives the connection up as dead
 * (AmqpSession.awaitReply), and the publish goes again on the next one: a link that silently
 * drops what is sent (no FIN, no RST) would otherwise hold the caller's `delay()` until the
 * heartbeat noticed, up to six minutes at the default 120 s.
 */
import type { ConfirmChannel, Message as AmqpMessage } from 'amqplib';
import { ChannelSlot } from '../../amqp/channel-slot.js';
import type { AmqpSession } from '../../amqp/session.js';
import type { WireOut } from '../../amqp/wire.js';
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import type { TransportLog } from '../../core/transport-table.js';
import { CeleriacError, coerceError } from '../../errors.js';
import { isNack, toTransportError, UnroutableError } from './amqp-errors.js';

/** Attempts of one publish across lost connections. */
const PUBLISH_ATTEMPTS = 3;
/** Sends again after a nack: 50 ms doubling to 1 s, until connectWaitMs. */
const NACK_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 50, growth: { factor: 2 }, maxMs: 1000 });

interface PendingPublish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  returned: boolean;
}

/** Publishes with confirms for one broker (see the module header). */
export class ConfirmedPublisher {
  readonly #channel: ChannelSlot<ConfirmChannel>;
  readonly #pending: PendingPublish[] = [];

  constructor(
    private readonly session: AmqpSession,
    private readonly log: TransportLog,
    private readonly connectWaitMs: number,
    private readonly closed: () => boolean,
  ) {
    this.#channel = new ChannelSlot<ConfirmChannel>(session, true, (ch) => ch.on('return', (msg: AmqpMessage) => this.#onReturn(msg)));
  }

  #onReturn(msg: AmqpMessage): void {
    const entry = this.#pending.find(
      (p) => !p.returned && p.exchange === msg.fields.exchange && p.routingKey === msg.fields.routingKey && p.content.equals(msg.content),
    );
    if (entry !== undefined) entry.returned = true;
  }

  /** Publishes and waits for the confirm; an unroutable mandatory message is an error. */
  async send(exchange: string, routingKey: string, wire: WireOut, mandatory: boolean): Promise<void> {
    const nackDeadline = performance.now() + this.connectWaitMs;
    const nacks = new Backoff(NACK_BACKOFF);
    // After a second nack, a channel of its own: a channel that published to a quorum queue
    // whose leader died may be refused for minutes on a loaded machine (seen on 3.10).
    let fresh: ConfirmChannel | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        const generation = this.session.generation;
        try {
          await this.#sendOnce(exchange, routingKey, wire, mandatory, fresh);
          return;
        } catch (err) {
          // A nack: a quorum queue that has no leader while its cluster elects one (a node died)
          // refuses the message for a few seconds. Sent again, with backoff, up to connectWaitMs.
          const nackDelay = isNack(err) && !this.closed() ? nacks.next() : Infinity;
          if (performance.now() + nackDelay < nackDeadline) {
            if (nacks.failures === 1) this.log('warn', 'RabbitMQ refused a message (nack: a queue without a leader?); sending again until it is taken', { exchange, routingKey });
            await new Promise((resolve) => setTimeout(resolve, nackDelay));
            if (nacks.failures >= 2) fresh ??= await this.#freshConfirmChannel();
            attempt--;
            continue;
          }
          const connectionLost = !this.session.connected || this.session.generation !== generation;
          if (!connectionLost || attempt >= PUBLISH_ATTEMPTS || this.closed() || err instanceof CeleriacError) {
            throw toTransportError(`publish to exchange ${JSON.stringify(exchange)} key ${JSON.stringify(routingKey)}`, err);
          }
          this.log('warn', `publish interrupted by a lost connection; sending again (attempt ${attempt + 1})`, { exchange, routingKey, err: coerceError(err) });
        }
      }
    } finally {
      await fresh?.close().catch(() => undefined);
    }
  }

  async #freshConfirmChannel(): Promise<ConfirmChannel> {
    const ch = await this.session.openChannel({ confirm: true });
    ch.on('error', () => undefined);
    ch.on('return', (msg: AmqpMessage) => this.#onReturn(msg));
    return ch;
  }

  async #sendOnce(exchange: string, routingKey: string, wire: WireOut, mandatory: boolean, own?: ConfirmChannel): Promise<void> {
    const channel = own ?? (await this.#channel.get());
    const entry: PendingPublish = { exchange, routingKey, content: wire.content, returned: false };
    if (mandatory) this.#pending.push(entry);
    const generation = this.session.generation;
    try {
      const confirmed = new Promise<void>((resolve, reject) => {
        channel.publish(exchange, routingKey, wire.content, { ...wire.options, mandatory }, (err: unknown) => (err ? reject(coerceError(err)) : resolve()));
      });
      await this.session.awaitReply(confirmed, 'a publish (its confirm)', generation);
    } catch (err) {
      throw this.#channel.refusedAsTooLarge(channel, `the message to exchange ${JSON.stringify(exchange)} with key ${JSON.stringify(routingKey)}`) ?? err;
    } finally {
      if (mandatory) this.#pending.splice(this.#pending.indexOf(entry), 1);
    }
    if (entry.returned) {
      throw new UnroutableError(
        `RabbitMQ returned the message to exchange ${JSON.stringify(exchange)} with key ${JSON.stringify(routingKey)}: no queue is bound to receive it (declare the queue first)`,
      );
    }
  }
}
