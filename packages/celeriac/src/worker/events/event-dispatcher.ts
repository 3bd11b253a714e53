/**
 * @module worker/events/event-dispatcher
 * Sends Celery events from a worker on the `celeryev` fanout exchange (docs/protocol.md
 * §4): worker events (online, heartbeat, offline) one by one, task events batched as
 * `task.multi` arrays like a Python worker does (sent {@link TASK_BATCH_WAIT_MS} after the
 * batch's first event, or at once at {@link TASK_BATCH_MAX} events or
 * {@link TASK_BATCH_MAX_CHARS} of JSON), so a worker publishes far fewer messages. Task events are written into the batch's bytes as they
 * come (event-text.ts), not kept as dicts.
 *
 * Task events are only sent while enabled (`-E`, `workerSendTaskEvents`, the
 * `enable_events` / `disable_events` commands); worker events always are, so monitors see
 * the worker. Sending never throws: an unreachable broker costs events, never tasks.
 *
 * Nobody listening, nothing built: when a batch of task events reached no subscriber (a broker
 * that can tell: Redis, memory), the task events of the next {@link QUIET_EVENTS_MS} are
 * dropped unwritten, then the next batch is sent and asks again. A worker started with `-E`
 * for a monitor that is not running costs what it costs without `-E`, where it paid a third
 * more CPU per task for events published to nobody; a monitor that subscribes gets task events
 * from at most that long after.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { Broker } from '../../core/spi/broker.js';
import { coerceError } from '../../errors.js';
import {
  buildEvent,
  encodeEventEnvelope,
  EVENT_EXCHANGE,
  eventRoutingKey,
  TASK_MULTI_ROUTING_KEY,
  utcOffsetHours,
  type EventDict,
} from '../../protocol/events.js';
import { TaskEventBatch } from './event-text.js';
import { writeTaskEventFields } from './task-event-fields.js';
import type { LamportClock } from '../../protocol/lamport-clock.js';
import type { Json } from '../../protocol/types.js';
import type { TaskEvent } from '../task-events.js';

/**
 * Most task events in one `task.multi` message. Python flushes at 24; receivers (Celery's
 * EventReceiver, Flower, ours) take a list of any length, and a busy worker (c=100 ends
 * dozens of tasks per turn) then publishes once per turn instead of a dozen times: in a
 * 5,000-task drain, 100 publishes instead of 680.
 */
export const TASK_BATCH_MAX = 256;

/**
 * Most JSON text in one batch, whatever the count: task events carry reprs of up to 1 KiB and
 * whole tracebacks, and 256 failures with long tracebacks would make a message of megabytes
 * that every monitor must take in one piece (Redis disconnects a subscriber whose output
 * buffer passes 8 MB for a minute by default).
 */
export const TASK_BATCH_MAX_CHARS = 256 * 1024;

/**
 * Longest a task event waits for others to join its batch (ms). A Python worker sends its batch
 * on the next turn of its event loop; so did this one, which at -c 1 was one or two messages per
 * task, each a socket write that wakes Redis and every monitor (+34 % of worker CPU per task
 * with -E at -c 1, 2026-11-26). Held this long, a busy worker's batches still fill up to
 * {@link TASK_BATCH_MAX} first, and a monitor sees a quiet worker's task events this much later.
 */
export const TASK_BATCH_WAIT_MS = 10;

/** How long task events are dropped unwritten after a batch reached no subscriber. */
export const QUIET_EVENTS_MS = 250;

/** What the dispatcher needs. */
export interface EventDispatcherHost {
  readonly broker: Broker;
  readonly hostname: string;
  /** Wall time for `timestamp` and `utcoffset`. */
  readonly clock: Clock;
  /** The worker's Lamport clock (shared with the mailbox). */
  readonly lamport: LamportClock;
  readonly log: Logger;
}

/** The worker's event sender. */
export class EventDispatcher {
  #taskEvents: boolean;
  /** Task events of the batch being gathered, written as they come. */
  readonly #batch = new TaskEventBatch();
  /** Sends the batch {@link TASK_BATCH_WAIT_MS} after its first event (real time: see #now). */
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #flushSoon = (): void => this.flush();
  readonly #pending = new Set<Promise<void>>();
  #failures = 0;
  /** Until when (#now() ms) task events are dropped: the last batch reached nobody. */
  #quietUntil = 0;
  /**
   * Real time by default, not the host's clock: this is about who listens now, and a fake
   * clock a test holds still would otherwise keep task events dropped for good.
   */
  readonly #now: () => number;

  constructor(private readonly host: EventDispatcherHost, options: { taskEvents: boolean; monotonicNow?: () => number }) {
    this.#taskEvents = options.taskEvents;
    this.#now = options.monotonicNow ?? (() => performance.now());
  }

