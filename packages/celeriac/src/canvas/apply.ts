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
import { LINKS_HEADER, startHeaderSpans } from '../core/otel.js';
import { groupStoreOf, requireChordJoin } from '../core/spi/roles.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json, ResultTuple, SignatureDict } from '../protocol/types.js';
import { chordDict, chordParts, chordSize, ensureId, flattenGroup, frozenId, memberDicts, normalize } from './dicts.js';
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

/**
 * Freezes one step as Celery 5.2.6's `freeze` does: ids assigned, and the step that reports
 * for it (a chain's last, a chord's body) told where: `place`. A chord keeps its body's own
 * id (the body gets `place.taskId` only when it has none) and takes its header's group id as
 * its own `task_id`; a group freezes its members' ids, so its result is known before it runs.
 */
function freezeStep(step: SignatureDict, place: Placement): void {
  const o = step.options;
  if (step.subtask_type === 'chord') {
    const { header, body } = chordParts(step);
    freezeStep(body, place);
    freezeMembers(header, place.rootId);
    step.kwargs['header'] = header as unknown as Json;
    step.kwargs['body'] = body as unknown as Json;
    o['task_id'] = frozenId(header);
    if (place.rootId !== undefined) o['root_id'] = place.rootId;
    return;
  }
  if (step.subtask_type === 'chain') {
    const steps = memberDicts(step);
    steps.forEach((s, i) => freezeStep(s, i === steps.length - 1 ? place : place.rootId !== undefined ? { rootId: place.rootId } : {}));
    step.kwargs['tasks'] = steps as unknown as Json[];
    return;
  }
  if (o['task_id'] === undefined && place.taskId !== undefined) o['task_id'] = place.taskId;
  // A group in a chord header (a chain's last step, a chord's body) is frozen with the
  // enclosing group id as its own, as Celery's group.freeze does: a Python worker sending its
  // members gives them that id as `group`, so they join the enclosing chord.
  if (o['task_id'] === undefined && step.subtask_type === 'group' && place.groupId !== undefined) o['task_id'] = place.groupId;
  ensureId(step);
  if (place.rootId !== undefined) o['root_id'] = place.rootId;
  if (place.groupId !== undefined) o['group_id'] = place.groupId;
  if (place.chord !== undefined) o['chord'] = place.chord as unknown as Json;
  if (place.groupIndex !== undefined) o['group_index'] = place.groupIndex;
  if (step.subtask_type === 'group') freezeMembers(step, place.rootId);
}

/** Gives a group's members (nested groups unrolled) their ids, in place. */
function freezeMembers(group: SignatureDict, rootId: string | undefined): void {
  ensureId(group);
  const members = flattenGroup(memberDicts(group));
  for (const m of members) freezeStep(m, rootId !== undefined ? { rootId } : {});
  group.kwargs['tasks'] = members as unknown as Json[];
}

/**
 * The result a frozen signature stands for, as Celery's result tuple: `[[id, null], null]`
 * for a task (a chain's last step, a chord's body), `[[gid, null], [members]]` for a group.
 */
export function resultShape(dict: SignatureDict): ResultTuple {
  switch (dict.subtask_type) {
    case 'chain': {
      const steps = spliceSteps(memberDicts(dict));
      const last = steps[steps.length - 1];
      return last === undefined ? [[ensureId(dict), null], []] : resultShape(last);
    }
    case 'chord':
      return resultShape(chordParts(dict).body);
    case 'group':
      return [[ensureId(dict), null], flattenGroup(memberDicts(dict)).map(resultShape)];
    default:
      return [[ensureId(dict), null], null];
  }
}

/** Adds callbacks to a step, each once (Celery's `append_to_list_option` skips one already there). */
function appendOption(step: SignatureDict, key: 'link' | 'link_error', sigs: SignatureDict[]): void {
  if (sigs.length === 0) return;
  const current = step.options[key];
  const list = Array.isArray(current) ? [...current] : [];
  const seen = new Set(list.map((s) => JSON.stringify(s)));
  for (const sig of sigs) {
    const key = JSON.stringify(sig);
    if (!seen.has(key)) list.push(sig as unknown as Json);
    seen.add(key);
  }
  step.options[key] = list;
}

