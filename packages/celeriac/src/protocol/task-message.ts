/**
 * @module protocol/task-message
 * Task messages: protocol v2 (headers + body `[args, kwargs, embed]`, docs/protocol.md
 * §1.2-§1.7) both ways, and the legacy v1 dict body (§1.8) on the way in, normalised into
 * the same {@link TaskMessage}.
 */

import { getOwn, isJsonObject, isNumberOrNull, isStringOrNull, setOwn } from './guards.js';
import { CeleriacError } from '../errors.js';
import { ProtocolError } from './errors.js';
import { MAX_ID_LENGTH, timeLimitProblem } from './limits.js';
import { parsePyJson, pyJsonStringify } from './py-json.js';
import { parseIsoTime } from './time.js';
import type {
  Embed,
  Json,
  JsonObject,
  Message,
  MessageProperties,
  SignatureDict,
  TaskHeaders,
  TaskMessage,
  TimeLimitPair,
} from './types.js';

/** Content type of JSON-serialized task bodies, the only serializer implemented. */
export const JSON_CONTENT_TYPE = 'application/json';

/** v2 header names in the order Celery 5.2.6 writes them. */
export const TASK_HEADER_ORDER = [
  'lang',
  'task',
  'id',
  'shadow',
  'eta',
  'expires',
  'group',
  'group_index',
  'retries',
  'timelimit',
  'root_id',
  'parent_id',
  'argsrepr',
  'kwargsrepr',
  'origin',
  'ignore_result',
] as const;

// Every header with a typed slot in TaskHeaders; the rest are extraHeaders.
const KNOWN_HEADERS: ReadonlySet<string> = new Set([...TASK_HEADER_ORDER, 'redelivered']);

// Serializers we will never decode: both can run code chosen by the sender.
const UNSAFE_CONTENT_TYPES = new Set([
  'application/x-python-serialize',
  'application/x-yaml',
  'application/yaml',
  'text/yaml',
]);

/**
 * The typed headers in {@link TASK_HEADER_ORDER}, written as one literal: one allocation of
 * a known shape, where a loop over the names would add the keys one by one (this runs once
 * per sent message; task-message.test.ts checks the order against the list).
 */
function orderedHeaders(h: TaskHeaders): Record<string, Json | undefined> {
  return {
    lang: h.lang,
    task: h.task,
    id: h.id,
    shadow: h.shadow,
    eta: h.eta,
    expires: h.expires,
    group: h.group,
    group_index: h.group_index,
    retries: h.retries,
    timelimit: h.timelimit,
    root_id: h.root_id,
    parent_id: h.parent_id,
    argsrepr: h.argsrepr,
    kwargsrepr: h.kwargsrepr,
    origin: h.origin,
    ignore_result: h.ignore_result,
  };
}

/**
 * Serializes a task message as Celery 5.2.6 would: v2 headers in Celery's order, then
 * `extraHeaders` (keys that collide with a typed header are ignored: the typed value
 * wins), then `redelivered` if set; body `[args, kwargs, embed]` in Python's JSON layout;
 * `application/json` / `utf-8`. `protocol` is ignored: output is always v2.
 */
export function encodeTaskMessage(task: TaskMessage): Message {
  const headers: Record<string, Json | undefined> = orderedHeaders(task.headers);
  for (const key in task.extraHeaders) {
    if (Object.prototype.hasOwnProperty.call(task.extraHeaders, key) && !KNOWN_HEADERS.has(key)) setOwn(headers, key, task.extraHeaders[key]);
  }
  if (task.headers.redelivered !== undefined) headers['redelivered'] = task.headers.redelivered;
  const embed = {
    callbacks: task.embed.callbacks,
    errbacks: task.embed.errbacks,
    chain: task.embed.chain,
    chord: task.embed.chord,
  };
  return {
    headers,
    properties: { ...task.properties },
    contentType: JSON_CONTENT_TYPE,
    contentEncoding: 'utf-8',
    body: encodeBody(task, embed),
  };
}

