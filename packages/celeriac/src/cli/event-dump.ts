/**
 * @module cli/event-dump
 * `celeriac events --dump`: one line per event, in the shape `celery events --dump` prints,
 * so the two can be read (and grepped) the same way:
 *
 * ```
 * w1@host [2026-11-21 14:14:49.258586] task received: tapp.add(<id>) args=(1, 1) kwargs={} clock=25, eta=None, ...
 * w1@host [2026-11-21 14:14:49.146007] heartbeat: active=0, clock=23, freq=2.0, ...
 * ```
 *
 * Time is the event's (already zone-adjusted) timestamp in UTC; the remaining fields are
 * sorted by key and printed as Python's `str()` would. Task events after the first name a
 * task by what its `task-received` or `task-sent` said (remembered for the last 4095 ids).
 */
import type { EventDict } from '../protocol/events.js';
import { pyRepr } from '../protocol/repr.js';
import { isDateMs } from '../protocol/time.js';
import type { Json } from '../protocol/types.js';

const HUMAN_TYPES: Readonly<Record<string, string>> = { 'worker-offline': 'shutdown', 'worker-online': 'started', 'worker-heartbeat': 'heartbeat' };

const TASK_NAMES_KEPT = 0xfff;

/** `worker-online` -> `started`, `task-received` -> `task received`. */
export function humanizeType(type: string): string {
  const t = type.toLowerCase();
  return HUMAN_TYPES[t] ?? t.replaceAll('-', ' ');
}

/**
 * Python's `str(datetime.utcfromtimestamp(seconds))`: microseconds only when non-zero. A time
 * no Date holds (a foreign sender's 1e300) is printed as the number it is, not as `NaN-NaN-NaN`.
 */
export function formatUtcTimestamp(seconds: number): string {
  if (!isDateMs(seconds * 1000)) return pyRepr(seconds);
  // As Python: split off the whole seconds first, then round the fraction half-to-even.
  let whole = Math.floor(seconds);
  const scaled = (seconds - whole) * 1e6;
  let micros = Math.round(scaled);
  if (Math.abs(scaled % 1) === 0.5 && micros % 2 === 1) micros -= 1;
  if (micros >= 1_000_000) {
    whole += 1;
    micros -= 1_000_000;
  }
  const date = new Date(whole * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const base = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  return micros === 0 ? base : `${base}.${pad(micros, 6)}`;
}

/** Python's `str()` of a JSON value: strings as they are, the rest in repr. */
function pyStr(value: Json): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

function fieldList(event: Record<string, Json>): string {
  return Object.keys(event)
    .sort()
    .map((key) => `${key}=${pyStr(event[key] as Json)}`)
    .join(', ');
}

/** Formats events as dump lines, remembering task names between calls. */
export class EventDumper {
  readonly #names = new Map<string, string>();

  /** The dump line of one event (no trailing newline). Does not modify `event`. */
  format(event: EventDict): string {
    const rest: Record<string, Json> = { ...event };
    const timestamp = typeof rest['timestamp'] === 'number' ? formatUtcTimestamp(rest['timestamp']) : String(rest['timestamp'] ?? '');
    const type = String(rest['type']).toLowerCase();
    const hostname = pyStr(rest['hostname'] ?? null);
    for (const key of ['timestamp', 'type', 'hostname']) delete rest[key];
    if (!type.startsWith('task-')) {
      const fields = fieldList(rest);
      return `${hostname} [${timestamp}] ${humanizeType(type)}${fields ? ':' : ''} ${fields}`;
    }
    const uuid = pyStr(rest['uuid'] ?? null);
    delete rest['uuid'];
    let task: string;
    if (type === 'task-received' || type === 'task-sent') {
      task = `${pyStr(rest['name'] ?? null)}(${uuid}) args=${pyStr(rest['args'] ?? null)} kwargs=${pyStr(rest['kwargs'] ?? null)}`;
      for (const key of ['name', 'args', 'kwargs']) delete rest[key];
      this.#remember(uuid, task);
    } else {
      task = this.#names.get(uuid) ?? '';
    }
    const fields = fieldList(rest);
    return `${hostname} [${timestamp}] ${humanizeType(type)}${fields ? ':' : ''} ${task} ${fields}`;
  }

  #remember(uuid: string, task: string): void {
    this.#names.delete(uuid);
    this.#names.set(uuid, task);
    if (this.#names.size > TASK_NAMES_KEPT) this.#names.delete(this.#names.keys().next().value as string);
  }
}
