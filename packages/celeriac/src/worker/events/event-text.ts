/**
 * @module worker/events/event-text
 * A batch of task events written straight to the bytes of their `task.multi` message: byte
 * for byte what `encodeEventEnvelope` of `buildEvent`'s dicts gives (protocol/events.ts,
 * Python's `json.dumps` layout), without the dicts, their field objects or strings in between.
 * A worker with `-E` sends three events per task; building dicts and walking them with the
 * generic writer, then joining strings and encoding them again, cost as much as running the
 * tasks. Here each event is written into one reused buffer as it happens (ascii-json.ts): the
 * members every event of a batch shares (hostname, utcoffset, pid) and every key are constant
 * bytes, and the values are copied. The buffer holds the whole envelope, its body the batch's
 * JSON as a string written in place (a verbatim body, as kombu sends with
 * `body_encoding: None`): no second pass encodes the batch in base64, and the message is a
 * sixth smaller than with it.
 */
import { EVENT_EXCHANGE, SENDER_MEMBERS } from '../../protocol/events.js';
import { pyJsonString } from '../../protocol/py-json.js';
import { REPR_MAXLEN, safeRepr } from '../../protocol/repr.js';
import type { Json } from '../../protocol/types.js';
import { AsciiJsonWriter, asciiBytes, KEEP_BYTES, numberText, quoteInside } from './ascii-json.js';

/** Buffers of sent envelopes kept for the next batches: as many as are usually in flight at once. */
const SPARES = 2;

/** A member's key, with the bytes written before its value (`, "uuid": `). */
export interface EventKey {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** The whole member when its value is null (`, "eta": null`): several fields of most events are. */
  readonly nullMember: Uint8Array;
}

/** Where the fields of an event go, in their order (a value of undefined is left out). */
export interface EventFieldSink {
  field(key: EventKey, value: Json | undefined): void;
}

/** Memoized for the keys events use (a handful of names, all from the engine), as texts. */
function memo<T>(make: (text: string) => T): (text: string) => T {
  const made = new Map<string, T>();
  return (text) => {
    let value = made.get(text);
    if (value === undefined) {
      value = make(text);
      if (made.size < 256) made.set(text, value);
    }
    return value;
  };
}

/** Text inside the envelope's body string: its quotes and backslashes escaped. */
const inBody = (text: string): Uint8Array => asciiBytes(quoteInside(text));

/** The {@link EventKey} of a member name, as written inside the body (`, \"uuid\": `). */
export const eventKey = memo((name: string): EventKey => ({
  name,
  bytes: inBody(`, ${pyJsonString(name)}: `),
  nullMember: inBody(`, ${pyJsonString(name)}: null`),
}));

/** `, "timestamp": ` */
const TIMESTAMP = inBody(', "timestamp": ');
/** What ends an event of a type: `, "type": "task-started"}`. */
const typeTail = memo((type: string) => inBody(`, "type": ${pyJsonString(type)}}`));
const NEXT = inBody(', ');
/** What ends the body: its array, then the string. */
const CLOSE = asciiBytes(']"');

/** `{"body": "[` : the envelope's first member, its body's array opening. */
const ENVELOPE_HEAD = '{"body": "[';

/** The task events of one `task.multi` message, written as they come. */
export class TaskEventBatch implements EventFieldSink {
  readonly #out = new AsciiJsonWriter(16 * 1024, { quoted: true });
  /** Buffers of sent envelopes, for the next batches (see {@link recycle}). */
  readonly #spares: Buffer[] = [];
  /** The memory of envelopes handed out and not given back: only those are taken back. */
  readonly #lent = new WeakSet<ArrayBufferLike>();
  #count = 0;
  /** Where the event being written began, to take it back. */
  #mark = 0;
  /**
   * What opens the batch's first event (the envelope's head, then `[{"hostname": ..., "utcoffset": ..., "pid": ..., "clock": `)
   * and each next one (`, {"hostname": ...`), and what they were made of.
   */
  #firstHead = asciiBytes(ENVELOPE_HEAD);
  #nextHead = NEXT;
  #headOf = '';
  #tail = '';
  #tailOf: readonly [string, string] | readonly [] = [];

  /** Events in the batch. */
  get count(): number {
    return this.#count;
  }

  /** Bytes (= characters: the text is ASCII) of the envelope written so far. */
  get length(): number {
    return this.#out.length;
  }

