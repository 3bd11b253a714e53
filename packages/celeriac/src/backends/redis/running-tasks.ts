/**
 * @module backends/redis/running-tasks
 * The Redis backend's RunningTasks role (core/spi/running-tasks.ts): early-acked tasks that
 * run now on a worker whose broker keeps no record of them (RabbitMQ), in one hash
 * `celeriac:running`, and each holder's last sign of life in `celeriac:running.holders`, by
 * the Redis server's clock. Records and removals made in one event-loop turn go out as one
 * call each (a busy worker starts and ends many tasks per turn). The records and the way they
 * are taken once their holder is silent for the grace period are the Redis broker's
 * (redis/lost-tasks.ts): one lost-task mechanism.
 */
import type { LostDelivery } from '../../core/spi/broker.js';
import type { RunningTask } from '../../core/spi/running-tasks.js';
import type { BackendKeys } from '../../redis/keys.js';
import { holderId, lostTaskRecord, takeLostTasks } from '../../redis/lost-tasks.js';
import { startPresenceKeeper, type PresenceKeeper } from '../../redis/presence-keeper.js';
import type { RedisTarget } from '../../redis/url.js';
import { loadScript, runScript } from '../../redis/script.js';
import { TickBatch } from '../../redis/tick-batch.js';
import type { RunCommand } from './chord.js';
import type { TransportLog } from '../../core/transport-table.js';

const RUNNING_RECORD = loadScript(new URL('./scripts/running-record.lua', import.meta.url));

/** One write of running-record.lua: a holder, and a record (field '' for presence only). */
interface RecordItem {
  readonly holder: string;
  readonly field: string;
  readonly value: string;
}

/** The hash field of a record: unique across holders (delivery tags are not, on RabbitMQ). */
const fieldOf = (holder: string, tag: string): string => `${holder} ${tag}`;

/** The delivery tag of a record field `<holder> <tag>`. */
const tagOfField = (field: string, holder: string): string => (field.startsWith(`${holder} `) ? field.slice(holder.length + 1) : field);

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
    const id = holderId(holder);
    return this.#records.add({ holder: id, field: fieldOf(id, task.tag), value: lostTaskRecord(id, task.queue, task.raw) });
  }

  forget(holder: string, tag: string): Promise<void> {
    return this.#removals.add(fieldOf(holderId(holder), tag));
  }

  renew(holder: string): Promise<void> {
    return this.#records.add({ holder: holderId(holder), field: '', value: '' });
  }

  /** Renews `holder`'s presence from a thread every `everyMs` (a running-record.lua call with no record). */
  keepPresence(holder: string, everyMs: number, o: { readonly target: RedisTarget; readonly commandTimeoutMs: number; readonly log: TransportLog }): PresenceKeeper | null {
    const keys = [this.keys.running, this.keys.runningHolders];
    return startPresenceKeeper({ target: o.target, script: RUNNING_RECORD, keys, args: [holderId(holder), '', ''], everyMs, commandTimeoutMs: o.commandTimeoutMs }, o.log);
  }

  takeLost(graceMs: number, limit: number): Promise<LostDelivery[]> {
    const keys = { records: this.keys.running, presence: this.keys.runningHolders };
    // The Redis server's clock: presence is written by it (running-record.lua).
    return this.run('take lost running tasks', async (c) => (await takeLostTasks(c, keys, { graceMs, limit, completePresence: true, tagOf: tagOfField })).lost);
  }

  #write(items: readonly RecordItem[]): Promise<readonly void[]> {
    const args = items.flatMap((i) => [i.holder, i.field, i.value]);
    const what = items.length === 1 ? 'record a running task' : `record ${items.length} running tasks`;
    return this.run(what, (c) => runScript(c, RUNNING_RECORD, [this.keys.running, this.keys.runningHolders], args)).then(() => items.map(() => undefined));
  }
}
