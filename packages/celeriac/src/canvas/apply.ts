/**
 * @module canvas/apply
 * Sends a canvas signature dict the way Celery 5.2.6 does (docs/protocol.md §1.7): a chain
 * publishes only its first task, with the remaining steps reversed in `embed.chain` and every
 * id assigned up front; a group publishes one message per member with the group id; a chord
 * stores its size, then publishes its header with the body in `embed.chord`. Used by the
 * client (`chain(...).applyAsync()`) and by the worker (the next chain step, a chord body), so
 * a workflow built in Python and one built in TypeScript run through the same code.
 */
import { randomUUID } from 'node:crypto';
import { AsyncResult } from '../core/async-result.js';
import type { ApplyOptions } from '../core/call-options.js';
import { GroupResult } from '../core/group-result.js';
import { fromWireOptions, toSignatureDicts, toWireOptions } from '../core/signature-options.js';
import { requireChordJoin } from '../core/spi/roles.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json, SignatureDict } from '../protocol/types.js';
import { chordDict, chordParts, chordSize, ensureId, flattenChain, flattenGroup, frozenId, memberDicts, normalize } from './dicts.js';
import { applyEager } from './eager.js';
import { callOnly, defined, type CanvasHost } from './host.js';

/** What sending a signature gives back: a task's result, or a group's. */
export type Applied = AsyncResult | GroupResult;

/**
 * Sends `dict` with `args` prepended (unless it is immutable) and `options` over its own
 * frozen options. Dispatches on `subtask_type`.
 */
export function applyDict(host: CanvasHost, dict: SignatureDict, args: readonly Json[], options: ApplyOptions): Promise<Applied> {
  const sig = normalize(dict);
  if (host.settings.taskAlwaysEager && sig.subtask_type !== null) {
    return applyEager(host, sig, args, (d, a, o) => applyDict(host, d, a, o));
  }
  switch (sig.subtask_type) {
    case 'chain':
      return applyChain(host, sig, args, options);
    case 'group':
      return applyGroup(host, sig, args, options, null);
    case 'chord':
      return applyChord(host, sig, args, options);
    default:
      return host.sendTask(sig.task, sig.immutable ? sig.args : [...args, ...sig.args], sig.kwargs, { ...fromWireOptions(sig.options), ...defined(options) });
  }
}

function merged(dict: SignatureDict, options: ApplyOptions): ApplyOptions {
  return { ...fromWireOptions(dict.options), ...defined(options) };
}

function partialArgs(dict: SignatureDict, args: readonly Json[]): Json[] {
  return dict.immutable ? [...dict.args] : [...args, ...dict.args];
}

/** Where the last step of a chain reports: the enclosing chord, if any. */
interface Placement {
  taskId?: string;
  groupId?: string;
  groupIndex?: number;
  chord?: SignatureDict;
  rootId?: string;
}

/** Freezes one step: ids assigned, and the last step told which chord it belongs to. */
function freezeStep(step: SignatureDict, place: Placement): void {
  const o = step.options;
  if (step.subtask_type === 'chord') {
    const { header, body } = chordParts(step);
    freezeStep(body, place);
    ensureId(header);
    step.kwargs['header'] = header as unknown as Json;
    step.kwargs['body'] = body as unknown as Json;
    o['task_id'] = frozenId(body);
    return;
  }
  if (step.subtask_type === 'chain') {
    const steps = memberDicts(step);
    steps.forEach((s, i) => freezeStep(s, i === steps.length - 1 ? place : place.rootId !== undefined ? { rootId: place.rootId } : {}));
    step.kwargs['tasks'] = steps as unknown as Json[];
    // A chain's result is its last step's.
    o['task_id'] = frozenId(steps[steps.length - 1] as SignatureDict);
    return;
  }
  if (o['task_id'] === undefined && place.taskId !== undefined) o['task_id'] = place.taskId;
  ensureId(step);
  if (place.rootId !== undefined) o['root_id'] = place.rootId;
  if (place.groupId !== undefined) o['group_id'] = place.groupId;
  if (place.chord !== undefined) o['chord'] = place.chord as unknown as Json;
  if (place.groupIndex !== undefined) o['group_index'] = place.groupIndex;
}

function appendOption(step: SignatureDict, key: 'link' | 'link_error', sigs: SignatureDict[]): void {
  if (sigs.length === 0) return;
  const current = step.options[key];
  step.options[key] = [...(Array.isArray(current) ? current : []), ...sigs] as unknown as Json[];
}

/**
 * Celery's `prepare_steps`: splices nested chains, turns `group | step` into a chord, gives
 * the first step the chain's arguments, freezes every step (the last with `place`), and
 * adds the chain's errbacks to every step. Returns the steps in order.
 */
