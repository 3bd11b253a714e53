/**
 * @module worker/events/ascii-json
 * Python-json text (protocol/py-json.ts: `json.dumps`'s layout, `ensure_ascii`) written
 * straight into bytes, into one buffer reused from batch to batch. With `ensure_ascii` every
 * character of the text is ASCII, so a character is a byte and nothing needs encoding; strings,
 * small integers and millisecond timestamps are copied or written digit by digit, which is
 * what a worker's task events are made of, and anything else is written by py-json and copied.
 * A worker with `-E` writes three events per task: as strings, the pieces of each event and
 * the batch they were joined into were most of what those events allocated.
 *
 * A writer made `quoted` writes its text as the inside of a JSON string (its `"` and `\`
 * escaped once more): the verbatim body of a kombu envelope, written in place instead of
 * encoded again after (event-text.ts). Constant bytes are the caller's to escape ({@link quoteInside}).
 */
import { isPlainJsonText, pyJsonString, pyJsonStringify, pyNumberRepr } from '../../protocol/py-json.js';
import { charCodeAt } from '../../protocol/string-calls.js';
import type { Json } from '../../protocol/types.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const NULL = asciiBytes('null');
const TRUE = asciiBytes('true');
const FALSE = asciiBytes('false');
const EMPTY = new Uint8Array(0);

/** The bytes of text known to be ASCII (constants: keys, separators). */
export function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

/**
 * py-json text as the inside of a JSON string (its `"` and `\\` escaped once more): the JSON
 * string of the text without its quotes (the text is ASCII without control characters or DEL,
 * so nothing else is escaped).
 */
export function quoteInside(text: string): string {
  return pyJsonString(text).slice(1, -1);
}

/** Python's repr of a float or int, as py-json writes it, with shortcuts for the usual ranges. */
export function numberText(value: number): string {
  // For safe integers, and other finite values from 1e-4 up to 1e16, JS's shortest
  // round-trip text is what pyNumberRepr writes; an integral double past 2**53 is written as
  // the float it is (docs/interop.md), so it takes the general path.
  const abs = Math.abs(value);
  if (Number.isInteger(value) ? abs <= Number.MAX_SAFE_INTEGER : abs >= 1e-4 && abs < 1e16) return String(value);
  // Below 1e-4 (a quick task's runtime) Python writes the same shortest digits in exponent
  // form with at least two exponent digits: 1.5e-05 where toExponential() says 1.5e-5.
  if (abs >= 1e-99 && abs < 1e-4) {
    const text = value.toExponential();
    return text.charCodeAt(text.length - 2) === 0x2d ? `${text.slice(0, -1)}0${text.slice(-1)}` : text;
  }
  return pyNumberRepr(value);
}

/** Below this many characters ASCII text is copied by a loop, above by one native write. */
const SHORT = 64;
/**
 * Strings up to this long (reprs such as `()`, ids, names) are checked and copied by one loop,
 * after their member's key in the same reservation; longer ones by a regular expression and a
 * native write. A task's events hold its id four times. On 2026-11-26 the loop of the time lost
 * to the two native calls for anything past 8 characters (bench/results/2026-11-26-vm-session14.md);
 * this one writes the writer's part of a task's three events in 0.73-0.90 of the time those
 * calls took (bench/event-writer.ts, fresh processes alternating, 2026-12-03).
 */
const LOOPED = 64;
/** The most buffer a writer keeps between batches (one grown past it by a huge value is let go). */
export const KEEP_BYTES = 1024 * 1024;
/** Below this many bytes constant bytes are copied by a loop, above by TypedArray#set. */
const SHORT_BYTES = 24;

/**
 * A growing byte buffer of Python-json text. Appends only; `length` may be set back to a
 * mark to take back what was written after it.
 */
export class AsciiJsonWriter {
  #buf: Buffer;
  /** Bytes written. */
  length = 0;
  #lastSeconds = -1;
  #lastSecondsBytes = NULL;
  /** Whether the text is written as the inside of a JSON string (see the module comment). */
  readonly quoted: boolean;

  constructor(initialBytes = 16 * 1024, options: { quoted?: boolean } = {}) {
    // Never a slice of Node's shared pool: a buffer handed over by detach is given back whole.
    this.#buf = Buffer.allocUnsafeSlow(initialBytes);
    this.quoted = options.quoted === true;
  }

  /** The text written so far (a view of the buffer, valid until the next write). */
  get bytes(): Buffer {
    return this.#buf.subarray(0, this.length);
  }

  /**
   * Hands over the text written, not copied (a view of the buffer, the caller's from now on:
   * its `.buffer` is the whole of it, never shared), and starts over in `spare`: a buffer an
   * earlier {@link detach} handed over and its reader is done with, or else a new one of the same size. Copying a batch out, or allocating for each
   * one, freed and took back tens of kilobytes of native memory per batch, and the allocator
   * gave them back to the system and took them again page by page: a third of a busy worker's
   * cost of events in some runs.
   */
  detach(spare?: Buffer): Buffer {
    const text = this.#buf.subarray(0, this.length);
    this.#buf = spare ?? Buffer.allocUnsafeSlow(Math.min(this.#buf.length, KEEP_BYTES));
    this.length = 0;
    return text;
  }