/**
 * Adds errbacks as Celery's `link_error` does for the signature's type: a chord gives them to
 * its body (`chord.link_error`), a group to each member (`group.link_error`), anything else
 * keeps them in its own options. A chain step that is a chord must carry them on its body:
 * a Python worker applying the step passes the chord's own options to its header group,
 * which refuses errbacks.
 */
function linkErrorTo(step: SignatureDict, sigs: SignatureDict[]): void {
  if (sigs.length === 0) return;
  if (step.subtask_type === 'chord') {
    const body = normalize(step.kwargs['body'], 'chord body');
    linkErrorTo(body, sigs);
    step.kwargs['body'] = body as unknown as Json;
  } else if (step.subtask_type === 'group') {
    const members = memberDicts(step);
    for (const member of members) linkErrorTo(member, sigs);
    step.kwargs['tasks'] = members as unknown as Json[];
  } else {
    appendOption(step, 'link_error', sigs);
  }
}

/** Celery's step list: nested chains spliced in, a group of one member unrolled to it (`maybe_unroll_group`). */
function spliceSteps(steps: readonly SignatureDict[]): SignatureDict[] {
  return steps.flatMap((s) => {
    if (s.subtask_type === 'chain') return spliceSteps(memberDicts(s));
    if (s.subtask_type === 'group') {
      const members = memberDicts(s);
      if (members.length === 1) return spliceSteps(members);
    }
    return [s];
  });
}

/**
 * Celery's `prepare_steps`: splices nested chains, turns `group | step` into a chord, gives
 * the first step the chain's arguments, freezes every step (the last with `place`), and
 * adds the chain's errbacks to every step (as `link_error` does for its type). Returns the
 * steps in order.
 */
export function prepareChain(tasks: readonly SignatureDict[], args: readonly Json[], place: Placement, linkError: SignatureDict[]): SignatureDict[] {
  const flat = spliceSteps(tasks.map((t) => normalize(t)));
  const out: SignatureDict[] = [];
  for (let i = flat.length - 1; i >= 0; i--) {
    let step = flat[i] as SignatureDict;
    if (i === 0 && args.length > 0 && !step.immutable) step.args = [...args, ...step.args];
    if (step.subtask_type === 'group' && out.length > 0) {
      // group(...) | next  ==  chord(group(...), next): the next step waits for the whole group.
      const body = out.shift() as SignatureDict;
      step = chordDict(step, body);
    }
    const isLast = out.length === 0;
    freezeStep(step, isLast ? place : place.rootId !== undefined ? { rootId: place.rootId } : {});
    linkErrorTo(step, linkError);
    out.unshift(step);
  }
  return out;
}

/**
 * Writes `reply_to` into every task of a step that will be sent by another process (a chain's
 * later steps, a chord's body) and has none, as Celery's `freeze` does: the worker that sends
 * it then addresses the result to this client's rpc:// reply queue, not its own.
 */
function stampReplyTo(step: SignatureDict, replyTo: string): void {
  switch (step.subtask_type) {
    case 'chain':
    case 'group': {
      const members = memberDicts(step);
      for (const m of members) stampReplyTo(m, replyTo);
      step.kwargs['tasks'] = members as unknown as Json[];
      return;
    }
    case 'chord': {
      const { header, body } = chordParts(step);
      stampReplyTo(header, replyTo);
      stampReplyTo(body, replyTo);
      step.kwargs['header'] = header as unknown as Json;
      step.kwargs['body'] = body as unknown as Json;
      return;
    }
    default:
      if (typeof step.options['reply_to'] !== 'string') step.options['reply_to'] = replyTo;
  }
}

