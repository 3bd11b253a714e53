/**
 * @module core/link-callbacks
 * What a finished task sends next: `link` callbacks with its result on success, `linkError`
 * errbacks with its id on failure (Celery's calling convention, so Python errbacks work).
 */
import type { Json, JsonObject, ResultTuple, SignatureDict, TaskMessage } from '../protocol/types.js';
import type { AsyncResult } from './async-result.js';
import type { ApplyOptions } from './call-options.js';
import { resultTuple } from './result-meta.js';
import { fromWireOptions } from './signature-options.js';

/** Sends a task by name; the app's `sendTask`. */
export type SendTask = (name: string, args: readonly Json[], kwargs: JsonObject, options: ApplyOptions) => Promise<AsyncResult>;

/**
 * The options to send `sig` with as a follow-up of `message`: its frozen options, with the
 * finished task as parent and its root as root (Celery's `parent_id` / `root_id`).
 */
export function followUpOptions(sig: SignatureDict, message: TaskMessage): ApplyOptions {
  return { ...fromWireOptions(sig.options ?? {}), parentId: message.headers.id, rootId: message.headers.root_id };
}

async function sendAll(send: SendTask, sigs: readonly SignatureDict[], message: TaskMessage, leading: Json): Promise<ResultTuple[]> {
  const children: ResultTuple[] = [];
  for (const sig of sigs) {
    const args = sig.immutable ? sig.args : [leading, ...(sig.args ?? [])];
    const result = await send(sig.task, args, sig.kwargs ?? {}, followUpOptions(sig, message));
    children.push(resultTuple(result.id));
  }
  return children;
}

/** Sends the success callbacks with `value` prepended; returns their result tuples. */
export function sendCallbacks(send: SendTask, message: TaskMessage, value: Json): Promise<ResultTuple[]> {
  return sendAll(send, message.embed.callbacks ?? [], message, value);
}

/** Sends the errbacks with the failed task's id prepended; returns their result tuples. */
export function sendErrbacks(send: SendTask, message: TaskMessage): Promise<ResultTuple[]> {
  return sendAll(send, message.embed.errbacks ?? [], message, message.headers.id);
}
