/**
 * @module core/signature
 * A task call frozen as data: the name, its arguments and call options. Signatures travel
 * inside messages as Celery's signature dicts (celery-protocol.md §1.6) for `link`,
 * `linkError`, chains and chords.
 */
import type { Json, JsonObject, SignatureDict } from '../protocol/types.js';

/** A signature: `task.s(...)`, `task.si(...)`, or rebuilt from a dict received on the wire. */
export class Signature<R = unknown> {
  /** Phantom field carrying the task's return type for canvas typing. */
  declare readonly __result?: R;

  constructor(
    /** Task name. */
    readonly task: string,
    readonly args: readonly Json[] = [],
    readonly kwargs: Readonly<JsonObject> = {},
    /** Frozen call options in Celery's snake_case wire form (`task_id`, `queue`, ...). */
    readonly options: Readonly<JsonObject> = {},
    /** When true the parent's result is not prepended to `args`. */
    readonly immutable = false,
    readonly subtaskType: SignatureDict['subtask_type'] = null,
  ) {}

  /** The wire form. */
  toDict(): SignatureDict {
    return {
      task: this.task,
      args: [...this.args],
      kwargs: { ...this.kwargs },
      options: { ...this.options },
      subtask_type: this.subtaskType,
      immutable: this.immutable,
    };
  }

  /** Rebuilds a signature from its wire form. */
  static fromDict(dict: SignatureDict): Signature {
    return new Signature(dict.task, dict.args ?? [], dict.kwargs ?? {}, dict.options ?? {}, Boolean(dict.immutable), dict.subtask_type ?? null);
  }
}

/** A signature or its wire dict. */
export type SignatureLike = Signature | SignatureDict;

/** Normalises one or many signatures to wire dicts. */
export function toSignatureDicts(value: SignatureLike | readonly SignatureLike[] | undefined): SignatureDict[] | null {
  if (value === undefined) return null;
  const list = Array.isArray(value) ? value : [value as SignatureLike];
  return list.map((s) => (s instanceof Signature ? s.toDict() : s));
}
