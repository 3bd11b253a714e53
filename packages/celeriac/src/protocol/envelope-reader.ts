/**
 * @module protocol/envelope-reader
 * The reading twin of envelope-writer.ts. A worker reads runs of envelopes that one producer
 * wrote for one task with the same options: their texts differ only in the body, the ids, the
 * argument reprs and the delivery tag. JSON.parse of a whole envelope was the largest single
 * cost of a worker's task (a seventh of its main thread at -c 100). The reader keeps the layout of an
 * envelope it parsed in full: the fixed text between those values. An envelope whose text is
 * that fixed text with other values in between, each a JSON string with no escape, is the
 * same JSON with those strings changed, so its value is a copy of the parsed one with them put
 * in: a few comparisons of text instead of a parse.
 *
 * Nothing is taken on trust: a text is read from a layout only when every character outside
 * the values equals the layout's, each value is a JSON string without a backslash or a
 * control character, and the text ends where the layout does. Anything else (another task,
 * other options, a value with an escape, garbage) is parsed by JSON.parse, which says what is
 * wrong with it. A layout is learned only from an envelope whose text is exactly what
 * py-json writes for its value (what kombu and Celeriac send), so the places of the values
 * are known without a tokenizer of its own.
 */
import { isJsonObject } from './guards.js';
import { pyJsonStringify } from './py-json.js';
import { indexOf, sliceOf } from './string-calls.js';
import type { JsonObject } from './types.js';

/** A member whose string value changes from one envelope of a run to the next: where it is, and a store of a value there. */
interface Slot {
  readonly outer: 'headers' | 'properties' | null;
  readonly key: string;
  /** Stores by a property name written out: a store by a computed name cost as much as the rest of a read. */
  readonly put: (envelope: JsonObject, value: string) => void;
  /** Whether the value is copied out of the text (see {@link own}); the body is decoded into a new text, or is the message. */
  readonly own: boolean;
}

/**
 * A value of its own, not a slice of the envelope's text: V8 keeps a slice of 13 characters or
 * more as a view of its whole text, so a task id the application keeps (a set of ids, a log)
 * would keep the envelope alive, a kilobyte or more for 36 characters. The leading space makes
 * V8 write the value into a new string of its own, of which the copy is a view.
 */
const own = (slice: string): string => sliceOf(` ${slice}`, 1);

const within = (envelope: JsonObject, outer: 'headers' | 'properties'): JsonObject => envelope[outer] as JsonObject;

const SLOTS: readonly Slot[] = [
  { outer: null, key: 'body', put: (e, v) => void (e.body = v), own: false },
  { outer: 'headers', key: 'id', put: (e, v) => void (within(e, 'headers').id = v), own: true },
  { outer: 'headers', key: 'root_id', put: (e, v) => void (within(e, 'headers').root_id = v), own: true },
  { outer: 'headers', key: 'argsrepr', put: (e, v) => void (within(e, 'headers').argsrepr = v), own: true },
  { outer: 'headers', key: 'kwargsrepr', put: (e, v) => void (within(e, 'headers').kwargsrepr = v), own: true },
  { outer: 'properties', key: 'correlation_id', put: (e, v) => void (within(e, 'properties').correlation_id = v), own: true },
  { outer: 'properties', key: 'delivery_tag', put: (e, v) => void (within(e, 'properties').delivery_tag = v), own: true },
];

