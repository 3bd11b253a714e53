/**
 * @module brokers/amqp/queue-checks
 * Passive `queue.declare`s (how many messages a queue holds) for callers that ask at the same
 * moment: the dashboard reads every queue at once, `celeriac inspect` and the API others.
 *
 * A passive declare of a missing queue is answered with a 404 that closes its channel, and
 * RabbitMQ ignores whatever else that channel had sent: on one shared channel a missing queue
 * failed every check sent after it ("Channel ended, no reply will be forthcoming"). So each
 * check runs alone on a channel: {@link LANES} channels (lanes), one check in flight on each,
 * the others queued on the lane with the fewest. A 404 closes only its lane's channel, which
 * the lane reopens for its next check (ChannelSlot). Cost: one round trip per check, one more
 * after a missing queue; at most {@link LANES} channels.
 */
import type { Channel } from 'amqplib';
import { ChannelSlot } from '../../amqp/channel-slot.js';
import type { AmqpSession } from '../../amqp/session.js';
import { isNotFound } from './amqp-errors.js';

/** Channels checking at once. */
export const LANES = 4;

interface Lane {
  readonly slot: ChannelSlot<Channel>;
  /** The last check queued on the lane (settled, never rejected). */
  tail: Promise<unknown>;
  /** Checks queued or running. */
  waiting: number;
}

/** A queue's counts as a passive declare tells them. */
export interface QueueCounts {
  readonly messageCount: number;
  readonly consumerCount: number;
}

/** Passive queue checks that never fail one another. */
export class QueueChecks {
  readonly #lanes: Lane[];

  constructor(session: AmqpSession) {
    this.#lanes = Array.from({ length: LANES }, () => ({ slot: new ChannelSlot<Channel>(session, false), tail: Promise.resolve(), waiting: 0 }));
  }

  /** The queue's counts, or null when it does not exist. Other failures go up (amqplib errors). */
  check(queue: string): Promise<QueueCounts | null> {
    const lane = this.#lanes.reduce((best, l) => (l.waiting < best.waiting ? l : best));
    lane.waiting++;
    const run = lane.tail.then(() => lane.slot.run((ch) => ch.checkQueue(queue)));
    lane.tail = run.then(
      () => (lane.waiting--, undefined),
      () => (lane.waiting--, undefined),
    );
    return run.then(
      ({ messageCount, consumerCount }) => ({ messageCount, consumerCount }),
      (err: unknown) => {
        if (isNotFound(err)) return null;
        throw err;
      },
    );
  }

  /** Closes the lanes' channels. */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.slot.close()));
  }
}
