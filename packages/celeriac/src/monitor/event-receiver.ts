/**
 * @module monitor/event-receiver
 * Receives Celery events (docs/protocol.md §4) from the `celeryev` exchange: single events
 * and `task.multi` batches, from Celeriac and Python senders alike. Each event is prepared as
 * Celery's receiver does before handing it on: its `timestamp` is moved into this host's
 * time zone, its `clock` is merged into the receiver's Lamport clock (a client's `task-sent`
 * gets a clock of ours, since clients never sync), and `local_received` is stamped.
 *
 * On start it broadcasts the `heartbeat` control command, so workers announce themselves at
 * once instead of at their next heartbeat, as `celery events` does.
 */
import { systemClock, type Clock } from '../core/clock.js';
import type { Broker, Unsubscribe } from '../core/spi/broker.js';
import { EVENT_EXCHANGE, decodeEventEnvelope, utcOffsetHours, type EventDict } from '../protocol/events.js';
import { LamportClock } from '../protocol/lamport-clock.js';
import { ControlClient } from './control-client.js';

/** Called once per event, with the local receive time in epoch ms. Must not throw. */
export type EventListener = (event: EventDict, receivedAt: number) => void;

/** Options of {@link EventReceiver}. */
export interface EventReceiverOptions {
  /** Source of time for `local_received`. @default systemClock */
  clock?: Clock;
  /** Which events, by routing key (`task.#`, `worker.heartbeat`...). @default '#' (all) */
  bindingKey?: string;
  /** Broadcast `heartbeat` on start so workers show up at once. @default true */
  wakeup?: boolean;
  /** This host's `utcoffset` (hours west of UTC). @default from the local time zone */
  utcoffset?: number;
  /** Called with envelopes that cannot be decoded. @default ignore them */
  onError?: (error: Error) => void;
}

// Celery's CLIENT_CLOCK_SKEW: a task-sent event is dated just before what we know.
const CLIENT_CLOCK_SKEW = -1;

/**
 * Prepares a received event in place, as Celery's `event_from_message`: clock, timestamp
 * adjusted by `(sender utcoffset - ours) * 3600`, `local_received` in epoch seconds.
 */
export function prepareEvent(event: EventDict, lamport: LamportClock, ours: number, nowMs: number): EventDict {
  if (event.type === 'task-sent') {
    const clock = (lamport.value || 1) + CLIENT_CLOCK_SKEW;
    event['clock'] = clock;
    lamport.adjust(clock);
  } else if (typeof event['clock'] === 'number') {
    lamport.adjust(event['clock']);
  } else {
    event['clock'] = lamport.forward();
  }
  const { utcoffset, timestamp } = event;
  if (typeof utcoffset === 'number' && typeof timestamp === 'number') event['timestamp'] = timestamp - (utcoffset - ours) * 3600;
  event['local_received'] = nowMs / 1000;
  return event;
}

/** Listens to the event stream of one broker. */
export class EventReceiver {
  readonly #broker: Broker;
  readonly #listener: EventListener;
  readonly #clock: Clock;
  readonly #options: EventReceiverOptions;
  readonly #lamport = new LamportClock();
  readonly #utcoffset: number;
  #unsubscribe: Unsubscribe | undefined;

  constructor(broker: Broker, listener: EventListener, options: EventReceiverOptions = {}) {
    this.#broker = broker;
    this.#listener = listener;
    this.#clock = options.clock ?? systemClock;
    this.#options = options;
    this.#utcoffset = options.utcoffset ?? utcOffsetHours(new Date(this.#clock.now()).getTimezoneOffset());
  }

  /** Subscribes (and wakes the workers). Idempotent. */
  async start(): Promise<void> {
    if (this.#unsubscribe !== undefined) return;
    this.#unsubscribe = await this.#broker.subscribeFanout(EVENT_EXCHANGE, this.#options.bindingKey ?? '#', (raw) => this.#receive(raw));
    if (this.#options.wakeup ?? true) await new ControlClient(this.#broker, { clock: this.#clock }).broadcast('heartbeat');
  }

  /** Stops listening. */
  async close(): Promise<void> {
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    await unsubscribe?.();
  }

  #receive(raw: string): void {
    let events: EventDict[];
    try {
      events = decodeEventEnvelope(raw);
    } catch (error) {
      this.#options.onError?.(error as Error);
      return;
    }
    for (const event of events) {
      const now = this.#clock.now();
      this.#listener(prepareEvent(event, this.#lamport, this.#utcoffset, now), now);
    }
  }
}
