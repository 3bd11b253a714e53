/**
 * @module worker/lost-task-watch
 * Lost-task detection where the broker keeps no record of running tasks (RabbitMQ: an early
 * ack removes the message for good). The worker records each early-acked task it starts in
 * the result backend's RunningTasks role (core/spi/running-tasks.ts) and removes the record
 * once the task's end is stored; it renews its presence there every quarter of the grace (at
 * most every 5 s), also from a thread where the store can (the Redis backend: so a task that
 * blocks the event loop does not get its neighbours reported lost), and in the same round takes the records of holders silent for
 * `lostTaskGraceSec`, which the store hands to one worker only. Those tasks are reported as
 * on Redis (lost-tasks.ts: FAILURE WorkerLostError, `task-failed`, an error line).
 * Recording is best effort: a write that fails (backend down) only loses the detection.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker, Delivery, LostDelivery } from '../core/spi/broker.js';
import type { ResultBackend } from '../core/spi/backend.js';
import { runningTaskStoreOf } from '../core/spi/roles.js';
import type { RunningTaskStore } from '../core/spi/running-tasks.js';
import { clearLongTimeout, setLongTimeout, type TimerHandle } from '../core/clock.js';
import { coerceError } from '../errors.js';
import { envelopeText } from './unreadable.js';

/** Most records one round takes. */
const LOST_BATCH = 100;

/** Longest time between two presence renewals. */
const MAX_ROUND_MS = 5000;

/** Lifecycle: `idle` until started, `running` while renewing and looking, `closed` after. */
export type LostTaskWatchState = 'idle' | 'running' | 'closed';

/** What the watch needs. */
export interface LostTaskWatchOptions {
  readonly store: RunningTaskStore;
  /** The worker's node name; the holder id adds the pid and a random part (names repeat). */
  readonly hostname: string;
  /** Silence after which a holder's tasks are lost, > 0. */
  readonly graceMs: number;
  readonly log: Logger;
  /** Reports lost tasks (lost-tasks.ts); never rejects. */
  report(lost: readonly LostDelivery[]): Promise<void>;
}

/** Time between rounds: four renewals within the grace, at most {@link MAX_ROUND_MS}. */
export function roundIntervalMs(graceMs: number): number {
  return Math.max(10, Math.min(MAX_ROUND_MS, Math.floor(graceMs / 4)));
}

/** Records this worker's early-acked tasks and reports those of silent workers; one per worker. */
export class LostTaskWatch {
  /** This worker's id in the store. */
  readonly holder: string;
  #state: LostTaskWatchState = 'idle';
  #timer: TimerHandle | undefined;
  #round: Promise<void> = Promise.resolve();
  /** Numbers records: delivery tags restart on a new AMQP channel. */
  #seq = 0;
  /** The store's presence keeper thread, when it has one. */
  #kept: { stop(): void } | null = null;
  /** A round failed and was logged; the next failures are not, until one succeeds. */
  #failing = false;

  constructor(private readonly options: LostTaskWatchOptions) {
    this.holder = `${options.hostname} pid ${process.pid} ${randomUUID().slice(0, 8)}`;
  }

  get state(): LostTaskWatchState {
    return this.#state;
  }

  /** Renews presence now, then every round, and from a thread where the store can (so a blocked loop does not lapse it). */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    this.#kept = this.options.store.keepPresence?.(this.holder, roundIntervalMs(this.options.graceMs)) ?? null;
    this.#round = this.#runRound();
  }

  /** Records `delivery`'s task as running here; the returned function removes the record. Never throws. */
  record(delivery: Delivery): () => void {
    const { store, log } = this.options;
    const tag = `${++this.#seq}:${delivery.tag}`;
    const raw = envelopeText(delivery);
    if (raw === null) {
      log.warn({ tag, queue: delivery.queue }, 'could not record a running task in the result backend (its envelope cannot be written as JSON); its loss would go unseen if this worker died');
      return () => undefined;
    }
    const written = store.recordRunning(this.holder, { tag, queue: delivery.queue, raw }).then(
      () => true,
      (err: unknown) => {
        log.warn({ err: coerceError(err), tag }, 'could not record a running task in the result backend; its loss would go unseen if this worker died');
        return false;
      },
    );
    return () => {
      void written
        .then((ok) => (ok ? store.forgetRunning(this.holder, tag) : undefined))
        .catch((err: unknown) => log.warn({ err: coerceError(err), tag }, 'could not remove the running record of a task; it is reported lost once this worker stops'));
    };
  }

  /** Stops renewing (the presence lapses; records left are reported after the grace). */
  async close(): Promise<void> {
    this.#state = 'closed';
    this.#kept?.stop();
    clearLongTimeout(this.#timer);
    await this.#round;
  }

  async #runRound(): Promise<void> {
    const { store, graceMs, log } = this.options;
    try {
      await store.renewPresence(this.holder);
      const lost = this.#state === 'running' ? await store.takeLostRunning(graceMs, LOST_BATCH) : [];
      this.#failing = false;
      // Not awaited: a slow report must not delay the next renewal past the grace.
      if (lost.length > 0) void this.options.report(lost);
    } catch (err) {
      if (!this.#failing) log.warn({ err: coerceError(err) }, 'lost-task watch: the result backend failed; retrying each round');
      this.#failing = true;
    }
    if (this.#state === 'running') this.#timer = setLongTimeout(() => (this.#round = this.#runRound()), roundIntervalMs(graceMs));
  }
}

/**
 * The watch a worker needs: none when the broker reports lost tasks itself (Redis), the
 * grace is 0, or no task acks early (a late-acked message comes back by itself); none, with a
 * warning saying so, when tasks ack early and the backend keeps no records (rpc://).
 */
export function lostTaskWatchFor(broker: Broker, backend: ResultBackend, options: Omit<LostTaskWatchOptions, 'store'> & { readonly earlyAcks: boolean }): LostTaskWatch | undefined {
  if (broker.capabilities.reportsLostTasks === true || options.graceMs === 0 || !options.earlyAcks) return undefined;
  const store = runningTaskStoreOf(backend);
  if (store === undefined) {
    options.log.warn(
      `lost tasks are not reported: the ${broker.kind} broker keeps no record of running tasks and the ${backend.kind} result backend cannot keep them; ` +
        'an early-acked task whose worker is killed stays PENDING or STARTED. Use a redis:// result backend, or late acks (docs/delivery-guarantees.md#lost-tasks)',
    );
    return undefined;
  }
  return new LostTaskWatch({ ...options, store });
}