/** The body text; a value JSON cannot hold fails naming the task, so the caller sees which call. */
function encodeBody(task: TaskMessage, embed: Embed): string {
  try {
    return pyJsonStringify([task.args, task.kwargs, embed]);
  } catch (err) {
    if (!(err instanceof CeleriacError)) throw err;
    throw new CeleriacError(err.code, `arguments of ${task.headers.task}: ${err.message}`, { cause: err.cause ?? err });
  }
}

function badBody(message: string): ProtocolError {
  return new ProtocolError('bad-body', message);
}

function badHeaders(message: string): ProtocolError {
  return new ProtocolError('bad-headers', message);
}

function checkContentType(message: Message): void {
  // Compared exactly, as kombu's registry looks decoders up (`APPLICATION/JSON` is refused).
  if (message.contentType === JSON_CONTENT_TYPE) return;
  const type = typeof message.contentType === 'string' ? message.contentType.trim().toLowerCase() : '';
  if (UNSAFE_CONTENT_TYPES.has(type)) {
    throw new ProtocolError('unsafe-content-type', `Refusing to decode ${type} (unsafe serializer)`);
  }
  throw new ProtocolError('unknown-content-type', `Unsupported content type ${JSON.stringify(message.contentType)}`);
}

function readSignature(value: unknown, where: string): SignatureDict {
  if (!isJsonObject(value)) throw badBody(`${where} is not a signature object`);
  const task = getOwn(value, 'task');
  const args = getOwn(value, 'args') ?? [];
  const kwargs = getOwn(value, 'kwargs') ?? {};
  const options = getOwn(value, 'options') ?? {};
  const subtaskType = getOwn(value, 'subtask_type') ?? null;
  const immutable = getOwn(value, 'immutable') ?? false;
  if (
    typeof task !== 'string' ||
    !Array.isArray(args) ||
    !isJsonObject(kwargs) ||
    !isJsonObject(options) ||
    !isStringOrNull(subtaskType) ||
    typeof immutable !== 'boolean'
  ) {
    throw badBody(`${where} has a missing or mistyped field`);
  }
  const sig: SignatureDict = { task, args, kwargs, options, subtask_type: subtaskType, immutable };
  // Celery's from_dict tolerates extra keys (e.g. chord_size in later versions); keep them.
  for (const [key, item] of Object.entries(value)) {
    if (!Object.prototype.hasOwnProperty.call(sig, key)) setOwn(sig, key, item);
  }
  return sig;
}

function readSignatureList(value: unknown, where: string): SignatureDict[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) throw badBody(`${where} is not a list`);
  return value.map((item, i) => readSignature(item, `${where}[${i}]`));
}

function readEmbed(source: JsonObject | null): Embed {
  if (source === null) return { callbacks: null, errbacks: null, chain: null, chord: null };
  // Fixed names, none a member of Object.prototype: read directly (see HeaderSource).
  const chord = source['chord'];
  return {
    callbacks: readSignatureList(source['callbacks'], 'callbacks'),
    errbacks: readSignatureList(source['errbacks'], 'errbacks'),
    chain: readSignatureList(source['chain'], 'chain'),
    chord: chord === undefined || chord === null ? null : readSignature(chord, 'chord'),
  };
}

function parseBody(text: unknown): unknown {
  if (typeof text !== 'string') throw badBody('Body is not a string');
  try {
    // Integers past 2**53 (a Python int) come out as bigint, not silently rounded.
    return parsePyJson(text);
  } catch (cause) {
    throw new ProtocolError('bad-json', 'Body is not valid JSON', { cause });
  }
}

/**
 * The typed headers as read by {@link readHeaders}: a JSON object (v2 headers) or one made
 * from a v1 body. Read with plain property access, not {@link getOwn}: every name read is
 * fixed and none is a member of Object.prototype, so an absent one reads as undefined
 * either way, and the direct reads keep the per-task decode small.
 */
type HeaderSource = Readonly<Record<(typeof TASK_HEADER_ORDER)[number] | 'redelivered', unknown>>;

function optionalString(value: unknown, key: string): string | null {
  if (value === undefined) return null;
  if (!isStringOrNull(value)) throw badHeaders(`${key} is not a string or null`);
  return value;
}

