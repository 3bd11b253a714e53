/**
 * @module canvas/primitives
 * The canvas as typed values: `chain`, `group`, `chord` (and `signature` for a task known
 * only by name). Each is plain data that serializes to Celery's signature dict and sends
 * through canvas/apply.ts. Composition is checked at compile time: a chain step must accept
 * the previous step's return type as its first argument, a chord body the header's results.
 */
import type { AsyncResult } from '../core/async-result.js';
import { callOptionsObject, isSignatureLike, type ApplyOptions, type SignatureLike } from '../core/call-options.js';
import { describeGiven } from '../core/option-names.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { GroupResult } from '../core/group-result.js';
import { Signature, type SignatureCallOptions, type SignatureHost } from '../core/signature.js';
import { fromWireOptions, toSignatureDicts, toWireOptions } from '../core/signature-options.js';
import type { Json, JsonObject, SignatureDict } from '../protocol/types.js';
import { applyDict } from './apply.js';
import { chainDict, chordDict, groupDict } from './dicts.js';
import { findHost, isCanvasHost, type CanvasHost } from './host.js';

/** Anything that composes: a signature, chain, group or chord, with its result and input types. */
export interface Composable<R = unknown, In = unknown> {
  toDict(): SignatureDict;
  readonly __result?: () => R;
  readonly __input?: (value: In) => void;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- `any` here means "any result type" in type-level helpers. */
/** Any composable, whatever its types (`never` input: every input type is assignable to it). */
export type AnyComposable = Composable<any, never>;
/** The result type of a composable. */
export type ResultOf<S> = S extends { readonly __result?: () => infer R } ? R : never;
/** The parent-result type a composable accepts. */
export type InputOf<S> = S extends { readonly __input?: (value: infer I) => void } ? I : never;
/* eslint-enable @typescript-eslint/no-explicit-any */

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

type Linked<S extends readonly unknown[], Prev> = S extends readonly [infer H, ...infer T] ? [Composable<ResultOf<H>, Prev>, ...Linked<T, ResultOf<H>>] : [];

/** Each step after the first must accept the previous step's result. */
export type ValidChain<S extends readonly unknown[]> = S extends readonly [infer H, ...infer T] ? [H, ...Linked<T, ResultOf<H>>] : S;

type LastResult<S extends readonly unknown[]> = S extends readonly [...unknown[], infer L] ? ResultOf<L> : unknown;

/** The results of a group's members, as a tuple. */
export type ResultsOf<S extends readonly unknown[]> = { -readonly [K in keyof S]: ResultOf<S[K]> };

/** What a group accepts: what every member accepts. */
export type GroupInput<S extends readonly unknown[]> = [UnionToIntersection<InputOf<S[number]>>] extends [infer I] ? I : never;

/**
 * Deepest nesting of canvases in one another that can be sent. Deeper, the walks that turn a
 * canvas into messages overflowed the stack with a RangeError (at about 700 levels), and a
 * chord nested in chords took seconds per level past 80 (each level copies what it holds).
 * `chain(c, next)` and `group(g, next)` splice a plain `c` or `g` in, so building either in a
 * loop does not nest.
 */
export const MAX_CANVAS_DEPTH = 64;
let depth = 0;

function toDict(s: SignatureLike): SignatureDict {
  if (depth >= MAX_CANVAS_DEPTH) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `a canvas nested more than ${MAX_CANVAS_DEPTH} levels deep cannot be sent: give a chain its steps side by side, chain(...steps), not chain(chain(a, b), c)`);
  }
  depth++;
  try {
    return toSignatureDicts(s)?.[0] as SignatureDict;
  } finally {
    depth--;
  }
}

function chordHeader(header: unknown): Group<readonly unknown[], unknown> {
  if (!(header instanceof Group)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `chord header must be a group, got ${describeGiven(header)}`);
  return header;
}

function chordBody(body: unknown): SignatureLike {
  if (!isSignatureLike(body)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `chord body must be a signature, got ${describeGiven(body)}`);
  return body as SignatureLike;
}