/** The id whose result stands for a frozen step (a chord's is its body's, a chain's its last step's). */
function stepId(step: SignatureDict): string {
  return resultShape(step)[0][0];
}

async function applyChain(host: CanvasHost, dict: SignatureDict, args: readonly Json[], options: ApplyOptions): Promise<Applied> {
  const opts = merged(dict, options);
  const place: Placement = defined({ taskId: opts.taskId, groupId: opts.groupId, groupIndex: opts.groupIndex, chord: opts.chord, rootId: opts.rootId }) as Placement;
  const linkError = toSignatureDicts(opts.linkError) ?? [];
  const steps = prepareChain(memberDicts(dict), partialArgs(dict, args), place, linkError);
  const [first, ...rest] = steps;
  if (first === undefined) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, 'cannot send an empty chain');
  for (const step of rest) stampReplyTo(step, opts.replyTo ?? host.replyTo);
  appendOption(steps[steps.length - 1] as SignatureDict, 'link', toSignatureDicts(opts.link) ?? []);
  // The worker pops the next step from the end; an enclosing chain's remaining steps come after ours.
  const remaining = [...(opts.chain ?? []), ...rest.reverse()];
  const firstOptions: ApplyOptions = { ...callOnly(opts), ...defined({ rootId: opts.rootId, parentId: opts.parentId }) };
  if (remaining.length > 0) firstOptions.chain = remaining;
  const applied = await applyDict(host, first, [], firstOptions);
  if (steps.length === 1) return applied;
  let parent: AsyncResult | null = applied instanceof AsyncResult ? applied : null;
  for (const step of steps.slice(1, -1)) parent = new AsyncResult(stepId(step), host, parent);
  // A chain ending in a group stands for the group's results (Celery: its frozen GroupResult),
  // not for the group's id, which no task ever stores a result under.
  return resultOf(host, resultShape(steps[steps.length - 1] as SignatureDict), parent);
}

/**
 * Sends a group. As a chord header (`chord` given) it freezes every member, stores the chord
 * size (and, when a member's result is itself a group, the header's result structure, as
 * Celery's Redis backend `apply_chord` does, so the join can give the body nested lists),
 * then gives each member its `group_index` and the body. As the last step of a chain inside
 * a chord header (`options.chord` given) its members report to that enclosing chord (the
 * freeze gave the group the chord's header id as task_id), each at the chain's place
 * (`group_index`).
 */
export async function applyGroup(host: CanvasHost, dict: SignatureDict, args: readonly Json[], options: ApplyOptions, chord: SignatureDict | null): Promise<GroupResult> {
  const opts = merged(dict, options);
  const members = flattenGroup(memberDicts(dict));
  // The group's id is its task_id, always (Celery's group._freeze_gid): its members join that
  // id, never the group's own group_id. Celery 5.2 freezes a group inside a chord header with
  // task_id == group_id; 5.6 gives a chord body that is a group the chord's header id as its
  // group_id and its own id as task_id, and its members report under the task_id.
  const gid = opts.taskId ?? randomUUID();
  const body = chord ?? opts.chord;
  if (chord !== null) {
    for (const [i, m] of members.entries()) freezeStep(m, defined({ rootId: opts.rootId, groupId: gid, chord, groupIndex: i }) as Placement);
    const size = members.reduce((n, m) => n + chordSize(m), 0);
    await requireChordJoin(host.backend).setChordSize(gid, size, { expiresSec: host.settings.resultExpiresSec });
    const shapes = members.map(resultShape);
    const store = groupStoreOf(host.backend);
    if (store !== undefined && shapes.some((t) => t[1] !== null)) {
      await store.saveGroup(gid, { result: [[gid, null], shapes] }, { expiresSec: host.settings.resultExpiresSec });
    }
  }
  const partial = partialArgs(dict, args);
  const shared: ApplyOptions = { ...callOnly(opts), ...defined({ rootId: opts.rootId, parentId: opts.parentId, linkError: opts.linkError, link: opts.link }) };
  // Traced, a chord's body links to its header parts' producer spans: started now, named in the body.
  const spans = chord === null ? undefined : startHeaderSpans(members.length);
  if (spans !== undefined && spans.links.length > 0) linkBody(chord!, spans.links);
  const results: AsyncResult[] = [];
  try {
    for (const [i, member] of members.entries()) {
      const placement: ApplyOptions = { groupId: gid };
      if (body !== undefined) placement.chord = body;
      if (chord !== null) placement.groupIndex = i;
      else if (opts.chord !== undefined && opts.groupIndex !== undefined) placement.groupIndex = opts.groupIndex;
      const send = () => applyDict(host, member, partial, { ...shared, ...placement });
      const applied = await (spans === undefined ? send() : spans.send(i, send));
      results.push(...(applied instanceof GroupResult ? applied.results : [applied]));
    }
  } finally {
    spans?.release();
  }
  return new GroupResult(gid, results, host);
}

