/**
 * @module worker/control/worker-remote
 * Everything that makes a worker visible to and steerable by Celery's tools, in one part
 * with `start()` / `stop()`: the Lamport clock, the event dispatcher (task events from
 * `worker.onTaskEvent`, worker-online / heartbeat / offline) and the pidbox mailbox.
 */
import type { Logger } from 'pino';
import type { App } from '../../core/app.js';
import { systemClock } from '../../core/clock.js';
import type { Consumer } from '../../core/spi/broker.js';
import { coerceError } from '../../errors.js';
import { LamportClock } from '../../protocol/lamport-clock.js';
import type { TaskPool } from '../pools/types.js';
import { EventDispatcher } from '../events/event-dispatcher.js';
import { Heartbeat } from '../events/heartbeat.js';
import type { JobView } from '../job.js';
import type { TaskEvent } from '../task-events.js';
import { Mailbox } from './mailbox.js';
import { WorkerControlTarget, type WorkerParts } from './worker-control-target.js';

/** What the remote part needs from its worker. */
export interface WorkerRemoteHost {
  readonly app: App;
  readonly hostname: string;
  readonly log: Logger;
  readonly pool: TaskPool;
  readonly queues: readonly string[];
  readonly prefetchMultiplier: number;
  /** Send task events from the start (`-E`). */
  readonly sendTaskEvents: boolean;
  /** Answer remote control (`workerEnableRemoteControl`). */
  readonly remoteControl: boolean;
  jobs(): Iterable<JobView>;
  consumer(): Consumer | null;
  totals(): ReadonlyMap<string, number>;
  active(): number;
  close(): void;
  revoke: WorkerParts['revoke'];
  revokedIds: WorkerParts['revokedIds'];
  mergeRevoked: WorkerParts['mergeRevoked'];
  setRateLimit: WorkerParts['setRateLimit'];
  setTimeLimit: WorkerParts['setTimeLimit'];
  prefetchSlots: WorkerParts['prefetchSlots'];
  autoscaleRange: WorkerParts['autoscaleRange'];
  setAutoscale: WorkerParts['setAutoscale'];
}

/** How long {@link WorkerRemote.stop} may take before the shutdown goes on without it. */
const STOP_DEADLINE_MS = 3000;

/** Lifecycle of the remote part. */
export type WorkerRemoteState = 'idle' | 'running' | 'stopped';

/** Events + remote control of one worker. */
export class WorkerRemote {
  readonly lamport = new LamportClock();
  readonly events: EventDispatcher;
  readonly heartbeat: Heartbeat;
  readonly target: WorkerControlTarget;
  readonly #mailbox: Mailbox | null;
  #state: WorkerRemoteState = 'idle';

  constructor(private readonly host: WorkerRemoteHost) {
    const { app, hostname, log } = host;
    this.events = new EventDispatcher({ broker: app.broker, hostname, clock: app.clock, lamport: this.lamport, log }, { taskEvents: host.sendTaskEvents });
    // Heartbeats tell other processes this one is alive, so they run on wall time even when
    // the app's clock is a test's fake one (event timestamps still come from app.clock).
    this.heartbeat = new Heartbeat(this.events, systemClock, {
      active: () => host.active(),
      processed: () => [...host.totals().values()].reduce((a, b) => a + b, 0),
    });
    this.target = new WorkerControlTarget({
      app, hostname, log, lamport: this.lamport, pool: host.pool, prefetchMultiplier: host.prefetchMultiplier, queues: host.queues,
      jobs: () => host.jobs(), consumer: () => host.consumer(), totals: () => host.totals(),
      setTaskEvents: (on) => this.events.setTaskEvents(on), heartbeat: () => this.heartbeat.beat(), close: () => host.close(),
      revoke: (ids, options) => host.revoke(ids, options), revokedIds: () => host.revokedIds(),
      mergeRevoked: (ids) => host.mergeRevoked(ids), setRateLimit: (name, limit) => host.setRateLimit(name, limit),
      setTimeLimit: (name, limits) => host.setTimeLimit(name, limits),
      prefetchSlots: () => host.prefetchSlots(), autoscaleRange: () => host.autoscaleRange(), setAutoscale: (range) => host.setAutoscale(range),
    });
    this.#mailbox = host.remoteControl ? new Mailbox(app.broker, this.target, log) : null;
  }

  /** Current state. */
  get state(): WorkerRemoteState {
    return this.#state;
  }

  /** Forwards one worker task event as a Celery event (dropped unless task events are on). */
  onTaskEvent(event: TaskEvent): void {
    // Checked first: building the fields (reprs) costs more than the hot path should pay for nothing.
    if (this.#state === 'stopped' || !this.events.taskEventsEnabled) return;
    this.events.sendTaskEvent(event);
  }

  /** Subscribes the mailbox, sends worker-online and starts heartbeats. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    await this.#mailbox?.start();
    // stop() ran while the mailbox subscribed: it found no heartbeat to stop, so none may start.
    if ((this.#state as WorkerRemoteState) !== 'running') return;
    await this.heartbeat.start();
  }

  /**
   * Stops the mailbox, flushes task events and sends worker-offline. Never throws, and
   * gives up after `deadlineMs` (a broker that is down must not hold the shutdown).
   */
  async stop(deadlineMs = STOP_DEADLINE_MS): Promise<void> {
    if (this.#state !== 'running') {
      this.#state = 'stopped';
      return;
    }
    const goodbye = (async () => {
      await this.#mailbox?.stop();
      await this.events.close();
      await this.heartbeat.stop();
      await this.events.close();
    })().catch((err: unknown) => this.host.log.warn({ err: coerceError(err) }, 'could not say goodbye on the event bus'));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.host.log.warn('events and remote control did not stop in time; going on with the shutdown');
        resolve();
      }, deadlineMs);
      timer.unref();
    });
    await Promise.race([goodbye, late]);
    clearTimeout(timer);
    // A goodbye stuck on a dead connection must not leave heartbeats ticking after the close.
    this.heartbeat.halt();
    this.#state = 'stopped';
  }
}
