/**
 * @module canvas/chord-join
 * The chord join, written once on top of the backend's join primitives (`addChordPart`,
 * `clearChord`): each finished header part records itself; the one that completes the join
 * calls the body with every result in header order, or, when a part failed or was revoked,
 * fails the body with `ChordError` and calls its errbacks. A failure is passed on to whatever
 * waits on the body (its chain, an enclosing chord), so no workflow is left hanging.
 */
import type { ChordPart } from '../core/spi/chord-join.js';
import { groupStoreOf, requireChordJoin } from '../core/spi/roles.js';
import { ChordError, toExceptionRecord } from '../core/task-errors.js';
import { coerceError } from '../errors.js';
import { PROPAGATE_STATES } from '../protocol/states.js';
import { pyRepr } from '../protocol/repr.js';
import { isExceptionRecord } from '../protocol/result.js';
import { naiveUtcIso } from '../protocol/time.js';
import type { ExceptionRecord, Json, ResultTuple, SignatureDict, TaskState } from '../protocol/types.js';
import { applyDict, applyGroup } from './apply.js';
import { chordParts, frozenId, groupDict, isSignatureDict, memberDicts, normalize, resultIds } from './dicts.js';
import { requestOfSignature, runLocalErrbacks, splitErrbacks } from './errbacks.js';
import type { CanvasHost } from './host.js';

/** The header part that ended, as its message described it. */
export interface ChordPartRequest {
  /** The part's task id. */
  id: string;
  /** The chord's group id. */
  group: string;
  groupIndex: number | null;
  /** The chord body (`embed.chord`, or `options.chord` of a chain step). */
  chord: SignatureDict;
  rootId: string | null;
}

/** `ValueError('boom')`: how Celery names a failed dependency in its ChordError message. */
export function describeResult(result: Json): string {
  if (isExceptionRecord(result)) {
    const r = result as unknown as ExceptionRecord;
    const args = Array.isArray(r.exc_message) ? r.exc_message : [r.exc_message];
    return `${r.exc_type}(${args.map((a) => pyRepr(a)).join(', ')})`;
  }
  return pyRepr(result);
}

/** Records one header part's end; the part that completes the chord sends or fails the body. */
export async function chordPartReturn(host: CanvasHost, part: ChordPartRequest, state: TaskState, result: Json): Promise<void> {
  const expiresSec = host.settings.resultExpiresSec;
  const chords = requireChordJoin(host.backend);
  const join = await chords.addChordPart(part.group, { taskId: part.id, state, result, index: part.groupIndex }, { expiresSec });
  if (join.parts === null) return;
  const body = normalize(part.chord, 'chord body');
  try {
    const failed = join.parts.find((p) => PROPAGATE_STATES.has(p.state));
    if (failed !== undefined) {
      await failSignature(host, body, new ChordError(`Dependency ${failed.taskId} raised ${describeResult(failed.result)}`));
      return;
    }
    const results = await headerResults(host, part.group, join.parts);
    try {
      await applyDict(host, body, [results], { parentId: part.id, ...(part.rootId !== null ? { rootId: part.rootId } : {}) });
    } catch (err) {
      host.log.error({ err: coerceError(err), groupId: part.group }, 'chord body could not be sent');
      await failSignature(host, body, new ChordError(`Callback error: ${coerceError(err).name}(${pyRepr(coerceError(err).message)})`));
    }
  } finally {
    await chords.clearChord(part.group);
  }
}

/**
 * The body's argument: the parts' results in header order; nested lists where the sender
 * saved the header's result structure (a member whose result is a group, such as a chain
 * ending in a group), as Celery's Redis backend restores and joins it.
 */
async function headerResults(host: CanvasHost, groupId: string, parts: readonly ChordPart[]): Promise<Json[]> {
  const flat = parts.map((p) => p.result);
  const store = groupStoreOf(host.backend);
  const saved = store === undefined ? null : await store.getGroup(groupId);
  const members = saved?.result[1];
  if (!members?.some((m) => m[1] !== null)) return flat;
  const byId = new Map(parts.map((p) => [p.taskId, p.result]));
  const valueOf = (tuple: ResultTuple): Json | undefined => {
    const [[id], nested] = tuple;
    if (nested === null) return byId.get(id);
    const values = nested.map(valueOf);
    return values.includes(undefined) ? undefined : (values as Json[]);
  };
  const values = members.map(valueOf);
  // A part the saved structure does not name (added with addToChord): keep the flat list.
  return values.includes(undefined) || byId.size !== countLeaves(members) ? flat : (values as Json[]);
}

