/**
 * @module core/result-meta
 * Builds the result records workers and eager runs store, in Celery's shape (docs/protocol.md §3.1).
 */
import { isJsonObject } from '../protocol/guards.js';
import { isReady } from '../protocol/states.js';
import { naiveUtcIso } from '../protocol/time.js';
import type { Json, ResultMeta, ResultTuple, TaskMessage, TaskState } from '../protocol/types.js';

/** Who stored a meta and for which message (for `resultExtended`). */
export interface MetaContext {
  message: TaskMessage;
  /** Worker node name. */
  worker: string;
  /** Queue (routing key) the message came from. */
  queue: string;
  extended: boolean;
  now: number;
}

/** A meta for `state` with `result` (a value, an exception record, or progress meta). */
export function buildMeta(
  ctx: MetaContext,
  state: TaskState,
  result: Json,
  extra: { traceback?: string | null; children?: ResultTuple[] } = {},
): ResultMeta {
  const h = ctx.message.headers;
  // Built in Celery's field order (task_id last), so the encoded record matches it.
  const meta: Partial<ResultMeta> = {
    status: state,
    result,
    traceback: extra.traceback ?? null,
    children: extra.children ?? [],
    date_done: isReady(state) ? naiveUtcIso(ctx.now) : null,
  };
  if (h.group !== null) meta.group_id = h.group;
  if (h.parent_id !== null) meta.parent_id = h.parent_id;
  if (ctx.extended) {
    meta.name = h.task;
    meta.args = ctx.message.args;
    meta.kwargs = ctx.message.kwargs;
    meta.worker = ctx.worker;
    meta.retries = h.retries;
    meta.queue = ctx.queue;
    const stamps = stampsOf(ctx.message);
    if (stamps !== undefined) meta.stamps = stamps;
  }
  meta.task_id = h.id;
  return meta as ResultMeta;
}

/**
 * The message's stamps (Celery 5.3+ headers `stamped_headers`, a list of names, and `stamps`,
 * their values), when it has any: Celery 5.3+ stores them in an extended result.
 */
function stampsOf(message: TaskMessage): ResultMeta['stamps'] {
  const names = message.extraHeaders['stamped_headers'];
  if (!Array.isArray(names) || names.length === 0) return undefined;
  const headers = names.filter((n): n is string => typeof n === 'string');
  const values = message.extraHeaders['stamps'];
  return { headers, values: isJsonObject(values) ? values : {} };
}

/** The children tuple for a plain task id: `[[id, null], null]`. */
export function resultTuple(id: string): ResultTuple {
  return [[id, null], null];
}
