/**
 * @module core/early-wait
 * `await add.delay(2, 3).get()`: a send whose caller says, in the turn it sends, that it will
 * wait for the result (Celery's `add.delay(2, 3).get()`).
 *
 * Where the result backend and the broker can carry it (Redis for both, on one server: the
 * backend's RESP3 subscriber connection, `ResultStore.publishSubscribed`), the result's
 * SUBSCRIBE and the task's publish go out in one write, the SUBSCRIBE first, so the
 * subscription is in Redis before any worker can take the task: the wait then needs no read
 * after the send (a GET behind the SUBSCRIBE covers what was stored before it, for a task id
 * the caller chose; one made for the send has nothing stored), the result
 * comes as a message. A send followed by `get()` otherwise makes two or three
 * writes (the publish, a read that often comes too early, then a SUBSCRIBE and a read again),
 * and on a machine with a few cores each write costs tens of µs of CPU and a wake-up of Redis
 * (bench/rt-subscribe-first.ts measured the difference). Celery's Redis backend subscribes at
 * send too (its `on_task_call`), for every task; here only for a send that is waited for.
 *
 * The send is written in the microtask after the call, so that a `.get()` chained on it is
 * seen first. Anything else (another backend or broker, a routed or delayed send, the
 * subscriber connection not open yet, a publish that failed and is retried) makes an ordinary
 * send, and `get()` reads, then subscribes, as always (core/async-result.ts).
 */
import type { Message, ResultMeta } from '../protocol/types.js';
import { isReady } from '../protocol/states.js';
import { handEarlySubscription, type AsyncResult, type EarlySubscription, type GetOptions } from './async-result.js';
import type { ResultBackend, Unsubscribe } from './spi/backend.js';
import type { Broker, PublishOptions } from './spi/broker.js';

/** What `delay()`, `applyAsync()` and `sendTask()` return: the send, and a wait for its result. */
export interface SendPromise<R = unknown> extends Promise<AsyncResult<R>> {
  /**
   * Waits for the task's value once it is sent: `await add.delay(2, 3).get()` is
   * `(await add.delay(2, 3)).get()`, with the same options. Called in the turn of the send
   * (chained on it), on a Redis backend and broker of one server, the wait is subscribed in
   * the write that sends the task (core/early-wait.ts).
   */
  get(options?: GetOptions): Promise<R>;
}

/** A ready meta, or a listener for one: the two halves of a subscription made before its wait. */
type Heard = ((meta: ResultMeta) => void) | ResultMeta | undefined;

/** One send's subscription to its result, made with its publish. */
export class EarlyWait implements EarlySubscription {
  /** Set by `.get()` chained on the send, in the turn of the send. */
  wanted = false;
  #tried = false;
  /** Set once the publish went out behind the subscription. */
  #subscribed: Promise<Unsubscribe> | undefined;
  #heard: Heard;

  /** @param newId The task id was made for this send: nothing is stored under it yet. */
  constructor(
    private readonly taskId: string,
    private readonly backend: ResultBackend,
    private readonly broker: Broker,
    private readonly newId: boolean,
  ) {}

  /** Whether a send from `backend` and `broker` could be carried: both can, whatever the server. */
  static possible(backend: ResultBackend, broker: Broker): boolean {
    return backend.publishSubscribed !== undefined && broker.publisherOn !== undefined;
  }

  /**
   * Publishes `message` behind its result's SUBSCRIBE, or returns undefined: publish it as
   * usual. Once per send: a publish retried after a failure is an ordinary one.
   */
  publish(message: Message, options: PublishOptions): Promise<void> | undefined {
    if (!this.wanted || this.#tried) return undefined;
    this.#tried = true;
    const { backend, broker } = this;
    const carried = backend.publishSubscribed?.(this.taskId, (meta) => this.#hear(meta), (server) => broker.publisherOn?.(server, message, options), { newId: this.newId });
    if (carried === undefined) return undefined;
    const subscribed = carried.subscribed;
    // A failed SUBSCRIBE sends the wait back to reading (waitReady); nobody else awaits it.
    subscribed.catch(ignore);
    return carried.published.then(
      () => {
        this.#subscribed = subscribed;
      },
      (err: unknown) => {
        // The publish may be retried as an ordinary one; the wait will read, then subscribe.
        subscribed.then((u) => u(), ignore).catch(ignore);
        throw err;
      },
    );
  }

  /** Hands the subscription to `result`'s first wait, when the publish went out behind it. */
  bind(result: AsyncResult): void {
    if (this.#subscribed !== undefined) handEarlySubscription(result, this);
  }

  /**
   * `listener` gets the ready meta heard, at once if it came already; resolves to the
   * subscription's end. Rejects when the SUBSCRIBE failed: the wait reads instead.
   */
  attach(listener: (meta: ResultMeta) => void): Promise<Unsubscribe> {
    const heard = this.#heard;
    this.#heard = listener;
    if (typeof heard === 'object') listener(heard);
    return this.#subscribed ?? Promise.reject(new Error('not subscribed'));
  }

  #hear(meta: ResultMeta): void {
    const heard = this.#heard;
    if (typeof heard === 'function') heard(meta);
    else if (isReady(meta.status)) this.#heard = meta;
  }
}

/** `sent` with its `get()`: marks `early` wanted when chained in the turn of the send. */
export function withGet<R>(sent: Promise<AsyncResult<R>>, early?: EarlyWait): SendPromise<R> {
  const p = sent as SendPromise<R>;
  p.get = (options?: GetOptions): Promise<R> => {
    if (early !== undefined) early.wanted = true;
    return sent.then((result) => result.get(options));
  };
  return p;
}

const ignore = (): void => undefined;