/** Layouts kept: a worker that takes several tasks in turn keeps one for each. */
const LAYOUTS = 4;
/** Envelopes parsed in full between two tries to learn a layout while none is read from one. */
const LEARN_EVERY = 64;
/** The longest text a layout is learned from: a big body is most of its own parse, and no layout keeps one. */
const LEARN_MAX_CHARS = 64 * 1024;
/**
 * A value that must not be copied as it is: an escape, a quote's end, a control character.
 * One class, not the house's `[^\x20-\uffff]|\\` (the same code units): V8 tests each
 * character of the alternation twice, and this test took 2.6 % of a warm worker's instructions
 * at -c 100 (bench/instructions.ts); the class takes seven tenths of its time.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const UNSAFE = /[\x00-\x1f\\]/;

interface Layout {
  /** `fixed[0] value[0] fixed[1] ... value[n-1] fixed[n]`; each fixed part ends and starts with a value's quote. */
  readonly fixed: readonly string[];
  /** The parsed envelope, copied for each text read from the layout, and its copier. */
  readonly value: JsonObject;
  readonly copy: Copier;
  /** Where each value goes, in the order of the text. */
  readonly slots: readonly Slot[];
}

/** A fresh copy of a parsed JSON value (no member is `__proto__`: see {@link learn}). */
function copy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copy);
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = copy((value as Record<string, unknown>)[key]);
  return out;
}

type Copier = (value: unknown) => unknown;

/**
 * A function that copies `value` (and nothing else): each object by spreading it, then each
 * of its members that is an object or an array in turn. A walk of every member, as
 * {@link copy} does, took a third of the time a parse did.
 */
function copierOf(value: unknown): Copier {
  if (typeof value !== 'object' || value === null) return (v) => v;
  if (Array.isArray(value)) return value.every((item) => typeof item !== 'object' || item === null) ? (v) => (v as unknown[]).slice() : (v) => copy(v);
  const nested: [string, Copier][] = [];
  for (const key in value) {
    const member = (value as Record<string, unknown>)[key];
    if (typeof member === 'object' && member !== null) nested.push([key, copierOf(member)]);
  }
  if (nested.length === 0) return (v) => ({ ...(v as object) });
  return (v) => {
    const out: Record<string, unknown> = { ...(v as object) };
    for (const [key, copyMember] of nested) out[key] = copyMember(out[key]);
    return out;
  };
}

/** Whether a parsed JSON value holds a member named `__proto__` (which a plain copy would not keep as a member). */
function hasProtoKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasProtoKey);
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true;
  for (const key in value) if (hasProtoKey((value as Record<string, unknown>)[key])) return true;
  return false;
}

const marker = (i: number): string => `\u0001celeriac-slot-${i}\u0001`;
/** The marker as py-json writes it inside its quotes. */
const markedText = (i: number): string => `\\u0001celeriac-slot-${i}\\u0001`;

/** The layout of an envelope parsed in full, or null when its text is not py-json's of its value. */
function learn(raw: string, parsed: JsonObject): Layout | null {
  if (hasProtoKey(parsed)) return null;
  const marked = copy(parsed) as JsonObject;
  const slots: Slot[] = [];
  for (const slot of SLOTS) {
    const { outer, key } = slot;
    const holder = outer === null ? marked : marked[outer];
    if (!isJsonObject(holder) || typeof holder[key] !== 'string') continue;
    holder[key] = marker(slots.length);
    slots.push(slot);
  }
  if (slots.length === 0) return null;
  let text: string;
  try {
    text = pyJsonStringify(marked);
  } catch {
    return null;
  }
  const fixed: string[] = [];
  const order: Slot[] = [];
  const at = slots.map((_, i) => text.indexOf(markedText(i)));
  // A marker found twice (a value that holds one) would put a value in the wrong place.
  if (at.some((p, i) => p < 0 || text.includes(markedText(i), p + 1))) return null;
  const byPlace = slots.map((_, i) => i).sort((a, b) => (at[a] as number) - (at[b] as number));
  let from = 0;
  for (const i of byPlace) {
    fixed.push(text.slice(from, at[i]));
    order.push(slots[i] as Slot);
    from = (at[i] as number) + markedText(i).length;
  }
  fixed.push(text.slice(from));
  const layout: Layout = { fixed, value: parsed, copy: copierOf(parsed), slots: order };
  // The envelope itself must read back from the layout as it was written.
  const values = valuesOf(layout, raw);
  return values !== null && values.every((v, i) => v === slotOf(parsed, order[i] as Slot)) ? layout : null;
}

