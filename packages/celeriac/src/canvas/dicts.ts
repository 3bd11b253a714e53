/**
 * @module canvas/dicts
 * Reading and building Celery's canvas signature dicts (docs/protocol.md §1.6-§1.7): a
 * chain is `celery.chain` with `kwargs.tasks`, a group `celery.group` with `kwargs.tasks`, a
 * chord `celery.chord` with `kwargs.header` (a group dict) and `kwargs.body`. Every canvas
 * algorithm works on these dicts, so a workflow built in TypeScript and one received from
 * Python go through the same code.
 */
import { randomUUID } from 'node:crypto';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json, JsonObject, SignatureDict } from '../protocol/types.js';

/** True for a JSON object shaped like a signature dict. */
export function isSignatureDict(value: unknown): value is SignatureDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { task?: unknown }).task === 'string';
}

/** A signature dict with every field present and its own copy of args, kwargs and options. */
export function normalize(value: unknown, what = 'signature'): SignatureDict {
  if (!isSignatureDict(value)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} is not a signature dict: ${JSON.stringify(value)}`);
  const options = value.options;
  const kwargs = value.kwargs;
  return {
    ...value,
    task: value.task,
    args: Array.isArray(value.args) ? structuredClone(value.args) : [],
    kwargs: typeof kwargs === 'object' && kwargs !== null && !Array.isArray(kwargs) ? structuredClone(kwargs) : {},
    options: typeof options === 'object' && options !== null && !Array.isArray(options) ? structuredClone(options) : {},
    subtask_type: value.subtask_type ?? null,
    immutable: Boolean(value.immutable),
  };
}

/** The member dicts of a group or chain dict (`kwargs.tasks`). */
export function memberDicts(dict: SignatureDict): SignatureDict[] {
  const tasks = dict.kwargs['tasks'];
  if (!Array.isArray(tasks)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${dict.task} signature has no kwargs.tasks list`);
  return tasks.map((t, i) => normalize(t, `${dict.task} member ${i}`));
}

/** The header group dict and body dict of a chord dict (a list header is wrapped in a group). */
export function chordParts(dict: SignatureDict): { header: SignatureDict; body: SignatureDict } {
  const header = dict.kwargs['header'];
  const body = normalize(dict.kwargs['body'], 'chord body');
  if (Array.isArray(header)) return { header: groupDict(header.map((h) => normalize(h, 'chord header member'))), body };
  return { header: normalize(header, 'chord header'), body };
}

/** Builds a `celery.group` dict. */
export function groupDict(tasks: readonly SignatureDict[], options: JsonObject = {}): SignatureDict {
  return { task: 'celery.group', args: [], kwargs: { tasks: tasks as unknown as Json[] }, options, subtask_type: 'group', immutable: false };
}

/** Builds a `celery.chain` dict. */
export function chainDict(tasks: readonly SignatureDict[], options: JsonObject = {}): SignatureDict {
  return { task: 'celery.chain', args: [], kwargs: { tasks: tasks as unknown as Json[] }, options, subtask_type: 'chain', immutable: false };
}

/** Builds a `celery.chord` dict, in the shape Python sends inside a chain (§1.7). */
export function chordDict(header: SignatureDict, body: SignatureDict, options: JsonObject = {}): SignatureDict {
  return {
    task: 'celery.chord',
    args: [],
    kwargs: { kwargs: {}, header: header as unknown as Json, body: body as unknown as Json },
    options,
    subtask_type: 'chord',
    immutable: false,
  };
}

/** Unrolls nested groups into one member list (Celery runs them all in parallel under one id). */
export function flattenGroup(members: readonly SignatureDict[]): SignatureDict[] {
  return members.flatMap((m) => (m.subtask_type === 'group' ? flattenGroup(memberDicts(m)) : [m]));
}

/** Splices nested chains into one step list. */
export function flattenChain(steps: readonly SignatureDict[]): SignatureDict[] {
  return steps.flatMap((s) => (s.subtask_type === 'chain' ? flattenChain(memberDicts(s)) : [s]));
}

/**
 * How many chord part returns a header member produces (Celery's `_descend`): 1 for a task,
 * the sum for a group, the last non-empty step for a chain, the body for a chord.
 */
export function chordSize(dict: SignatureDict): number {
  switch (dict.subtask_type) {
    case 'group':
      return memberDicts(dict).reduce((n, m) => n + chordSize(m), 0);
    case 'chain': {
      const steps = memberDicts(dict);
      for (let i = steps.length - 1; i >= 0; i--) {
        const n = chordSize(steps[i] as SignatureDict);
        if (n > 0) return n;
      }
      return 0;
    }
    case 'chord':
      return chordSize(chordParts(dict).body);
    default:
      return 1;
  }
}

/** The task id frozen in a dict's options, or null. */
export function frozenId(dict: SignatureDict): string | null {
  const id = dict.options['task_id'];
  return typeof id === 'string' ? id : null;
}

/** The dict's task id, assigning a fresh one when none is frozen yet. */
export function ensureId(dict: SignatureDict): string {
  const id = frozenId(dict) ?? randomUUID();
  dict.options['task_id'] = id;
  return id;
}

/**
 * The ids whose results stand for this signature: its own for a task, every step's for a
 * chain, every member's for a group, the body's for a chord. Used to fail a signature that
 * will never run, so nobody waits on it forever.
 */
export function resultIds(dict: SignatureDict): string[] {
  switch (dict.subtask_type) {
    case 'chain':
      return memberDicts(dict).flatMap(resultIds);
    case 'group':
      return memberDicts(dict).flatMap(resultIds);
    case 'chord': {
      // The body's ids; the chord's own task_id (its header's group id once frozen) only
      // when the body has none, as it then names the body.
      const ids = resultIds(chordParts(dict).body);
      const own = frozenId(dict);
      return ids.length === 0 && own !== null ? [own] : ids;
    }
    default: {
      const id = frozenId(dict);
      return id === null ? [] : [id];
    }
  }
}