/** Names the header parts' producer spans in a chord body's headers (core/otel.ts, LINKS_HEADER). */
function linkBody(body: SignatureDict, links: readonly string[]): void {
  const own = body.options['headers'];
  const headers = typeof own === 'object' && own !== null && !Array.isArray(own) ? own : {};
  body.options['headers'] = { ...headers, [LINKS_HEADER]: [...links] };
}

async function applyChord(host: CanvasHost, dict: SignatureDict, args: readonly Json[], options: ApplyOptions): Promise<Applied> {
  const opts = merged(dict, options);
  const { header, body } = chordParts(dict);
  const gid = frozenId(header) ?? randomUUID();
  // Everything about "what comes after" (chain, enclosing chord, callbacks) belongs to the body.
  const { taskId, rootId, parentId, ...forBody } = opts;
  const frozenBody: SignatureDict = { ...body, options: { ...body.options, ...toWireOptions(defined({ ...forBody, rootId })) } };
  // Celery 5.2.6's chord.run: the body keeps its own frozen id; the chord's task_id (its
  // header's group id once frozen) names the body only when the body has none.
  const place = { taskId: resultShapeIfFrozen(body) === null ? taskId : undefined, groupId: opts.groupId, groupIndex: opts.groupIndex, chord: opts.chord };
  freezeStep(frozenBody, defined(place) as Placement);
  stampReplyTo(frozenBody, opts.replyTo ?? host.replyTo);
  const headerOptions: ApplyOptions = { ...callOnly(opts), ...defined({ taskId: gid, rootId, parentId }) };
  if (memberDicts(header).length === 0) {
    // No header part will ever return: call the body now, with no results.
    await applyDict(host, frozenBody, [[]], defined({ rootId, parentId }));
  } else {
    await applyGroup(host, header, partialArgs(dict, args), headerOptions, frozenBody);
  }
  return resultOf(host, resultShape(frozenBody));
}

/** The frozen id a signature's result will have, or null when it is not frozen yet. */
function resultShapeIfFrozen(dict: SignatureDict): string | null {
  switch (dict.subtask_type) {
    case 'chain': {
      const steps = spliceSteps(memberDicts(dict));
      const last = steps[steps.length - 1];
      return last === undefined ? null : resultShapeIfFrozen(last);
    }
    case 'chord':
      return resultShapeIfFrozen(chordParts(dict).body);
    default:
      return frozenId(dict);
  }
}

/**
 * The result a frozen shape stands for: a task's, or a group's with its members' (nested
 * groups' members in their place, as {@link applyGroup} gives them).
 */
function resultOf(host: CanvasHost, shape: ResultTuple, parent: AsyncResult | null = null): Applied {
  const [[id], members] = shape;
  if (members === null) return new AsyncResult(id, host, parent);
  const leaves = (tuples: readonly ResultTuple[]): AsyncResult[] => tuples.flatMap(([[memberId], nested]) => (nested === null ? [new AsyncResult(memberId, host)] : leaves(nested)));
  return new GroupResult(id, leaves(members), host, parent);
}
