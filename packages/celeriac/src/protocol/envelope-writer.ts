/**
 * @module protocol/envelope-writer
 * Envelope text for a run of messages, as a bulk send or a loop of one-by-one sends makes
 * them: one task with the same options, so consecutive envelopes differ only in the ids, the
 * argument reprs, the body and the delivery tag. The writer encodes such a run's first envelope once more with markers in
 * those places, keeps the fixed text between them, and writes each following envelope by
 * filling in its own values: a few concatenations instead of walking every header.
 *
 * The text is always what {@link encodeEnvelope} writes for the message
 * (envelope-writer.test.ts checks this on random runs). A message is written from the layout
 * only when every other field equals the reference message's; otherwise it is encoded in full
 * and becomes the reference.
 */

import { encodeEnvelope, type EnvelopeOptions } from './envelope.js';
import { pyJsonString } from './py-json.js';
import type { Json, Message } from './types.js';

/** Headers that differ per message of a bulk send; any other header must match the reference. */
const HEADER_SLOTS = ['id', 'root_id', 'argsrepr', 'kwargsrepr'] as const;
/** Properties that differ per message; any other property must match the reference. */
const PROPERTY_SLOTS = ['correlation_id'] as const;

/** One per-message value: where it comes from, written as JSON text. */
type Slot = (message: Message, opts: EnvelopeOptions) => string;

const headerSlot = (key: string): Slot => (message) => pyJsonString(message.headers[key] as string);
const propertySlot = (key: string): Slot => (message) => pyJsonString(message.properties[key] as string);
const tagSlot: Slot = (_message, opts) => pyJsonString(opts.deliveryTag);
/** Bodies up to this many characters are remembered with their base64 (see `bodySlot`). */
const REMEMBERED_BODY_CHARS = 1024;
let lastBody = '';
let lastBase64 = '';
// The body is written as base64 inside quotes that belong to the fixed text. A loop of sends
// of one task with the same (often no) arguments repeats its body: the last short one is
// remembered, so its base64 is not computed again.
const bodySlot: Slot = (message) => {
  const body = message.body;
  if (body === lastBody) return lastBase64;
  const base64 = Buffer.from(body, 'utf8').toString('base64');
  if (body.length <= REMEMBERED_BODY_CHARS) {
    lastBody = body;
    lastBase64 = base64;
  }
  return base64;
};

/** Fixed text around the slots: `fixed[0] slot[0] fixed[1] ... slot[n-1] fixed[n]`. */
interface Layout {
  readonly fixed: readonly string[];
  readonly slots: readonly Slot[];
}

// A marker is a string no envelope field holds in practice; the layout is refused anyway
// when one shows up anywhere but in its own place (see `takeApart`).
const marker = (i: number): string => `\u0000celeriac-slot-${i}`;
// `encodeEnvelope` writes the body first: `{"body": "<base64>", ...`.
const BODY_START = '{"body": "';

function fill(layout: Layout, message: Message, opts: EnvelopeOptions): string {
  const { fixed, slots } = layout;
  let text = fixed[0] as string;
  for (let i = 0; i < slots.length; i++) text += (slots[i] as Slot)(message, opts) + (fixed[i + 1] as string);
  return text;
}

/** The layout of `message`'s envelope, or null if its text cannot be taken apart safely. */
function takeApart(message: Message, opts: EnvelopeOptions, expected: string): Layout | null {
  const headers = { ...message.headers };
  const properties = { ...message.properties };
  const marked: Slot[] = [];
  for (const key of HEADER_SLOTS) {
    headers[key] = marker(marked.length);
    marked.push(headerSlot(key));
  }
  for (const key of PROPERTY_SLOTS) {
    properties[key] = marker(marked.length);
    marked.push(propertySlot(key));
  }
  const tagged: EnvelopeOptions = { ...opts, deliveryTag: marker(marked.length) };
  marked.push(tagSlot);
  const text = encodeEnvelope({ ...message, headers, properties, body: '' }, tagged);
  if (!text.startsWith(`${BODY_START}"`)) return null;
  const places: { at: number; end: number; slot: Slot }[] = [];
  for (const [i, slot] of marked.entries()) {
    const quoted = pyJsonString(marker(i));
    const at = text.indexOf(quoted);
    if (at < 0 || text.includes(quoted, at + 1)) return null;
    places.push({ at, end: at + quoted.length, slot });
  }
  places.sort((a, b) => a.at - b.at);
  const fixed = [BODY_START];
  const slots: Slot[] = [bodySlot];
  let from = BODY_START.length;
  for (const { at, end, slot } of places) {
    fixed.push(text.slice(from, at));
    slots.push(slot);
    from = end;
  }
  fixed.push(text.slice(from));
  const layout: Layout = { fixed, slots };
  // The reference message itself must come out exactly as it was encoded in full.
  return fill(layout, message, opts) === expected ? layout : null;
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null;

/**
 * Equal as JSON values for our purpose: the same primitive, or arrays of the same primitives
 * (e.g. `timelimit`). An object never matches, not even itself: a caller may change it in
 * place between two sends, and the reference keeps only a shallow copy.
 */
function sameValue(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return !isObject(a);
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || isObject(a[i])) return false;
  return true;
}

