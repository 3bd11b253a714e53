/**
 * @module protocol/repr
 * Python-style text for JSON values: the true `repr()` ({@link pyRepr}) and Celery's
 * truncating `saferepr` ({@link saferepr}, {@link argsRepr}, {@link kwargsRepr}) that fills
 * the `argsrepr` / `kwargsrepr` headers (docs/protocol.md §1.2). Display only: nothing
 * parses these strings back.
 */

import { pyDateIso, pyNumberRepr } from './py-json.js';
import type { Json, JsonObject } from './types.js';

/** Celery's `argsrepr_maxsize` / `kwargsrepr_maxsize` default. */
export const REPR_MAXLEN = 1024;

/** How deep saferepr descends before printing a container as `[...]` (Celery default). */
export const REPR_MAXLEVELS = 3;

// Python's str.isprintable(): false for control, format, surrogate, private-use,
// unassigned, and every separator except the ASCII space.
const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

function escapeCodePoint(char: string, quote: string): string {
  switch (char) {
    case '\\': return '\\\\';
    case '\n': return '\\n';
    case '\r': return '\\r';
    case '\t': return '\\t';
    case quote: return `\\${quote}`;
  }
  const code = char.codePointAt(0) ?? 0;
  if (code < 0x7f && code >= 0x20) return char;
  if (code === 0x20 || (code > 0x7f && !NON_PRINTABLE.test(char))) return char;
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\U${code.toString(16).padStart(8, '0')}`;
}

/** Python's `repr(str)`: single quotes unless the text has `'` and no `"`. */
export function pyStrRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  // for..of walks code points, so a lone surrogate stays a single (escaped) unit.
  for (const char of text) out += escapeCodePoint(char, quote);
  return out + quote;
}

/**
 * Python's `repr()` of the value Python would get from our JSON: `None`, `True`, `False`,
 * `'text'` with Python's quoting and escapes, `[1, 2]`, `{'a': 1}`. Numbers print as
 * Python would print them after parsing our JSON (integral → int digits, otherwise float
 * repr such as `1e-05`), since JS cannot tell `2` from `2.0`.
 */
export function pyRepr(value: Json): string {
  return reprAt(value, 0);
}

/**
 * `value` itself when `JSON.stringify` can write it, else its {@link pyRepr} (a string): for a
 * reader that answers or prints a stored value as JSON (the CLI's `result`, the dashboard's and
 * the reference API's routes). A Python int past 2**53 (read as a bigint) and a value nested some
 * thousands of levels deep (only a writer other than a worker stores one) made those routes
 * answer 500 and the command end with a stack.
 */
export function jsonSafe(value: Json): Json {
  try {
    JSON.stringify(value);
    return value;
  } catch {
    return pyRepr(value);
  }
}

/** The JSON text of `value`, or its {@link pyRepr} when JSON cannot write it (see {@link jsonSafe}). */
export function jsonText(value: Json): string {
  const safe = jsonSafe(value);
  return safe === value ? JSON.stringify(value) : (safe as string);
}

/** Text already written, on {@link fullJsonText}'s stack of things to write. */
class Written {
  constructor(readonly text: string) {}
}

/**
 * The JSON text of `value` at any depth, with a bigint as a JSON integer (as Python writes an
 * int of any size): for a reader that must print JSON whatever was stored (`celeriac result`,
 * piped to jq). Written with a stack of its own, not recursion, so a value nested a hundred
 * thousand levels deep is written whole. `JSON.stringify` ran out of stack at some thousands,
 * and {@link jsonText} then gave a Python repr cut to `{...}`.
 */
export function fullJsonText(value: Json): string {
  const parts: string[] = [];
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v instanceof Written) parts.push(v.text);
    else if (typeof v === 'bigint') parts.push(v.toString());
    else if (typeof v !== 'object' || v === null) parts.push(JSON.stringify(v) ?? 'null');
    else if (Array.isArray(v)) {
      parts.push('[');
      todo.push(new Written(']'));
      for (let i = v.length - 1; i >= 0; i--) {
        todo.push(v[i]);
        if (i > 0) todo.push(new Written(','));
      }
    } else {
      parts.push('{');
      todo.push(new Written('}'));
      const members = Object.entries(v).filter(([, item]) => item !== undefined);
      for (let i = members.length - 1; i >= 0; i--) {
        const [key, item] = members[i]!;
        todo.push(item, new Written(`${i > 0 ? ',' : ''}${JSON.stringify(key)}:`));
      }
    }
  }
  return parts.join('');
}

/** Past this depth pyRepr prints `[...]` / `{...}`: hostile input (a 5,000-level exception message) must not exhaust the stack. */
const REPR_DEPTH_LIMIT = 100;

