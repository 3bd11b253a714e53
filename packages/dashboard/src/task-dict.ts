/**
 * @module task-dict
 * Flower's task dict (Celery's `Task.as_dict()` with `worker` as the
 * hostname), built from a stored row or from the in-memory record of a live event. Every key
 * is present, null when unknown; times are float epoch seconds; args, kwargs, result and
 * exception are the repr strings the events carried.
 */
import type { TaskRecord } from 'celeriac/monitor';
import type { TaskRow } from './store/history-store.js';

/** Flower's task dict. */
export type FlowerTask = Record<string, string | number | boolean | null | string[]>;

const sec = (ms: number | null | undefined): number | null => (ms === null || ms === undefined ? null : ms / 1000);

/** From a stored row (and its children's ids when known). */
export function taskDictFromRow(row: TaskRow, children: readonly string[] = []): FlowerTask {
  return {
    uuid: row.uuid,
    name: row.name,
    state: row.state,
    received: sec(row.received),
    sent: sec(row.sent),
    started: sec(row.started),
    rejected: null,
    succeeded: sec(row.succeeded),
    failed: sec(row.failed),
    retried: sec(row.retried),
    revoked: sec(row.revoked),
    args: row.args,
    kwargs: row.kwargs,
    eta: row.eta,
    expires: row.expires,
    retries: row.retries,
    worker: row.worker,
    result: row.result,
    exception: row.exception,
    timestamp: sec(row.timestamp),
    runtime: row.runtime,
    traceback: row.traceback,
    exchange: row.exchange,
    routing_key: row.routingKey,
    clock: 0,
    client: null,
    root: row.rootId,
    root_id: row.rootId,
    parent: row.parentId,
    parent_id: row.parentId,
    children: [...children],
  };
}

/** From the in-memory record of the events seen (live updates). */
export function taskDictFromRecord(t: TaskRecord): FlowerTask {
  return {
    uuid: t.uuid,
    name: t.name,
    state: t.state,
    received: sec(t.times.received),
    sent: sec(t.times.sent),
    started: sec(t.times.started),
    rejected: sec(t.times.rejected),
    succeeded: sec(t.times.succeeded),
    failed: sec(t.times.failed),
    retried: sec(t.times.retried),
    revoked: sec(t.times.revoked),
    args: t.args,
    kwargs: t.kwargs,
    eta: t.eta,
    expires: t.expires,
    retries: t.retries,
    worker: t.worker,
    result: t.result,
    exception: t.exception,
    timestamp: sec(t.timestamp),
    runtime: t.runtime,
    traceback: t.traceback,
    exchange: t.exchange,
    routing_key: t.routingKey,
    clock: t.clock,
    client: t.client,
    root: t.rootId,
    root_id: t.rootId,
    parent: t.parentId,
    parent_id: t.parentId,
    children: [],
  };
}
