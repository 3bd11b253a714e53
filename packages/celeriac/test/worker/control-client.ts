/**
 * A minimal pidbox client for the worker's remote-control tests: binds a reply queue the way
 * kombu does, broadcasts requests on the fanout exchange and collects the replies to its
 * ticket. (The full client, `celeriac inspect`, lives in src/monitor/.)
 */
import { randomUUID } from 'node:crypto';
import type { Broker, Consumer, Delivery } from '../../src/core/spi/broker.js';
import { EVENT_EXCHANGE, decodeEventEnvelope, type EventDict } from '../../src/protocol/events.js';
import { CONTROL_EXCHANGE, REPLY_EXCHANGE, decodeControlReply, encodeControlRequest, replyQueueName } from '../../src/protocol/pidbox.js';
import type { Json, JsonObject } from '../../src/protocol/types.js';
import { sleep } from 'celeriac/testing';

/** Options of one call. */
export interface CallOptions {
  destination?: string[];
  pattern?: string;
  matcher?: string;
  /** Stop after this many replies. @default 1 */
  limit?: number;
  /** Wait at most this long. @default 2000 */
  timeoutMs?: number;
  /** Fire and forget (no ticket, no reply). */
  cast?: boolean;
}

/** Sends control requests and gathers replies on one broker. */
export class ControlClient {
  readonly oid = randomUUID();
  #consumer: Consumer | null = null;
  readonly #replies: { ticket: string | null; body: JsonObject }[] = [];

  constructor(private readonly broker: Broker) {}

  async open(): Promise<this> {
    const queue = replyQueueName(this.oid);
    await this.broker.bindQueue(queue, REPLY_EXCHANGE, this.oid);
    this.#consumer = this.broker.consume({
      queues: [queue],
      prefetch: 0,
      onDelivery: (d: Delivery) => {
        const reply = decodeControlReply(d.raw);
        this.#replies.push({ ticket: reply.ticket, body: reply.body });
        void d.ack();
      },
    });
    return this;
  }

  async close(): Promise<void> {
    await this.#consumer?.close();
    await this.broker.unbindQueue(replyQueueName(this.oid), REPLY_EXCHANGE, this.oid);
  }

  /** Broadcasts `method` and returns the `{node: result}` replies to it. */
  async call(method: string, args: JsonObject = {}, options: CallOptions = {}): Promise<JsonObject[]> {
    const ticket = randomUUID();
    const request = {
      method, arguments: args, destination: options.destination ?? null, pattern: options.pattern ?? null, matcher: options.matcher ?? null,
      ...(options.cast ? {} : { ticket, reply_to: { exchange: REPLY_EXCHANGE, routing_key: this.oid } }),
    };
    await this.broker.publishFanout(CONTROL_EXCHANGE, '', encodeControlRequest(request, { clock: 100, expires: 0, deliveryTag: randomUUID() }));
    if (options.cast) return [];
    const limit = options.limit ?? 1;
    const deadline = Date.now() + (options.timeoutMs ?? 2000);
    const mine = () => this.#replies.filter((r) => r.ticket === ticket).map((r) => r.body);
    while (mine().length < limit && Date.now() < deadline) await sleep(5);
    return mine();
  }

  /** The one reply value of `node` to `method`. */
  async ask(node: string, method: string, args: JsonObject = {}): Promise<Json | undefined> {
    const [reply] = await this.call(method, args, { destination: [node] });
    return reply?.[node];
  }
}

/** Collects every event published on the broker's event exchange. */
export async function collectEvents(broker: Broker): Promise<{ events: EventDict[]; stop: () => Promise<void> }> {
  const events: EventDict[] = [];
  const stop = await broker.subscribeFanout(EVENT_EXCHANGE, '#', (raw) => events.push(...decodeEventEnvelope(raw)));
  return { events, stop };
}
