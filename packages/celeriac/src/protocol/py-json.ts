/**
 * @module protocol/py-json
 * JSON text byte-identical to Python's `json.dumps` with default arguments: separators
 * `", "` and `": "`, `ensure_ascii=True`, insertion key order, and Python's float repr.
 * Python readers accept any JSON, so this only matters where byte equality is wanted
 * (golden tests, stored results compared by other tools, re-encoding a captured envelope).
 */

import { CeleriacError, ErrorCodes } from '../errors.js';

/**
 * Python's `repr(float)` for a finite number: shortest round-trip digits, fixed notation
 * for decimal exponents -4..15 (always with a `.0` if integral), else `1e-05` / `1e+16`.
 */
export function pyFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  // toExponential() without an argument yields the shortest digits that round-trip,
  // the same digits Python's repr picks; only the layout differs.
  const [mantissa = '', expText = '0'] = Math.abs(value).toExponential().split('e');
  const exponent = Number(expText);
  const digits = mantissa.replace('.', '');
  if (exponent < -4 || exponent >= 16) {
    const expSign = exponent < 0 ? '-' : '+';
    return `${sign}${mantissa}e${expSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const intPart = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fracPart = digits.slice(exponent + 1);
  return `${sign}${intPart}.${fracPart === '' ? '0' : fracPart}`;
}

/**
 * How Python would print the number it gets from parsing our JSON for `value`.
 * Safe integers (up to 2**53 - 1 either way) are written as plain digits, which Python reads
 * as `int`; everything else becomes a Python `float`. JS cannot tell `2` from `2.0`, so a
 * float that happens to be integral is written as an int (see docs/protocol.md conventions).
 * A larger integral double is written as the float it is (`2**64` as `1.8446744073709552e+19`):
 * as digits it read back as another integer (`18446744073709552000`); an exact large
 * integer is a bigint.
 */
export function pyNumberRepr(value: number): string {
  if (Number.isSafeInteger(value)) return String(value);
  return pyFloatRepr(value);
}

// Printable ASCII except `"` and `\`: written verbatim by both Python and JSON.stringify.
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Whether `text` is written as it is between quotes (printable ASCII without `"` and `\`). */
export function isPlainJsonText(text: string): boolean {
  return PLAIN.test(text);
}
// What JSON.stringify leaves unescaped but Python's ensure_ascii escapes: DEL and non-ASCII.
const NON_ASCII = /[\x7f-\uffff]/g;
const escapeUnit = (ch: string): string => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Python `json.dumps` escaping with `ensure_ascii=True`: everything outside printable
 * ASCII becomes `\uXXXX` (lowercase hex, UTF-16 units, so astral characters become
 * surrogate pairs exactly as Python writes them).
 */
export function pyJsonString(text: string): string {
  // The common case (ids, names, base64): nothing to escape.
  if (PLAIN.test(text)) return `"${text}"`;
  // JSON.stringify already writes Python's escapes for `"`, `\`, \b \f \n \r \t, the other
  // control characters (\u00XX, lowercase) and lone surrogates (\udXXX, lowercase); only
  // DEL and non-ASCII units are left to escape.
  return JSON.stringify(text).replace(NON_ASCII, escapeUnit);
}

function unsupported(what: string, cause?: unknown): CeleriacError {
  return new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `Cannot serialize ${what} as JSON`, cause === undefined ? {} : { cause });
}

/**
 * How deep values may nest. Python's own JSON reader and writer stop near 1000 levels
 * (its recursion limit), so a deeper value could not be read by a Python client anyway; and
 * the limit keeps the (recursive) writer far from the end of the JS stack, whatever the value:
 * a 5,000-level result used to throw RangeError, which was not seen as an encoding failure.
 */
export const MAX_JSON_DEPTH = 1000;

// Cycles are looked for only below this depth: every message and record is far shallower,
// and a cycle recurses forever, so it still gets this deep and is caught there (each subtree
// that reaches the depth gets its own set of the objects open on its path). Shallow values,
// i.e. nearly all, then cost no Set at all.
const CYCLE_CHECK_DEPTH = 32;

function writeArray(value: readonly unknown[], depth: number, stack: Set<object> | undefined): string {
  if (value.length === 0) return '[]';
  let text = `[${write(value[0], depth, stack) ?? 'null'}`;
  for (let i = 1; i < value.length; i++) text += `, ${write(value[i], depth, stack) ?? 'null'}`;
  return `${text}]`;
}

