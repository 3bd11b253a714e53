/**
 * @module brokers/amqp/queue-age
 * Since when the next message of a RabbitMQ queue has waited, for the dashboard's
 * `flower_queue_age_seconds`, with no management plugin. A Celeriac producer stamps the AMQP
 * `timestamp` property (amqp/wire.ts); Python Celery's messages carry no send time.
 *
 * AMQP 0-9-1 cannot show a message without taking it: the next message is taken with
 * `basic.get` (unacknowledged) on a channel of its own and given back at once by closing the
 * channel. A classic queue puts it back where it was (the order of delivery is kept) and marks
 * it `redelivered`: the only trace, which a Celeriac worker reports in `delivery_info` and
 * counts nowhere on a classic queue (Celery's `worker_deduplicate_successful_tasks` looks the
 * task up in the result backend first, and runs it as it is not a success).
 *
 * A quorum queue counts every return (`x-delivery-count`: before RabbitMQ 4.3 whatever the way
 * back, measured on 3.10), drops or dead-letters a message past its `x-delivery-limit`, and the worker sets a
 * message aside one delivery before that: a monitoring read must never push a message toward
 * it, so only a queue known to be classic is read. Its type is asked of RabbitMQ by a
 * declaration that cannot create anything ({@link probeQueueType}); a quorum or stream queue,
 * a queue configured quorum, and a queue whose type cannot be told are never read. Should a
 * message taken still carry `x-delivery-count` (which a quorum queue adds from the first
 * delivery on), the queue is taken as quorum from then on, and the message goes back with the
 * channel's close (from RabbitMQ 4.3 on, such a return is not counted).
 *
 * Cost: per read, a channel opened and closed and one `basic.get`; per queue and per
 * {@link TYPE_TTL_MS}, one probe, which RabbitMQ logs as a channel error (406) naming
 * {@link PROBE_TYPE}. Callers bound how often they read (the dashboard: once per queue per poll).
 */
import type { Channel, GetMessage } from 'amqplib';
import type { AmqpSession } from '../../amqp/session.js';
import { plainValue } from '../../amqp/tables.js';
import { parseIsoTime } from '../../protocol/time.js';
import { DELIVER_AT_HEADER } from './purge-delayed.js';

/** The `x-queue-type` of the probe: no queue has it, and RabbitMQ refuses to create one of it. */
export const PROBE_TYPE = 'celeriac-queue-type-probe';
/** How long a queue's probed type is believed (a queue deleted and declared again may change type). */
export const TYPE_TTL_MS = 600_000;
/** Most declarations one probe makes (each repeats an argument RabbitMQ compares before the type). */
const PROBE_ROUNDS = 8;

/** A queue's type as the probe tells it; `missing`: no such queue; `unknown`: not told. */
export type ProbedType = 'classic' | 'quorum' | 'stream' | 'missing' | 'unknown';

/** What RabbitMQ's answer to the probe says: the type, or an argument to send as it is before asking again. */
export type ProbeAnswer = { readonly type: ProbedType } | { readonly arg: string; readonly value: string | number | boolean };

const INTEGER_TYPES = new Set(['byte', 'short', 'signedint', 'long', 'unsignedbyte', 'unsignedshort', 'unsignedint', 'long_uint', 'timestamp']);

/**
 * Reads RabbitMQ's reply to the probe's `queue.declare` (its error text). RabbitMQ compares
 * the arguments of an existing queue in a fixed order, `x-queue-type` after `x-max-priority`,
 * the TTLs, the length limits and the dead-letter ones (3.10: `inequivalent arg
 * 'x-max-priority' ... received none but current is the value '10' of type 'byte'`): such an
 * argument is sent again as the queue has it. For a queue that does not exist it refuses the
 * unknown type (`invalid arg 'x-queue-type' ... unsupported queue type`) before creating anything.
 */
