/**
 * @module worker/settlement
 * The one module of the worker that settles a message: it carries out the ack decisions of
 * worker/outcome-table.ts (ack, reject, requeue, restore, defer, redeliver, dead-letter, set
 * aside) and sends the early ack. It decides nothing of its own but the limit every give-back
 * has: a message requeued or redelivered `workerMaxDeliveries` times is dead-lettered instead
 * (worker/redelivery.ts), so a task that kills its worker each time cannot loop.
 * scripts/settlement-sites.test.ts fails when another module of src/ settles a delivery.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import type { Delivery } from '../core/spi/broker.js';
import { coerceError } from '../errors.js';
import { parseIsoTime } from '../protocol/time.js';
import type { TaskMessage } from '../protocol/types.js';
import type { AckDecision } from './outcome-table.js';
import { DeliveryCounter, MAX_REDELIVERY_DELAY_MS, redeliveryDelayMs } from './redelivery.js';
import type { ResultWriter } from './result-writer.js';
import type { TaskEvent } from './task-events.js';
import { afterFinalState } from '../canvas/follow-up.js';

/** What a decision other than `none` is carried out on. */
export type SettleAction = Exclude<AckDecision['action'], 'none'>;

/** Settles messages for one executor. */
export class Settlement {
  private readonly counts = new DeliveryCounter();

  constructor(
    private readonly app: App,
    private readonly log: Logger,
    private readonly writer: ResultWriter,
    /** Sends a task event (the `task-failed` of a dead letter). */
    private readonly emit: (event: TaskEvent) => void,
  ) {}

  /**
   * Carries out `action` on `delivery`. `message` is its task message when it was decoded;
   * `cause` says why for the actions that record it (the reason a message is set aside or
   * dead-lettered, the failure behind a redelivery). A failed ack, reject or restore is
   * logged: the message then comes back later. The ack every task ends with goes without an
   * async frame.
   */
  settle(delivery: Delivery, message: TaskMessage | null, action: SettleAction, cause: Error | null = null): Promise<void> {
    if (action !== 'ack') return this.settleOtherwise(delivery, message, action, cause);
    let acked: Promise<void>;
    try {
      acked = delivery.ack();
    } catch (err) {
      acked = Promise.reject(err);
    }
    return acked.then(undefined, (err: unknown) => this.log.error({ err: coerceError(err), tag: delivery.tag, action }, 'could not settle message'));
  }

  /**
   * Acks a task that starts now (early ack). The body does not wait for the reply (see
   * Executor.ackEarly); a failed ack is logged: the task has run, and the message may come back.
   */
  ackEarly(delivery: Delivery, message: TaskMessage): Promise<void> {
    return delivery.ack().catch((err: unknown) => {
      const h = message.headers;
      this.log.error({ err: coerceError(err), taskId: h.id, taskName: h.task, tag: delivery.tag }, 'early ack failed; the task ran, and its message may be delivered again');
    });
  }

  /**
   * True when the message was delivered more than `workerMaxDeliveries` times (by the
   * broker's count, which Redis keeps across workers): it ran that many times already
   * without being settled, as when the task kills its worker every time.
   */
  pastLimit(delivery: Delivery): boolean {
    const max = this.maxDeliveries(delivery);
    return max !== null && (delivery.deliveryCount ?? 0) > max;
  }

  /** Why a message that arrives past its delivery limit is dead-lettered. */
  overLimitReason(delivery: Delivery): string {
    return `delivered ${String(delivery.deliveryCount)} times (${limitText(delivery, this.maxDeliveries(delivery))}) without being settled: its worker may have died each time it ran`;
  }

  /**
   * `workerMaxDeliveries`, or fewer where the broker drops a message after a limit of its own
   * (a quorum queue's `x-delivery-limit`): one delivery short of it, so the last one the broker
   * makes is set aside (kept) instead of run and then dropped.
   */
  private maxDeliveries(delivery: Delivery): number | null {
    const max = this.app.settings.workerMaxDeliveries;
    const own = delivery.maxDeliveries;
    if (own === undefined || own < 2) return max;
    return max === null ? own - 1 : Math.min(max, own - 1);
  }

