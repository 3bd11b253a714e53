/**
 * @module backends/memory/chord-joins
 * The memory backend's chord join: the same bookkeeping as Celery's Redis keys (size `.s`,
 * counter `.t`, parts `.j` ordered by `group_index`), held in a map with the same expiry.
 */
import type { ChordJoinState, ChordPart } from '../../core/spi/backend.js';
import type { Clock } from '../../core/clock.js';

interface Join {
  size: number | null;
  /** Parts added with `addToChord` (Celery's `.t`). */
  extra: number;
  /** Parts by task id: recording the same part twice keeps one entry, as a ZADD of the same member does. */
  parts: Map<string, ChordPart>;
  expiresAt: number | null;
}

/** Chord joins of one memory backend. */
export class ChordJoins {
  readonly #joins = new Map<string, Join>();

  constructor(private readonly clock: Clock) {}

  /** Stores the chord size (`expiresAt` in epoch ms, null for never). */
  setSize(groupId: string, size: number, expiresAt: number | null): void {
    const join = this.#join(groupId);
    join.size = size;
    join.expiresAt = expiresAt;
  }

  /** Expects `count` more parts (Celery's `.t` counter). */
  addExpected(groupId: string, count: number, expiresAt: number | null): void {
    const join = this.#join(groupId);
    join.extra += count;
    join.expiresAt = expiresAt;
  }

  /** Records a part and reports the join; `parts` is set once every part arrived. */
  add(groupId: string, part: ChordPart, expiresAt: number | null): ChordJoinState {
    const join = this.#join(groupId);
    join.parts.set(part.taskId, structuredClone(part));
    join.expiresAt = expiresAt;
    const count = join.parts.size;
    const total = join.size === null ? null : join.size + join.extra;
    if (total === null || count !== total) return { count, total, parts: null };
    const parts = [...join.parts.values()].sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity));
    return { count, total, parts: structuredClone(parts) };
  }

  /** Forgets a join. */
  clear(groupId: string): void {
    this.#joins.delete(groupId);
  }

  /** Drops expired joins. */
  sweep(now: number): void {
    for (const [gid, join] of this.#joins) if (join.expiresAt !== null && now >= join.expiresAt) this.#joins.delete(gid);
  }

  #join(groupId: string): Join {
    let join = this.#joins.get(groupId);
    if (join !== undefined && join.expiresAt !== null && this.clock.now() >= join.expiresAt) {
      this.#joins.delete(groupId);
      join = undefined;
    }
    if (join === undefined) {
      join = { size: null, extra: 0, parts: new Map(), expiresAt: null };
      this.#joins.set(groupId, join);
    }
    return join;
  }
}
