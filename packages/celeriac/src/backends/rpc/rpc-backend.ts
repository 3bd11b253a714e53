/**
 * @module backends/rpc/rpc-backend
 * Celery's `rpc://` result backend on RabbitMQ (docs/protocol-amqp.md §6): results travel
 * back to the process that sent the task as AMQP messages, nothing is stored.
 *
 * - Each process has one result queue named by its reply address (the app's `replyTo`, the
 *   `reply_to` of every task it sends): non-durable, auto-delete, `x-expires` =
 *   `resultExpiresSec` in ms, declared before the first task is published ({@link beforePublish})
 *   and consumed from then on.
 * - A worker sends each state (STARTED, custom states, the final one) to the default exchange
 *   with the task's `reply_to` as routing key and `correlation_id` = task id; body
 *   `{"task_id", "status", "result", "traceback", "children"}`, `delivery_mode` 1.
 * - `get()` reads what arrived: states are kept in memory by task id (the latest wins; at
 *   most {@link RpcBackendOptions.maxCached}, oldest dropped).
 *
 * Limits, as Celery's: results are transient (lost with the process or a broker restart,
 * never readable by another process or after `forget`); only the sender can wait for them;
 * no groups saved, no chords (they need a shared store: core/spi/roles.ts refuses them with
 * a CONFIG error before anything is sent), no revocation store (revokes go by broadcast).
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { PublishTemplate, publishFrames } from '../../amqp/publish-frames.js';
import { ChannelSlot } from '../../amqp/channel-slot.js';
import { AmqpSession, type AmqpLoginMethod, type ConfirmChannel } from '../../amqp/session.js';
import { typeTable } from '../../amqp/tables.js';
import { rpcQueueSpec } from '../../amqp/topology.js';
import { parseAmqpUrls, type AmqpUseSsl } from '../../amqp/url.js';
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import type { ResultBackend, StoreOptions, Unsubscribe } from '../../core/spi/backend.js';
import type { TransportLog } from '../../core/transport-table.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import { pyJsonStringify } from '../../protocol/py-json.js';
import { decodeResultMeta } from '../../protocol/result.js';
import type { ResultMeta } from '../../protocol/types.js';

/** Options of {@link RpcBackend}. */
export interface RpcBackendOptions {
  /** The broker's AMQP URL (rpc:// rides on the broker). */
  brokerUrl: string;
  /** The broker's TLS settings, the app's `brokerUseSsl` (Celery's `broker_use_ssl`). @default false */
  useSsl?: AmqpUseSsl;
  /** The broker's login, the app's `brokerLoginMethod` (Celery's `broker_login_method`). @default PLAIN */
  loginMethod?: AmqpLoginMethod;
  /** Longest wait for a connection before an operation fails: the broker's `connectWaitMs`. @default 30000 */
  connectWaitMs?: number;
  /** Longest wait for a reply (a result's confirm) before the connection counts as dead: the broker's `replyTimeoutMs`. @default 30000 */
  replyTimeoutMs?: number;
  /** This process's reply address: the name of its result queue. */
  replyTo: string;
  /** `resultExpiresSec` in seconds: the result queue's `x-expires`. null: none. */
  resultExpiresSec: number | null;
  log?: TransportLog;
  /** Most task states kept in memory. @default 10000 */
  maxCached?: number;
}

const READY = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

type Listener = (meta: ResultMeta) => void;

const DONE: Promise<void> = Promise.resolve();

/**
 * Waits before consuming the result queue again after its channel closed with the connection
 * alive: a cancel comes back at once, a declare that keeps failing (the queue exists with other
 * arguments) is retried less and less often, not five times a second for good.
 */
const RECONSUME_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 200, growth: { factor: 2 }, maxMs: 5000 });

/** A state this process sent to its own result queue (see RpcBackend.store). */
interface OwnSend {
  readonly text: string;
  readonly meta: ResultMeta;
  known: boolean;
}

