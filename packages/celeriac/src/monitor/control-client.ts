/**
 * @module monitor/control-client
 * The remote-control client behind `celeriac inspect`, `celeriac control` and the
 * dashboard: broadcasts a command on the `celery.pidbox` fanout exchange and collects the
 * replies workers (Celeriac or Python) push to this client's reply queue
 * (docs/protocol.md §5).
 *
 * As kombu does, the reply queue `<oid>.reply.celery.pidbox` is bound to the
 * `reply.celery.pidbox` exchange only while a broadcast waits for replies, and unbound and
 * emptied afterwards, so a client that goes away leaves no binding behind for workers to keep
 * filling. Concurrent broadcasts share the queue; replies are told apart by ticket.
 *
 * The timeout works as kombu's: collection ends when `timeoutMs` passes with no new reply
 * (each reply restarts the wait), or as soon as `limit` replies arrived.
 *
 * Every broker call (bind, publish, unbind) has its own limit, `brokerTimeoutMs`: a broker
 * client that lost its server may queue commands for a long time (node-redis's offline queue,
 * an AMQP reconnect), and `celeriac inspect` or the dashboard must say "broker unreachable"
 * in seconds instead of hanging. The call then rejects with {@link BrokerUnreachableError}.
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import type { Broker, Consumer, Delivery } from '../core/spi/broker.js';
import { CeleriacError, ErrorCodes, brandClass } from '../errors.js';
import { LamportClock } from '../protocol/lamport-clock.js';
import { CONTROL_EXCHANGE, REPLY_EXCHANGE, decodeControlReply, encodeControlRequest, replyQueueName, type DecodedControlReply } from '../protocol/pidbox.js';
import type { Json, JsonObject } from '../protocol/types.js';
import { ReplyCollector, flattenReplies, type NodeReply } from './reply-collector.js';

export type { NodeReply } from './reply-collector.js';

/** Options of {@link ControlClient}. */
export interface ControlClientOptions {
  /** Source of time for the reply timeout and the `expires` header. @default systemClock */
  clock?: Clock;
  /** This client's reply address (kombu's oid). @default a random uuid */
  oid?: string;
  /** Makes tickets and delivery tags. @default crypto.randomUUID */
  newId?: () => string;
  /** Longest wait for one broker call (bind, publish, unbind) before giving up. @default 5000 */
  brokerTimeoutMs?: number;
}

/**
 * The broker did not answer a remote-control call in time: it is down or unreachable.
 * Code `CELERIAC_ERR_TRANSPORT`, like every broker failure.
 */
export class BrokerUnreachableError extends CeleriacError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCodes.TRANSPORT, message, options);
  }
}

/** Options of {@link ControlClient.broadcast}. */
export interface BroadcastOptions {
  /** Keyword arguments of the command. @default {} */
  arguments?: JsonObject;
  /** Node names to address; null or empty addresses every worker. @default null */
  destination?: readonly string[] | null;
  /** With `matcher`, address the nodes whose name matches. @default null */
  pattern?: string | null;
  /** How `pattern` matches: `glob` or `pcre`. @default null */
  matcher?: 'glob' | 'pcre' | null;
  /** Wait for replies. Without, the command is fire-and-forget and `[]` is returned. @default false */
  reply?: boolean;
  /** Milliseconds to wait for the next reply. @default 1000 */
  timeoutMs?: number;
  /** Stop after this many replies. @default the destination length, else no limit */
  limit?: number | null;
  /** Called with each reply as it arrives. */
  onReply?: (reply: NodeReply) => void;
}

interface Pending {
  readonly collector: ReplyCollector;
  readonly timeoutMs: number;
  readonly onReply: ((reply: NodeReply) => void) | undefined;
  timer: TimerHandle | undefined;
  resolve: () => void;
}

/** Broadcasts remote-control commands and collects the replies. */
export class ControlClient {
  /** The reply address workers route replies with. */
  readonly oid: string;
  readonly #broker: Broker;
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #brokerTimeoutMs: number;
  readonly #lamport = new LamportClock();
  readonly #pending = new Map<string, Pending>();
  #consumer: Consumer | undefined;
  /** Serializes binding and unbinding the reply queue. */
  #queueOps: Promise<void> = Promise.resolve();
  /** Whether the last broker call that ended did so by brokerTimeoutMs (see close). */
  #unreachable = false;