function reprAt(value: Json, depth: number): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return pyNumberRepr(value);
  if (typeof value === 'string') return pyStrRepr(value);
  // A Python int past 2**53, read as a bigint (protocol/py-json parsePyJson).
  if (typeof value === 'bigint') return (value as bigint).toString();
  if (Array.isArray(value)) return depth >= REPR_DEPTH_LIMIT ? '[...]' : `[${value.map((item) => reprAt(item, depth + 1)).join(', ')}]`;
  if (depth >= REPR_DEPTH_LIMIT) return '{...}';
  const parts = Object.entries(value).map(([k, v]) => `${pyStrRepr(k)}: ${reprAt(v, depth + 1)}`);
  return `{${parts.join(', ')}}`;
}

/* ---------------------------------------------------------------------------------------
 * saferepr: a port of the behaviour (not the code) of celery.utils.saferepr, which differs
 * from repr() on purpose and in ways visible in every argsrepr header:
 * - strings are always single-quoted with only `'` escaped (no \n or \\ escaping);
 * - containers nested deeper than 3 levels print as `[...]` / `{...}`;
 * - output is built token by token against a character budget. A token is cut by Celery's
 *   `truncate()` (keep the first `budget` characters, drop the last partial word, add
 *   `...`; note it also fires when a token is exactly as long as the budget). Once the
 *   budget is spent, the next token is dropped, `, ...` is written, and then only the
 *   closing brackets of the containers still open.
 * ------------------------------------------------------------------------------------- */

type Token =
  | { kind: 'open'; text: string }
  | { kind: 'close'; text: string }
  | { kind: 'sep'; text: string }
  | { kind: 'quoted'; text: string }
  | { kind: 'plain'; text: string };

interface StreamState {
  /** Set once the budget is spent: from then on containers are skipped, not entered. */
  draining: boolean;
}

// Python args are a tuple, which JSON cannot express; argsRepr wraps them in a marked
// object. A WeakSet mark (not a property) keeps user dicts like {tuple: [...]} unaffected.
const tupleMark = new WeakSet<object>();

type ReprNode = { tuple: readonly Json[] } | Json;

function isTupleNode(node: ReprNode): node is { tuple: readonly Json[] } {
  return typeof node === 'object' && node !== null && !Array.isArray(node) && tupleMark.has(node);
}

function* tokens(node: ReprNode, level: number, state: StreamState): Generator<Token> {
  if (state.draining) {
    // Celery keeps unvisited containers as raw objects in its stream and ignores them
    // while closing brackets, so their own brackets never appear.
    return;
  }
  if (node === null || node === undefined) return yield { kind: 'plain', text: 'None' };
  if (typeof node === 'boolean') return yield { kind: 'plain', text: node ? 'True' : 'False' };
  if (typeof node === 'number') return yield { kind: 'plain', text: pyNumberRepr(node) };
  if (typeof node === 'string') return yield { kind: 'quoted', text: node };
  // A Date travels as the ISO string kombu writes (protocol/py-json.ts); show that string.
  if ((node as unknown) instanceof Date) return yield dateToken(node as unknown as Date);
  let open: string;
  let close: string;
  let entries: [string | null, Json][];
  if (isTupleNode(node)) {
    open = '(';
    close = node.tuple.length === 1 ? ',)' : ')';
    entries = Array.from(node.tuple, (item) => [null, item]);
  } else if (Array.isArray(node)) {
    open = '[';
    close = ']';
    // Array.from, not map: a hole of a sparse array is an item (None, as the JSON has null).
    entries = Array.from(node, (item) => [null, item]);
  } else {
    open = '{';
    close = '}';
    entries = Object.entries(node);
  }
  if (level >= REPR_MAXLEVELS) return yield { kind: 'plain', text: `${open}...${close}` };
  yield { kind: 'open', text: open };
  for (let i = 0; i < entries.length; i++) {
    const [key, item] = entries[i] as [string | null, Json];
    if (key !== null) {
      yield { kind: 'quoted', text: key };
      yield { kind: 'sep', text: ': ' };
    }
    yield* tokens(item, level + 1, state);
    if (i < entries.length - 1) yield { kind: 'sep', text: ', ' };
  }
  yield { kind: 'close', text: close };
}

function dateToken(date: Date): Token {
  try {
    return { kind: 'quoted', text: pyDateIso(date) };
  } catch {
    return { kind: 'plain', text: 'Invalid Date' }; // the body cannot be encoded: the call fails anyway
  }
}

function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

