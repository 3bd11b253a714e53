/**
 * @module canvas/builtins
 * Celery's built-in canvas tasks, registered on every app under Celery's names so a message
 * naming them (from Python or from `map`/`starmap`/`chunks`) runs on a Celeriac worker:
 * `celery.map`, `celery.starmap`, `celery.chunks`, `celery.chord`, `celery.group`,
 * `celery.chain`, and `celery.accumulate` (the chord body `ctx.replace` uses for a group).
 * Chords join through the backend, so `celery.chord_unlock` (Celery's polling join for
 * other backends) is not needed.
 */
import type { App } from '../core/app.js';
import type { TaskContext } from '../core/context.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json, SignatureDict } from '../protocol/types.js';
import { applyDict, applyGroup } from './apply.js';
import { chainDict, chordDict, groupDict, normalize } from './dicts.js';
import { chunkSignatures } from './map.js';
import { ACCUMULATE } from './replace.js';

/** The names this module registers. */
export const BUILTIN_TASKS = ['celery.map', 'celery.starmap', 'celery.chunks', 'celery.chord', 'celery.group', 'celery.chain', 'celery.accumulate'] as const;

/** Runs a registered task's function in this process (as Celery's `xmap` calls `task(item)`). */
async function callLocal(app: App, ctx: TaskContext, sig: unknown, args: readonly Json[]): Promise<Json> {
  const dict = normalize(sig, 'map task');
  const task = app.lookup(dict.task);
  if (task === undefined) throw new CeleriacError(ErrorCodes.NOT_REGISTERED, `celery.map: task ${JSON.stringify(dict.task)} is not registered here`);
  const fn = task.fn as (...a: unknown[]) => unknown;
  const all = [...args, ...dict.args];
  const value = await (task.options.bind ? fn(ctx, ...all) : fn(...all));
  return value === undefined ? null : (value as Json);
}

function list(value: unknown, what: string): Json[] {
  if (!Array.isArray(value)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} must be a list`);
  return value as Json[];
}

function dicts(value: unknown): SignatureDict[] {
  return list(value, 'tasks').map((t) => normalize(t));
}

/** Registers the built-in canvas tasks on `app`, unless already there. Idempotent. */
export function registerCanvasBuiltins(app: App): void {
  if (app.lookup('celery.map') !== undefined) return;
  const parentOf = (ctx: TaskContext) => ({ parentId: ctx.request.id, rootId: ctx.request.rootId });

  app.task('celery.map', { bind: true, params: ['task', 'it'] }, async (ctx, task: Json, it: Json) => {
    const out: Json[] = [];
    for (const item of list(it, 'it')) out.push(await callLocal(app, ctx, task, [item]));
    return out;
  });
  app.task('celery.starmap', { bind: true, params: ['task', 'it'] }, async (ctx, task: Json, it: Json) => {
    const out: Json[] = [];
    for (const item of list(it, 'it')) out.push(await callLocal(app, ctx, task, list(item, 'each item of it')));
    return out;
  });
  app.task('celery.chunks', { bind: true, params: ['task', 'it', 'n'] }, async (ctx, task: Json, it: Json, n: Json) => {
    const parts = chunkSignatures(normalize(task, 'chunks task'), list(it, 'it'), Number(n));
    return (await applyGroup(app, groupDict(parts), [], parentOf(ctx), null)).asTuple() as unknown as Json;
  });
  app.task(
    'celery.chord',
    { bind: true, params: ['header', 'body', 'partial_args', 'interval', 'countdown', 'max_retries', 'eager', 'kwargs'] },
    async (ctx, header: Json, body: Json, partialArgs: Json = []) => {
      const head = Array.isArray(header) ? groupDict(dicts(header)) : normalize(header, 'chord header');
      const r = await applyDict(app, chordDict(head, normalize(body, 'chord body')), list(partialArgs ?? [], 'partial_args'), parentOf(ctx));
      return r.id;
    },
  );
  app.task('celery.group', { bind: true, params: ['tasks', 'args'] }, async (ctx, tasks: Json, args: Json = []) => {
    return (await applyGroup(app, groupDict(dicts(tasks)), list(args ?? [], 'args'), parentOf(ctx), null)).asTuple() as unknown as Json;
  });
  app.task('celery.chain', { bind: true, params: ['tasks', 'args'] }, async (ctx, tasks: Json, args: Json = []) => {
    return (await applyDict(app, chainDict(dicts(tasks)), list(args ?? [], 'args'), parentOf(ctx))).id;
  });
  // Celery's accumulate(*args, index=None): all its arguments, or the one at `index`. The
  // declared params only let `index` be given by keyword after one positional argument
  // (the chord results), which is how replace (Celeriac's and Python's) calls it.
  // It reads its arguments from the request, so the function takes none of its own: no arity check.
  app.task(ACCUMULATE, { bind: true, params: ['results', 'index'], checkArity: false }, (ctx) => {
    const index = ctx.request.kwargs['index'];
    const args = ctx.request.args;
    if (typeof index !== 'number') return [...args];
    // Python indexing: negative counts from the end; out of range is an error, not null.
    if (index >= args.length || index < -args.length) throw new RangeError(`celery.accumulate: index ${index} out of range for ${args.length} argument(s)`);
    return args.at(index) as Json;
  });
}
