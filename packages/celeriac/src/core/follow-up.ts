/**
 * @module core/follow-up
 * What a finished task sends next: `link` callbacks with its result on success, `linkError`
 * errbacks with its id on failure (Celery's calling convention, so Python errbacks work).
 */
import type { Json, JsonObject, ResultTuple, SignatureDict, TaskMessage } from '../protocol/types.js';
import type { AsyncResult } from './async-result.js';
import type { ApplyOptions } from './call-options.js';
import { resultTuple } from './result-meta.js';

/** Sends a task by name; the app's `sendTask`. */
export type SendTask = (name: string, args: readonly Json[], kwargs: JsonObject, options: ApplyOptions) => Promise<AsyncResult>;

function callOptions(sig: SignatureDict, message: TaskMessage): ApplyOptions {
  const o = sig.options ?? {};
  const options: ApplyOptions = { parentId: message.headers.id, rootId: message.headers.root_id };
  if (typeof o.task_id === 'string') options.taskId = o.task_id;
  if (typeof o.queue === 'string') options.queue = o.queue;
  if (typeof o.priority === 'number') options.priority = o.priority;
  if (typeof o.countdown === 'number') options.countdown = o.countdown;
  if (typeof o.expires === 'number' || typeof o.expires === 'string') options.expires = o.expires;
  if (typeof o.time_limit === 'number') options.timeLimit = o.time_limit;
  if (typeof o.soft_time_limit === 'number') options.softTimeLimit = o.soft_time_limit;
  if (typeof o.shadow === 'string') options.shadow = o.shadow;
  if (typeof o.routing_key === 'string') options.routingKey = o.routing_key;
  if (typeof o.exchange === 'string') options.exchange = o.exchange;
  if (typeof o.ignore_result === 'boolean') options.ignoreResult = o.ignore_result;
  if (Array.isArray(o.link)) options.link = o.link as SignatureDict[];
  if (Array.isArray(o.link_error)) options.linkError = o.link_error as SignatureDict[];
  return options;
}

async function sendAll(send: SendTask, sigs: readonly SignatureDict[], message: TaskMessage, leading: Json): Promise<ResultTuple[]> {
  const children: ResultTuple[] = [];
  for (const sig of sigs) {
    const args = sig.immutable ? sig.args : [leading, ...(sig.args ?? [])];
    const result = await send(sig.task, args, sig.kwargs ?? {}, callOptions(sig, message));
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
