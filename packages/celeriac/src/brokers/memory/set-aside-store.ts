/**
 * @module brokers/memory/set-aside-store
 * The memory broker's set-aside store: records of parked messages (malformed ones, dead
 * letters), oldest first, bounded by count and bytes as on Redis (core/set-aside.ts): past
 * either bound the oldest are dropped and reported. Ids are computed as Redis computes them,
 * from the record's JSON text.
 */
import { setAsideId, type SetAsideLimits } from '../../core/set-aside.js';
import type { SetAsideRecord } from '../../core/spi/broker.js';

/** What parking one record dropped to stay within the bounds. */
export interface DroppedRecords {
  readonly count: number;
  readonly bytes: number;
  readonly firstId: string;
}

interface Stored {
  readonly record: SetAsideRecord;
  readonly bytes: number;
}

/** Records parked in process memory. */
export class SetAsideStore {
  readonly #records: Stored[] = [];
  #bytes = 0;

  constructor(private readonly limits: SetAsideLimits) {}

  /** Parks a record; drops the oldest ones past the bounds (never the new one). */
  park(fields: Omit<SetAsideRecord, 'id'>): DroppedRecords {
    const text = JSON.stringify({ raw: fields.raw, queue: fields.queue, reason: fields.reason, at: fields.at });
    const bytes = Buffer.byteLength(text, 'utf8');
    this.#records.push({ record: { id: setAsideId(text), ...fields }, bytes });
    this.#bytes += bytes;
    let count = 0;
    let freed = 0;
    let firstId = '';
    while (this.#records.length > 1 && (this.#records.length > this.limits.maxCount || this.#bytes > this.limits.maxBytes)) {
      const oldest = this.#records.shift() as Stored;
      if (firstId === '') firstId = oldest.record.id;
      this.#bytes -= oldest.bytes;
      freed += oldest.bytes;
      count += 1;
    }
    return { count, bytes: freed, firstId };
  }

  /** Copies of the records, oldest first. */
  list(): SetAsideRecord[] {
    return this.#records.map((s) => ({ ...s.record }));
  }

  /** Removes and returns the records with these ids (or all), oldest first. */
  take(ids: readonly string[] | 'all'): SetAsideRecord[] {
    const wanted = ids === 'all' ? undefined : new Set(ids);
    const taken: SetAsideRecord[] = [];
    for (let i = 0; i < this.#records.length; ) {
      const s = this.#records[i] as Stored;
      if (wanted === undefined || wanted.has(s.record.id)) {
        this.#records.splice(i, 1);
        this.#bytes -= s.bytes;
        taken.push(s.record);
      } else i += 1;
    }
    return taken;
  }
}