/** The properties of every result message (Celery's), encoded once: see amqp/publish-frames.ts. */
const RESULT_MESSAGE = new PublishTemplate({ contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 1, priority: 0 });

/** The `rpc://` result backend. */
export class RpcBackend implements ResultBackend {
  readonly kind = 'rpc';
  readonly #session: AmqpSession;
  readonly #publisher: ChannelSlot<ConfirmChannel>;
  readonly #cache = new Map<string, ResultMeta>();
  /** Who waits for each task id: one listener, or several (rare: two get() of one id at once). */
  readonly #listeners = new Map<string, Listener | Listener[]>();
  readonly #maxCached: number;
  readonly #log: TransportLog;
  #consuming: Promise<void> | undefined;
  #consumingGeneration = -1;
  /** The channel the result queue was last consumed on. */
  #replyChannel: Channel | undefined;
  /** Waits between attempts to consume again after that channel closed; reset once consuming. */
  readonly #reconsume = new Backoff(RECONSUME_BACKOFF);
  /** States this process sent to itself whose echo has not come back yet, by task id, in order. */
  readonly #ownSends = new Map<string, OwnSend[]>();
  /** The result queue is consumed on the session's current connection: subscribe needs no wait. */
  #consumed = false;
  #closed = false;

  constructor(private readonly options: RpcBackendOptions) {
    if (!/^(amqps?|pyamqp):\/\//i.test(options.brokerUrl)) {
      throw new CeleriacError(ErrorCodes.CONFIG, 'the rpc:// result backend sends results over the broker: it needs an amqp:// (RabbitMQ) broker');
    }
    this.#log = options.log ?? (() => undefined);
    this.#maxCached = options.maxCached ?? 10_000;
    this.#session = new AmqpSession(parseAmqpUrls(options.brokerUrl, options.useSsl), {
      log: this.#log,
      connectionName: 'celeriac rpc',
      ...(options.connectWaitMs === undefined ? {} : { waitMs: options.connectWaitMs }),
      ...(options.replyTimeoutMs === undefined ? {} : { replyTimeoutMs: options.replyTimeoutMs }),
      ...(options.loginMethod === undefined ? {} : { loginMethod: options.loginMethod }),
    });
    this.#publisher = new ChannelSlot<ConfirmChannel>(this.#session, true);
    this.#session.onReconnect(() => {
      // The result queue is non-durable: a broker restart deleted it. Declare and consume again.
      if (this.#consuming !== undefined) this.#startConsuming().catch((err: unknown) => this.#log('warn', 'rpc:// could not consume its result queue again', { err: coerceError(err) }));
    });
  }

  async connect(): Promise<void> {
    await this.#session.connection();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    await this.#session.close();
  }

  /** Declares this process's result queue and consumes it (once per connection). */
  async beforePublish(): Promise<void> {
    if (this.#consuming !== undefined && this.#consumingGeneration === this.#session.generation && this.#session.connected) return this.#consuming;
    return this.#startConsuming();
  }

  #startConsuming(): Promise<void> {
    this.#consumed = false;
    // A new result queue: echoes owed by the old one never come (the confirm already made them known).
    this.#ownSends.clear();
    const p = this.#consume();
    this.#consuming = p;
    p.then(
      () => {
        if (this.#consuming !== p) return;
        this.#consumed = true;
        this.#reconsume.reset();
      },
      () => {
        if (this.#consuming === p) this.#consuming = undefined;
      },
    );
    return p;
  }

  /** True while the result queue is consumed on the live connection (beforePublish would return at once). */
  #consumingNow(): boolean {
    return this.#consumed && this.#consumingGeneration === this.#session.generation && this.#session.connected;
  }

  async #consume(): Promise<void> {
    if (this.#closed) throw new CeleriacError(ErrorCodes.STATE, 'rpc backend is closed');
    await this.#session.connection();
    const generation = (this.#consumingGeneration = this.#session.generation);
    const channel = await this.#session.openChannel();
    this.#replyChannel = channel;
    channel.on('error', (err: Error) => this.#log('warn', 'rpc:// result channel closed', { err }));
    channel.on('close', () => {
      if (this.#replyChannel !== channel) return;
      this.#consumed = false;
      // Closed by a channel error while its connection lives: consume again. After a lost
      // connection the session's reconnect does, and by then this channel is not the one (the
      // connection's close reaches its channels first, while the session still says connected).
      setTimeout(() => {
        if (!this.#closed && this.#replyChannel === channel && this.#session.connected && this.#session.generation === generation) this.#startConsuming().catch(() => undefined);
      }, this.#reconsume.next()).unref();
    });
    const queue = this.options.replyTo;
    const spec = rpcQueueSpec(this.options.resultExpiresSec);
    await channel.assertQueue(queue, { durable: spec.durable, autoDelete: spec.autoDelete, exclusive: false, arguments: typeTable(spec.arguments) });
    // A cancel from RabbitMQ (the queue deleted, or its node gone) closes the channel, and the close
    // handler above consumes again, declaring the queue anew.
    await channel.consume(queue, (msg) => (msg === null ? void channel.close().catch(() => undefined) : this.#onMessage(msg)), { noAck: true });
  }

  #onMessage(msg: ConsumeMessage): void {
    const text = msg.content.toString('utf8');
    let meta: ResultMeta;
    try {
      meta = decodeResultMeta(text);
    } catch (err) {
      this.#log('warn', 'rpc:// dropped an undecodable result message', { err: coerceError(err) });
      return;
    }
    const own = this.#ownSends.get(meta.task_id);
    if (own !== undefined && own[0]?.text === text) {
      // The echo of a state this process sent itself: known once, whichever came first.
      const send = own.shift() as OwnSend;
      if (own.length === 0) this.#ownSends.delete(meta.task_id);
      this.#rememberOwn(send);
      return;
    }
    this.#remember(meta);
  }

  #rememberOwn(send: OwnSend): void {
    if (send.known) return;
    send.known = true;
    this.#remember(send.meta);
  }

  #forgetOwn(send: OwnSend): void {
    const own = this.#ownSends.get(send.meta.task_id);
    const at = own?.indexOf(send) ?? -1;
    if (own === undefined || at < 0) return;
    own.splice(at, 1);
    if (own.length === 0) this.#ownSends.delete(send.meta.task_id);
  }

  #remember(meta: ResultMeta): void {
    const id = meta.task_id;
    const known = this.#cache.get(id);
    if (known !== undefined && known.status === 'SUCCESS') return;
    this.#cache.delete(id);
    this.#cache.set(id, meta);
    while (this.#cache.size > this.#maxCached) this.#cache.delete(this.#cache.keys().next().value as string);
    const waiting = this.#listeners.get(id);
    if (typeof waiting === 'function') waiting(meta);
    else if (waiting !== undefined) for (const listener of [...waiting]) listener(meta);
  }

  /**
   * Sends `meta` to the task's sender (`options.replyTo`), as a Celery worker does. Every task
   * passes here: with the channel open, no async frame (see amqp/publish-frames.ts).
   */
  store(meta: ResultMeta, options: StoreOptions): Promise<void> {
    try {
      const replyTo = options.replyTo ?? this.options.replyTo;
      const text = pyJsonStringify({ task_id: meta.task_id, status: meta.status, result: meta.result, traceback: meta.traceback, children: meta.children });
      const body = Buffer.from(text, 'utf8');
      // A state for this process itself (app.storeState, eager-like paths) comes back on its own
      // result queue too: it is known once, at the confirm or the echo, whichever comes first,
      // as a copy (the caller may change its object afterwards). Made before anything is sent.
      const send = replyTo === this.options.replyTo ? this.#expectEcho(text, meta) : undefined;
      const open = this.#publisher.current();
      const sent = open !== undefined ? this.#send(open, meta, replyTo, body) : this.#publisher.get().then((channel) => this.#send(channel, meta, replyTo, body));
      if (send === undefined) return sent;
      return sent.then(
        () => this.#rememberOwn(send),
        (err: unknown) => {
          this.#forgetOwn(send);
          throw err;
        },
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Records a state this process sends itself, so its echo is recognised (at most `maxCached` task ids). */
  #expectEcho(text: string, meta: ResultMeta): OwnSend {
    const send: OwnSend = { text, meta: structuredClone(meta), known: false };
    const own = this.#ownSends.get(meta.task_id);
    if (own !== undefined) {
      own.push(send);
      return send;
    }
    this.#ownSends.set(meta.task_id, [send]);
    // An echo that never comes (its queue gone without a reconnect) must not pile up.
    if (this.#ownSends.size > this.#maxCached) this.#ownSends.delete(this.#ownSends.keys().next().value as string);
    return send;
  }

  #send(channel: ConfirmChannel, meta: ResultMeta, replyTo: string, body: Buffer): Promise<void> {
    const confirmed = new Promise<void>((resolve, reject) => {
      // A result too large for RabbitMQ is refused for good: the worker stores that failure instead.
      const failed = (err: unknown) =>
        reject(
          this.#publisher.refusedAsTooLarge(channel, `the result of ${meta.task_id}`) ??
            new CeleriacError(ErrorCodes.TRANSPORT, `rpc:// could not send the result of ${meta.task_id}: ${coerceError(err).message}`, { cause: err }),
        );
      try {
        publishFrames(channel, RESULT_MESSAGE, '', replyTo, meta.task_id, body, (err: unknown) => (err ? failed(err) : resolve()));
      } catch (err) {
        failed(err);
      }
    });
    return this.#session.awaitReply(confirmed, 'a result (its confirm)');
  }

  // The reads below answer from memory: no async frame, since get() of many results calls
  // each once per task (bench/README.md, RabbitMQ: the client's CPU per result).
  get(taskId: string): Promise<ResultMeta | null> {
    return Promise.resolve(this.#read(taskId));
  }

  getMany(taskIds: readonly string[]): Promise<(ResultMeta | null)[]> {
    return Promise.resolve(taskIds.map((id) => this.#read(id)));
  }

  /** A copy of what is known of `taskId`: a caller may change what it reads. */
  #read(taskId: string): ResultMeta | null {
    const meta = this.#cache.get(taskId);
    return meta === undefined ? null : structuredClone(meta);
  }

  subscribe(taskId: string, listener: Listener): Promise<Unsubscribe> {
    if (this.#consumingNow()) return Promise.resolve(this.#listen(taskId, listener));
    return this.beforePublish().then(() => this.#listen(taskId, listener));
  }

  #listen(taskId: string, listener: Listener): Unsubscribe {
    const waiting = this.#listeners.get(taskId);
    if (waiting === undefined) this.#listeners.set(taskId, listener);
    else if (typeof waiting === 'function') this.#listeners.set(taskId, [waiting, listener]);
    else waiting.push(listener);
    return () => {
      this.#unlisten(taskId, listener);
      return DONE;
    };
  }

  #unlisten(taskId: string, listener: Listener): void {
    const waiting = this.#listeners.get(taskId);
    if (waiting === listener) {
      this.#listeners.delete(taskId);
    } else if (Array.isArray(waiting)) {
      const at = waiting.indexOf(listener);
      if (at >= 0) waiting.splice(at, 1);
      if (waiting.length === 0) this.#listeners.delete(taskId);
    }
  }

  async forget(taskId: string): Promise<void> {
    this.#cache.delete(taskId);
  }

  /** True when a final state of `taskId` arrived. */
  isReady(taskId: string): boolean {
    const meta = this.#cache.get(taskId);
    return meta !== undefined && READY.has(meta.status);
  }
}