function optionalTime(value: unknown, key: string): string | null {
  const text = optionalString(value, key);
  // Validate now so a bad eta/expires is a decode failure, not a crash in the scheduler.
  if (text !== null) parseIsoTime(text);
  return text;
}

/** No time limits: one shared pair, not an array literal per message (see worker/job.ts). */
const NO_TIMELIMIT = Object.freeze([null, null]) as unknown as TimeLimitPair;

function readTimelimit(value: unknown): TimeLimitPair {
  if (value === undefined || value === null) return NO_TIMELIMIT;
  if (!Array.isArray(value) || value.length !== 2 || !value.every(isNumberOrNull)) {
    throw badHeaders('timelimit is not [hard, soft]');
  }
  const problem = timeLimitProblem(value[0]) ?? timeLimitProblem(value[1]);
  if (problem !== null) throw badHeaders(`timelimit ${problem}`);
  return [value[0] as number | null, value[1] as number | null];
}

function readInteger(value: unknown, key: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw badHeaders(`${key} is not an integer`);
  return value;
}

function readGroupIndex(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  return readInteger(value, 'group_index', 0);
}

/** Builds TaskHeaders, applying Celery's defaults for everything but task and id. */
function readHeaders(h: HeaderSource): TaskHeaders {
  const task = h.task;
  const id = h.id;
  if (typeof task !== 'string' || task === '') throw badHeaders('task is not a non-empty string');
  if (typeof id !== 'string' || id === '') throw badHeaders('id is not a non-empty string');
  if (id.length > MAX_ID_LENGTH) throw badHeaders(`id is ${id.length} characters long, more than ${MAX_ID_LENGTH}`);
  const ignoreResult = h.ignore_result ?? false;
  if (typeof ignoreResult !== 'boolean') throw badHeaders('ignore_result is not a boolean');
  const headers: TaskHeaders = {
    lang: optionalString(h.lang, 'lang') ?? 'py',
    task,
    id,
    shadow: optionalString(h.shadow, 'shadow'),
    eta: optionalTime(h.eta, 'eta'),
    expires: optionalTime(h.expires, 'expires'),
    group: optionalString(h.group, 'group'),
    group_index: readGroupIndex(h.group_index),
    retries: readInteger(h.retries, 'retries', 0),
    timelimit: readTimelimit(h.timelimit),
    root_id: optionalString(h.root_id, 'root_id') ?? id,
    parent_id: optionalString(h.parent_id, 'parent_id'),
    argsrepr: optionalString(h.argsrepr, 'argsrepr') ?? '',
    kwargsrepr: optionalString(h.kwargsrepr, 'kwargsrepr') ?? '',
    origin: optionalString(h.origin, 'origin') ?? '',
    ignore_result: ignoreResult,
  };
  const redelivered = h.redelivered;
  if (typeof redelivered === 'boolean') headers.redelivered = redelivered;
  return headers;
}

/**
 * A v1 message's typed headers: from its body, but `lang` and `redelivered` from the
 * headers, and `group` under its pre-3.1 name `taskset` too. v1 has no root/parent ids,
 * reprs or origin: readHeaders fills Celery's defaults.
 */
function v1HeaderSource(headers: JsonObject, body: JsonObject): HeaderSource {
  const source: Record<string, unknown> = {};
  // Fixed names, none of them `__proto__`: plain assignment is safe.
  for (const key of KNOWN_HEADERS) source[key] = key === 'lang' || key === 'redelivered' ? getOwn(headers, key) : getOwn(body, key);
  source['group'] = getOwn(body, 'group') ?? getOwn(body, 'taskset');
  return source as HeaderSource;
}

function readExtraHeaders(headers: JsonObject): JsonObject {
  const extra: JsonObject = {};
  for (const key in headers) {
    if (KNOWN_HEADERS.has(key) || !Object.prototype.hasOwnProperty.call(headers, key)) continue;
    const value = headers[key];
    if (value !== undefined) setOwn(extra, key, value);
  }
  return extra;
}