  /** Whether task events are being sent. */
  get taskEventsEnabled(): boolean {
    return this.#taskEvents;
  }

  /** Turns task events on or off; returns false when already so. */
  setTaskEvents(enabled: boolean): boolean {
    if (this.#taskEvents === enabled) return false;
    this.#taskEvents = enabled;
    return true;
  }

  /** Builds an event dict stamped now with the next clock value. */
  build(type: string, fields: Record<string, Json | undefined>): EventDict {
    const now = this.host.clock.now();
    return buildEvent(type, {
      hostname: this.host.hostname,
      utcoffset: utcOffsetHours(new Date(now).getTimezoneOffset()),
      pid: process.pid,
      clock: this.host.lamport.forward(),
      timestamp: now / 1000,
    }, fields);
  }

  /** Sends a worker (or any non-task) event now. */
  send(type: string, fields: Record<string, Json | undefined>): Promise<void> {
    const routingKey = eventRoutingKey(type);
    let raw: string;
    try {
      raw = encodeEventEnvelope(this.build(type, fields), { hostname: this.host.hostname, routingKey, deliveryTag: randomUUID() });
    } catch (err) {
      this.#dropped(err);
      return Promise.resolve();
    }
    return this.#publish(routingKey, raw);
  }

  /** Queues a worker task event for the next batch; dropped while task events are disabled. */
  sendTaskEvent(event: TaskEvent): void {
    if (this.#taskEvents && !this.#quiet()) this.#add(event.type, event, null);
  }

  /** Queues a task event given by its fields for the next batch; dropped while task events are disabled. */
  sendTask(type: string, fields: Record<string, Json | undefined>): void {
    if (this.#taskEvents && !this.#quiet()) this.#add(type, null, fields);
  }

  /** Whether task events are dropped now because the last batch reached no subscriber. */
  #quiet(): boolean {
    if (this.#quietUntil === 0) return false;
    if (this.#now() < this.#quietUntil) return true;
    this.#quietUntil = 0;
    return false;
  }

  /** Publishes buffered task events now. */
  flush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#batch.count === 0) return;
    void this.#publish(TASK_MULTI_ROUTING_KEY, this.#batch.envelope(this.host.hostname, TASK_MULTI_ROUTING_KEY, randomUUID()), true);
  }

  /** Flushes and waits for every publish in flight. */
  async close(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.#pending]);
  }

  /** An event whose values cannot be written as JSON (none of the engine's): logged, never thrown. */
  #dropped(err: unknown): void {
    this.host.log.warn({ err: coerceError(err) }, 'could not encode an event; dropped it');
  }

  /** Writes one task event into the batch (from the worker's event, or else from fields). */
  #add(type: string, event: TaskEvent | null, fields: Record<string, Json | undefined> | null): void {
    const now = this.host.clock.now();
    const batch = this.#batch;
    // One batch is sent within one turn of the event loop: its events share the time zone.
    if (batch.count === 0) batch.begin(this.host.hostname, utcOffsetHours(new Date(now).getTimezoneOffset()), process.pid);
    batch.open(this.host.lamport.forward());
    try {
      if (event !== null) writeTaskEventFields(event, batch);
      else if (fields !== null) batch.fields(fields);
      batch.close(type, now);
    } catch (err) {
      batch.abandon();
      this.#dropped(err);
      return;
    }
    if (batch.count >= TASK_BATCH_MAX || batch.length >= TASK_BATCH_MAX_CHARS) this.flush();
    else if (this.#flushTimer === undefined) this.#flushTimer = setTimeout(this.#flushSoon, TASK_BATCH_WAIT_MS).unref();
  }

  #publish(routingKey: string, raw: string | Buffer, taskEvents = false): Promise<void> {
    // One promise per publish, not three (then, catch, finally): a worker at c=1 publishes per task.
    const p: Promise<void> = this.host.broker.publishFanout(EVENT_EXCHANGE, routingKey, raw).then(
      (reached) => {
        if (taskEvents) {
          if (reached === 0) this.#quietUntil = this.#now() + QUIET_EVENTS_MS;
          // Sent and answered: the broker is done with the bytes (a failed publish's are left alone).
          this.#batch.recycle(raw as Buffer);
        }
        this.#failures = 0;
        this.#pending.delete(p);
      },
      (err: unknown) => {
        // One line per outage, not one per event.
        if (this.#failures++ === 0) this.host.log.warn({ err: coerceError(err) }, 'could not send events; dropping them until the broker is back');
        this.#pending.delete(p);
      },
    );
    this.#pending.add(p);
    return p;
  }
}