  private async settleOtherwise(delivery: Delivery, message: TaskMessage | null, action: Exclude<SettleAction, 'ack'>, cause: Error | null): Promise<void> {
    const max = this.maxDeliveries(delivery);
    switch (action) {
      case 'defer':
        // Nothing else would move a deferred message: a failure goes up, and it is given back (Executor.handle).
        return delivery.defer(parseIsoTime(message?.headers.eta ?? ''));
      case 'redeliver':
        return this.redeliver(delivery, cause ?? new Error('the worker could not finish handling the message'), message);
      case 'dead-letter':
        return this.deadLetter(delivery, cause?.message ?? `delivered ${String(delivery.deliveryCount)} times (${limitText(delivery, max)})`, message);
      case 'set-aside':
        return delivery.setAside(cause?.message ?? 'not a task message');
      case 'requeue':
        // The task asked for it (Reject with requeue): at once, as Celery; but not forever.
        if (max !== null && (delivery.deliveryCount ?? 0) >= max) {
          return this.deadLetter(delivery, `requeued by the task ${delivery.deliveryCount ?? ''} times (${limitText(delivery, max)})`, message);
        }
    }
    try {
      if (action === 'reject') await delivery.reject({ requeue: false });
      else if (action === 'requeue') await delivery.reject({ requeue: true });
      else await delivery.restore();
    } catch (err) {
      this.log.error({ err: coerceError(err), tag: delivery.tag, action }, 'could not settle message');
    }
  }

  /**
   * Gives a message back for a worker-side failure: delivered again after a backoff, or
   * dead-lettered once it reached `workerMaxDeliveries` (see worker/redelivery.ts).
   */
  private async redeliver(delivery: Delivery, cause: Error, message: TaskMessage | null): Promise<void> {
    const { app, log } = this;
    const count = this.counts.failed(delivery);
    const max = this.maxDeliveries(delivery);
    const taskId = message?.headers.id;
    if (max !== null && count >= max) {
      await this.deadLetter(delivery, `delivered ${count} times (${limitText(delivery, max)}); last failure: ${cause.message}`, message);
      return;
    }
    const delayMs = redeliveryDelayMs(count, app.settings.workerRedeliveryDelaySec * 1000);
    log.error({ err: cause, tag: delivery.tag, taskId, deliveries: count, maxDeliveries: max, retryInMs: delayMs }, `could not finish handling a message (delivery ${count}); it will be delivered again in ${delayMs / 1000}s`);
    try {
      await delivery.defer(app.clock.now() + delayMs, { redelivered: true });
    } catch (err) {
      // Already settled (an early ack: the task ran, its state could not be stored), or the
      // broker is gone: a held message comes back by its lease.
      log.warn({ err: coerceError(err), tag: delivery.tag, taskId }, 'could not give the message back');
    }
  }

  /**
   * Sets a message aside for good with `reason`. Its task ends as a failure wherever it was
   * seen: FAILURE stored when the backend takes it, `task-failed` sent (monitors showed it
   * RECEIVED or STARTED for good), and its chord or chain told (a chord waited for ever).
   */
  private async deadLetter(delivery: Delivery, reason: string, message: TaskMessage | null): Promise<void> {
    const { app, log } = this;
    this.counts.forget(delivery.tag);
    log.error({ tag: delivery.tag, queue: delivery.queue, taskId: message?.headers.id, reason }, 'message dead-lettered: it will not be delivered again');
    if (message !== null) {
      const error = Object.assign(new Error(reason), { name: 'DeliveryLimitExceeded' });
      const record = { exc_type: 'DeliveryLimitExceeded', exc_message: [reason], exc_module: null };
      const warn = (what: string) => (err: unknown) => log.warn({ err: coerceError(err), taskId: message.headers.id }, `could not ${what} for the dead-lettered message`);
      await this.writer.storeFinal(message, delivery.queue, 'FAILURE', record, null, []).catch(warn('store FAILURE'));
      this.emit({ type: 'task-failed', message, error, traceback: null });
      await afterFinalState(app, message, 'FAILURE', record)?.catch(warn('report FAILURE to its chord or chain'));
    }
    try {
      await delivery.setAside(reason, { category: 'dead-letter' });
    } catch (err) {
      // Not lost: held until its lease runs out, or deferred as long as we may.
      log.error({ err: coerceError(err), tag: delivery.tag }, 'could not dead-letter the message; holding it back instead');
      await delivery.defer(app.clock.now() + MAX_REDELIVERY_DELAY_MS, { redelivered: true }).catch(() => undefined);
    }
  }
}

/** The limit a dead letter's reason names. */
function limitText(delivery: Delivery, max: number | null): string {
  const own = delivery.maxDeliveries;
  return own !== undefined && own - 1 === max ? `x-delivery-limit ${max} of the queue` : `workerMaxDeliveries ${String(max)}`;
}
