/**
 * @module brokers/amqp/ack-batcher
 * The acks of one consumer channel, sent together once per turn of the event loop.
 *
 * A late-ack worker acks each task once its result is confirmed, so acks come in bursts (one
 * per confirm RabbitMQ sends back). Sent one `basic.ack` per task, each is a frame RabbitMQ's
 * channel process handles and passes on to the queue on its own. Here the acks of one turn go
 * as one `basic.ack(multiple=true)` for the longest run of settled deliveries starting at the
 * oldest unsettled one (RabbitMQ acks every unacked tag up to it; tags already rejected are no
 * longer unacked, so the run may cross them), and the acks past that run one by one, in the
 * same turn: no ack waits for another delivery to be settled.
 *
 * The owner tells the batcher every delivery of the channel ({@link AckBatcher.delivered}, in
 * delivery order) and every settlement it sends itself ({@link AckBatcher.sentOtherwise}), so
 * a multiple ack never covers a delivery that is still running. The ack and reject sent one at
 * a time ({@link ackOn}, {@link rejectOn}) say which delivery a closed channel refused.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';

/** The acks of one turn and their one promise (they are sent, or fail, together). */
interface Batch {
  readonly msgs: ConsumeMessage[];
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** Compacts the tag list once this many settled tags lie before its head. */
const COMPACT_AT = 1024;

/** Acks of one channel, batched per event-loop turn. */
export class AckBatcher {
  /** Delivery tags of the channel not yet known settled, in delivery order (from `#head`). */
  #tags: number[] = [];
  #head = 0;
  /** Tags whose settlement was sent (acks included once flushed). */
  readonly #sent = new Set<number>();
  /** This turn's acks, until flushed. */
  #batch: Batch | undefined;

  constructor(private readonly channel: Channel) {}

  /** Records a delivery on the channel (call in delivery order, before it can be settled). */
  delivered(msg: ConsumeMessage): void {
    this.#tags.push(msg.fields.deliveryTag);
  }

  /** Records a settlement sent on the channel without the batcher (reject, restore). */
  sentOtherwise(msg: ConsumeMessage): void {
    this.#sent.add(msg.fields.deliveryTag);
  }

  /**
   * Acks `msg` in this turn's batch; resolves once the frame is handed to the channel. Every
   * ack of a turn gets the same promise: every task acks, and a promise of its own (with its
   * resolving functions) was some 200 bytes of garbage per task.
   */
  ack(msg: ConsumeMessage): Promise<void> {
    let batch = this.#batch;
    if (batch === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = { msgs: [], done, resolve, reject };
      this.#batch = batch;
      setImmediate(() => this.#flush());
    }
    batch.msgs.push(msg);
    return batch.done;
  }

  #flush(): void {
    const batch = this.#batch;
    this.#batch = undefined;
    if (batch === undefined) return;
    const acking = new Map<number, ConsumeMessage>();
    for (const msg of batch.msgs) acking.set(msg.fields.deliveryTag, msg);
    try {
      // The run from the oldest unsettled delivery: settled before, or acked in this batch.
      let last: ConsumeMessage | undefined;
      let covered = 0;
      while (this.#head < this.#tags.length) {
        const tag = this.#tags[this.#head] as number;
        const p = acking.get(tag);
        if (p !== undefined) {
          last = p;
          covered++;
          acking.delete(tag);
        } else if (!this.#sent.delete(tag)) {
          break;
        }
        this.#head++;
      }
      if (last !== undefined) this.channel.ack(last, covered > 1);
      for (const msg of acking.values()) {
        this.channel.ack(msg);
        this.#sent.add(msg.fields.deliveryTag);
      }
    } catch (err) {
      batch.reject(err);
      return;
    } finally {
      this.#compact();
    }
    batch.resolve();
  }

  #compact(): void {
    if (this.#head < COMPACT_AT) return;
    this.#tags = this.#tags.slice(this.#head);
    this.#head = 0;
  }
}

/** The error of an ack the channel refused (it closed). */
export function ackError(msg: ConsumeMessage, err: unknown): CeleriacError {
  return new CeleriacError(ErrorCodes.TRANSPORT, `could not ack delivery ${msg.fields.deliveryTag}: ${coerceError(err).message}`, { cause: err });
}

/** Acks `msg` on `channel` at once (without a batcher). */
export function ackOn(channel: Channel, msg: ConsumeMessage): void {
  try {
    channel.ack(msg);
  } catch (err) {
    throw ackError(msg, err);
  }
}

/** Rejects `msg` on `channel`, requeued or not. */
export function rejectOn(channel: Channel, msg: ConsumeMessage, requeue: boolean): void {
  try {
    channel.reject(msg, requeue);
  } catch (err) {
    throw new CeleriacError(ErrorCodes.TRANSPORT, `could not reject delivery ${msg.fields.deliveryTag}: ${coerceError(err).message}`, { cause: err });
  }
}
