/**
 * @module core/signature
 * A task call frozen as data: the name, its arguments and call options. Signatures travel
 * inside messages as Celery's signature dicts (docs/protocol.md §1.6) for `link`,
 * `linkError`, chains and chords. The canvas primitives (canvas/) extend this class.
 *
 * Two phantom type parameters make canvas composition type-checked: `R` is what the task
 * returns, `In` what it accepts as the parent's result when it is a callback or a chain step
 * (`unknown` for an immutable signature, `never` when every argument is already given).
 */
import { randomUUID } from 'node:crypto';
import type { Json, JsonObject, SignatureDict } from '../protocol/types.js';
import type { AsyncResult } from './async-result.js';
import { CALL_OPTION_NAMES, CALL_OPTIONS_WITHOUT_EQUIVALENT, callOptionsObject, checkCallOptionValues, isSignatureLike, renameCallOptions, type ApplyOptions, type Callback, type Errback, type SignatureLike } from './call-options.js';
import { checkOptionNames } from './option-names.js';
import { fromWireOptions, toSignatureDicts, toWireOptions } from './signature-options.js';
import { CeleriacError, ErrorCodes } from '../errors.js';

export type { SignatureLike } from './call-options.js';
export { toSignatureDicts } from './signature-options.js';

/** What a signature needs to send itself: the app. */
export interface SignatureHost {
  sendTask(name: string, args: readonly Json[], kwargs: JsonObject, options: ApplyOptions): Promise<AsyncResult>;
}

/** Options of {@link Signature.applyAsync}: call options plus extra `kwargs`. */
export type SignatureCallOptions = ApplyOptions & {
  /** Keyword arguments merged over the signature's own. */
  kwargs?: JsonObject;
};

/** What {@link Signature.clone} may change. */
export interface SignatureChanges {
  args?: readonly Json[];
  kwargs?: Readonly<JsonObject>;
  options?: Readonly<JsonObject>;
  immutable?: boolean;
}

/** A callback as given, if it is one: anything else went into the message, for every worker to fail on. */
function checkedCallback<T>(what: string, callback: T): T {
  if (isSignatureLike(callback)) return callback;
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: give a signature (task.s(...)) or a signature dict, got ${callback === null ? 'null' : typeof callback}`);
}

/** A signature: `task.s(...)`, `task.si(...)`, or rebuilt from a dict received on the wire. */
export class Signature<R = unknown, In = unknown> {
  /** Phantom field carrying the task's return type for canvas typing. */
  declare readonly __result?: () => R;
  /** Phantom field: the parent result this signature accepts (contravariant). */
  declare readonly __input?: (value: In) => void;
  /** The app that sends this signature, when it came from a task (`task.s()`). */
  host: SignatureHost | undefined;

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
    host?: SignatureHost,
  ) {
    this.host = host;
  }

  /** The task id frozen in the options (`freeze()`), or null. */
  get id(): string | null {
    const id = this.options['task_id'];
    return typeof id === 'string' ? id : null;
  }

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

  /** Rebuilds a plain signature from its wire form (canvas's `signatureFromDict` also rebuilds chains, groups and chords). */
  static fromDict(dict: SignatureDict, host?: SignatureHost): Signature {
    return new Signature(dict.task, dict.args ?? [], dict.kwargs ?? {}, dict.options ?? {}, Boolean(dict.immutable), dict.subtask_type ?? null, host);
  }

  /** A copy with some fields changed; subclasses keep their class and extra fields. */
  clone(changes: SignatureChanges = {}): this {
    const copy = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.assign(copy, this);
    const target = copy as unknown as Record<string, unknown>;
    if (changes.args !== undefined) target['args'] = [...changes.args];
    if (changes.kwargs !== undefined) target['kwargs'] = { ...changes.kwargs };
    if (changes.options !== undefined) target['options'] = { ...changes.options };
    if (changes.immutable !== undefined) target['immutable'] = changes.immutable;
    return copy;
  }

  /** A copy with call options merged over the current ones (Celery's `sig.set(...)`). */
  set(options: ApplyOptions): this {
    // Checked as a call's options are: an unknown name (`queu`) was dropped on the way to the wire.
    const what = `${this.task}.set()`;
    const given = renameCallOptions(callOptionsObject(what, options));
    checkOptionNames(what, given, CALL_OPTION_NAMES, CALL_OPTIONS_WITHOUT_EQUIVALENT);
    checkCallOptionValues(what, given);
    return this.clone({ options: { ...this.options, ...toWireOptions(given) } });
  }

  /** A copy with `callback` added to the success callbacks (Celery's `sig.link(...)`, without mutation). */
  link(callback: Callback<R>): this {
    return this.appendOption('link', checkedCallback(`${this.task}.link()`, callback));
  }

  /** A copy with `errback` added to the error callbacks (Celery's `sig.link_error(...)`). */
  linkError(errback: Errback): this {
    return this.appendOption('link_error', checkedCallback(`${this.task}.linkError()`, errback));
  }

  /** A copy with a task id assigned (kept when already set), so its result can be known before sending. */
  freeze(taskId?: string): this {
    if (taskId !== undefined && (typeof taskId !== 'string' || taskId === '')) {
      throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${this.task}.freeze(): a task id must be a non-empty string, got ${typeof taskId === 'string' ? '""' : String(taskId)}`);
    }
    if (this.id !== null) return this;
    return this.clone({ options: { ...this.options, task_id: taskId ?? randomUUID() } });
  }

  /** A copy bound to `host` (an app), so it can be sent with `delay`/`applyAsync`. */
  bind(host: SignatureHost): this {
    const copy = this.clone();
    copy.host = host;
    return copy;
  }

  /**
   * Sends the signature. `args` are prepended to the signature's own (unless immutable),
   * `kwargs` and options are merged over its own, as Celery's `apply_async` does.
   */
  applyAsync(args: readonly Json[] = [], options?: SignatureCallOptions): Promise<AsyncResult<R>> {
    const host = this.requireHost();
    let given: SignatureCallOptions;
    try {
      if (!Array.isArray(args)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `call of ${this.task}: args must be an array, got ${typeof args}`);
      given = callOptionsObject(`call of ${this.task}`, options);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const { kwargs = {}, ...rest } = given;
    const allArgs = this.immutable ? [...this.args] : [...args, ...this.args];
    const merged = { ...fromWireOptions(this.options), ...rest };
    return host.sendTask(this.task, allArgs, { ...this.kwargs, ...kwargs }, merged) as Promise<AsyncResult<R>>;
  }

  /** Sends the signature with `args` prepended. Shortcut for `applyAsync(args)`. */
  delay(...args: Json[]): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /** The host, or an error explaining how to get one. */
  protected requireHost(): SignatureHost {
    if (this.host === undefined) {
      throw new CeleriacError(
        ErrorCodes.STATE,
        `signature of ${this.task} has no app: build it with task.s()/task.si(), or call .bind(app) before sending`,
      );
    }
    return this.host;
  }

  private appendOption(key: 'link' | 'link_error', sig: SignatureLike): this {
    const current = this.options[key];
    const list = Array.isArray(current) ? current : current === undefined || current === null ? [] : [current];
    const added = toSignatureDicts(sig) as unknown as Json[];
    return this.clone({ options: { ...this.options, [key]: [...list, ...added] } });
  }
}
