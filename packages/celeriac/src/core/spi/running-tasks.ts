/**
 * @module core/spi/running-tasks
 * The RunningTasks role of a result backend: where a worker records the early-acked tasks it
 * runs, for brokers that keep no such record themselves (RabbitMQ: an early ack removes the
 * message for good, and nothing would ever say that a killed worker's task ended). Each
 * worker renews its presence while it lives; once a holder has been silent for the grace
 * period, one live worker takes its records and reports the tasks lost (worker/lost-tasks.ts,
 * as the Redis broker's own records are: brokers/redis/running.ts). A backend without the
 * role (rpc://) leaves such tasks unreported; the worker says so when it starts.
 * Time is the store's own (the Redis server's clock), so hosts need not agree on it.
 */
import type { LostDelivery } from './broker.js';

/** One early-acked task running on a worker. */
export interface RunningTask {
  /** Unique within its holder (the delivery tag). */
  readonly tag: string;
  readonly queue: string;
  /** The kombu envelope text as delivered. */
  readonly raw: string;
}

/** The RunningTasks role. */
export interface RunningTaskStore {
  /** Records that `holder` runs `task` now, and renews the holder's presence. */
  recordRunning(holder: string, task: RunningTask): Promise<void>;
  /** Removes the record of `tag` held by `holder` (its task's end was stored). */
  forgetRunning(holder: string, tag: string): Promise<void>;
  /** `holder` is alive now. */
  renewPresence(holder: string): Promise<void>;
  /**
   * Optional: renews `holder`'s presence every `everyMs` off the event loop (a worker thread),
   * so that a task blocking the worker's loop does not make its other tasks look lost; null
   * when it cannot (the caller's own renewals then carry the presence alone).
   */
  keepPresence?(holder: string, everyMs: number): { stop(): void } | null;
  /**
   * Removes and returns (at most `limit`) records whose holder has been silent for at least
   * `graceMs`, each to one caller only, in one atomic step.
   */
  takeLostRunning(graceMs: number, limit: number): Promise<LostDelivery[]>;
}
