/**
 * @module worker/events/event-text
 * A batch of task events written straight to the bytes of their `task.multi` message: byte
 * for byte what `encodeEventEnvelope` of `buildEvent`'s dicts gives (protocol/events.ts,
 * Python's `json.dumps` layout), without the dicts, their field objects or strings in between.
 * A worker with `-E` sends three events per task; building dicts and walking them with the
 * generic writer, then joining strings and encoding them again, cost as much as running the
 * tasks. Here each event is written into one reused buffer as it happens (ascii-json.ts): the
 * members every event of a batch shares (hostname, utcoffset, pid) and every key are constant
 * bytes, the values are copied, and the batch's JSON is base64-encoded once into its envelope.
 */
import { EVENT_EXCHANGE } from '../../protocol/events.js';
import { pyJsonString } from '../../protocol/py-json.js';
import { REPR_MAXLEN, safeRepr } from '../../protocol/repr.js';
import type { Json } from '../../protocol/types.js';
import { AsciiJsonWriter, asciiBytes, numberText } from './ascii-json.js';

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

/** The {@link EventKey} of a member name. */
export const eventKey = memo((name: string): EventKey => ({
  name,
  bytes: asciiBytes(`, ${pyJsonString(name)}: `),
  nullMember: asciiBytes(`, ${pyJsonString(name)}: null`),
}));

/** `, "timestamp": ` */
const TIMESTAMP = asciiBytes(', "timestamp": ');
/** What ends an event of a type: `, "type": "task-started"}`. */
const typeTail = memo((type: string) => asciiBytes(`, "type": ${pyJsonString(type)}}`));
const OPEN = asciiBytes('[');
const NEXT = asciiBytes(', ');
const CLOSE = asciiBytes(']');

/** `{"body": "` : the envelope's first member, its base64 body next. */
const ENVELOPE_HEAD = asciiBytes('{"body": "');

/** The task events of one `task.multi` message, written as they come. */
export class TaskEventBatch implements EventFieldSink {
  readonly #out = new AsciiJsonWriter();
  #count = 0;
  /** Where the event being written began, to take it back. */
  #mark = 0;
  /**
   * What opens the batch's first event (`[{"hostname": ..., "utcoffset": ..., "pid": ..., "clock": `)
   * and each next one (`, {"hostname": ...`), and what they were made of.
   */
  #firstHead = OPEN;
  #nextHead = NEXT;
  #headOf = '';
  #tail = '';
  #tailOf: readonly [string, string] | readonly [] = [];

  /** Events in the batch. */
  get count(): number {
    return this.#count;
  }

  /** Bytes (= characters: the text is ASCII) of JSON in the batch. */
  get length(): number {
    return this.#out.length;
  }

  /** The members every event of the batch starts with; once per batch, before its first event. */
  begin(hostname: string, utcoffset: number, pid: number): void {
    const of = `${utcoffset} ${pid} ${hostname}`;
    if (of === this.#headOf) return;
    this.#headOf = of;
    const head = `{"hostname": ${pyJsonString(hostname)}, "utcoffset": ${numberText(utcoffset)}, "pid": ${numberText(pid)}, "clock": `;
    this.#firstHead = asciiBytes(`[${head}`);
    this.#nextHead = asciiBytes(`, ${head}`);
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
    this.#out.raw(key.bytes);
    this.#out.value(value);
  }

  /** Any fields, in their order (`type` and `timestamp` left out, as buildEvent does). */
  fields(fields: { readonly [key: string]: Json | undefined }): void {
    for (const key in fields) {
      if (Object.prototype.hasOwnProperty.call(fields, key) && key !== 'type' && key !== 'timestamp') this.field(eventKey(key), fields[key]);
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
        `", "content-encoding": "utf-8", "content-type": "application/json", ` +
        `"headers": {"hostname": ${pyJsonString(hostname)}}, "properties": {"delivery_mode": 1, ` +
        `"delivery_info": {"exchange": ${pyJsonString(EVENT_EXCHANGE)}, "routing_key": ${pyJsonString(routingKey)}}, ` +
        `"priority": 0, "body_encoding": "base64", "delivery_tag": `;
    }
    return this.#tail;
  }

  /** Takes back the event being written (a value that could not be encoded). */
  abandon(): void {
    this.#out.length = this.#mark;
  }

  /**
   * Ends the batch: the kombu envelope of its events as encodeEventEnvelope writes it (headers
   * `{hostname}`, `delivery_mode: 1`, base64 body), as bytes the socket writes as they are.
   */
  envelope(hostname: string, routingKey: string, deliveryTag: string): Buffer {
    this.#out.raw(CLOSE);
    const body = this.#out.base64();
    this.#out.reset();
    this.#count = 0;
    const tail = `${this.#tailFor(hostname, routingKey)}${pyJsonString(deliveryTag)}}}`;
    // Every part is ASCII (pyJsonString escapes the rest): one byte per character.
    const out = Buffer.allocUnsafe(ENVELOPE_HEAD.length + body.length + tail.length);
    out.set(ENVELOPE_HEAD, 0);
    const at = out.write(body, ENVELOPE_HEAD.length, 'latin1') + ENVELOPE_HEAD.length;
    out.write(tail, at, 'latin1');
    return out;
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