  /** The members every event of the batch starts with; once per batch, before its first event. */
  begin(hostname: string, utcoffset: number, pid: number): void {
    const of = `${utcoffset} ${pid} ${hostname}`;
    if (of === this.#headOf) return;
    this.#headOf = of;
    const head = `{"hostname": ${pyJsonString(hostname)}, "utcoffset": ${numberText(utcoffset)}, "pid": ${numberText(pid)}, "clock": `;
    this.#firstHead = asciiBytes(`${ENVELOPE_HEAD}${quoteInside(head)}`);
    this.#nextHead = inBody(`, ${head}`);
  }

  /** Starts an event with its clock value; its fields next, then {@link close} (or {@link abandon}). */
  open(clock: number): void {
    const out = this.#out;
    this.#mark = out.length;
    out.raw(this.#count === 0 ? this.#firstHead : this.#nextHead);
    out.number(clock);
  }

  /**
   * One field of the event being written.
   *
   * @throws CeleriacError INVALID_ARGUMENT for a value py-json refuses.
   */
  field(key: EventKey, value: Json | undefined): void {
    if (value === undefined) return;
    if (value === null) return this.#out.raw(key.nullMember);
    if (typeof value === 'string') return this.#out.member(key.bytes, value);
    this.#out.raw(key.bytes);
    this.#out.value(value);
  }

  /** Any fields, in their order (the sender's members left out, as buildEvent does). */
  fields(fields: { readonly [key: string]: Json | undefined }): void {
    for (const key in fields) {
      if (Object.prototype.hasOwnProperty.call(fields, key) && !SENDER_MEMBERS.has(key)) this.field(eventKey(key), fields[key]);
    }
  }

  /** Ends the event being written: its `timestamp` (from epoch milliseconds) and `type`. */
  close(type: string, nowMs: number): void {
    this.#out.raw(TIMESTAMP);
    this.#out.seconds(nowMs);
    this.#out.raw(typeTail(type));
    this.#count++;
  }

  /** The envelope after its body up to the delivery tag's value, made once per sender and routing key. */
  #tailFor(hostname: string, routingKey: string): string {
    if (hostname !== this.#tailOf[0] || routingKey !== this.#tailOf[1]) {
      this.#tailOf = [hostname, routingKey];
      this.#tail =
        `, "content-encoding": "utf-8", "content-type": "application/json", ` +
        `"headers": {"hostname": ${pyJsonString(hostname)}}, "properties": {"delivery_mode": 1, ` +
        `"delivery_info": {"exchange": ${pyJsonString(EVENT_EXCHANGE)}, "routing_key": ${pyJsonString(routingKey)}}, ` +
        `"priority": 0, "body_encoding": null, "delivery_tag": `;
    }
    return this.#tail;
  }

  /** Takes back the event being written (a value that could not be encoded). */
  abandon(): void {
    this.#out.length = this.#mark;
  }

  /**
   * Ends the batch: the kombu envelope of its events as encodeEventEnvelope writes it (headers
   * `{hostname}`, `delivery_mode: 1`, the body verbatim), as bytes the socket writes as they are.
   * They are the caller's: nothing writes them again unless given back by {@link recycle}.
   */
  envelope(hostname: string, routingKey: string, deliveryTag: string): Buffer {
    const out = this.#out;
    out.raw(CLOSE);
    out.ascii(`${this.#tailFor(hostname, routingKey)}${pyJsonString(deliveryTag)}}}`);
    this.#count = 0;
    const envelope = out.detach(this.#spares.pop());
    this.#lent.add(envelope.buffer);
    return envelope;
  }

  /**
   * Takes back the buffer of an envelope {@link envelope} handed out, once nothing reads it
   * any more (its publish was answered), for a later batch to be written in. Anything else is
   * ignored.
   */
  recycle(envelope: Buffer): void {
    const memory = envelope.buffer;
    if (!this.#lent.delete(memory) || this.#spares.length >= SPARES || memory.byteLength > KEEP_BYTES) return;
    this.#spares.push(Buffer.from(memory));
  }
}

/**
 * Celery's `saferepr` of a task's result, as safeRepr gives it, without its token stream for
 * None, booleans, numbers and strings too short to be cut (most results of most tasks).
 */
export function resultRepr(value: Json): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? numberText(value) : safeRepr(value);
    case 'boolean':
      return value ? 'True' : 'False';
    case 'string':
      // saferepr cuts a string of REPR_MAXLEN code points or more; UTF-16 units are never fewer.
      return value.length < REPR_MAXLEN ? `'${value.replaceAll("'", "\\'")}'` : safeRepr(value);
    default:
      return value === null ? 'None' : safeRepr(value);
  }
}