/** `parts` as the members of `what`, each a signature or signature dict. */
function signaturesOf(parts: unknown, what: string): readonly SignatureLike[] {
  if (!Array.isArray(parts)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} takes a list of signatures, got ${describeGiven(parts)}`);
  const bad = parts.findIndex((p) => !isSignatureLike(p));
  if (bad >= 0) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: member ${bad} is not a signature, got ${describeGiven(parts[bad])}`);
  return parts;
}

function hostOf(own: SignatureHost | undefined, parts: readonly unknown[]): SignatureHost | undefined {
  if (isCanvasHost(own)) return own;
  return parts.map((p) => (p as { host?: unknown } | null)?.host).find(isCanvasHost);
}

function canvasHost(own: SignatureHost | undefined, parts: readonly unknown[], what: string): CanvasHost {
  return isCanvasHost(own) ? own : findHost(parts, what);
}

/** A chain: each step's result is passed to the next (unless the next is immutable). */
export class Chain<R = unknown, In = unknown> extends Signature<R, In> {
  constructor(
    /** The steps, in order. */
    readonly tasks: readonly SignatureLike[],
    options: JsonObject = {},
    host?: SignatureHost,
  ) {
    super('celery.chain', [], {}, options, false, 'chain', hostOf(host, signaturesOf(tasks, 'chain')));
  }

  override toDict(): SignatureDict {
    return { ...chainDict(this.tasks.map(toDict), { ...this.options }), args: [...this.args], immutable: this.immutable };
  }

  /** Sends the first step with the rest in `embed.chain`; resolves with the last step's result. */
  override async applyAsync(args: readonly Json[] = [], options?: SignatureCallOptions): Promise<AsyncResult<R>> {
    const { kwargs: _kwargs, ...rest } = callOptionsObject('call of a chain', options);
    void _kwargs;
    const host = canvasHost(this.host, this.tasks, 'chain');
    return (await applyDict(host, this.toDict(), args, rest)) as AsyncResult<R>;
  }
}

/** A group: every member runs in parallel under one group id. */
export class Group<R extends readonly unknown[] = unknown[], In = unknown> implements Composable<R, In> {
  declare readonly __result?: () => R;
  declare readonly __input?: (value: In) => void;
  /** The app that sends this group, when known. */
  host: SignatureHost | undefined;

  constructor(
    /** The members, in order. */
    readonly tasks: readonly SignatureLike[],
    /** Frozen options (wire form); `task_id` is the group id. */
    readonly options: Readonly<JsonObject> = {},
    host?: SignatureHost,
  ) {
    this.host = hostOf(host, signaturesOf(tasks, 'group'));
  }

  /** The wire form: `celery.group` with `kwargs.tasks`. */
  toDict(): SignatureDict {
    return groupDict(this.tasks.map(toDict), { ...this.options });
  }

  /** A copy with call options merged over the current ones (given to every member). */
  set(options: ApplyOptions): Group<R, In> {
    return new Group<R, In>(this.tasks, { ...this.options, ...toWireOptions(options) }, this.host);
  }

  /** A copy bound to `host` (an app). */
  bind(host: SignatureHost): Group<R, In> {
    return new Group<R, In>(this.tasks, this.options, host);
  }

  /** Sends one message per member; `args` are prepended to each mutable member's. */
  async applyAsync(args: readonly Json[] = [], options?: ApplyOptions): Promise<GroupResult<R>> {
    const given = callOptionsObject('call of a group', options);
    const host = canvasHost(this.host, this.tasks, 'group');
    const result = await applyDict(host, this.toDict(), args, { ...fromWireOptions(this.options), ...given });
    return result as unknown as GroupResult<R>;
  }

  /** Sends the group with `args` prepended to each member's. */
  delay(...args: Json[]): Promise<GroupResult<R>> {
    return this.applyAsync(args);
  }
}

