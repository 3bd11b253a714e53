/**
 * @module worker/control/mailbox
 * The worker's pidbox node (docs/protocol.md §5): receives control requests broadcast on
 * the `celery.pidbox` fanout exchange, keeps the ones addressed to this node, runs the
 * command and, when the request carries a ticket and `reply_to`, publishes
 * `{nodename: result}` to the requester's reply queue through `reply.celery.pidbox`.
 *
 * Like kombu, the node does not check `headers.expires` (the client drops late replies),
 * and a failing command answers `{"error": "<Python-style repr>"}` instead of crashing.
 */
import type { Logger } from 'pino';
import type { Broker, Unsubscribe } from '../../core/spi/broker.js';
import { coerceError } from '../../errors.js';
import type { LamportClock } from '../../protocol/lamport-clock.js';
import { buildControlReply, CONTROL_EXCHANGE, decodeControlRequest, isAddressedTo, mailboxQueueName, type ControlRequest } from '../../protocol/pidbox.js';
import { pyStrRepr } from '../../protocol/repr.js';
import type { Json } from '../../protocol/types.js';
import type { ControlTarget } from './control-target.js';
import { HANDLERS } from './control-handlers.js';
import { NO_REPLY, type ControlHandler } from './inspect-handlers.js';

/** Lifecycle: subscribed between start and stop. */
export type MailboxState = 'idle' | 'listening' | 'stopped';

/** Python's `repr(exc)` of a handler failure, e.g. `KeyError('nosuchcmd')`. */
function errorRepr(error: unknown): string {
  const err = coerceError(error);
  const name = err.name === 'Error' || err.name === '' ? 'Exception' : err.name;
  return `${name}(${pyStrRepr(err.message)})`;
}

/** The worker's remote-control endpoint. */
export class Mailbox {
  #state: MailboxState = 'idle';
  #unsubscribe: Unsubscribe | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(
    private readonly broker: Broker,
    private readonly target: ControlTarget,
    private readonly log: Logger,
    private readonly handlers: Readonly<Record<string, ControlHandler>> = HANDLERS,
  ) {}

  /** Current state. */
  get state(): MailboxState {
    return this.#state;
  }

  #lamport(): LamportClock {
    return this.target.lamport;
  }

  /** Binds the node's queue (as kombu records it) and subscribes to requests. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    await this.broker.bindQueue(mailboxQueueName(this.target.hostname), CONTROL_EXCHANGE, '');
    this.#state = 'listening';
    const unsubscribe = await this.broker.subscribeFanout(CONTROL_EXCHANGE, '', (raw) => this.#receive(raw));
    // stop() ran while subscribing: undo it here, stop() had nothing to cancel yet.
    if ((this.#state as MailboxState) === 'stopped') await unsubscribe();
    else this.#unsubscribe = unsubscribe;
  }

  /** Unsubscribes, removes the binding and waits for commands being handled. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasListening = this.#state === 'listening';
    this.#state = 'stopped';
    await this.#unsubscribe?.();
    await Promise.allSettled([...this.#inFlight]);
    if (wasListening) {
      await this.broker.unbindQueue(mailboxQueueName(this.target.hostname), CONTROL_EXCHANGE, '').catch((err: unknown) => {
        this.log.warn({ err: coerceError(err) }, 'could not remove the pidbox binding');
      });
    }
  }

  #receive(raw: string): void {
    if (this.#state !== 'listening') return;
    const p = this.handle(raw).finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  /** Handles one request envelope: filter, run, reply. Never throws. */
  async handle(raw: string): Promise<void> {
    let request: ControlRequest;
    try {
      const decoded = decodeControlRequest(raw);
      request = decoded.request;
      if (!isAddressedTo(request, this.target.hostname)) return;
      this.#lamport().adjust(decoded.clock ?? 0);
    } catch (err) {
      this.log.warn({ err: coerceError(err) }, 'ignoring a malformed control request');
      return;
    }
    const result = await this.#run(request);
    if (result === NO_REPLY || request.ticket === undefined || request.reply_to === undefined) return;
    await this.#reply(request, result);
  }

  async #run(request: ControlRequest): Promise<Json | typeof NO_REPLY> {
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, request.method) ? this.handlers[request.method] : undefined;
    this.log.debug({ method: request.method }, 'control command');
    try {
      if (handler === undefined) throw Object.assign(new Error(request.method), { name: 'KeyError' });
      return await handler(this.target, request.arguments);
    } catch (err) {
      if (handler !== undefined) this.log.error({ err: coerceError(err), method: request.method }, 'control command failed');
      return { error: errorRepr(err) };
    }
  }

  async #reply(request: ControlRequest, result: Json): Promise<void> {
    const replyTo = request.reply_to as NonNullable<ControlRequest['reply_to']>;
    if (replyTo.routing_key === '') return;
    const message = buildControlReply(this.target.hostname, result, { ticket: request.ticket as string, clock: this.#lamport().forward() });
    try {
      await this.broker.publish(message, { exchange: replyTo.exchange, routingKey: replyTo.routing_key, dropUnrouted: true });
    } catch (err) {
      this.log.warn({ err: coerceError(err), method: request.method }, 'could not send a control reply');
    }
  }
}
