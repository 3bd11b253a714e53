/**
 * @module http/task-status
 * A task's state as the API reports it, read from the result backend: state, result,
 * progress (the meta of a custom state such as PROGRESS), error and traceback; the state
 * folded with what events said, by the engine's state model.
 */
import { isReady, type App, type Json, type ResultMeta } from 'celeriac';
import { jsonSafe, jsonText, mergeState } from 'celeriac/monitor';
import { Type, type Static } from '@sinclair/typebox';
import { JsonValue } from './schemas.js';

/** The response of `GET /tasks/{taskId}`. */
export const TaskStatus = Type.Object(
  {
    taskId: Type.String(),
    state: Type.String({ description: 'PENDING, STARTED, PROGRESS (or another custom state), RETRY, SUCCESS, FAILURE or REVOKED' }),
    ready: Type.Boolean({ description: 'True once SUCCESS, FAILURE or REVOKED' }),
    result: Type.Optional(
      Type.Unknown({
        description:
          'The return value (any JSON value), from the result backend. A SUCCESS that events reported before the backend has the result (or never will: ignoreResult) has none yet',
      }),
    ),
    progress: Type.Optional(JsonValue),
    error: Type.Optional(Type.Object({ type: Type.String(), message: Type.String() })),
    traceback: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    worker: Type.Optional(Type.String()),
    dateDone: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { $id: 'TaskStatus' },
);
export type TaskStatus = Static<typeof TaskStatus>;

/** An exception argument as text: a string as it is, anything else as JSON (or its repr when JSON cannot write it). */
const argText = (arg: Json): string => (typeof arg === 'string' ? arg : jsonText(arg));

function errorOf(result: unknown): { type: string; message: string } {
  const r = (result ?? {}) as { exc_type?: unknown; exc_message?: Json };
  const args = r.exc_message === undefined ? [] : Array.isArray(r.exc_message) ? r.exc_message : [r.exc_message];
  return { type: String(r.exc_type ?? 'Exception'), message: args.map(argText).join(', ') };
}

/** The status of one task from its stored record (PENDING when none). */
export function statusFromMeta(taskId: string, meta: ResultMeta | null): TaskStatus {
  if (meta === null) return { taskId, state: 'PENDING', ready: false };
  const state = meta.status;
  const status: TaskStatus = { taskId, state, ready: isReady(state), dateDone: meta.date_done ?? null };
  // `worker` is stored with resultExtended (the app turns it on); STARTED carries it in its meta.
  const worker = meta.worker ?? (state === 'STARTED' ? (meta.result as { hostname?: unknown } | null)?.hostname : undefined);
  if (typeof worker === 'string') status.worker = worker;
  // A value JSON cannot write (a Python int past 2**53, thousands of levels deep) is answered as its repr, not a 500.
  if (state === 'SUCCESS') status.result = jsonSafe(meta.result);
  else if (state === 'FAILURE' || state === 'REVOKED' || state === 'RETRY') {
    status.error = errorOf(meta.result);
    status.traceback = meta.traceback ?? null;
  } else if (state !== 'STARTED' && state !== 'PENDING') status.progress = jsonSafe(meta.result);
  return status;
}

/** Reads the status of a task. */
export async function readStatus(celery: App, taskId: string): Promise<TaskStatus> {
  return statusFromMeta(taskId, await celery.asyncResult(taskId).meta());
}

/**
 * The status with what this process's events said folded in (the engine's `mergeState`):
 * events may be ahead of the backend (a result stored after its event, or no backend
 * write at all). The stored fields stay; only `state` and `ready` follow the events.
 */
export function withEvents(status: TaskStatus, known: { readonly state: string } | undefined): TaskStatus {
  if (known === undefined) return status;
  const state = mergeState(status.state, known.state);
  return state === status.state ? status : { ...status, state, ready: isReady(state) };
}