// Encoded object keys, memoized with what precedes them (`{"key": ` for the first member,
// `, "key": ` for the others): a message repeats the same few dozen keys, and escaping and
// concatenating them anew was a good share of the writing time. Bounded, since keys can come
// from user data (kwargs); past the bound keys are simply encoded each time.
const KEY_CACHE_SIZE = 1024;
const firstKeys = new Map<string, string>();
const nextKeys = new Map<string, string>();

/** `{"key": ` or `, "key": `, in Python's layout. */
function keyText(key: string, first: boolean): string {
  const cache = first ? firstKeys : nextKeys;
  let text = cache.get(key);
  if (text === undefined) {
    text = `${first ? '{' : ', '}${pyJsonString(key)}: `;
    if (cache.size < KEY_CACHE_SIZE) cache.set(key, text);
  }
  return text;
}

function writeObject(value: object, depth: number, stack: Set<object> | undefined): string {
  let text = '';
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    const encoded = write((value as Record<string, unknown>)[key], depth, stack);
    if (encoded !== undefined) text += keyText(key, text === '') + encoded;
  }
  return text === '' ? '{}' : `${text}}`;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * A Date as kombu's JSON encoder writes a timezone-aware UTC datetime: `isoformat()` with
 * `+00:00` replaced by `Z`, and microseconds only when there are any
 * (`2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.250000Z`). A Python client reads a string,
 * as it would from a Celery task.
 */
export function pyDateIso(date: Date): string {
  const ms = date.getTime();
  const year = date.getUTCFullYear();
  // Python's datetime holds years 1-9999 only.
  if (Number.isNaN(ms) || year < 1 || year > 9999) throw unsupported(Number.isNaN(ms) ? 'an invalid Date' : `a Date in year ${year}`);
  const text = `${String(year).padStart(4, '0')}-${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}T${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}`;
  const milli = date.getUTCMilliseconds();
  return milli === 0 ? `${text}Z` : `${text}.${String(milli).padStart(3, '0')}000Z`;
}

/** What an object that is neither plain, an array nor a Date is, for the error message. */
function describeObject(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a custom prototype';
}

function write(value: unknown, depth: number, stack: Set<object> | undefined): string | undefined {
  switch (typeof value) {
    case 'string':
      return pyJsonString(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // Python would write NaN/Infinity, which JSON.parse (and so our own decoders and
      // every non-Python reader) reject; and null would change the value silently.
      if (Number.isFinite(value)) return pyNumberRepr(value);
      throw unsupported(String(value));
    case 'bigint':
      // Python's int: any size, plain digits (a Python int past 2**53 read by parsePyJson).
      return value.toString();
    case 'undefined':
      return undefined;
    case 'object':
      break;
    default:
      throw unsupported(`a ${typeof value}`);
  }
  if (value === null) return 'null';
  if (depth >= MAX_JSON_DEPTH) throw unsupported(`a value nested deeper than ${MAX_JSON_DEPTH} levels`);
  const isArray = Array.isArray(value);
  if (!isArray) {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      if (value instanceof Date) return pyJsonString(pyDateIso(value));
      // A Map, Set, Buffer or class instance would be written as its own fields ({} for a
      // Map), changing the value silently.
      throw unsupported(describeObject(value));
    }
  }
  if (depth < CYCLE_CHECK_DEPTH) {
    return isArray ? writeArray(value, depth + 1, undefined) : writeObject(value, depth + 1, undefined);
  }
  const open = stack ?? new Set<object>();
  if (open.has(value)) throw unsupported('a cyclic structure');
  open.add(value);
  const text = isArray ? writeArray(value, depth + 1, open) : writeObject(value, depth + 1, open);
  open.delete(value);
  return text;
}

/**
 * Writes a value; every failure (also a getter or proxy that throws, or a text too long for
 * a JS string) comes out as INVALID_ARGUMENT, which callers treat as an encoding failure
 * (FAILURE EncodeError for a result, a rejected call for arguments).
 */
