/**
 * @module worker/result-writer
 * Stores what the worker reports about a task in the result backend: the states a task
 * reports while running (STARTED, `ctx.updateState`) and the final one. A result that cannot
 * be encoded is an EncodeError: the task's failure, never its end lost.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import { buildMeta, type MetaContext } from '../core/result-meta.js';
import type { StoreOptions } from '../core/spi/common.js';
import { EncodeError, toExceptionRecord } from '../core/task-errors.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import type { Json, ResultTuple, TaskMessage, TaskState } from '../protocol/types.js';
import { describeGiven } from '../core/option-names.js';

/** What a store with nothing to store returns. */
const NOTHING: Promise<void> = Promise.resolve();

/** A store's error, as the {@link EncodeError} it returns when it was the value's encoding (py-json's INVALID_ARGUMENT); else thrown as it is. */
function asEncodeError(err: unknown): EncodeError {
  if (err instanceof CeleriacError && err.code === ErrorCodes.INVALID_ARGUMENT) return new EncodeError(err.message);
  throw err;
}

/** Rejects a strict store with {@link asEncodeError}'s error. */
const encodeFailure = (err: unknown): never => {
  throw asEncodeError(err);
};

/** Writes a worker's task states; one per executor. */
export class ResultWriter {
  constructor(
    private readonly app: App,
    private readonly hostname: string,
    private readonly log: Logger,
  ) {}

  /** Stores a state reported while the task runs; nothing when the task ignores its result. */
  async storeState(message: TaskMessage, queue: string, state: TaskState, meta: Json): Promise<void> {
    // Stored as given, `updateState('')` or `updateState(5)` left a status no client reads as a state.
    if (typeof state !== 'string' || state === '') throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `ctx.updateState: the state must be a non-empty string such as 'PROGRESS', got ${describeGiven(state)}`);
    if (message.headers.ignore_result) return;
    await this.app.backend.store(buildMeta(this.context(message, queue), state, meta), this.storeOptions(message));
  }

  /**
   * Stores a final state (or RETRY). Not async: every task stores one, and the store's promise
   * is enough to chain on. A value the backend cannot encode is an {@link EncodeError}: with
   * `strict` the store rejects with it, nothing stored (the executor then ends a success as a
   * failure everywhere, not only in the backend); else FAILURE EncodeError is stored in its
   * place, so the end is not lost. Any other error (the backend is down) is not the task's
   * fault and goes up as it is.
   */
  storeFinal(message: TaskMessage, queue: string, state: TaskState, result: Json, traceback: string | null, children: ResultTuple[], strict = false): Promise<void> {
    if (message.headers.ignore_result) return NOTHING;
    const { app } = this;
    let stored: Promise<void>;
    try {
      stored = app.backend.store(buildMeta(this.context(message, queue), state, result, { traceback, children }), this.storeOptions(message));
    } catch (err) {
      stored = Promise.reject(err);
    }
    return stored.then(undefined, strict ? encodeFailure : (err: unknown) => this.storeEncodeError(message, queue, traceback, err));
  }

  private async storeEncodeError(message: TaskMessage, queue: string, traceback: string | null, err: unknown): Promise<void> {
    const encodeError = asEncodeError(err);
    this.log.error({ err: encodeError, taskId: message.headers.id }, 'could not store result; storing the encoding error instead');
    await this.app.backend.store(buildMeta(this.context(message, queue), 'FAILURE', toExceptionRecord(encodeError) as unknown as Json, { traceback }), this.storeOptions(message));
  }

  /** The options of a message with no reply queue (most): made once, settings do not change. */
  private plainOptions: StoreOptions | undefined;

  private storeOptions(message: TaskMessage): StoreOptions {
    const replyTo = message.properties.reply_to;
    if (replyTo === '') return (this.plainOptions ??= Object.freeze({ expiresSec: this.app.settings.resultExpiresSec }));
    return { expiresSec: this.app.settings.resultExpiresSec, replyTo };
  }

  private context(message: TaskMessage, queue: string): MetaContext {
    const { app } = this;
    return { message, worker: this.hostname, queue, extended: app.settings.resultExtended, now: app.clock.now() };
  }
}
