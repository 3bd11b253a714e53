/**
 * @module protocol/result
 * Result records as Celery's key-value backends store them (docs/protocol.md §3):
 * the per-task meta, exception records and the group meta.
 */

import { getOwn, isJsonObject, isStringOrNull, setOwn } from './guards.js';
import { ProtocolError } from './errors.js';
import { parsePyJson, pyJsonAddMember, pyJsonCloseObject, pyJsonStringify } from './py-json.js';
import type { ExceptionRecord, GroupMeta, Json, ResultMeta, ResultTuple } from './types.js';

// The extended block Celery adds with result_extended, in its order.
const EXTENDED_FIELDS = ['name', 'args', 'kwargs', 'worker', 'retries', 'queue'] as const;

// Celery's field order of a whole meta, up to the stamps (then task_id).
const META_FIELDS = ['status', 'result', 'traceback', 'children', 'date_done', 'group_id', 'parent_id', ...EXTENDED_FIELDS] as const;

// A stamp named like a meta field would write that key twice; Celery's dict update would let
// the stamp replace the field, which a reader of the record cannot want: such stamps are left out.
const RESERVED_META_KEYS: ReadonlySet<string> = new Set([...META_FIELDS, 'stamped_headers', 'task_id']);

/**
 * Serializes a result meta in Celery's field order: `status, result, traceback, children,
 * date_done, [group_id], [parent_id], [name, args, kwargs, worker, retries, queue,
 * [stamped_headers, <one field per stamp>]], task_id`, with Python's JSON layout. Optional
 * fields are written only when defined.
 */
export function encodeResultMeta(meta: ResultMeta): string {
  // Written member by member (one result per task on a worker's hot path).
  let members = '';
  for (const key of META_FIELDS) members = pyJsonAddMember(members, key, meta[key]);
  const { stamps } = meta;
  if (stamps !== undefined) {
    members = pyJsonAddMember(members, 'stamped_headers', stamps.headers);
    for (const name of stamps.headers) if (!RESERVED_META_KEYS.has(name)) members = pyJsonAddMember(members, name, getOwn(stamps.values, name) ?? null);
  }
  members = pyJsonAddMember(members, 'task_id', meta.task_id);
  return pyJsonCloseObject(members);
}


function bad(message: string): ProtocolError {
  return new ProtocolError('bad-body', message);
}

/**
 * True for a `[[id, parent], children]` result reference, checked all the way down
 * (a group's children are tuples too, and a parent is itself a tuple).
 */
export function isResultTuple(value: unknown, depth = 0): value is ResultTuple {
  // Real nesting is shallow; the cap keeps hostile input from exhausting the stack.
  if (depth > 64 || !Array.isArray(value) || value.length !== 2) return false;
  const [head, children] = value as unknown[];
  if (!Array.isArray(head) || head.length !== 2 || typeof head[0] !== 'string') return false;
  if (head[1] !== null && !isResultTuple(head[1], depth + 1)) return false;
  if (children === null) return true;
  return Array.isArray(children) && children.every((child) => isResultTuple(child, depth + 1));
}

function checkOptional(record: Record<string, unknown>, key: string, ok: (v: unknown) => boolean): void {
  const value = getOwn(record, key);
  if (value !== undefined && !ok(value)) throw bad(`Result meta ${key} has the wrong type`);
}

/**
 * Parses a stored result meta. Fields the type does not know are dropped; extended
 * fields stored as null by Python (e.g. `queue` without delivery info) are dropped too,
 * because {@link ResultMeta} has no null for them.
 *
 * @throws ProtocolError `bad-json` for invalid JSON, `bad-body` for a missing `status`,
 *   `task_id` or `children` list, or a mistyped field.
 */
export function decodeResultMeta(text: string): ResultMeta {
  let parsed: unknown;
  try {
    parsed = parsePyJson(text);
  } catch (cause) {
    throw new ProtocolError('bad-json', 'Result meta is not valid JSON', { cause });
  }
  if (!isJsonObject(parsed)) throw bad('Result meta is not a JSON object');
  const status = getOwn(parsed, 'status');
  const taskId = getOwn(parsed, 'task_id');
  const traceback = getOwn(parsed, 'traceback') ?? null;
  const children = getOwn(parsed, 'children') ?? [];
  const dateDone = getOwn(parsed, 'date_done') ?? null;
  if (typeof status !== 'string' || status === '') throw bad('Result meta status is not a string');
  if (typeof taskId !== 'string') throw bad('Result meta task_id is not a string');
  if (!isStringOrNull(traceback)) throw bad('Result meta traceback is not a string');
  if (!isStringOrNull(dateDone)) throw bad('Result meta date_done is not a string');
  if (!Array.isArray(children) || !children.every((child) => isResultTuple(child))) {
    throw bad('Result meta children is not a list of result tuples');
  }
  const isString = (v: unknown): boolean => typeof v === 'string';
  checkOptional(parsed, 'group_id', isString);
  checkOptional(parsed, 'parent_id', isString);
  checkOptional(parsed, 'name', (v) => v === null || isString(v));
  checkOptional(parsed, 'args', (v) => v === null || Array.isArray(v));
  checkOptional(parsed, 'kwargs', (v) => v === null || isJsonObject(v));
  checkOptional(parsed, 'worker', (v) => v === null || isString(v));
  checkOptional(parsed, 'retries', (v) => v === null || typeof v === 'number');
  checkOptional(parsed, 'queue', (v) => v === null || isString(v));
  const meta: ResultMeta = {
    status,
    result: (getOwn(parsed, 'result') ?? null) as Json,
    traceback,
    children: children as ResultTuple[],
    date_done: dateDone,
    task_id: taskId,
  };
  for (const key of ['group_id', 'parent_id', ...EXTENDED_FIELDS]) {
    const value = getOwn(parsed, key);
    if (value !== undefined && value !== null) setOwn(meta, key, value as Json);
  }
  return meta;
}

/**
 * True for an exception record `{exc_type, exc_message, exc_module}` (§3.2): the `result`
 * of a FAILURE, RETRY or REVOKED meta. `exc_module` may be null (or absent, which old
 * Celery versions write and readers should treat as null); `exc_message` is
 * normally the exception's args list but any JSON is accepted, as Celery does.
 */
export function isExceptionRecord(value: unknown): value is ExceptionRecord {
  if (!isJsonObject(value)) return false;
  const excType = getOwn(value, 'exc_type');
  const excModule = getOwn(value, 'exc_module');
  return (
    typeof excType === 'string' &&
    Object.prototype.hasOwnProperty.call(value, 'exc_message') &&
    (excModule === null || excModule === undefined || typeof excModule === 'string')
  );
}

/**
 * The record `GroupResult.save()` stores under `celery-taskset-meta-<gid>` (§3.6):
 * `{"result": [[gid, null], [[[id, null], null], ...]]}`.
 */
export function groupMeta(groupId: string, memberIds: readonly string[]): GroupMeta {
  return { result: [[groupId, null], memberIds.map((id): ResultTuple => [[id, null], null])] };
}

/** Serializes a {@link GroupMeta} with Python's JSON layout. */
export function encodeGroupMeta(meta: GroupMeta): string {
  return pyJsonStringify(meta);
}
