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
 *
 * By default each message is handed on as it arrives. With `maxPendingBytes` (the dashboard)
 * messages wait in a bounded queue, drained a few at a time per event-loop turn so a slow
 * listener neither starves the process's other work nor lets the broker's pub/sub backlog grow
 * (Redis would drop the subscriber past its output-buffer limit, losing events uncounted):
 * a message that finds the queue full is shed, undecoded, and counted ({@link shedMessages}).
 * A listener that is itself behind (the dashboard's writes to its history) can {@link pause}
 * the hand-on: messages then wait in the queue as received, raw text being the most compact
 * form of an event, until {@link resume}. While paused, a message that finds the queue full
 * is not shed: the oldest waiting ones are handed on to make room ({@link overflowMessages}),
 * so the listener, past its own bound, decides what to give up (the dashboard keeps every
 * task's final state and gives up timeline entries first). Worker heartbeats are never held:
 * they say which workers are alive, whatever the listener's backlog.
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
  /**
   * Queue received messages, at most this many characters of them, and shed (count and drop)
   * what arrives past it. @default undefined: no queue, each message is handed on as received
   */
  maxPendingBytes?: number;
  /** With `maxPendingBytes`: messages handed on per event-loop turn. @default 32 */
  drainBatch?: number;
  /** With `maxPendingBytes`: schedules the next drain. @default setImmediate */
  schedule?: (drain: () => void) => void;
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
  /** The subscription start() is making: a second start() waits for it instead of making another. */
  #starting: Promise<void> | undefined;
  /** close() calls so far: a subscription made across one is undone as soon as it is made. */
  #closes = 0;
  /** Received messages waiting (with `maxPendingBytes`), oldest first from `#head`. */
  #pending: string[] = [];
  #head = 0;
  #drainScheduled = false;
  #paused = false;
  /** Characters of the messages waiting. */
  pendingBytes = 0;
  /** Messages shed because the queue was full (never decoded, so their events are not known). */
  shedMessages = 0;
  /** Characters of the messages shed. */
  shedBytes = 0;
  /** Messages handed on while paused, to make room in a full queue. */
  overflowMessages = 0;

  constructor(broker: Broker, listener: EventListener, options: EventReceiverOptions = {}) {
    this.#broker = broker;
    this.#listener = listener;
    this.#clock = options.clock ?? systemClock;
    this.#options = options;
    this.#utcoffset = options.utcoffset ?? utcOffsetHours(new Date(this.#clock.now()).getTimezoneOffset());
  }

  /** Subscribes (and wakes the workers). Idempotent, also while a start is under way. */
  start(): Promise<void> {
    if (this.#unsubscribe !== undefined) return Promise.resolve();
    this.#starting ??= this.#subscribe().finally(() => (this.#starting = undefined));
    return this.#starting;
  }

  async #subscribe(): Promise<void> {
    const closes = this.#closes;
    const queued = this.#options.maxPendingBytes !== undefined;
    const unsubscribe = await this.#broker.subscribeFanout(EVENT_EXCHANGE, this.#options.bindingKey ?? '#', (raw, routingKey) => (queued ? this.#enqueue(raw, routingKey) : this.#receive(raw)));
    // close() ran while the subscription was being made, with nothing to undo yet.
    if (this.#closes !== closes) return unsubscribe();
    this.#unsubscribe = unsubscribe;
    if (this.#options.wakeup ?? true) await new ControlClient(this.#broker, { clock: this.#clock }).broadcast('heartbeat');
  }

  /** Stops listening (a subscription still being made is undone once made). */
  async close(): Promise<void> {
    this.#closes++;
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    this.#pending = [];
    this.#head = 0;
    this.pendingBytes = 0;
    this.#paused = false;
    await unsubscribe?.();
  }

  /** Messages waiting to be handed on. */
  get pending(): number {
    return this.#pending.length - this.#head;
  }

  /** Whether the hand-on is paused ({@link pause}). */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * With `maxPendingBytes`: stops handing messages on (the one being handed on finishes);
   * they wait in the queue until {@link resume}. May be called from the listener.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Hands on what waits again, from the next event-loop turn. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#scheduleDrain();
  }

  #enqueue(raw: string, routingKey: string): void {
    // Paused, heartbeats are handed on at once: held, they made every live worker look offline
    // (a dashboard whose database was full or down). Few and small; online and offline keep
    // their place behind the task events they follow.
    if (this.#paused && routingKey === 'worker.heartbeat') return this.#receive(raw);
    const max = this.#options.maxPendingBytes as number;
    if (this.pendingBytes + raw.length > max) {
      if (!this.#paused) {
        this.shedMessages++;
        this.shedBytes += raw.length;
        return;
      }
      // Paused and full: the oldest make room, handed on to a listener that must shed itself.
      while (this.pending > 0 && this.pendingBytes + raw.length > max && this.#unsubscribe !== undefined) {
        this.overflowMessages++;
        this.#handOnOldest();
      }
      this.#compact();
      if (this.pendingBytes + raw.length > max) {
        this.overflowMessages++;
        this.#receive(raw);
        return;
      }
    }
    this.#pending.push(raw);
    this.pendingBytes += raw.length;
    this.#scheduleDrain();
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled || this.#paused || this.pending === 0) return;
    this.#drainScheduled = true;
    (this.#options.schedule ?? setImmediate)(() => this.#drain());
  }

  #handOnOldest(): void {
    const raw = this.#pending[this.#head] as string;
    this.#pending[this.#head++] = '';
    this.pendingBytes -= raw.length;
    this.#receive(raw);
  }

  #compact(): void {
    if (this.#head >= this.#pending.length) {
      this.#pending = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }

  #drain(): void {
    this.#drainScheduled = false;
    const end = Math.min(this.#pending.length, this.#head + (this.#options.drainBatch ?? 32));
    while (this.#head < end && this.#unsubscribe !== undefined && !this.#paused) this.#handOnOldest();
    this.#compact();
    this.#scheduleDrain();
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