// Celery's truncate(): cut at `maxlen` characters (code points), then back to the last space.
// Only the first `maxlen` are walked: an array of every code point of a string argument past
// about 2**27 of them was a RangeError ("Invalid array length") that failed the send.
function truncate(text: string, maxlen: number): string {
  // Fewer UTF-16 units than maxlen is fewer code points too.
  if (maxlen <= 0 || text.length < maxlen) return text;
  let count = 0;
  let end = 0;
  for (const ch of text) {
    if (count === maxlen) break;
    count++;
    end += ch.length;
  }
  if (count < maxlen) return text;
  const head = text.slice(0, end);
  const space = head.lastIndexOf(' ');
  return `${space < 0 ? head : head.slice(0, space)}...`;
}

function render(token: Token, budget: number): string {
  switch (token.kind) {
    case 'quoted':
      return `'${truncate(token.text, budget).replaceAll("'", "\\'")}'`;
    case 'plain':
      return truncate(token.text, budget);
    default:
      return token.text;
  }
}

function saferepr(node: ReprNode, maxlen: number): string {
  const state: StreamState = { draining: false };
  const stream = tokens(node, 0, state);
  let budget = maxlen;
  let out = '';
  for (const token of stream) {
    if (budget <= 0) {
      out += ', ...';
      state.draining = true;
      for (const rest of stream) if (rest.kind === 'close') out += rest.text;
      break;
    }
    const text = render(token, budget);
    out += text;
    budget -= codePointLength(text);
  }
  return out;
}

/**
 * Celery's `saferepr(value, maxlen)` for a JSON value; see the notes above for how it
 * differs from {@link pyRepr}.
 *
 * @param maxlen Character budget; {@link REPR_MAXLEN} (1024) by default, as Celery uses.
 */
export function safeRepr(value: Json, maxlen: number = REPR_MAXLEN): string {
  return saferepr(value, maxlen);
}

/* ---------------------------------------------------------------------------------------
 * Shortcut for the common case, taken once per sent task: arguments that are all None,
 * booleans, numbers or strings. When the whole text is shorter than the budget, no token
 * can have been cut (a token is cut only when it is at least as long as the budget left,
 * which the whole text never reaches) and nothing is dropped, so saferepr is the plain
 * join of the items. Counting UTF-16 units overestimates code points, so the test is safe.
 * ------------------------------------------------------------------------------------- */

/** saferepr of a None, boolean, number or string; undefined for containers. */
function scalarRepr(value: Json | undefined): string | undefined {
  switch (typeof value) {
    case 'string':
      return `'${value.replaceAll("'", "\\'")}'`;
    case 'number':
      return pyNumberRepr(value);
    case 'bigint':
      return (value as bigint).toString();
    case 'boolean':
      return value ? 'True' : 'False';
    case 'undefined':
      return 'None';
    default:
      return value === null ? 'None' : undefined;
  }
}

/** The items joined by `, `, or undefined if one is a container. */
function joinScalars(items: readonly Json[]): string | undefined {
  let text = '';
  for (let i = 0; i < items.length; i++) {
    const item = scalarRepr(items[i]);
    if (item === undefined) return undefined;
    text = i === 0 ? item : `${text}, ${item}`;
  }
  return text;
}

function flatArgsRepr(args: readonly Json[], maxlen: number): string | undefined {
  const inner = joinScalars(args);
  if (inner === undefined) return undefined;
  const text = args.length === 1 ? `(${inner},)` : `(${inner})`;
  return text.length < maxlen ? text : undefined;
}

function flatKwargsRepr(kwargs: JsonObject, maxlen: number): string | undefined {
  let text = '';
  for (const [key, value] of Object.entries(kwargs)) {
    const item = scalarRepr(value);
    if (item === undefined) return undefined;
    const member = `${scalarRepr(key) as string}: ${item}`;
    text = text === '' ? member : `${text}, ${member}`;
  }
  text = `{${text}}`;
  return text.length < maxlen ? text : undefined;
}

/**
 * The `argsrepr` header Celery writes for positional arguments: a Python tuple,
 * `(2, 3)`, `(1,)`, `()`, built by saferepr with a 1024-character budget.
 */
export function argsRepr(args: readonly Json[], maxlen: number = REPR_MAXLEN): string {
  const flat = flatArgsRepr(args, maxlen);
  if (flat !== undefined) return flat;
  const node = { tuple: args };
  tupleMark.add(node);
  return saferepr(node, maxlen);
}

/** The `kwargsrepr` header: saferepr of the keyword dict, 1024-character budget. */
export function kwargsRepr(kwargs: JsonObject, maxlen: number = REPR_MAXLEN): string {
  return flatKwargsRepr(kwargs, maxlen) ?? saferepr(kwargs, maxlen);
}
