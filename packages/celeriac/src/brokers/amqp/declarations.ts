/**
 * @module brokers/amqp/declarations
 * The RabbitMQ broker's declarations, each made once per connection: an exchange, a queue or a
 * binding declared on this connection is not declared again until the connection is replaced
 * (a reconnect starts afresh), and a declaration that failed is tried again next time. They
 * share the broker's admin channel, which RabbitMQ closes on a channel error (a 406 for a queue
 * that exists with other arguments): the declarations it took down with it are made again.
 */
import type { Channel } from 'amqplib';
import type { ChannelSlot } from '../../amqp/channel-slot.js';
import type { AmqpSession } from '../../amqp/session.js';
import { toTransportError } from './amqp-errors.js';

/** Declarations made on the current connection, by key (`queue celery`, `bind q e k`...). */
export class Declarations {
  #made = new Map<string, Promise<void>>();
  #generation = -1;

  constructor(
    private readonly session: AmqpSession,
    private readonly admin: ChannelSlot<Channel>,
  ) {}

  /** Runs `declare` once per connection for `key`. */
  once(key: string, declare: (ch: Channel) => Promise<unknown>): Promise<void> {
    // Recorded for the connection it runs on: recorded before the first connection was up, a
    // declaration was forgotten as soon as it was, and the next send declared its queue again.
    if (!this.session.connected) return this.session.connection().then(() => this.once(key, declare));
    if (this.#generation !== this.session.generation) {
      this.#made = new Map();
      this.#generation = this.session.generation;
    }
    let p = this.#made.get(key);
    if (p === undefined) {
      // A sibling's 404 or 406 on the shared channel ends it, failing the declarations sent
      // after it: once more on a new one.
      const made = this.admin.runIdempotent(declare, `declare ${key}`).then(() => undefined);
      p = made.catch((err: unknown) => {
        if (this.#made.get(key) === p) this.#made.delete(key);
        throw toTransportError(`declare ${key}`, err);
      });
      this.#made.set(key, p);
    }
    return p;
  }

  /** Forgets the declarations whose key `which` picks: they are made again when next asked for. */
  forget(which: (key: string) => boolean): void {
    for (const key of [...this.#made.keys()]) if (which(key)) this.#made.delete(key);
  }
}