function slotOf(value: JsonObject, { outer, key }: Slot): unknown {
  const holder = outer === null ? value : value[outer];
  return isJsonObject(holder) ? holder[key] : undefined;
}

/** The values of `raw` in `layout`'s places, or null when `raw` does not have that layout. */
function valuesOf(layout: Layout, raw: string): string[] | null {
  const { fixed } = layout;
  const n = fixed.length - 1;
  const values: string[] = new Array<string>(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const part = fixed[i] as string;
    // A slice compared, not startsWith: V8's startsWith compares a long part character by
    // character, some thirty times slower.
    if (sliceOf(raw, pos, pos + part.length) !== part) return null;
    pos += part.length;
    const end = indexOf(raw, '"', pos);
    if (end < 0) return null;
    const value = sliceOf(raw, pos, end);
    if (UNSAFE.test(value)) return null;
    values[i] = (layout.slots[i] as Slot).own ? own(value) : value;
    pos = end;
  }
  const last = fixed[n] as string;
  return raw.length - pos === last.length && sliceOf(raw, pos) === last ? values : null;
}

/**
 * {@link learn}, with a copy of the value to keep (the caller owns what `parse` returns), its
 * values left out (each read puts its own). Null on any failure: a value nested too deep for
 * the walks here is still parsed by JSON.parse, never refused because a layout could not be made.
 */
function learnSafely(raw: string, parsed: JsonObject): Layout | null {
  try {
    const layout = learn(raw, parsed);
    if (layout === null) return null;
    const value = copy(parsed) as JsonObject;
    for (const slot of layout.slots) slot.put(value, '');
    return { ...layout, value };
  } catch {
    return null;
  }
}

/**
 * Parses envelope texts, reading those of a known layout without JSON.parse. The value is
 * always what `JSON.parse(raw)` gives, a fresh one each time.
 */
export class EnvelopeReader {
  /** Most recently used first. */
  readonly #layouts: Layout[] = [];
  /** The layout the last try to learn made (null when it failed), and whether a text was read from it since. */
  #learned: Layout | null = null;
  #paid = true;
  #parsedSinceTry = 0;
  #read = 0;
  #tried = 0;

  /** How many texts were read from a layout rather than parsed. */
  get read(): number {
    return this.#read;
  }

  /** How many times a layout was learned, or tried to be, from a text parsed in full. */
  get tried(): number {
    return this.#tried;
  }

  /**
   * `JSON.parse(raw)`.
   *
   * @throws SyntaxError as JSON.parse, for a text that is not JSON.
   */
  parse(raw: string): unknown {
    const layouts = this.#layouts;
    for (let i = 0; i < layouts.length; i++) {
      const layout = layouts[i] as Layout;
      const values = valuesOf(layout, raw);
      if (values === null) continue;
      if (i > 0) {
        layouts.splice(i, 1);
        layouts.unshift(layout);
      }
      this.#read++;
      if (layout === this.#learned) this.#paid = true;
      const out = layout.copy(layout.value) as JsonObject;
      for (let k = 0; k < values.length; k++) (layout.slots[k] as Slot).put(out, values[k] as string);
      return out;
    }
    const parsed: unknown = JSON.parse(raw);
    // Learning costs two writes of the envelope. It is tried at once when the layout learned
    // last was read from since (a new run begins), else once in LEARN_EVERY parses: texts that
    // never share a layout, or more layouts than are kept, cost little more than a parse.
    if (isJsonObject(parsed) && (this.#paid || ++this.#parsedSinceTry >= LEARN_EVERY)) {
      this.#parsedSinceTry = 0;
      this.#paid = false;
      this.#tried++;
      this.#learned = raw.length > LEARN_MAX_CHARS ? null : learnSafely(raw, parsed);
      if (this.#learned !== null) {
        layouts.unshift(this.#learned);
        if (layouts.length > LAYOUTS) layouts.pop();
      }
    }
    return parsed;
  }
}