/** A copy of a header or property record as it is now: its arrays copied too (see {@link sameValue}). */
function snapshot<T extends Record<string, Json | undefined>>(record: T): T {
  const copy = { ...record };
  for (const key in copy) {
    const value = copy[key];
    if (Array.isArray(value)) (copy as Record<string, Json | undefined>)[key] = [...(value as Json[])];
  }
  return copy;
}

/**
 * Whether `record` has the reference's own keys in the same order, strings under the slot
 * keys (`isSlot[i]`: the reference's i-th key is one), and the reference's values under every
 * other key (`refValues[i]`, in the keys' order: a read of the reference's object by a computed
 * name was a megamorphic lookup per header and send, where the read of `record` is the
 * for-in's own).
 */
function sameFixedMembers(record: Record<string, Json | undefined>, refKeys: readonly string[], refValues: readonly (Json | undefined)[], isSlot: readonly boolean[]): boolean {
  let i = 0;
  for (const key in record) {
    if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
    if (key !== refKeys[i]) return false;
    if (isSlot[i] === true) {
      // The reference's own slot values are checked when its layout is verified.
      if (typeof record[key] !== 'string') return false;
    } else if (!sameValue(record[key], refValues[i])) {
      return false;
    }
    i++;
  }
  return i === refKeys.length;
}

interface Reference {
  readonly message: Message;
  readonly opts: EnvelopeOptions;
  readonly text: string;
  readonly headerKeys: readonly string[];
  readonly propertyKeys: readonly string[];
  /** The reference's values under those keys, in their order. */
  readonly headerValues: readonly (Json | undefined)[];
  readonly propertyValues: readonly (Json | undefined)[];
  /** Whether each of those keys is a slot's (in their order). */
  readonly headerSlots: readonly boolean[];
  readonly propertySlots: readonly boolean[];
  /** Built when a second message matches; null when the text could not be taken apart. */
  layout: Layout | null | undefined;
}

/**
 * Writes envelopes for a run of messages, in order: a bulk send's batch, or every single
 * publish of a broker. It keeps its own copy of the last message encoded in full, so a caller
 * that changes a message after sending it cannot make a later envelope wrong.
 */
export class EnvelopeWriter {
  #ref: Reference | undefined;
  #filled = 0;

  /** How many envelopes were written from a layout rather than encoded in full. */
  get filled(): number {
    return this.#filled;
  }

  /** The envelope text for `message`: the same as `encodeEnvelope(message, opts)`. */
  write(message: Message, opts: EnvelopeOptions): string {
    const ref = this.#ref;
    if (ref !== undefined && this.#matches(ref, message, opts)) {
      ref.layout ??= takeApart(ref.message, ref.opts, ref.text);
      if (ref.layout === null) return encodeEnvelope(message, opts);
      this.#filled++;
      return fill(ref.layout, message, opts);
    }
    const text = encodeEnvelope(message, opts);
    const copy: Message = { ...message, headers: snapshot(message.headers), properties: snapshot(message.properties) };
    const headerKeys = ownKeys(copy.headers);
    const propertyKeys = ownKeys(copy.properties);
    this.#ref = {
      message: copy,
      opts: { ...opts },
      text,
      headerKeys,
      propertyKeys,
      headerValues: headerKeys.map((k) => copy.headers[k]),
      propertyValues: propertyKeys.map((k) => copy.properties[k]),
      headerSlots: headerKeys.map((k) => (HEADER_SLOTS as readonly string[]).includes(k)),
      propertySlots: propertyKeys.map((k) => (PROPERTY_SLOTS as readonly string[]).includes(k)),
      layout: undefined,
    };
    return text;
  }

  #matches(ref: Reference, message: Message, opts: EnvelopeOptions): boolean {
    return (
      message.contentType === ref.message.contentType &&
      message.contentEncoding === ref.message.contentEncoding &&
      opts.exchange === ref.opts.exchange &&
      opts.routingKey === ref.opts.routingKey &&
      sameFixedMembers(message.headers, ref.headerKeys, ref.headerValues, ref.headerSlots) &&
      sameFixedMembers(message.properties, ref.propertyKeys, ref.propertyValues, ref.propertySlots)
    );
  }
}

function ownKeys(record: object): string[] {
  const keys: string[] = [];
  for (const key in record) if (Object.prototype.hasOwnProperty.call(record, key)) keys.push(key);
  return keys;
}
