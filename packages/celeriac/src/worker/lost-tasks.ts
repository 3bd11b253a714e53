/**
 * @module worker/lost-tasks
 * Reports early-acked tasks whose worker died while they ran, as the broker finds them
 * (ConsumeOptions.onLost; Redis: brokers/redis/running.ts). Each is ended the way Celery ends a
 * task whose pool process died: FAILURE `WorkerLostError` ("Worker exited prematurely...")
 * stored for it, a `task-failed` event (so `celeriac events`, Flower and the dashboard show it
 * failed, not STARTED forever), an error line, and its chord or chain told, so nothing waits on
 * it. The report comes from the live worker that found it; its message is gone (acked early),
 * so the task is not run again.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import type { LostDelivery } from '../core/spi/broker.js';
import { afterFinalState } from '../canvas/follow-up.js';
import { WorkerLostError, toExceptionRecord } from '../core/task-errors.js';
import { coerceError } from '../errors.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import { decodeTaskMessage } from '../protocol/task-message.js';
import { READY_STATES } from '../protocol/states.js';
import type { Json, TaskMessage } from '../protocol/types.js';
import { ResultWriter } from './result-writer.js';
import type { TaskEvent } from './task-events.js';

/** What the reporter needs of its worker. */
export interface LostTaskHost {
  readonly app: App;
  readonly hostname: string;
  readonly log: Logger;
  emit(event: TaskEvent): void;
}

/** Ends lost tasks as failed with WorkerLostError; one per worker. */
export class LostTaskReporter {
  readonly #writer: ResultWriter;

  constructor(private readonly host: LostTaskHost) {
    this.#writer = new ResultWriter(host.app, host.hostname, host.log);
  }

  /** Reports each lost task; never throws (a failure is logged). */
  report(lost: readonly LostDelivery[]): Promise<void> {
    return Promise.all(lost.map((l) => this.#reportOne(l).catch((err: unknown) => this.host.log.error({ err: coerceError(err), tag: l.tag }, 'could not report a lost task')))).then(() => undefined);
  }

  async #reportOne(lost: LostDelivery): Promise<void> {
    let message: TaskMessage;
    try {
      message = decodeTaskMessage(decodeEnvelope(lost.raw).message);
    } catch (err) {
      this.host.log.error({ err: coerceError(err), tag: lost.tag, queue: lost.queue }, 'a task was lost with its worker, and its message cannot be read');
      return;
    }
    const h = message.headers;
    // Its end may have been stored just before the worker died, with the record's removal
    // still waiting for a call (brokers/redis/transitions.ts forgetRunning): nothing was lost.
    const stored = await this.host.app.backend.get(h.id).catch(() => null);
    if (stored !== null && READY_STATES.has(stored.status)) {
      this.host.log.info({ taskId: h.id, taskName: h.task, state: stored.status }, `task ${h.task}[${h.id}] had ended (${stored.status}) before its worker died; not reported lost`);
      return;
    }
    const error = new WorkerLostError(`Worker exited prematurely: the worker running the task stopped (${lost.holder} went silent) before it finished; it was acked early and will not run again.`);
    const record = toExceptionRecord(error) as unknown as Json;
    const traceback = `billiard.exceptions.WorkerLostError: ${error.message}`;
    this.host.log.error({ taskId: h.id, taskName: h.task, queue: lost.queue, holder: lost.holder }, `task ${h.task}[${h.id}] lost: its worker died while it ran (acked early); marked FAILURE WorkerLostError`);
    await this.#writer.storeFinal(message, lost.queue, 'FAILURE', record, traceback, []);
    this.host.emit({ type: 'task-failed', message, error, traceback });
    await afterFinalState(this.host.app, message, 'FAILURE', record, traceback);
  }
}