  /** Constant bytes (from {@link asciiBytes}). */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.#reserve(n);
    const buf = this.#buf;
    const at = this.length;
    if (n < SHORT_BYTES) for (let i = 0; i < n; i++) buf[at + i] = bytes[i]!;
    else buf.set(bytes, at);
    this.length = at + n;
  }

  /** Text known to be ASCII, as it is (py-json's output). */
  ascii(text: string): void {
    const n = text.length;
    this.#reserve(n);
    const buf = this.#buf;
    const at = this.length;
    if (n < SHORT) for (let i = 0; i < n; i++) buf[at + i] = charCodeAt(text, i);
    else buf.write(text, at, 'latin1');
    this.length = at + n;
  }

  /** JSON text from py-json (ASCII), escaped once more when the writer is quoted. */
  #json(text: string): void {
    this.ascii(this.quoted ? quoteInside(text) : text);
  }

  /** A JSON string's quote: `"`, or `\"` inside a quoted writer's string. */
  #quote(at: number): number {
    const buf = this.#buf;
    if (this.quoted) buf[at++] = BACKSLASH;
    buf[at] = QUOTE;
    return at + 1;
  }

  /** A JSON string, escaped as Python does (`\uXXXX` for all but printable ASCII). */
  string(value: string): void {
    this.#string(value, EMPTY);
  }

  /**
   * A member whose value is a string: its key's bytes (constant, from {@link asciiBytes}), then
   * the string as {@link string} writes it, in one reservation. Most members of a task event are.
   */
  member(key: Uint8Array, value: string): void {
    this.#string(value, key);
  }

  /** `before` (constant bytes), then `value` as a JSON string. */
  #string(value: string, before: Uint8Array): void {
    const n = value.length;
    const k = before.length;
    // The bytes before, both quotes (each one byte more when quoted), the characters.
    this.#reserve(k + n + 4);
    const buf = this.#buf;
    let at = this.length;
    for (let i = 0; i < k; i++) buf[at + i] = before[i]!;
    at += k;
    if (n > LOOPED) {
      this.length = at;
      if (!isPlainJsonText(value)) return this.#json(pyJsonString(value));
      at = this.#quote(at);
      buf.write(value, at, 'latin1');
      this.length = this.#quote(at + n);
      return;
    }
    const start = at;
    at = this.#quote(at);
    for (let i = 0; i < n; i++) {
      const c = charCodeAt(value, i);
      // Control characters, `"`, `\`, DEL and beyond: py-json's escapes, after the bytes before.
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) {
        this.length = start;
        return this.#json(pyJsonString(value));
      }
      buf[at + i] = c;
    }
    this.length = this.#quote(at + n);
  }

  /**
   * A number as py-json writes it.
   *
   * @throws CeleriacError INVALID_ARGUMENT for NaN and infinities, as py-json.
   */
  number(value: number): void {
    if (Number.isSafeInteger(value)) {
      if (value < 0) {
        this.ascii('-');
        this.#digits(-value);
      } else this.#digits(value);
    } else if (Number.isFinite(value)) this.ascii(numberText(value));
    else this.#json(pyJsonStringify(value));
  }

  /**
   * Epoch milliseconds as the float seconds an event's `timestamp` is (`ms / 1000` as py-json
   * writes it): for whole milliseconds, the seconds and up to three decimals without trailing
   * zeros. With at most 15 significant digits that is the shortest text that reads back as
   * the float (two such decimals are further apart than doubles there), so it is JS's and
   * Python's; past 1e15 ms (the year 33658) the float is written as any other.
   */
  seconds(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0 || ms >= 1e15) return this.number(ms / 1000);
    const whole = Math.floor(ms / 1000);
    const frac = ms - whole * 1000;
    // Most events of a batch fall in the same second as the one before.
    if (whole !== this.#lastSeconds) {
      this.#lastSeconds = whole;
      this.#lastSecondsBytes = asciiBytes(String(whole));
    }
    this.raw(this.#lastSecondsBytes);
    if (frac === 0) return;
    this.#reserve(4);
    const buf = this.#buf;
    let at = this.length;
    buf[at++] = 0x2e;
    buf[at++] = ZERO + Math.floor(frac / 100);
    const rest = frac % 100;
    if (rest !== 0) {
      buf[at++] = ZERO + Math.floor(rest / 10);
      if (rest % 10 !== 0) buf[at++] = ZERO + (rest % 10);
    }
    this.length = at;
  }

  /**
   * Any JSON value as py-json writes it.
   *
   * @throws CeleriacError INVALID_ARGUMENT for a value py-json refuses.
   */
  value(value: Json): void {
    switch (typeof value) {
      case 'string':
        return this.string(value);
      case 'number':
        return this.number(value);
      case 'boolean':
        return this.raw(value ? TRUE : FALSE);
      default:
        if (value === null) this.raw(NULL);
        else this.#json(pyJsonStringify(value));
    }
  }

  /** A non-negative safe integer's digits. */
  #digits(value: number): void {
    // Small integers (clocks, counts, epoch seconds until 2038) in int32 arithmetic, whose
    // division by 10 is a multiplication.
    if (value > 0x7fffffff) return this.ascii(String(value));
    let n = 1;
    for (let rest = value; rest >= 10; rest = (rest / 10) | 0) n++;
    this.#reserve(n);
    const buf = this.#buf;
    let rest = value | 0;
    for (let i = this.length + n - 1; i >= this.length; i--) {
      const next = (rest / 10) | 0;
      buf[i] = ZERO + rest - next * 10;
      rest = next;
    }
    this.length += n;
  }

  #reserve(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.length + n));
    this.#buf.copy(grown, 0, 0, this.length);
    this.#buf = grown;
  }
}
