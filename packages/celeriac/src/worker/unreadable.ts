/**
 * @module worker/unreadable
 * A message whose envelope cannot be decoded is set aside, never run; but when its task id
 * and name can still be read, its caller is waiting on that id: FAILURE is stored for it with
 * the reason (kombu's `DecodeError`), so `get()` ends instead of waiting forever. The case
 * that made this necessary: a Python caller's `time_limit=float('nan')` (or `inf`) is written
 * by Python's json as a bare `NaN`, which JSON does not allow, so the whole envelope fails to
 * parse though its headers are plain to read. Decoding a delivery into its task message, or
 * into why it cannot be, is here too ({@link decodeDelivery}).
 */
import type { App } from '../core/app.js';
import type { Delivery } from '../core/spi/broker.js';
import { coerceError } from '../errors.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import { ProtocolError } from '../protocol/errors.js';
import { MAX_ID_LENGTH } from '../protocol/limits.js';
import { decodeTaskMessage } from '../protocol/task-message.js';
import type { ResultMeta, TaskMessage } from '../protocol/types.js';
import { naiveUtcIso } from '../protocol/time.js';

/** The task message of a delivery, or why it cannot be decoded. */
export function decodeDelivery(delivery: Delivery): TaskMessage | string {
  if (delivery.undecodable !== undefined) return delivery.undecodable;
  try {
    return decodeTaskMessage(delivery.decoded ?? decodeEnvelope(delivery.raw).message);
  } catch (err) {
    return err instanceof ProtocolError ? `${err.reason}: ${err.message}` : coerceError(err).message;
  }
}

/** The id, task name and reply address of an undecodable message, or null when they cannot be read. */
export interface UnreadableIdentity {
  readonly id: string;
  readonly task: string;
  readonly replyTo: string | null;
}

/** The first `"<name>": "<text>"` member, not inside another string (no backslash or word before its quote). */
function member(raw: string, name: string): string | null {
  const found = new RegExp(`(?<![\\\\\\w])"${name}"\\s*:\\s*"([^"\\\\]{1,255})"`).exec(raw);
  return found?.[1] ?? null;
}

/**
 * A delivery's envelope text, or null when there is none to give: an adapter that writes it on
 * demand (RabbitMQ's, from the frame) cannot write headers nested past py-json's depth limit.
 * Read on the worker's paths that must not throw (this module's, worker/lost-task-watch.ts):
 * it threw there, and such a message was handed back until its delivery limit.
 */
export function envelopeText(delivery: Pick<Delivery, 'raw'>): string | null {
  try {
    return delivery.raw;
  } catch {
    return null;
  }
}

/** The identity of an undecodable delivery: from its decoded headers when the adapter gave them, else read from the envelope text. */
export function unreadableIdentity(delivery: Pick<Delivery, 'raw' | 'decoded'>): UnreadableIdentity | null {
  const headers = delivery.decoded?.headers as Record<string, unknown> | undefined;
  const raw = envelopeText(delivery) ?? '';
  const id = typeof headers?.['id'] === 'string' ? headers['id'] : member(raw, 'id');
  const task = typeof headers?.['task'] === 'string' ? headers['task'] : member(raw, 'task');
  // An id past the limit (10 MB once) is why the message was refused: no caller waits on it.
  if (id === null || task === null || id === '' || task === '' || id.length > MAX_ID_LENGTH) return null;
  const replyTo = delivery.decoded?.properties?.reply_to;
  return { id, task, replyTo: typeof replyTo === 'string' && replyTo !== '' ? replyTo : member(raw, 'reply_to') };
}

/**
 * Stores FAILURE (kombu's DecodeError, with `reason`) for an undecodable delivery whose id and
 * task name can be read; never overwrites a SUCCESS (backends refuse that). Returns the id it
 * stored for, or null. Never rejects: the message is set aside whatever happens here.
 */
export async function failUnreadable(app: App, delivery: Pick<Delivery, 'raw' | 'decoded'>, reason: string): Promise<string | null> {
  const who = unreadableIdentity(delivery);
  if (who === null) return null;
  const meta: ResultMeta = {
    status: 'FAILURE',
    result: { exc_type: 'DecodeError', exc_message: [`message of task ${who.task} could not be decoded: ${reason}`], exc_module: 'kombu.exceptions' },
    traceback: null,
    children: [],
    date_done: naiveUtcIso(app.clock.now()),
    task_id: who.id,
  };
  try {
    await app.backend.store(meta, { expiresSec: app.settings.resultExpiresSec, ...(who.replyTo === null ? {} : { replyTo: who.replyTo }) });
    return who.id;
  } catch (err) {
    app.log.warn({ err, taskId: who.id }, 'could not store FAILURE for an undecodable message');
    return null;
  }
}