function writeTop(value: unknown): string | undefined {
  try {
    return write(value, 0, undefined);
  } catch (err) {
    if (err instanceof CeleriacError) throw err;
    if (err instanceof RangeError && /string length/i.test(err.message)) throw unsupported('a value this large (the text exceeds the longest JS string)', err);
    if (err instanceof RangeError && /call stack/i.test(err.message)) throw unsupported('a value this deeply nested (the stack ran out)', err);
    throw unsupported(`a value whose reading threw (${err instanceof Error ? err.message : String(err)})`, err);
  }
}

/**
 * Serializes a JSON-compatible value exactly as Python's `json.dumps(value)` would.
 * `undefined` object members are skipped and `undefined` array items become `null`, as
 * with `JSON.stringify`; a `Date` becomes the ISO string kombu writes for a datetime.
 *
 * Key order is JS insertion order, except that JS always lists integer-like keys
 * (`"1"`, `"42"`) first in ascending order, which Python does not.
 *
 * A bigint is written as a plain integer, as Python writes an `int` of any size.
 *
 * @throws CeleriacError INVALID_ARGUMENT for functions, symbols, NaN and infinities,
 *   objects other than plain objects, arrays and valid Dates (a Map, a Set, a class instance),
 *   cycles, nesting deeper than {@link MAX_JSON_DEPTH}, or an undefined top-level value.
 */
export function pyJsonStringify(value: unknown): string {
  const text = writeTop(value);
  if (text === undefined) throw unsupported('undefined');
  return text;
}

/**
 * For writers that lay out an object's members themselves: appends `"key": value` to the
 * members written so far (`''` for none, else text from this function), exactly as
 * {@link pyJsonStringify} writes a member, leaving the member out when the value is
 * undefined. {@link pyJsonCloseObject} finishes the object.
 *
 * @throws CeleriacError INVALID_ARGUMENT as {@link pyJsonStringify}.
 */
export function pyJsonAddMember(members: string, key: string, value: unknown): string {
  const encoded = writeTop(value);
  return encoded === undefined ? members : pyJsonAddEncodedMember(members, key, encoded);
}

/** As {@link pyJsonAddMember}, for a value already written as JSON text. */
export function pyJsonAddEncodedMember(members: string, key: string, json: string): string {
  return members + keyText(key, members === '') + json;
}

/** The object text for members written with {@link pyJsonAddMember}. */
export function pyJsonCloseObject(members: string): string {
  return members === '' ? '{}' : `${members}}`;
}

// A JSON number at a given place (sticky).
const NUMBER = /-?\d+(\.\d+)?([eE][-+]?\d+)?/y;

// A JSON integer that a double cannot hold has at least 16 digits (2**53 has 16); any text
// without such a run of digits parses exactly with JSON.parse, and only that test is paid.
const LONG_DIGITS = /\d{16}/;

/**
 * `JSON.parse`, except that an integer a double cannot hold exactly (past +-(2**53 - 1): a
 * Python `int` such as a Snowflake id, `2**64`) is read as a `bigint` instead of being
 * rounded silently. Other numbers, fractions and exponents included, read as JSON.parse
 * reads them. {@link pyJsonStringify} writes a bigint back as the same integer.
 *
 * @throws SyntaxError as JSON.parse, for text that is not JSON.
 */
export function parsePyJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  const marked = markBigIntegers(text);
  if (marked === null) return JSON.parse(text);
  return JSON.parse(marked.text, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(marked.tag) ? BigInt(value.slice(marked.tag.length)) : value,
  );
}

/**
 * The text with each unsafe integer literal (outside strings) turned into a string carrying
 * `tag` (random, so no string of the input can pass for one); null when there is none.
 * Invalid JSON is left for JSON.parse to refuse.
 */
function markBigIntegers(text: string): { text: string; tag: string } | null {
  const tag = `celeriac-bigint-${Math.random().toString(36).slice(2)}:`;
  let out = '';
  let from = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22) {
      // Skip a string, escapes included.
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
      i++;
    } else if (ch === 0x2d || (ch >= 0x30 && ch <= 0x39)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      const literal = m?.[0] ?? text[i] ?? '';
      if (m !== null && m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(Number(literal))) {
        out += `${text.slice(from, i)}"${tag}${literal}"`;
        from = i + literal.length;
      }
      i += literal.length;
    } else i++;
  }
  return from === 0 ? null : { text: out + text.slice(from), tag };
}
