/**
 * @module brokers/memory/set-aside-store
 * The memory broker's set-aside store: records of parked messages in two parts (malformed
 * messages, dead-lettered tasks), each oldest first and bounded by count and bytes as on Redis
 * (core/set-aside.ts): past either bound a part's oldest are dropped and reported; a record
 * over the record bound keeps its metadata and the start of its envelope. Ids are computed as
 * Redis computes them, from the record's JSON text.
 */
import { parseSetAsideText, SET_ASIDE_CATEGORIES, setAsideRecordText, type SetAsideCategory, type SetAsideFields, type SetAsideQuotas } from '../../core/set-aside.js';
import type { SetAsidePartStats, SetAsideRecord } from '../../core/spi/broker.js';

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

/** One part: records oldest first, and their bytes. */
class Part {
  readonly records: Stored[] = [];
  bytes = 0;
}

/** Records parked in process memory. */
export class SetAsideStore {
  readonly #parts = { malformed: new Part(), 'dead-letter': new Part() } satisfies Record<SetAsideCategory, Part>;

  constructor(private readonly quotas: SetAsideQuotas) {}

  /** Parks a record in its part; drops that part's oldest past the bounds (never the new one). */
  park(fields: SetAsideFields): DroppedRecords {
    const limits = this.quotas[fields.category];
    const text = setAsideRecordText(fields, limits.maxRecordBytes);
    const bytes = Buffer.byteLength(text, 'utf8');
    const part = this.#parts[fields.category];
    part.records.push({ record: parseSetAsideText(text) as SetAsideRecord, bytes });
    part.bytes += bytes;
    let count = 0;
    let freed = 0;
    let firstId = '';
    while (part.records.length > 1 && (part.records.length > limits.maxCount || part.bytes > limits.maxBytes)) {
      const oldest = part.records.shift() as Stored;
      if (firstId === '') firstId = oldest.record.id;
      part.bytes -= oldest.bytes;
      freed += oldest.bytes;
      count += 1;
    }
    return { count, bytes: freed, firstId };
  }

  /** Copies of the records of both parts, oldest first. */
  list(): SetAsideRecord[] {
    const all = SET_ASIDE_CATEGORIES.flatMap((c) => this.#parts[c].records.map((s) => ({ ...s.record })));
    return all.sort((a, b) => a.at - b.at);
  }

  /**
   * Removes and returns the records with these ids (or all), oldest first; with `replayable`,
   * only those that can be replayed (a truncated record stays).
   */
  take(ids: readonly string[] | 'all', replayable = false): SetAsideRecord[] {
    const wanted = ids === 'all' ? undefined : new Set(ids);
    const taken: SetAsideRecord[] = [];
    for (const category of SET_ASIDE_CATEGORIES) {
      const part = this.#parts[category];
      for (let i = 0; i < part.records.length; ) {
        const s = part.records[i] as Stored;
        if ((wanted === undefined || wanted.has(s.record.id)) && !(replayable && s.record.truncated !== undefined)) {
          part.records.splice(i, 1);
          part.bytes -= s.bytes;
          taken.push(s.record);
        } else i += 1;
      }
    }
    return taken.sort((a, b) => a.at - b.at);
  }

  /** Count and bytes of each part, with its bounds. */
  stats(): Record<SetAsideCategory, SetAsidePartStats> {
    const of = (c: SetAsideCategory): SetAsidePartStats => ({ count: this.#parts[c].records.length, bytes: this.#parts[c].bytes, maxCount: this.quotas[c].maxCount, maxBytes: this.quotas[c].maxBytes });
    return { malformed: of('malformed'), 'dead-letter': of('dead-letter') };
  }
}
