/**
 * @module canvas/replace
 * `ctx.replace(signature)` as Celery 5.2.6's `Task.replace` does it: the replacement is
 * frozen with the replaced task's id (so its caller's `AsyncResult` gets the replacement's
 * result), gets the task's callbacks and errbacks, its group, group index, chord and root,
 * `replaced_task_nesting` + 1, and the task's remaining chain after it; a group is first
 * turned into a chord with `celery.accumulate` as body, so the result is the list of the
 * group's results. Then the task ends with `Ignore`: no state is stored for the replaced run.
 */
import type { ApplyOptions, SignatureLike } from '../core/call-options.js';
import type { ReplaceRequest } from '../core/replace-seam.js';
import { toSignatureDicts } from '../core/signature-options.js';
import { Ignore, ImproperlyConfigured } from '../core/task-errors.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json, SignatureDict } from '../protocol/types.js';
import { applyDict } from './apply.js';
import { chordDict, isSignatureDict, memberDicts, normalize } from './dicts.js';
import { defined, type CanvasHost } from './host.js';
import { requireChordJoin } from '../core/spi/roles.js';

/** The built-in chord body that returns its arguments (or one of them): Celery's `celery.accumulate`. */
export const ACCUMULATE = 'celery.accumulate';

function replacementDict(replacement: SignatureLike): SignatureDict {
  const dict = normalize(toSignatureDicts(replacement)?.[0], 'replacement');
  if (dict.options['chord'] !== undefined) {
    throw new ImproperlyConfigured('A signature replacing a task must not be part of a chord');
  }
  if (dict.subtask_type === 'chain' && memberDicts(dict).length === 0) {
    throw new ImproperlyConfigured('Cannot replace with an empty chain');
  }
  // A group has no single result to give the replaced task's id: a chord's body does.
  if (dict.subtask_type === 'group') return chordDict(dict, normalize({ task: ACCUMULATE, args: [], kwargs: { index: 0 }, options: {} }));
  return dict;
}

function signatures(value: Json | undefined): SignatureDict[] {
  if (isSignatureDict(value)) return [value];
  return Array.isArray(value) ? (value as unknown[]).filter(isSignatureDict) : [];
}

/**
 * The options that put the replacement in the replaced task's place. Its own links come
 * first, then the task's, as Celery appends the task's to the signature's.
 */
export function replacementOptions(dict: SignatureDict, request: ReplaceRequest): ApplyOptions {
  const { headers: h, embed } = request.message;
  const link = [...signatures(dict.options['link']), ...(embed.callbacks ?? [])];
  const linkError = [...signatures(dict.options['link_error']), ...(embed.errbacks ?? [])];
  const chain = embed.chain ?? [];
  return defined({
    taskId: h.id,
    rootId: h.root_id,
    groupId: h.group ?? undefined,
    groupIndex: h.group_index ?? undefined,
    chord: embed.chord ?? undefined,
    link: link.length > 0 ? link : undefined,
    linkError: linkError.length > 0 ? linkError : undefined,
    chain: chain.length > 0 ? chain : undefined,
    replacedTaskNesting: request.nesting + 1,
  });
}

/**
 * Sends `replacement` in the running task's place, then throws `Ignore`. In eager mode the
 * replacement runs at once and its result is returned instead; the eager caller already
 * handles the task's own callbacks and chain with that result.
 */
export async function replaceTask(host: CanvasHost, request: ReplaceRequest, replacement: SignatureLike): Promise<Json> {
  if (request.addToChord === true) return addToChord(host, request, replacement);
  const dict = replacementDict(replacement);
  if (request.isEager) {
    const applied = await applyDict(host, dict, [], {});
    return (await applied.get()) as Json;
  }
  await applyDict(host, dict, [], replacementOptions(dict, request));
  throw new Ignore('Replaced by new task');
}

/**
 * Celery's `Task.add_to_chord`: the running header part's chord expects one more part, then
 * `sig` is sent with the part's group id, group index, chord and root id, so it reports to
 * that chord as one part (a chord as its body, a chain as its last step). Returns its result id.
 */
export async function addToChord(host: CanvasHost, request: ReplaceRequest, sig: SignatureLike): Promise<string> {
  const { headers: h, embed } = request.message;
  const chord = embed.chord;
  if (!isSignatureDict(chord) || h.group === null) throw new CeleriacError(ErrorCodes.STATE, 'Current task is not member of any chord');
  const join = requireChordJoin(host.backend);
  if (join.addToChord === undefined) throw new CeleriacError(ErrorCodes.CONFIG, 'this result backend cannot add parts to a chord');
  const dict = normalize(toSignatureDicts(sig)?.[0], 'signature added to a chord');
  await join.addToChord(h.group, 1, { expiresSec: host.settings.resultExpiresSec });
  const applied = await applyDict(host, dict, [], defined({ groupId: h.group, groupIndex: h.group_index ?? undefined, chord, rootId: h.root_id }));
  return applied.id;
}
