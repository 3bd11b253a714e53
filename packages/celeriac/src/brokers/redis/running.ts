/**
 * @module brokers/redis/running
 * Early-acked tasks that run now, recorded in Redis so that a worker's death does not leave
 * them unseen. With early acks the message is gone from kombu's bookkeeping once its task
 * starts; if the worker is then killed, nothing would ever say the task ended. The ack itself
 * records such a task in `celeriac.running` (ack.lua writes the broker id under the tag and
 * leaves the message's entry in kombu's unacked hash, out of kombu's index: no command, no
 * envelope on the wire and no copy of it in Redis), and the record is removed, with that
 * entry, once the task's end was stored, by the next ack call (transitions.ts forgetRunning).
 * The recovery sweep of every consuming broker takes, once, each record whose broker stopped
 * advertising its presence (`celeriac.promoters`, renewed every `leaseRenewMs`, by the lease
 * keeper thread while the event loop is blocked) for longer than `lostTaskGraceSec`, with the
 * one lost-task mechanism the Redis result backend uses too (redis/lost-tasks.ts). The worker
 * then reports the task lost (WorkerLostError). Recording is best effort: a write that fails
 * (Redis down) only loses the detection.
 *
 * A record is left out when nothing could go unseen: the task's end was handed to the result
 * backend before its ack went out, and that backend stores on this broker's connection
 * (redis/shared-commands.ts), where a turn's result stores are written before its acks, in the
 * same write. If the worker dies, the store and the ack both land, or the store alone (the
 * message comes back when its lease lapses), or neither; never the ack without the store. Most
 * tasks end within the turn they start in, and their record, written then removed, was a
 * quarter of what Redis spent per task. If that store fails, the task is recorded whole while
 * the worker retries it (worker/redelivery.ts).
 */
import type { BrokerKeys } from '../../redis/keys.js';
import { takeLostTasks, type TakenLost } from '../../redis/lost-tasks.js';
import type { AckedHeld, SendCommand, Transitions } from './transitions.js';
import type { TransportLog } from '../../core/transport-table.js';

/** A delivery as its running record needs it. */
type RunningDelivery = AckedHeld & { readonly state: string; readonly queue: string; readonly raw: string };

/** Most lost records one sweep hands out. */
const LOST_BATCH = 100;

/** The running-task records of one broker. */
export class RunningRecords {

  constructor(
    private readonly send: SendCommand,
    /** Its ack calls carry the removals (transitions.ts forgetRunning). */
    private readonly transitions: Pick<Transitions, 'forgetRunning'>,
    private readonly keys: BrokerKeys,
    /** The broker's id, as in celeriac.promoters. */
    private readonly brokerId: string,
    private readonly log: TransportLog | undefined,
    /** Whether the app's result stores go out on this broker's connection, before its acks (see above). */
    private readonly storesBeforeAcks: () => boolean = () => false,
  ) {}

  /**
   * Records `d`'s task as running here until the returned call. A delivery not acked yet is
   * recorded by its ack (see {@link AckedHeld}); one acked already, by a write of its own.
   */
  record(d: RunningDelivery): () => void {
    if (d.state === 'held') {
      d.running = 'pending';
      return () => {
        // Not sent yet: the ack goes out without it. Sent: the removal follows the ack on the
        // same connection, so it lands after the record.
        const was = d.running;
        d.running = 'none';
        if (was === 'sent') this.#forget(d.tag);
        else if (was === 'late') void this.#late.get(d)?.then((ok) => ok && this.#forget(d.tag));
      };
    }
    const written = this.#writeWhole(d);
    return () => void written.then((ok) => ok && this.#forget(d.tag));
  }

  /**
   * The end of `d`'s task is being stored by `stored`: while its ack has not gone out, and the
   * store goes out before it on this connection, its record is left out (see above).
   */
  storing(d: RunningDelivery, stored: Promise<unknown>): void {
    if (d.running !== 'pending' || !this.storesBeforeAcks()) return;
    d.running = 'left-out';
    stored.then(undefined, () => {
      if (d.running !== 'left-out') return;
      d.running = 'late';
      this.#late.set(d, this.#writeWhole(d));
    });
  }

  /** Whole records written after a failed store (rare), until their removal. */
  readonly #late = new WeakMap<RunningDelivery, Promise<boolean>>();

  /** A record holding the message itself: its unacked entry is gone with its ack, or goes with it. */
  #writeWhole(d: RunningDelivery): Promise<boolean> {
    const value = `${this.brokerId} [${d.raw}, "", ${JSON.stringify(d.queue)}]`;
    return this.send((c) => c.hSet(this.keys.running, d.tag, value)).then(
      () => true,
      (error: unknown) => {
        this.log?.('warn', 'could not record a running task; its loss would go unseen if this worker died', { tag: d.tag, queue: d.queue, err: error as Error });
        return false;
      },
    );
  }

  #forget(tag: string): void {
    this.transitions.forgetRunning(tag, this.#removalFailed);
  }

  readonly #removalFailed = (error: unknown): void => {
    this.log?.('warn', 'could not remove running-task records; they are reported lost once this worker stops, and the report finds their end stored', { err: error as Error });
  };

  /**
   * Takes the records of brokers silent for at least `graceMs` (redis/lost-tasks.ts); each is
   * returned once. A call reads a stretch of the fleet's records, going on from where the last
   * call of any worker stopped; a finished pass rests the walk `restMs` (the sweep's period).
   * `more`: the pass is not finished (go on soon).
   */
  takeLost(nowMs: number, graceMs: number, restMs = 0): Promise<TakenLost> {
    const keys = { records: this.keys.running, presence: this.keys.promoters, entries: this.keys.unacked, walk: this.keys.runningWalk };
    return this.send((c) => takeLostTasks(c, keys, { graceMs, limit: LOST_BATCH, nowMs, completePresence: false, restMs }));
  }
}
