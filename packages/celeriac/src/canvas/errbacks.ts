/**
 * @module canvas/errbacks
 * Calling a failed task's errbacks as Celery 5.2.6's `_call_task_errbacks` does. A new-style
 * errback (a task registered here with `errbackStyle: 'request'`, Celery's "takes more than
 * one argument") is called at once, in this process, with the failed request, the error and
 * the traceback before the signature's own arguments (none of them when it is immutable); no
 * message is sent and nothing is stored for it. Every other errback (old-style, a canvas, or a
 * task not registered here, which another worker may know) is sent as a task with the failed
 * task's id first.
 */
import type { TaskRequest } from '../core/context.js';
import { bindArguments } from '../core/trace.js';
import { coerceError } from '../errors.js';
import type { Json, SignatureDict } from '../protocol/types.js';
import type { CanvasHost } from './host.js';

/** What a new-style errback is called with. */
export interface FailedCall {
  request: TaskRequest;
  error: unknown;
  traceback: string | null;
}

/** Splits errbacks into the new-style ones this process runs and the ones to send. */
export function splitErrbacks(host: CanvasHost, errbacks: readonly SignatureDict[]): { local: SignatureDict[]; send: SignatureDict[] } {
  const local: SignatureDict[] = [];
  const send: SignatureDict[] = [];
  for (const eb of errbacks) {
    const task = eb.subtask_type === null || eb.subtask_type === undefined ? host.lookup?.(eb.task) : undefined;
    (task?.options.errbackStyle === 'request' ? local : send).push(eb);
  }
  return { local, send };
}

/**
 * Calls new-style errbacks in turn. An errback that throws is logged and the others still
 * run: the task has failed already, and its failure is what gets stored.
 */
export async function runLocalErrbacks(host: CanvasHost, errbacks: readonly SignatureDict[], failed: FailedCall): Promise<void> {
  for (const eb of errbacks) {
    const task = host.lookup?.(eb.task);
    if (task === undefined) continue;
    const args: unknown[] = eb.immutable ? [...eb.args] : [failed.request, failed.error, failed.traceback, ...eb.args];
    try {
      const positional = bindArguments(task, args as Json[], eb.kwargs ?? {});
      await (task.fn as (...a: unknown[]) => unknown)(...positional);
    } catch (err) {
      host.log.error({ err: coerceError(err), taskId: failed.request.id, errback: eb.task }, 'errback raised');
    }
  }
}

/** A request for a signature that never ran (a chord body whose header failed), as Celery fakes one. */
export function requestOfSignature(dict: SignatureDict, id: string, hostname: string): TaskRequest {
  const o = dict.options;
  const str = (v: Json | undefined) => (typeof v === 'string' ? v : null);
  return Object.freeze({
    id,
    task: dict.task,
    args: dict.args,
    kwargs: dict.kwargs,
    retries: 0,
    parentId: str(o['parent_id']),
    rootId: str(o['root_id']) ?? id,
    groupId: str(o['group_id']),
    groupIndex: typeof o['group_index'] === 'number' ? o['group_index'] : null,
    hostname,
    deliveryInfo: {},
    properties: {},
    eta: null,
    expires: null,
    timeLimit: [null, null] as const,
    ignoreResult: false,
    origin: null,
    replyTo: str(o['reply_to']) ?? '',
    correlationId: id,
    isEager: false,
    headers: {},
    replacedTaskNesting: 0,
  }) as unknown as TaskRequest;
}
