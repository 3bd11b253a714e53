/**
 * @module canvas/follow-up
 * What the worker sends after a task ends, for canvas workflows: on success the `link`
 * callbacks and the next chain step (`embed.chain`, popped from the end, the result
 * prepended unless immutable); on failure the errbacks; once the final state is stored, the
 * chord part return (`embed.chord`) and, on failure, the failure of the rest of the chain.
 * Callbacks and steps may be groups, chains or chords (Celery's `celery.chord` form included).
 */
import type { AsyncResult } from '../core/async-result.js';
import { followUpOptions } from '../core/link-callbacks.js';
import { GroupResult } from '../core/group-result.js';
import { resultTuple } from '../core/result-meta.js';
import { PROPAGATE_STATES } from '../protocol/states.js';
import { buildRequest } from '../core/trace.js';
import type { DeliveryInfo, Json, ResultTuple, SignatureDict, TaskMessage, TaskState } from '../protocol/types.js';
import { runLocalErrbacks, splitErrbacks } from './errbacks.js';
import { applyDict } from './apply.js';
import { chordPartReturn, failChain } from './chord-join.js';
import { isSignatureDict } from './dicts.js';
import type { CanvasHost } from './host.js';

function tupleOf(applied: AsyncResult | GroupResult): ResultTuple {
  return applied instanceof GroupResult ? applied.asTuple() : resultTuple(applied.id);
}

async function sendEach(host: CanvasHost, sigs: readonly SignatureDict[], message: TaskMessage, leading: Json): Promise<ResultTuple[]> {
  const children: ResultTuple[] = [];
  for (const sig of sigs) children.push(tupleOf(await applyDict(host, sig, [leading], followUpOptions(sig, message))));
  return children;
}

/**
 * Sends the success callbacks and the next chain step with `value`; returns their result
 * tuples for the task's `children` (at once, without a promise, when there is nothing to
 * send). Call before storing the result (as Celery does).
 */
export function sendSuccessFollowUps(host: CanvasHost, message: TaskMessage, value: Json): ResultTuple[] | Promise<ResultTuple[]> {
  // Most tasks have no callbacks and no chain: answered at once, no promise to wait for.
  if (!message.embed.callbacks?.length && !message.embed.chain?.length) return [];
  return sendSuccessFollowUpsOf(host, message, value);
}

async function sendSuccessFollowUpsOf(host: CanvasHost, message: TaskMessage, value: Json): Promise<ResultTuple[]> {
  const children = await sendEach(host, message.embed.callbacks ?? [], message, value);
  const chain = message.embed.chain ?? [];
  const next = chain[chain.length - 1];
  if (next !== undefined) {
    const options = { ...followUpOptions(next, message), chain: chain.slice(0, -1) };
    children.push(tupleOf(await applyDict(host, next, [value], options)));
  }
  return children;
}

/** How a task failed, for its new-style errbacks. */
export interface Failure {
  error: unknown;
  traceback: string | null;
  deliveryInfo: DeliveryInfo;
  hostname: string;
}

/**
 * Calls the errbacks of a failed task: new-style ones registered here at once, with its
 * request, the error and the traceback (canvas/errbacks.ts); the others are sent with the
 * failed task's id. Returns the result tuples of those sent.
 */
export async function sendFailureFollowUps(host: CanvasHost, message: TaskMessage, failure?: Failure): Promise<ResultTuple[]> {
  const errbacks = message.embed.errbacks ?? [];
  if (failure === undefined || errbacks.length === 0) return sendEach(host, errbacks, message, message.headers.id);
  const { local, send } = splitErrbacks(host, errbacks);
  if (local.length > 0) {
    const request = buildRequest(message, { hostname: failure.hostname, deliveryInfo: failure.deliveryInfo, isEager: false, timeLimit: [null, null] });
    await runLocalErrbacks(host, local, { request, error: failure.error, traceback: failure.traceback });
  }
  return sendEach(host, send, message, message.headers.id);
}

/**
 * After the final state (SUCCESS, FAILURE or REVOKED) is stored: report to the chord this
 * task is a header part of, and on failure mark the rest of its chain failed, so neither a
 * chord nor a chain caller waits forever. Undefined when there is nothing to report.
 */
export function afterFinalState(host: CanvasHost, message: TaskMessage, state: TaskState, result: Json, traceback: string | null = null): Promise<void> | undefined {
  // Most tasks are neither chord parts nor chain steps: nothing to do, nothing to wait for.
  if ((message.embed.chord ?? null) === null && !message.embed.chain?.length) return undefined;
  return reportFinalState(host, message, state, result, traceback);
}

async function reportFinalState(host: CanvasHost, message: TaskMessage, state: TaskState, result: Json, traceback: string | null): Promise<void> {
  const h = message.headers;
  const chord = message.embed.chord;
  if (isSignatureDict(chord) && h.group !== null) {
    await chordPartReturn(host, { id: h.id, group: h.group, groupIndex: h.group_index, chord, rootId: h.root_id }, state, result);
  }
  if (PROPAGATE_STATES.has(state) && (message.embed.chain?.length ?? 0) > 0) {
    await failChain(host, message.embed.chain ?? [], state, result, traceback);
  }
}
