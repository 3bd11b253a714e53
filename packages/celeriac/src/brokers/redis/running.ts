/**
 * @module brokers/redis/running
 * Early-acked tasks that run now, recorded in Redis so that a worker's death does not leave
 * them unseen. With early acks the message is gone from kombu's bookkeeping once its task
 * starts; if the worker is then killed, nothing would ever say the task ended. The ack itself
 * records such a task in `celeriac.running` (ack.lua moves its unacked entry there, prefixed
 * with the broker id: no command and no envelope on the wire of its own), and the record is
 * removed once the task's end was stored, by the next ack call (transitions.ts forgetRunning).
 * The recovery sweep of every consuming broker runs lost-running.lua, which hands out, once,
 * each record whose broker stopped advertising its presence (`celeriac.promoters`, renewed
 * every `leaseRenewMs`) for longer than `lostTaskGraceSec`. The worker then reports the task
 * lost (WorkerLostError). Recording is best effort: a write that fails (Redis down) only
 * loses the detection.
 */
import { loadScript, runScript } from '../../redis/script.js';
import type { BrokerKeys } from '../../redis/keys.js';
import type { RedisLog } from '../../redis/client.js';
import type { LostDelivery } from '../../core/spi/broker.js';
import type { AckedHeld, SendCommand, Transitions } from './transitions.js';

const LOST_RUNNING = loadScript(new URL('./scripts/lost-running.lua', import.meta.url));

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
    private readonly log: RedisLog | undefined,
  ) {}

  /**
   * Records `d`'s task as running here until the returned call. A delivery not acked yet is
   * recorded by its ack (see {@link AckedHeld}); one acked already, by a write of its own.
   */
  record(d: AckedHeld & { readonly state: string; readonly queue: string; readonly raw: string }): () => void {
    if (d.state === 'held') {
      d.running = 'pending';
      return () => {
        // Not sent yet: the ack goes out without it. Sent: the removal follows the ack on the
        // same connection, so it lands after the record.
        if (d.running === 'sent') this.#forget(d.tag);
        d.running = 'none';
      };
    }
    const value = `${this.brokerId} 0 [${d.raw}, "", ${JSON.stringify(d.queue)}]`;
    const written = this.send((c) => c.hSet(this.keys.running, d.tag, value)).then(
      () => true,
      (error: unknown) => {
        this.log?.('warn', `could not record running task ${d.tag}; its loss would go unseen if this worker died`, error as Error);
        return false;
      },
    );
    return () => void written.then((ok) => ok && this.#forget(d.tag));
  }

  #forget(tag: string): void {
    this.transitions.forgetRunning(tag, this.#removalFailed);
  }

  readonly #removalFailed = (error: unknown): void => {
    this.log?.('warn', 'could not remove running-task records; they are reported lost once this worker stops, and the report finds their end stored', error as Error);
  };

  /** Takes the records orphaned for at least `graceMs` (lost-running.lua); each is returned once. */
  async takeLost(nowMs: number, graceMs: number): Promise<LostDelivery[]> {
    const k = this.keys;
    const flat = (await this.send((c) => runScript(c, LOST_RUNNING, [k.running, k.promoters], [String(nowMs), String(graceMs), String(LOST_BATCH)]))) as string[];
    const lost: LostDelivery[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) lost.push({ tag: String(flat[i]), holder: String(flat[i + 1]), ...fromUnacked(String(flat[i + 2])) });
    return lost;
  }
}

/**
 * Queue and envelope of a kombu unacked entry, `[envelope, "", queue]` (fetch.lua keeps a
 * malformed envelope there as a JSON string); the entry as it is when it cannot be read, so
 * that the report says the message cannot be read.
 */
function fromUnacked(entry: string): { queue: string; raw: string } {
  try {
    const [envelope, , queue] = JSON.parse(entry) as [unknown, unknown, unknown];
    return { queue: String(queue), raw: typeof envelope === 'string' ? envelope : JSON.stringify(envelope) };
  } catch {
    return { queue: '', raw: entry };
  }
}
