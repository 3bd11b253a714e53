/**
 * @module worker/pools/error-transfer
 * Errors crossing a thread boundary. Structured clone keeps neither an error's class nor its
 * own fields, so a thrown value travels as its exception record (the same one the result
 * backend stores) plus its stack, and comes back as an error of the same wire identity.
 * Classes the executor tests with `instanceof` (time limits, revokes, Retry, Reject, Ignore)
 * register a codec, so they come back as real instances.
 */
import {
  ChordError,
  Ignore,
  MaxRetriesExceededError,
  NotRegistered,
  Reject,
  Retry,
  SoftTimeLimitExceeded,
  TaskError,
  TaskRevokedError,
  TimeLimitExceeded,
  WorkerLostError,
  toExceptionRecord,
} from '../../core/task-errors.js';
import { readableError } from '../../errors.js';
import type { ExceptionRecord, Json } from '../../protocol/types.js';

/** An error as it crosses a thread boundary (structured-clone safe). */
export interface TransferredError {
  readonly record: ExceptionRecord;
  readonly stack: string | null;
  /** The codec that encoded it, when one did. */
  readonly codec: string | null;
  /** What that codec needs to rebuild it. */
  readonly data: Json;
}

/** Turns instances of one error class into JSON and back. */
export interface ErrorCodec<E extends Error = Error> {
  /** Unique name, usually the class name. */
  readonly name: string;
  is(err: unknown): err is E;
  encode(err: E): Json;
  decode(data: Json, record: ExceptionRecord): E;
}

const codecs = new Map<string, ErrorCodec>();

/**
 * Lets instances of an error class cross the threads pool's boundary as instances of that
 * class. Later registrations of the same name replace earlier ones.
 */
export function registerErrorCodec<E extends Error>(codec: ErrorCodec<E>): void {
  codecs.set(codec.name, codec as unknown as ErrorCodec);
}

const num = (data: Json): number => (typeof data === 'number' ? data : Number(data));
const str = (data: Json): string => (typeof data === 'string' ? data : String(data));

registerErrorCodec({ name: 'SoftTimeLimitExceeded', is: (e): e is SoftTimeLimitExceeded => e instanceof SoftTimeLimitExceeded, encode: (e) => e.limitSec, decode: (d) => new SoftTimeLimitExceeded(num(d)) });
registerErrorCodec({ name: 'TimeLimitExceeded', is: (e): e is TimeLimitExceeded => e instanceof TimeLimitExceeded, encode: (e) => e.limitSec, decode: (d) => new TimeLimitExceeded(num(d)) });
registerErrorCodec({ name: 'TaskRevokedError', is: (e): e is TaskRevokedError => e instanceof TaskRevokedError, encode: (e) => e.reason, decode: (d) => new TaskRevokedError(str(d)) });
registerErrorCodec({ name: 'WorkerLostError', is: (e): e is WorkerLostError => e instanceof WorkerLostError, encode: (e) => e.message, decode: (d) => new WorkerLostError(str(d)) });
registerErrorCodec({ name: 'NotRegistered', is: (e): e is NotRegistered => e instanceof NotRegistered, encode: (e) => e.taskName, decode: (d) => new NotRegistered(str(d)) });

// Control-flow errors the executor tests with `instanceof` (task-outcomes.ts): a retry carries
// its cause across as a nested transfer, so the RETRY record and the final failure keep it.
registerErrorCodec({
  name: 'Retry',
  is: (e): e is Retry => e instanceof Retry,
  encode: (e) => ({
    exc: e.exc === undefined ? null : (encodeError(e.exc) as unknown as Json),
    countdown: e.countdown,
    eta: e.eta,
    backoff: e.backoff as unknown as Json,
    queue: e.queue,
  }),
  decode: (d) => {
    const o = d as { exc: TransferredError | null; countdown: number | null; eta: number | null; backoff: Retry['backoff']; queue: string | null };
    return new Retry({ ...(o.exc === null ? {} : { exc: decodeError(o.exc, '') }), countdown: o.countdown, eta: o.eta, backoff: o.backoff, queue: o.queue });
  },
});
registerErrorCodec({
  name: 'Reject',
  is: (e): e is Reject => e instanceof Reject,
  encode: (e) => ({ reason: e.reason, requeue: e.requeue }),
  decode: (d) => {
    const o = d as { reason: string | null; requeue: boolean };
    return new Reject({ ...(o.reason === null ? {} : { reason: o.reason }), requeue: o.requeue });
  },
});
registerErrorCodec({ name: 'Ignore', is: (e): e is Ignore => e instanceof Ignore, encode: (e) => e.message, decode: (d) => new Ignore(str(d)) });
registerErrorCodec({ name: 'ChordError', is: (e): e is ChordError => e instanceof ChordError, encode: (e) => e.message, decode: (d) => new ChordError(str(d)) });
registerErrorCodec({
  name: 'MaxRetriesExceededError',
  is: (e): e is MaxRetriesExceededError => e instanceof MaxRetriesExceededError,
  encode: (e) => e.message,
  decode: (d) => new MaxRetriesExceededError(str(d)),
});

/** Encodes a thrown value for the other side of a thread boundary. */
export function encodeError(thrown: unknown): TransferredError {
  // An error whose message or stack throws when read (errors.ts readableError) crashed the child here.
  const readable = readableError(thrown);
  const stack = readable === thrown && typeof readable.stack === 'string' ? readable.stack : null;
  const record = toExceptionRecord(readable);
  for (const codec of codecs.values()) {
    if (codec.is(readable)) return { record, stack, codec: codec.name, data: codec.encode(readable) };
  }
  return { record, stack, codec: null, data: null };
}

/**
 * Rebuilds an error: through its codec when one is registered here, else as a
 * {@link TaskError} with the same exception record (class name, arguments, module).
 */
export function decodeError(transferred: TransferredError, taskId: string): Error {
  const codec = transferred.codec === null ? undefined : codecs.get(transferred.codec);
  const err = codec === undefined ? new TaskError(transferred.record, taskId, transferred.stack) : codec.decode(transferred.data, transferred.record);
  // The stored traceback should point at the task's code, not at this decoder.
  if (transferred.stack !== null) err.stack = transferred.stack;
  return err;
}