  constructor(broker: Broker, options: ControlClientOptions = {}) {
    this.#broker = broker;
    this.#clock = options.clock ?? systemClock;
    this.#newId = options.newId ?? randomUUID;
    this.oid = options.oid ?? randomUUID();
    this.#brokerTimeoutMs = options.brokerTimeoutMs ?? 5000;
    if (!Number.isFinite(this.#brokerTimeoutMs) || this.#brokerTimeoutMs <= 0) throw new RangeError(`brokerTimeoutMs must be a number of ms > 0, got ${String(options.brokerTimeoutMs)}`);
  }

  /** The reply queue name. */
  get replyQueue(): string {
    return replyQueueName(this.oid);
  }

  /**
   * Sends `method` to the addressed workers. With `reply`, resolves with the replies
   * (`[{node: value}, ...]`, in arrival order) once the timeout or the limit ends collection.
   */
  async broadcast(method: string, options: BroadcastOptions = {}): Promise<NodeReply[]> {
    const timeoutMs = options.timeoutMs ?? 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new RangeError(`timeoutMs must be a number of ms >= 0, got ${String(options.timeoutMs)}`);
    const given = options.destination as unknown;
    // A string would have been spread into one node name per character, which no worker has
    // (Celery refuses it the same way).
    if (given !== undefined && given !== null && !(Array.isArray(given) && given.every((d) => typeof d === 'string'))) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${method}: destination must be a list of node names (["celery@host"]), got ${typeof given === 'string' ? JSON.stringify(given) : Array.isArray(given) ? 'a list with a value that is not a name' : typeof given}`);
    }
    const destination = options.destination !== undefined && options.destination !== null && options.destination.length > 0 ? [...options.destination] : null;
    const ticket = options.reply === true ? this.#newId() : undefined;
    const raw = encodeControlRequest(
      {
        method,
        arguments: options.arguments ?? {},
        destination,
        pattern: options.pattern ?? null,
        matcher: options.matcher ?? null,
        ...(ticket !== undefined ? { ticket, reply_to: { exchange: REPLY_EXCHANGE, routing_key: this.oid } } : {}),
      },
      { clock: this.#lamport.forward(), expires: timeoutMs > 0 ? (this.#clock.now() + timeoutMs) / 1000 : 0, deliveryTag: this.#newId() },
    );
    if (ticket === undefined) {
      await this.#bounded(this.#broker.publishFanout(CONTROL_EXCHANGE, '', raw), `publish ${method}`);
      return [];
    }
    const collector = new ReplyCollector({ ticket, limit: options.limit ?? null, destination });
    let pending!: Pending;
    const done = new Promise<void>((resolve) => {
      pending = { collector, timeoutMs, onReply: options.onReply, timer: undefined, resolve };
    });
    this.#pending.set(ticket, pending);
    try {
      await this.#bounded(this.#ensureReplyQueue(), `bind the reply queue for ${method}`);
      await this.#bounded(this.#broker.publishFanout(CONTROL_EXCHANGE, '', raw), `publish ${method}`);
    } catch (error) {
      // Not awaited: releasing needs the broker too, and the caller should hear at once.
      void this.#finish(ticket).catch(() => {});
      throw error;
    }
    if (collector.complete) pending.resolve();
    else if (pending.timer === undefined) this.#restartTimer(pending); // a reply may have started it already
    await done;
    await this.#finish(ticket);
    return [...collector.replies];
  }

  /**
   * Sends an inspect command and merges the replies into `{node: value}` (Celery's
   * `app.control.inspect()` result). Empty when nobody answered.
   */
  async inspect(method: string, options: Omit<BroadcastOptions, 'reply'> = {}): Promise<{ [node: string]: Json }> {
    return flattenReplies(await this.broadcast(method, { ...options, reply: true }));
  }

  /** `ping`: `{node: {ok: 'pong'}}` for every worker that answered in time. */
  ping(options: Omit<BroadcastOptions, 'reply' | 'arguments'> = {}): Promise<{ [node: string]: Json }> {
    return this.inspect('ping', options);
  }

  /**
   * Stops waiting: pending broadcasts resolve with what they have, the reply queue is released
   * (each broker call bounded by brokerTimeoutMs; a broker that is down does not stall close).
   */
  async close(): Promise<void> {
    for (const pending of this.#pending.values()) pending.resolve();
    await Promise.all([...this.#pending.keys()].map((ticket) => this.#finish(ticket).catch(() => {})));
    // A broker that just failed to answer is not waited for again: `celeriac inspect` against
    // one that is down took its error after brokerTimeoutMs, then as long again to exit.
    if (!this.#unreachable) await this.#bounded(this.#queueOps, 'close').catch(() => {});
  }

  /** Resolves as `promise`, or rejects with a {@link BrokerUnreachableError} after brokerTimeoutMs. */
  #bounded<T>(promise: Promise<T>, what: string): Promise<T> {
    const ms = this.#brokerTimeoutMs;
    let timer: TimerHandle | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      timer = this.#clock.setTimer(() => {
        this.#unreachable = true;
        reject(new BrokerUnreachableError(`remote control: the broker did not answer within ${ms} ms (${what}); is it down or unreachable?`));
      }, ms);
    });
    promise.then(() => (this.#unreachable = false), () => {}); // a late rejection after the limit is not unhandled
    return Promise.race([promise, expired]).finally(() => {
      if (timer !== undefined) this.#clock.clearTimer(timer);
    });
  }

  #restartTimer(pending: Pending): void {
    if (pending.timer !== undefined) this.#clock.clearTimer(pending.timer);
    pending.timer = this.#clock.setTimer(() => pending.resolve(), pending.timeoutMs);
  }

  /** Runs queue operations one after another; a failed one does not block the next. */
  #serial(op: () => Promise<void>): Promise<void> {
    const next = this.#queueOps.then(op);
    this.#queueOps = next.catch(() => {});
    return next;
  }

  #onDelivery(delivery: Delivery): void {
    delivery.ack().catch(() => {
      // A reply is transient: if the ack fails the queue is emptied on release anyway.
    });
    let reply: DecodedControlReply;
    try {
      reply = decodeControlReply(delivery.raw);
    } catch {
      return; // not a reply we can read; kombu would drop it too
    }
    this.#lamport.adjust(reply.clock);
    const pending = reply.ticket === null ? this.#pending.values().next().value : this.#pending.get(reply.ticket);
    if (pending === undefined) return; // a late reply to a finished broadcast
    const accepted = pending.collector.offer(reply);
    if (accepted === undefined) return;
    try {
      pending.onReply?.(accepted);
    } catch {
      // A callback error must not stop collection.
    }
    if (pending.collector.complete) pending.resolve();
    else this.#restartTimer(pending);
  }

  #ensureReplyQueue(): Promise<void> {
    return this.#serial(async () => {
      if (this.#consumer !== undefined) return;
      // Bind before publishing, or the replies of fast workers are dropped (§10.5).
      await this.#broker.bindQueue(this.replyQueue, REPLY_EXCHANGE, this.oid);
      this.#consumer = this.#broker.consume({ queues: [this.replyQueue], prefetch: 0, onDelivery: (d) => this.#onDelivery(d) });
      // A bind that finished after its broadcast gave up: nobody waits, release at once.
      if (this.#pending.size === 0) void this.#release().catch(() => {});
    });
  }

  async #finish(ticket: string): Promise<void> {
    const pending = this.#pending.get(ticket);
    if (pending === undefined) return;
    if (pending.timer !== undefined) this.#clock.clearTimer(pending.timer);
    this.#pending.delete(ticket);
    if (this.#pending.size > 0) return;
    await this.#bounded(this.#release(), 'release the reply queue');
  }

  /** Closes the reply consumer, unbinds and empties the reply queue, unless a broadcast waits. */
  #release(): Promise<void> {
    return this.#serial(async () => {
      if (this.#pending.size > 0 || this.#consumer === undefined) return;
      const consumer = this.#consumer;
      this.#consumer = undefined;
      await consumer.close();
      await this.#broker.unbindQueue(this.replyQueue, REPLY_EXCHANGE, this.oid);
      await this.#broker.purge(this.replyQueue);
    });
  }
}

// instanceof across copies of the package (errors.ts).
brandClass(BrokerUnreachableError, 'BrokerUnreachableError');
