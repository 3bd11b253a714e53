/**
 * @module brokers/redis/running
 * Early-acked tasks that run now, recorded in Redis so that a worker's death does not leave
 * them unseen. With early acks the message is gone from kombu's bookkeeping once its task
 * starts; if the worker is then killed, nothing would ever say the task ended. Each consumer
 * records such a task in `celeriac.running` (tag -> its broker id, queue and envelope) and
 * removes the record once the task's end was stored; the recovery sweep of every consuming
 * broker runs lost-running.lua, which hands out, once, each record whose broker stopped
 * advertising its presence (`celeriac.promoters`, renewed every `leaseRenewMs`) for longer
 * than `lostTaskGraceSec`. The worker then reports the task lost (WorkerLostError).
 * Recording is best effort: a write that fails (Redis down) only loses the detection.
 */
import { loadScript, runScript } from '../../redis/script.js';
import type { BrokerKeys } from '../../redis/keys.js';
import type { RedisLog } from '../../redis/client.js';
import type { LostDelivery } from '../../core/spi/broker.js';
import type { SendCommand } from './transitions.js';

const LOST_RUNNING = loadScript(new URL('./scripts/lost-running.lua', import.meta.url));

/** Most lost records one sweep hands out. */
const LOST_BATCH = 100;

/** The running-task records of one broker. */
export class RunningRecords {
  constructor(
    private readonly send: SendCommand,
    private readonly keys: BrokerKeys,
    /** The broker's id, as in celeriac.promoters. */
    private readonly brokerId: string,
    private readonly log: RedisLog | undefined,
  ) {}

  /** Records delivery `tag` as running here; the returned function removes the record. */
  record(tag: string, queue: string, raw: string): () => void {
    const key = this.keys.running;
    const value = JSON.stringify([this.brokerId, queue, raw, 0]);
    const written = this.send((c) => c.hSet(key, tag, value)).then(
      () => true,
      (error: unknown) => {
        this.log?.('warn', `could not record running task ${tag}; its loss would go unseen if this worker died`, error as Error);
        return false;
      },
    );
    return () => {
      void written.then((ok) => (ok ? this.send((c) => c.hDel(key, tag)) : 0)).catch((error: unknown) => {
        this.log?.('warn', `could not remove the running record of ${tag}; it is reported lost once this worker stops`, error as Error);
      });
    };
  }

  /** Takes the records orphaned for at least `graceMs` (lost-running.lua); each is returned once. */
  async takeLost(nowMs: number, graceMs: number): Promise<LostDelivery[]> {
    const k = this.keys;
    const flat = (await this.send((c) => runScript(c, LOST_RUNNING, [k.running, k.promoters], [String(nowMs), String(graceMs), String(LOST_BATCH)]))) as string[];
    const lost: LostDelivery[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      lost.push({ tag: String(flat[i]), holder: String(flat[i + 1]), queue: String(flat[i + 2]), raw: String(flat[i + 3]) });
    }
    return lost;
  }
}
