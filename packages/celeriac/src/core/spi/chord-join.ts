/**
 * @module core/spi/chord-join
 * The ChordJoin role of a result backend: where a chord's header parts meet (Celery's
 * `celery-taskset-meta-<gid>.j/.t/.s` on Redis, docs/protocol.md §3.7). Written once on top
 * of it: canvas/chord-join.ts. A backend that keeps no join (Celery's `rpc://`) cannot run
 * chords: sending one fails with a CONFIG error (core/spi/roles.ts, `chordJoinOf`).
 * Conformance: testing/chord-join-conformance.ts.
 */
import type { Json, TaskState } from '../../protocol/types.js';
import type { StoreOptions } from './common.js';

/** One chord header part's end, as recorded in the chord join (docs/protocol.md §3.7). */
export interface ChordPart {
  /** Id of the header task. */
  taskId: string;
  /** Its final state (SUCCESS, FAILURE, REVOKED). */
  state: TaskState;
  /** Its result: the return value, or the exception record. */
  result: Json;
  /** Position in the chord header (`group_index`); null sorts last, as Celery's `+inf`. */
  index: number | null;
}

/** What {@link ChordJoinStore.addChordPart} saw after recording a part. */
export interface ChordJoinState {
  /** Parts recorded so far. */
  count: number;
  /** Expected parts (chord size + the `.t` counter), or null when no size is stored (yet). */
  total: number | null;
  /** Every recorded part, in header order, when `count` reached `total`; otherwise null. */
  parts: ChordPart[] | null;
}

/** The ChordJoin role. */
export interface ChordJoinStore {
  /**
   * Store the number of header parts of chord `groupId` (`celery-taskset-meta-<gid>.s`),
   * before its last header task is published.
   */
  setChordSize(groupId: string, size: number, options: StoreOptions): Promise<void>;
  /**
   * Record one header part's end and report the join, atomically: exactly one caller sees
   * `parts` for a given complete set (unless the same part is recorded again after
   * completion, as a redelivered part may be, and the join was not cleared yet).
   */
  addChordPart(groupId: string, part: ChordPart, options: StoreOptions): Promise<ChordJoinState>;
  /**
   * Expect `count` more parts in chord `groupId` (`.t`, Celery's `add_to_chord`), atomically
   * (Redis INCRBY), for a header part that adds a part to its own chord. Optional: a backend
   * without it refuses `ctx.addToChord`.
   */
  addToChord?(groupId: string, count: number, options: StoreOptions): Promise<void>;
  /** Delete the join of chord `groupId` (after its body was sent or failed). */
  clearChord(groupId: string): Promise<void>;
}
