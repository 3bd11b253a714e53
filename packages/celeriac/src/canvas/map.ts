/**
 * @module canvas/map
 * `map`, `starmap` and `chunks` as Celery builds them: one message running a task over a
 * list inside a worker (`celery.map`, `celery.starmap`), or a list split into chunks, each a
 * `celery.starmap` message, sent as a group.
 */
import { isSignatureLike, type SignatureLike } from '../core/call-options.js';
import { describeGiven } from '../core/option-names.js';
import { Signature } from '../core/signature.js';
import { toSignatureDicts } from '../core/signature-options.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json, SignatureDict } from '../protocol/types.js';
import { Task, type AnyTask } from '../core/task.js';
import type { AnyComposable, ResultOf } from './primitives.js';
import { Group } from './primitives.js';

type MappedResult<S> = S extends Task<never[], infer R> ? R : ResultOf<S>;

function isTask(value: unknown): value is AnyTask {
  return value instanceof Task;
}

function dictOf(sig: AnyTask | SignatureLike, what: string): SignatureDict {
  if (isTask(sig)) return new Signature(sig.name).toDict();
  if (!isSignatureLike(sig)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: the task must be a task or a signature, got ${describeGiven(sig)}`);
  return toSignatureDicts(sig)?.[0] as SignatureDict;
}

/** `items` checked to be a list (of argument lists when `argLists`), for `what`'s error. */
function itemsOf<T>(items: readonly T[], what: string, argLists: boolean): readonly T[] {
  if (!Array.isArray(items)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: items must be a list, got ${describeGiven(items)}`);
  const bad = argLists ? items.findIndex((i) => !Array.isArray(i)) : -1;
  if (bad >= 0) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: item ${bad} must be a list of arguments, got ${describeGiven(items[bad])}`);
  return items;
}

function hostOf(sig: unknown): Signature['host'] {
  if (isTask(sig)) return (sig.s as (...a: unknown[]) => Signature)().host;
  return (sig as { host?: Signature['host'] }).host;
}

/** `celery.map`: `task` (a task such as `add`, or a signature such as `signature('py.add')`) as one task that calls `task` on every item, in the worker; resolves with the list of results. */
export function map<S extends AnyComposable | AnyTask>(task: S, items: readonly Json[]): Signature<MappedResult<S>[], unknown> {
  return new Signature<MappedResult<S>[], unknown>('celery.map', [], { task: dictOf(task, 'map') as unknown as Json, it: [...itemsOf(items, 'map', false)] }, {}, true, null, hostOf(task));
}

/** `celery.starmap`: like {@link map}, each item being the argument list of one call. */
export function starmap<S extends AnyComposable | AnyTask>(task: S, items: readonly (readonly Json[])[]): Signature<MappedResult<S>[], unknown> {
  return new Signature<MappedResult<S>[], unknown>('celery.starmap', [], { task: dictOf(task, 'starmap') as unknown as Json, it: itemsOf(items, 'starmap', true).map((i) => [...i]) }, {}, true, null, hostOf(task));
}

/** The `celery.starmap` signatures of `items` split into chunks of `n`. */
export function chunkSignatures(task: SignatureDict, items: readonly Json[], n: number): SignatureDict[] {
  if (!(Number.isInteger(n) && n > 0)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `chunks: n must be a positive integer, got ${String(n)}`);
  const out: SignatureDict[] = [];
  for (let i = 0; i < items.length; i += n) {
    out.push(new Signature('celery.starmap', [], { task: task as unknown as Json, it: items.slice(i, i + n) as Json[] }, {}, true).toDict());
  }
  return out;
}

/**
 * `chunks(task, items, n)`: `items` (argument lists) split into groups of `n`, each chunk one
 * `celery.starmap` message; the group's results are one list per chunk.
 */
export function chunks<S extends AnyComposable | AnyTask>(task: S, items: readonly (readonly Json[])[], n: number): Group<MappedResult<S>[][], unknown> {
  const parts = chunkSignatures(dictOf(task, 'chunks'), itemsOf(items, 'chunks', true).map((i) => [...i]), n);
  return new Group<MappedResult<S>[][], unknown>(parts, {}, hostOf(task));
}
