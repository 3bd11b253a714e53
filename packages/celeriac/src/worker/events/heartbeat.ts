/**
 * @module worker/events/heartbeat
 * The worker's presence on the event bus: `worker-online` at start, `worker-heartbeat`
 * every `freq` seconds (2 by default, as Celery), `worker-offline` at shutdown. Monitors
 * (`celery events`, Flower, `celeriac events`) consider a worker gone after 2 x freq
 * without a heartbeat.
 */
import { loadavg, platform } from 'node:os';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { CELERIAC_VERSION } from '../version.js';
import type { EventDispatcher } from './event-dispatcher.js';

/** Software identity sent in worker events. */
export const SW_IDENT = 'celeriac';

/** Python's `platform.system()` names for Node's platform ids. */
function swSys(): string {
  const p = platform();
  return p === 'linux' ? 'Linux' : p === 'darwin' ? 'Darwin' : p === 'win32' ? 'Windows' : p;
}

/** Live numbers a heartbeat reports. */
export interface HeartbeatSource {
  /** Tasks running now. */
  active(): number;
  /** Tasks finished since start. */
  processed(): number;
}

/** Sends the worker events on a timer. */
export class Heartbeat {
  #timer: TimerHandle | undefined;
  #running = false;

  constructor(
    private readonly dispatcher: EventDispatcher,
    private readonly clock: Clock,
    private readonly source: HeartbeatSource,
    /** Seconds between heartbeats. */
    readonly freq: number = 2,
  ) {}

  #fields(): Record<string, number | string | number[]> {
    const load = loadavg().map((n) => Math.round(n * 100) / 100);
    return {
      freq: this.freq, active: this.source.active(), processed: this.source.processed(), loadavg: load,
      sw_ident: SW_IDENT, sw_ver: CELERIAC_VERSION, sw_sys: swSys(),
    };
  }

  /** Sends `worker-online` and starts the heartbeat timer. */
  async start(): Promise<void> {
    this.#running = true;
    await this.dispatcher.send('worker-online', this.#fields());
    this.#arm();
  }

  #arm(): void {
    if (!this.#running) return;
    this.#timer = this.clock.setTimer(() => {
      void this.beat().finally(() => this.#arm());
    }, this.freq * 1000);
  }

  /** Sends one `worker-heartbeat` now (also what the `heartbeat` control command does). */
  beat(): Promise<void> {
    return this.dispatcher.send('worker-heartbeat', this.#fields());
  }

  /** Stops the timer without saying goodbye (also safe when {@link Heartbeat.stop} follows). */
  halt(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /** Stops the timer and sends `worker-offline`. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.halt();
    await this.dispatcher.send('worker-offline', this.#fields());
  }
}
