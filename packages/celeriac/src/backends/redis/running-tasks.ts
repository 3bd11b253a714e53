/**
 * @module backends/redis/running-tasks
 * The Redis backend's RunningTasks role (core/spi/running-tasks.ts): early-acked tasks that
 * run now on a worker whose broker keeps no record of them (RabbitMQ), in one hash
 * `celeriac:running`, and each holder's last sign of life in `celeriac:running.holders`, by
 * the Redis server's clock. Records and removals made in one event-loop turn go out as one
 * call each (a busy worker starts and ends many tasks per turn); running-lost.lua hands out,
 * once, the records of holders silent for the grace period.
 */
import type { LostDelivery } from '../../core/spi/broker.js';
import type { RunningTask } from '../../core/spi/running-tasks.js';
import type { BackendKeys } from '../../redis/keys.js';
import { loadScript, runScript } from '../../redis/script.js';
import { TickBatch } from '../../redis/tick-batch.js';
import type { RunCommand } from './chord.js';

const RUNNING_RECORD = loadScript(new URL('./scripts/running-record.lua', import.meta.url));
const RUNNING_LOST = loadScript(new URL('./scripts/running-lost.lua', import.meta.url));

/** One write of running-record.lua: a holder, and a record (field '' for presence only). */
interface RecordItem {
  readonly holder: string;
  readonly field: string;
  readonly value: string;
}

/** The hash field of a record: unique across holders (delivery tags are not, on RabbitMQ). */
const fieldOf = (holder: string, tag: string): string => `${holder} ${tag}`;

/** The running-task records of one Redis backend. */
export class RedisRunningTasks {
  readonly #records: TickBatch<RecordItem, void>;
  readonly #removals: TickBatch<string, void>;

  constructor(
    private readonly run: RunCommand,
    private readonly keys: BackendKeys,
  ) {
    this.#records = new TickBatch((items) => this.#write(items));
    this.#removals = new TickBatch((fields) => this.run(`forget ${fields.length} running tasks`, (c) => c.hDel(this.keys.running, [...fields])).then(() => fields.map(() => undefined)));
  }

  record(holder: string, task: RunningTask): Promise<void> {
    return this.#records.add({ holder, field: fieldOf(holder, task.tag), value: JSON.stringify([holder, task.tag, task.queue, task.raw]) });
  }

  forget(holder: string, tag: string): Promise<void> {
    return this.#removals.add(fieldOf(holder, tag));
  }

  renew(holder: string): Promise<void> {
    return this.#records.add({ holder, field: '', value: '' });
  }

  async takeLost(graceMs: number, limit: number): Promise<LostDelivery[]> {
    const k = this.keys;
    const flat = (await this.run('take lost running tasks', (c) => runScript(c, RUNNING_LOST, [k.running, k.runningHolders], [String(Math.max(0, Math.round(graceMs))), String(limit)]))) as string[];
    const lost: LostDelivery[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      lost.push({ tag: String(flat[i]), holder: String(flat[i + 1]), queue: String(flat[i + 2]), raw: String(flat[i + 3]) });
    }
    return lost;
  }

  #write(items: readonly RecordItem[]): Promise<readonly void[]> {
    const args = items.flatMap((i) => [i.holder, i.field, i.value]);
    const what = items.length === 1 ? 'record a running task' : `record ${items.length} running tasks`;
    return this.run(what, (c) => runScript(c, RUNNING_RECORD, [this.keys.running, this.keys.runningHolders], args)).then(() => items.map(() => undefined));
  }
}