function countLeaves(tuples: readonly ResultTuple[]): number {
  return tuples.reduce((n, [, nested]) => n + (nested === null ? 1 : countLeaves(nested)), 0);
}

async function storeFailure(host: CanvasHost, taskId: string, state: TaskState, record: Json, traceback: string | null, children: ResultTuple[] = []): Promise<void> {
  await host.backend.store(
    { status: state, result: record, traceback, children, date_done: naiveUtcIso(host.clock.now()), task_id: taskId },
    { expiresSec: host.settings.resultExpiresSec },
  );
}

/**
 * Fails a signature that will never run (Celery's `chord_error_from_stack`): its new-style
 * errbacks are called here with a request made from it, the others sent as one group with
 * its id first; its result ids get the failure, listing that group as their `children`; and
 * what waits on it (its chain, an enclosing chord) learns of it too.
 */
export async function failSignature(host: CanvasHost, dict: SignatureDict, error: Error): Promise<void> {
  const record = toExceptionRecord(error) as unknown as Json;
  const id = frozenId(dict) ?? resultIds(dict)[0] ?? null;
  const errbacks = dict.options['link_error'];
  const children: ResultTuple[] = [];
  if (id !== null && Array.isArray(errbacks)) {
    const { local, send } = splitErrbacks(host, (errbacks as unknown[]).filter(isSignatureDict));
    await runLocalErrbacks(host, local, { request: requestOfSignature(dict, id, ''), error, traceback: null });
    if (send.length > 0) {
      const rootId = dict.options['root_id'];
      const options = { parentId: id, rootId: typeof rootId === 'string' ? rootId : id };
      try {
        children.push((await applyGroup(host, groupDict(send), [id], options, null)).asTuple());
      } catch (err) {
        host.log.error({ err: coerceError(err), taskId: id }, 'errbacks could not be sent');
      }
    }
  }
  for (const taskId of resultIds(dict)) await storeFailure(host, taskId, 'FAILURE', record, null, children);
  await passFailureOn(host, dict, 'FAILURE', record);
}

/** The step whose options say what comes after a signature (a chain's last, a chord's body). */
function tailOf(dict: SignatureDict): SignatureDict {
  if (dict.subtask_type === 'chain') {
    const steps = memberDicts(dict);
    return steps.length === 0 ? dict : tailOf(steps[steps.length - 1] as SignatureDict);
  }
  if (dict.subtask_type === 'chord') return tailOf(chordParts(dict).body);
  return dict;
}

/** Tells the chain after `dict`, and the chord it is a part of, that it failed. */
async function passFailureOn(host: CanvasHost, dict: SignatureDict, state: TaskState, record: Json): Promise<void> {
  const tail = tailOf(dict);
  const chain = tail.options['chain'];
  if (Array.isArray(chain)) await failChain(host, (chain as unknown[]).filter(isSignatureDict), state, record, null);
  const chord = tail.options['chord'];
  const group = tail.options['group_id'];
  const id = frozenId(tail);
  if (isSignatureDict(chord) && typeof group === 'string' && id !== null) {
    const index = tail.options['group_index'];
    const rootId = tail.options['root_id'];
    await chordPartReturn(host, { id, group, groupIndex: typeof index === 'number' ? index : null, chord, rootId: typeof rootId === 'string' ? rootId : null }, state, record);
  }
}

/**
 * A chain step failed: every remaining step gets the same failure (Celery 5.2.6 does this so
 * the chain's last result, which callers wait on, is marked too), and a remaining step that
 * is part of a chord reports to it.
 */
export async function failChain(host: CanvasHost, remaining: readonly SignatureDict[], state: TaskState, record: Json, traceback: string | null): Promise<void> {
  for (const step of [...remaining].reverse()) {
    const dict = normalize(step);
    for (const taskId of resultIds(dict)) await storeFailure(host, taskId, state, record, traceback);
    const tail = tailOf(dict);
    const chord = tail.options['chord'];
    const group = tail.options['group_id'];
    const id = frozenId(tail);
    if (isSignatureDict(chord) && typeof group === 'string' && id !== null) {
      const index = tail.options['group_index'];
      await chordPartReturn(host, { id, group, groupIndex: typeof index === 'number' ? index : null, chord, rootId: null }, state, record);
    }
  }
}