export function readProbeAnswer(message: string): ProbeAnswer {
  if (/invalid arg 'x-queue-type'.*unsupported queue type/s.test(message)) return { type: 'missing' };
  const m = /inequivalent arg '([^']+)' for queue .*but current is (none|'([^']*)'|the value '(.*)' of type '([a-z_]+)')"?\s*$/s.exec(message);
  if (m === null) return { type: 'unknown' };
  const [, arg, current, quoted, value, type] = m as unknown as [string, string, string, string | undefined, string | undefined, string | undefined];
  if (arg === 'x-queue-type') {
    const name = current === 'none' ? 'classic' : (quoted ?? (type === 'longstr' ? value : undefined));
    return { type: name === 'classic' || name === 'quorum' || name === 'stream' ? name : 'unknown' };
  }
  if (value === undefined || type === undefined) return { type: 'unknown' };
  if (INTEGER_TYPES.has(type) && /^-?\d+$/.test(value)) return { arg, value: Number(value) };
  if (type === 'longstr') return { arg, value };
  if (type === 'bool' && (value === 'true' || value === 'false')) return { arg, value: value === 'true' };
  return { type: 'unknown' };
}

/**
 * The type `queue` exists with, asked of RabbitMQ: a `queue.declare` (durable, as Celery's
 * task queues are) with `x-queue-type` {@link PROBE_TYPE}, which an existing queue answers
 * with a 406 naming its type and RabbitMQ refuses to create. Each 406 closes its channel, so
 * each round opens one. Needs the configure permission on the queue (else `unknown`).
 */
export async function probeQueueType(session: AmqpSession, queue: string): Promise<ProbedType> {
  const args: Record<string, string | number | boolean> = {};
  for (let round = 0; round < PROBE_ROUNDS; round++) {
    const ch = await session.openChannel();
    ch.on('error', () => undefined);
    try {
      await ch.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false, arguments: { ...args, 'x-queue-type': PROBE_TYPE } });
      // Nothing can have that type: say nothing rather than guess.
      await ch.close().catch(() => undefined);
      return 'unknown';
    } catch (err) {
      const answer = readProbeAnswer(String((err as { message?: unknown }).message ?? ''));
      if ('type' in answer) return answer.type;
      if (answer.arg in args) return 'unknown';
      args[answer.arg] = answer.value;
    }
  }
  return 'unknown';
}

/**
 * Unix ms since which a message taken from a queue has waited: its `timestamp` property, or
 * its due time when later (the `x-celeriac-deliver-at` header of a message back from the delay
 * ladder, else its task `eta`). Null when it has no timestamp (Python Celery's messages).
 */
export function waitingSinceOf(msg: Pick<GetMessage, 'properties'>): number | null {
  const ts: unknown = msg.properties.timestamp;
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return null;
  let since = ts * 1000;
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
  const at = Number(plainValue(headers[DELIVER_AT_HEADER] ?? null));
  if (Number.isFinite(at) && at > since) since = at;
  const eta = headers['eta'];
  if (typeof eta !== 'string') return since;
  try {
    return Math.max(since, parseIsoTime(eta));
  } catch {
    return since; // a malformed ETA says nothing about the send
  }
}

/** Reads queue ages for one broker, remembering each queue's probed type for {@link TYPE_TTL_MS}. */
export class QueueAgeReader {
  readonly #types = new Map<string, { type: ProbedType; at: number }>();

  /** @param quorumByConfig true when the app declares `queue` as a quorum queue (never read, never probed). */
  constructor(
    private readonly session: AmqpSession,
    private readonly quorumByConfig: (queue: string) => boolean,
  ) {}

  /** See the module header; null when the queue is empty, gone, not known classic, or its message tells no time. */
  async waitingSince(queue: string): Promise<number | null> {
    if (this.quorumByConfig(queue) || (await this.#type(queue)) !== 'classic') return null;
    const ch: Channel = await this.session.openChannel();
    ch.on('error', () => undefined);
    try {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) return null;
      if ((msg.properties.headers as Record<string, unknown> | undefined)?.['x-delivery-count'] !== undefined) {
        this.#types.set(queue, { type: 'quorum', at: performance.now() });
        return null;
      }
      return waitingSinceOf(msg);
    } catch {
      // Deleted under us (404), or refused (an exclusive consumer, no read permission).
      this.#types.delete(queue);
      return null;
    } finally {
      // Gives the message back where it was.
      await ch.close().catch(() => undefined);
    }
  }

  async #type(queue: string): Promise<ProbedType> {
    const known = this.#types.get(queue);
    if (known !== undefined && performance.now() - known.at < TYPE_TTL_MS) return known.type;
    const type = await probeQueueType(this.session, queue);
    if (type === 'missing') this.#types.delete(queue);
    else this.#types.set(queue, { type, at: performance.now() });
    return type;
  }
}