function readProperties(message: Message, id: string): MessageProperties {
  if (!isJsonObject(message.properties)) {
    throw new ProtocolError('bad-envelope', 'Message properties is not an object');
  }
  const properties = { ...message.properties };
  // The correlation id of a task is its id; fill it for minimal hand-made messages.
  if (typeof properties.correlation_id !== 'string' || properties.correlation_id === '') {
    properties.correlation_id = id;
  }
  return properties;
}

function decodeV2(message: Message, headers: JsonObject, body: unknown): TaskMessage {
  if (!Array.isArray(body) || body.length !== 3) {
    // A 2-element body kills a Python 5.2.6 worker; never accept one.
    throw badBody('v2 body is not a 3-element array [args, kwargs, embed]');
  }
  const [args, kwargs, embed] = body as unknown[];
  if (!Array.isArray(args)) throw badBody('args is not a list');
  if (!isJsonObject(kwargs)) throw badBody('kwargs is not an object');
  if (embed !== null && !isJsonObject(embed)) throw badBody('embed is not an object or null');
  const taskHeaders = readHeaders(headers as HeaderSource);
  return {
    protocol: 2,
    headers: taskHeaders,
    extraHeaders: readExtraHeaders(headers),
    properties: readProperties(message, taskHeaders.id),
    args,
    kwargs,
    embed: readEmbed(embed),
  };
}

function decodeV1(message: Message, headers: JsonObject, body: JsonObject): TaskMessage {
  const args = getOwn(body, 'args') ?? [];
  const kwargs = getOwn(body, 'kwargs') ?? {};
  if (!Array.isArray(args)) throw badBody('args is not a list');
  if (!isJsonObject(kwargs)) throw badBody('kwargs is not an object');
  const taskHeaders = readHeaders(v1HeaderSource(headers, body));
  const chord = getOwn(body, 'chord');
  return {
    protocol: 1,
    headers: taskHeaders,
    extraHeaders: readExtraHeaders(headers),
    properties: readProperties(message, taskHeaders.id),
    args,
    kwargs,
    embed: {
      callbacks: readSignatureList(getOwn(body, 'callbacks'), 'callbacks'),
      errbacks: readSignatureList(getOwn(body, 'errbacks'), 'errbacks'),
      chain: null,
      chord: chord === undefined || chord === null ? null : readSignature(chord, 'chord'),
    },
  };
}

/**
 * Decodes a task message. Protocol v2 is recognised by `headers.task`; otherwise a dict
 * body is read as protocol v1. Missing optional headers get Celery's defaults (`lang`
 * `py`, `retries` 0, `timelimit` `[null, null]`, `root_id` = id, reprs and origin `''`,
 * everything else null/false), an empty or null embed gives an all-null Embed, unknown
 * headers land in `extraHeaders`, and an empty `correlation_id` becomes the task id.
 *
 * Never throws anything but {@link ProtocolError}:
 * - `unsafe-content-type` for pickle and YAML, `unknown-content-type` for any other
 *   non-JSON type (msgpack included);
 * - `bad-encoding` for compressed bodies (the `compression` header; not implemented);
 * - `bad-json`, `bad-body` (wrong body shape, bad signature), `bad-headers` (missing
 *   task/id, mistyped header, unparsable eta/expires), `bad-envelope` (properties).
 */
export function decodeTaskMessage(message: Message): TaskMessage {
  if (!isJsonObject(message)) throw new ProtocolError('bad-envelope', 'Message is not an object');
  checkContentType(message);
  const headers = message.headers;
  if (!isJsonObject(headers)) throw badHeaders('headers is not an object');
  if ((headers['compression'] ?? null) !== null) {
    throw new ProtocolError('bad-encoding', 'Compressed task bodies are not supported');
  }
  const body = parseBody(message.body);
  if (headers['task'] !== undefined) return decodeV2(message, headers as JsonObject, body);
  if (isJsonObject(body)) return decodeV1(message, headers as JsonObject, body);
  if (Array.isArray(body)) throw badHeaders('v2 message without a task header');
  throw badBody('Body is neither a v2 array nor a v1 dict');
}