export function prepareChain(tasks: readonly SignatureDict[], args: readonly Json[], place: Placement, linkError: SignatureDict[]): SignatureDict[] {
  const flat = flattenChain(tasks.map((t) => normalize(t)));
  const out: SignatureDict[] = [];
  for (let i = flat.length - 1; i >= 0; i--) {
    let step = flat[i] as SignatureDict;
    if (i === 0 && args.length > 0 && !step.immutable) step.args = [...args, ...step.args];
    if (step.subtask_type === 'group' && out.length > 0) {
      // group(...) | next  ==  chord(group(...), next): the next step waits for the whole group.
      const body = out.shift() as SignatureDict;
      step = chordDict(step, body, { task_id: frozenId(body) });
    }
    const isLast = out.length === 0;
    freezeStep(step, isLast ? place : place.rootId !== undefined ? { rootId: place.rootId } : {});
    appendOption(step, 'link_error', linkError);
    out.unshift(step);
  }
  return out;
}

/** The id whose result stands for a frozen step (a chord's is its body's). */
function stepId(step: SignatureDict): string {
  return frozenId(step) ?? ensureId(step);
}

async function applyChain(host: CanvasHost, dict: SignatureDict, args: readonly Json[], options: ApplyOptions): Promise<Applied> {
  const opts = merged(dict, options);
  const place: Placement = defined({ taskId: opts.taskId, groupId: opts.groupId, groupIndex: opts.groupIndex, chord: opts.chord, rootId: opts.rootId }) as Placement;
  const linkError = toSignatureDicts(opts.linkError) ?? [];
  const steps = prepareChain(memberDicts(dict), partialArgs(dict, args), place, linkError);
  const [first, ...rest] = steps;
  if (first === undefined) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, 'cannot send an empty chain');
  appendOption(steps[steps.length - 1] as SignatureDict, 'link', toSignatureDicts(opts.link) ?? []);
  // The worker pops the next step from the end; an enclosing chain's remaining steps come after ours.
  const remaining = [...(opts.chain ?? []), ...rest.reverse()];
  const firstOptions: ApplyOptions = { ...callOnly(opts), ...defined({ rootId: opts.rootId, parentId: opts.parentId }) };
  if (remaining.length > 0) firstOptions.chain = remaining;
  const applied = await applyDict(host, first, [], firstOptions);
  if (steps.length === 1) return applied;
  let parent: AsyncResult | null = applied instanceof AsyncResult ? applied : null;
  for (const step of steps.slice(1)) parent = new AsyncResult(stepId(step), host, parent);
  return parent as AsyncResult;
}

/**
 * Sends a group. As a chord header (`chord` given) it stores the chord size first and gives
 * each member its `group_index` and the body; as the last step of a chain inside a chord
 * header (`options.chord` given) its members report to that enclosing chord instead.
 */
export async function applyGroup(host: CanvasHost, dict: SignatureDict, args: readonly Json[], options: ApplyOptions, chord: SignatureDict | null): Promise<GroupResult> {
  const opts = merged(dict, options);
  const members = flattenGroup(memberDicts(dict));
  const gid = opts.taskId ?? randomUUID();
  const joinId = chord === null && opts.chord !== undefined && opts.groupId !== undefined ? opts.groupId : gid;
  const body = chord ?? opts.chord;
  if (chord !== null) {
    const size = members.reduce((n, m) => n + chordSize(m), 0);
    await requireChordJoin(host.backend).setChordSize(gid, size, { expiresSec: host.settings.resultExpires });
  }
  const partial = partialArgs(dict, args);
  const shared: ApplyOptions = { ...callOnly(opts), ...defined({ rootId: opts.rootId, parentId: opts.parentId, linkError: opts.linkError, link: opts.link }) };
  const results: AsyncResult[] = [];
  for (const [i, member] of members.entries()) {
    const placement: ApplyOptions = { groupId: joinId };
    if (body !== undefined) placement.chord = body;
    if (chord !== null) placement.groupIndex = i;
    const applied = await applyDict(host, member, partial, { ...shared, ...placement });
    results.push(...(applied instanceof GroupResult ? applied.results : [applied]));
  }
  return new GroupResult(gid, results, host);
}

async function applyChord(host: CanvasHost, dict: SignatureDict, args: readonly Json[], options: ApplyOptions): Promise<Applied> {
  const opts = merged(dict, options);
  const { header, body } = chordParts(dict);
  const gid = frozenId(header) ?? randomUUID();
  const bodyId = opts.taskId ?? frozenId(body) ?? randomUUID();
  // Everything about "what comes after" (chain, enclosing chord, callbacks) belongs to the body.
  const { taskId, rootId, parentId, ...forBody } = opts;
  void taskId;
  const frozenBody: SignatureDict = { ...body, options: { ...body.options, ...toWireOptions(defined({ ...forBody, rootId })), task_id: bodyId } };
  const headerOptions: ApplyOptions = { ...callOnly(opts), ...defined({ taskId: gid, rootId, parentId }) };
  if (memberDicts(header).length === 0) {
    // No header part will ever return: call the body now, with no results.
    await applyDict(host, frozenBody, [[]], defined({ rootId, parentId }));
  } else {
    await applyGroup(host, header, partialArgs(dict, args), headerOptions, frozenBody);
  }
  return new AsyncResult(bodyId, host);
}
