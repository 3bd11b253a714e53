/**
 * @module protocol/types
 * Wire types shared by every layer. Glossary:
 *
 * - **task message**: one request to run a task, as Celery protocol v2 defines it
 *   (headers + body `[args, kwargs, embed]`).
 * - **message**: a transport-neutral kombu message: headers, properties, serialized body.
 * - **envelope**: the JSON object kombu's virtual transports (Redis, memory) store per
 *   message: base64 body, `delivery_tag`, `delivery_info` (docs/protocol.md §1.1).
 * - **signature**: a task call frozen as data (`{task, args, kwargs, options, subtask_type,
 *   immutable}`), carried in `embed` for callbacks, chains and chords.
 * - **result meta**: the record a backend stores per task id (`celery-task-meta-<id>`).
 * - **exception record**: `{exc_type, exc_message, exc_module}`, how errors cross languages.
 */

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** Celery's built-in task states plus any custom state a task sets with `updateState`. */
export type TaskState =
  | 'PENDING'
  | 'RECEIVED'
  | 'STARTED'
  | 'SUCCESS'
  | 'FAILURE'
  | 'REVOKED'
  | 'REJECTED'
  | 'RETRY'
  | 'IGNORED'
  | (string & {});

/** A signature as it travels on the wire (docs/protocol.md §1.6). */
export interface SignatureDict {
  task: string;
  args: Json[];
  kwargs: JsonObject;
  options: JsonObject;
  subtask_type: null | 'group' | 'chord' | 'chain' | (string & {});
  immutable: boolean;
  /** Extra keys are tolerated on input and preserved. */
  [extra: string]: Json | undefined;
}

/** The third element of a v2 body. Every field may be null or absent. */
export interface Embed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
}

/** `[hard, soft]` seconds, either may be null. */
export type TimeLimitPair = [number | null, number | null];

/**
 * Task headers of protocol v2 (docs/protocol.md §1.2). Custom headers given with
 * `applyAsync({ headers })` sit at the same level and are kept in `extra` on decode.
 */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  /** ISO-8601 with offset. */
  eta: string | null;
  /** ISO-8601 with offset. */
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  timelimit: TimeLimitPair;
  root_id: string;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  /** Set by transports when a message is requeued or restored. */
  redelivered?: boolean;
}

/** kombu message properties (docs/protocol.md §1.3), without the transport-only fields. */
export interface MessageProperties {
  correlation_id: string;
  reply_to: string;
  /** 2 = persistent (tasks), 1 = transient (events, pidbox replies). */
  delivery_mode: 1 | 2;
  /** Integer milliseconds as a string, present only when `expires` was given. */
  expiration?: string;
  priority: number;
  /** Any other property is preserved (Celery 5.2.6 retries add `origin`, `replaced_task_nesting`). */
  [extra: string]: Json | undefined;
}

/** Where a message was published: exchange ('' = the queue named by the routing key). */
export interface DeliveryInfo {
  exchange: string;
  routing_key: string;
  redelivered?: boolean;
  priority?: number;
}

/**
 * A transport-neutral message. The body is already serialized text (JSON); transports
 * decide how to carry it (base64 in an envelope on Redis, raw bytes on AMQP).
 */
export interface Message {
  headers: { [key: string]: Json | undefined };
  properties: MessageProperties;
  contentType: string;
  contentEncoding: string;
  /** Serialized body (the JSON text of `[args, kwargs, embed]` for a v2 task). */
  body: string;
}

/** The kombu virtual-transport envelope, exactly as stored on Redis (§1.1). */
export interface Envelope {
  body: string;
  'content-encoding': string;
  'content-type': string;
  headers: { [key: string]: Json | undefined };
  properties: MessageProperties & {
    delivery_info: DeliveryInfo;
    body_encoding?: 'base64' | (string & {});
    delivery_tag: string;
  };
}

/**
 * A decoded task request, normalised from protocol v2 or v1. This is what the worker
 * executes and what the producer encodes.
 */
export interface TaskMessage {
  /** 2 for messages with `headers.task`, 1 for the legacy dict body. */
  protocol: 1 | 2;
  headers: TaskHeaders;
  /** Custom headers beyond the v2 set, preserved verbatim. */
  extraHeaders: JsonObject;
  properties: MessageProperties;
  args: Json[];
  kwargs: JsonObject;
  embed: Embed;
}

/** `{exc_type, exc_message, exc_module}`: an error as stored in a result (§3.2). */
export interface ExceptionRecord {
  exc_type: string;
  exc_message: Json[] | Json;
  exc_module: string | null;
}

/** A result reference as stored in `children`: `[[id, parent], children]` (§3.5). */
export type ResultTuple = [[string, ResultTuple | null], ResultTuple[] | null];

/** The result record a backend stores per task (§3.1). Field order follows Celery. */
export interface ResultMeta {
  status: TaskState;
  /** The return value, the exception record, or progress meta. */
  result: Json;
  traceback: string | null;
  children: ResultTuple[];
  /** Naive UTC ISO string without offset, or null while not ready. */
  date_done: string | null;
  group_id?: string;
  parent_id?: string;
  /** Extended fields, present when `resultExtended` is on. */
  name?: string;
  args?: Json[];
  kwargs?: JsonObject;
  worker?: string;
  retries?: number;
  queue?: string;
  /**
   * The stamps of the message (Celery 5.3+ `stamped_headers` / `stamps`), stored with the
   * extended fields as Celery 5.3+ stores them: `stamped_headers` then one field per stamp.
   */
  stamps?: { headers: string[]; values: JsonObject };
  task_id: string;
}

/** A group result as saved by `GroupResult.save()` (§3.6). */
export interface GroupMeta {
  result: ResultTuple;
}