/** A chord: the body is called with the header's results, in header order, once all are done. */
export class Chord<R = unknown, In = unknown> extends Signature<R, In> {
  constructor(
    /** The header: its members run in parallel. */
    readonly header: Group<readonly unknown[], unknown>,
    /** Called with the list of header results. */
    readonly body: SignatureLike,
    options: JsonObject = {},
    host?: SignatureHost,
  ) {
    super('celery.chord', [], {}, options, false, 'chord', hostOf(host ?? chordHeader(header).host, [chordBody(body)]));
  }

  override toDict(): SignatureDict {
    return { ...chordDict(this.header.toDict(), toDict(this.body), { ...this.options }), args: [...this.args], immutable: this.immutable };
  }

  /** Stores the chord size, sends the header; resolves with the body's result. */
  override async applyAsync(args: readonly Json[] = [], options?: SignatureCallOptions): Promise<AsyncResult<R>> {
    const { kwargs: _kwargs, ...rest } = callOptionsObject('call of a chord', options);
    void _kwargs;
    const host = canvasHost(this.host, [this.header, this.body, ...this.header.tasks], 'chord');
    return (await applyDict(host, this.toDict(), args, rest)) as AsyncResult<R>;
  }
}

/**
 * `chain(a, b, c)`: runs a, then b with a's result prepended, then c with b's. A group
 * followed by a step becomes a chord. The last step's result is returned.
 */
export function chain<S extends readonly AnyComposable[]>(...steps: S & ValidChain<S>): Chain<LastResult<S>, InputOf<S[0]>> {
  return new Chain<LastResult<S>, InputOf<S[0]>>(spliced(steps, Chain), {}, hostOf(undefined, steps));
}

/**
 * `parts` with each plain chain (or group, per `kind`) replaced by its members: one with no
 * options or arguments of its own, which sending splices in anyway (Celery's prepare_steps).
 */
function spliced(parts: readonly unknown[], kind: typeof Chain | typeof Group): SignatureLike[] {
  const out: SignatureLike[] = [];
  for (const p of parts) {
    const plain = p instanceof kind && Object.keys(p.options).length === 0 && (!(p instanceof Chain) || (p.args.length === 0 && !p.immutable));
    // A loop, not flatMap: in a loop of chain(c, next) this copies c's steps each time, and flatMap's were 20 times slower.
    if (plain) for (const t of p.tasks) out.push(t);
    else out.push(p as SignatureLike);
  }
  return out;
}

/** `group(a, b)` or `group([a, b])`: members run in parallel; results come back in member order. */
export function group<S extends readonly AnyComposable[]>(members: readonly [...S]): Group<ResultsOf<S>, GroupInput<S>>;
export function group<S extends readonly AnyComposable[]>(...members: S): Group<ResultsOf<S>, GroupInput<S>>;
export function group(...members: unknown[]): Group<readonly unknown[], unknown> {
  const list = members.length === 1 && Array.isArray(members[0]) ? (members[0] as unknown[]) : members;
  return new Group(spliced(signaturesOf(list, 'group'), Group), {}, hostOf(undefined, list));
}

/** `chord(header, body)`: the body gets the header's results (a list, header order) when all succeeded. */
export function chord<G extends Group<readonly unknown[], unknown>, R>(header: G, body: Composable<R, ResultOf<G>>): Chord<R, InputOf<G>>;
export function chord<S extends readonly AnyComposable[], R>(header: readonly [...S], body: Composable<R, ResultsOf<S>>): Chord<R, GroupInput<S>>;
export function chord(header: Group<readonly unknown[], unknown> | readonly SignatureLike[], body: SignatureLike): Chord {
  return new Chord(header instanceof Group ? header : new Group(signaturesOf(header, 'chord header')), body);
}

/**
 * A signature for a task known by name only (another service's, a Python task): `R` is
 * what you expect it to return. Bind it with `.bind(app)` (or compose it with signatures
 * that have an app) to send it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an untyped task returns "anything" so it composes.
export function signature<R = any>(name: string, args: readonly Json[] = [], kwargs: JsonObject = {}, options: ApplyOptions = {}, host?: SignatureHost): Signature<R, unknown> {
  return new Signature<R, unknown>(name, args, kwargs, toWireOptions(options), false, null, host);
}
