/**
 * @module worker/result-writer
 * Stores what the worker reports about a task in the result backend: the states a task
 * reports while running (STARTED, `ctx.updateState`) and the final one. A result that cannot
 * be encoded becomes an EncodeError failure rather than losing the task's end.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import { buildMeta, type MetaContext } from '../core/result-meta.js';
import type { StoreOptions } from '../core/spi/common.js';
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';
import type { Json, ResultTuple, TaskMessage, TaskState } from '../protocol/types.js';
import { describeGiven } from '../core/option-names.js';

/** What a store with nothing to store returns. */
const NOTHING: Promise<void> = Promise.resolve();

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
   * is enough to chain on. Only an encoding failure becomes EncodeError; a backend that is down
   * is not the task's fault: that error goes up, and the executor gives the message back.
   */
  storeFinal(message: TaskMessage, queue: string, state: TaskState, result: Json, traceback: string | null, children: ResultTuple[]): Promise<void> {
    if (message.headers.ignore_result) return NOTHING;
    const { app } = this;
    let stored: Promise<void>;
    try {
      stored = app.backend.store(buildMeta(this.context(message, queue), state, result, { traceback, children }), this.storeOptions(message));
    } catch (err) {
      stored = Promise.reject(err);
    }
    return stored.then(undefined, (err: unknown) => this.storeEncodeError(message, queue, traceback, err));
  }

  private async storeEncodeError(message: TaskMessage, queue: string, traceback: string | null, err: unknown): Promise<void> {
    if (!(err instanceof CeleriacError && err.code === ErrorCodes.INVALID_ARGUMENT)) throw err;
    // A result that cannot be encoded (a BigInt, a cycle) must not lose the task's end.
    this.log.error({ err: coerceError(err), taskId: message.headers.id }, 'could not store result; storing the encoding error instead');
    const record = { exc_type: 'EncodeError', exc_message: [coerceError(err).message], exc_module: 'kombu.exceptions' };
    await this.app.backend.store(buildMeta(this.context(message, queue), 'FAILURE', record, { traceback }), this.storeOptions(message));
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
