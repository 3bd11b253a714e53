/**
 * @module backends/redis/chord
 * The chord join on Redis, on Celery 5.2.6's keys and encodings (docs/protocol.md §3.7): a
 * Python worker and a Celeriac worker can finish header parts of the same chord, and whichever
 * finishes the last one sends the body.
 */
import { pyJsonStringify } from '../../protocol/py-json.js';
import { ProtocolError } from '../../protocol/errors.js';
import type { ChordJoinState, ChordPart } from '../../core/spi/backend.js';
import type { Json } from '../../protocol/types.js';
import type { RedisClient } from '../../redis/client.js';
import { loadScript, runScript } from '../../redis/script.js';
import type { BackendKeys } from '../../redis/keys.js';

const CHORD_PART = loadScript(new URL('./scripts/chord-part.lua', import.meta.url));

/** Runs a command on the backend's connection (errors become TRANSPORT). */
export type RunCommand = <T>(what: string, fn: (client: RedisClient) => Promise<T>) => Promise<T>;

/** Celery's `.j` member: `[1, tid, state, result]` in Python's JSON layout. */
export function encodeChordMember(part: ChordPart): string {
  return pyJsonStringify([1, part.taskId, part.state, part.result]);
}

/** Decodes a `.j` member; `index` is its position in the join. */
export function decodeChordMember(text: string, index: number): ChordPart {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError('bad-json', 'Chord join member is not valid JSON', { cause });
  }
  if (!Array.isArray(parsed) || parsed.length !== 4 || typeof parsed[1] !== 'string' || typeof parsed[2] !== 'string') {
    throw new ProtocolError('bad-body', 'Chord join member is not [1, task_id, state, result]');
  }
  return { taskId: parsed[1], state: parsed[2], result: parsed[3] as Json, index };
}

/** SET (with TTL) + PUBLISH of the chord size, as Celery's `set_chord_size`. */
export async function setChordSize(run: RunCommand, keys: BackendKeys, groupId: string, size: number, ttlMs: number | null): Promise<void> {
  const key = keys.chord(groupId).size;
  const value = String(size);
  await run(`set size of chord ${groupId}`, (c) => {
    const multi = c.multi();
    if (ttlMs === null) multi.set(key, value);
    else multi.set(key, value, { PX: ttlMs });
    return multi.publish(key, value).exec();
  });
}

/** Records a header part in one script; returns the join, with every part once complete. */
export async function addChordPart(run: RunCommand, keys: BackendKeys, groupId: string, part: ChordPart, ttlMs: number | null): Promise<ChordJoinState> {
  const k = keys.chord(groupId);
  const score = part.index === null ? '+inf' : String(part.index);
  const reply = (await run(`record part ${part.taskId} of chord ${groupId}`, (c) =>
    runScript(c, CHORD_PART, [k.join, k.counter, k.size], [encodeChordMember(part), score, ttlMs === null ? '' : String(ttlMs)]),
  )) as [number, string, string, string[]];
  const [count, size, counter, members] = reply;
  const total = size === '' ? null : Number(size) + (counter === '' ? 0 : Number(counter));
  const parts = total !== null && count === total ? members.map((m, i) => decodeChordMember(m, i)) : null;
  return { count, total, parts };
}

/** INCRBY of `.t` (with the TTL), as Celery's `add_to_chord`: one more expected part, atomically. */
export async function addToChord(run: RunCommand, keys: BackendKeys, groupId: string, count: number, ttlMs: number | null): Promise<void> {
  const key = keys.chord(groupId).counter;
  await run(`add ${count} part(s) to chord ${groupId}`, (c) => {
    const multi = c.multi().incrBy(key, count);
    if (ttlMs !== null) multi.pExpire(key, ttlMs);
    return multi.exec();
  });
}

/** Deletes the three join keys. */
export async function clearChord(run: RunCommand, keys: BackendKeys, groupId: string): Promise<void> {
  const k = keys.chord(groupId);
  await run(`clear chord ${groupId}`, (c) => c.del([k.join, k.counter, k.size]));
}
