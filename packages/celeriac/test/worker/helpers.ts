/**
 * Shared helpers of the worker integration tests: an isolated app per test (its own memory
 * broker and backend, optionally a fake clock), a logger that captures lines, a broker
 * wrapper recording how every delivery was settled, and bounded polling.
 */
import { pino, type Logger } from 'pino';
import {
  createApp,
  Worker,
  type App,
  type Settings,
  type WorkerOptions,
} from 'celeriac';
import { MemoryBackend, MemoryBroker } from 'celeriac/memory';
import {
  type Broker,
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  type PublishOptions,
  type SetAsideRecord,
} from 'celeriac/spi';
import { FakeClock, waitFor } from 'celeriac/testing';
import type { Message } from '../../src/protocol/types.js';
import type { RunHandle } from '../../src/worker/pools/types.js';

/** One captured pino line. */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger that keeps every line (as parsed JSON) in `lines`. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (text: string) => void lines.push(JSON.parse(text) as LogLine) });
  return { logger, lines };
}

/** A logger that prints nothing. */
export const silentLogger = (): Logger => pino({ level: 'silent' });

/** How a delivery was settled (or that it arrived), in the order it happened. */
export interface BrokerEvent {
  kind: 'deliver' | 'ack' | 'reject' | 'restore' | 'defer' | 'setAside';
  tag: string;
  /** `headers.id` of the envelope, when it can be read. */
  taskId: string | null;
  queue: string;
  requeue?: boolean;
  deliverAt?: number;
  reason?: string;
}

function taskIdOf(raw: string): string | null {
  try {
    const id = (JSON.parse(raw) as { headers?: { id?: unknown } }).headers?.id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/**
 * A {@link Broker} in front of a {@link MemoryBroker} that records every delivery and its
 * settlement into `events`, and into an optional shared `timeline` as `kind:taskId`.
 * `onDelivered` runs right after the worker received a delivery.
 */
export class RecordingBroker implements Broker {
  readonly kind = 'memory';
  readonly events: BrokerEvent[] = [];
  /** Settlements as asked for (`kind:taskId`), before they complete. */
  readonly requested: string[] = [];
  onDelivered: ((delivery: Delivery) => void) | null = null;
  /** When set, a settlement waits for it (and fails with it) before reaching the memory broker. */
  beforeSettle: ((kind: BrokerEvent['kind'], delivery: Delivery) => Promise<void>) | null = null;

  constructor(
    readonly inner: MemoryBroker,
    private readonly timeline: string[] = [],
  ) {}

  get capabilities() {
    return this.inner.capabilities;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  declareQueue(queue: string): Promise<void> {
    return this.inner.declareQueue(queue);
  }

  /** Every message published through this broker, in order. */
  readonly published: { message: Message; options: PublishOptions }[] = [];

  publish(message: Message, options: PublishOptions): Promise<void> {
    this.published.push({ message, options });
    return this.inner.publish(message, options);
  }

  purge(queue: string): Promise<number> {
    return this.inner.purge(queue);
  }

  queueLength(queue: string): Promise<number> {
    return this.inner.queueLength(queue);
  }

  setAsideMessages(): Promise<SetAsideRecord[]> {
    return this.inner.setAsideMessages();
  }

  delayedMessages(queues: readonly string[], limit: number) {
    return this.inner.delayedMessages(queues, limit);
  }

  bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    return this.inner.bindQueue(queue, exchange, routingKey);
  }

  unbindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    return this.inner.unbindQueue(queue, exchange, routingKey);
  }

  publishFanout(exchange: string, routingKey: string, raw: string | Buffer): Promise<number> {
    return this.inner.publishFanout(exchange, routingKey, raw);
  }

  subscribeFanout(exchange: string, bindingKey: string, listener: (raw: string, routingKey: string) => void): Promise<() => Promise<void>> {
    return this.inner.subscribeFanout(exchange, bindingKey, listener);
  }

  consume(options: ConsumeOptions): Consumer {
    return this.inner.consume({
      ...options,
      onDelivery: (delivery) => {
        const wrapped = this.wrap(delivery);
        this.record({ kind: 'deliver' }, delivery);
        options.onDelivery(wrapped);
        this.onDelivered?.(wrapped);
      },
    });
  }

  /** Events of one kind (optionally for one task id). */
  of(kind: BrokerEvent['kind'], taskId?: string): BrokerEvent[] {
    return this.events.filter((e) => e.kind === kind && (taskId === undefined || e.taskId === taskId));
  }

  /** Settlement kinds recorded for one task id, in order. */
  settlements(taskId: string): BrokerEvent['kind'][] {
    return this.events.filter((e) => e.taskId === taskId && e.kind !== 'deliver').map((e) => e.kind);
  }

  private record(event: Pick<BrokerEvent, 'kind' | 'requeue' | 'deliverAt' | 'reason'>, d: Delivery): void {
    const full: BrokerEvent = { ...event, tag: d.tag, taskId: taskIdOf(d.raw), queue: d.queue };
    this.events.push(full);
    this.timeline.push(`${full.kind}:${full.taskId ?? '?'}`);
  }

  private wrap(d: Delivery): Delivery {
    const after = <T>(settle: () => Promise<T>, event: Pick<BrokerEvent, 'kind' | 'requeue' | 'deliverAt' | 'reason'>) => {
      this.requested.push(`${event.kind}:${taskIdOf(d.raw) ?? '?'}`);
      const gate = this.beforeSettle?.(event.kind, d);
      return (gate === undefined ? settle() : gate.then(settle)).then((v) => {
        this.record(event, d);
        return v;
      });
    };
    return {
      get raw() {
        return d.raw;
      },
      get queue() {
        return d.queue;
      },
      get tag() {
        return d.tag;
      },
      get redelivered() {
        return d.redelivered;
      },
      get deliveryCount() {
        return d.deliveryCount;
      },
      ack: () => after(() => d.ack(), { kind: 'ack' }),
      reject: (options) => after(() => d.reject(options), { kind: 'reject', requeue: options.requeue }),
      restore: () => after(() => d.restore(), { kind: 'restore' }),
      defer: (deliverAt, options) => after(() => d.defer(deliverAt, options), { kind: 'defer', deliverAt }),
      setAside: (reason) => after(() => d.setAside(reason), { kind: 'setAside', reason }),
    };
  }
}

/** One isolated test environment. */
export interface TestEnv {
  app: App;
  broker: RecordingBroker;
  memory: MemoryBroker;
  backend: MemoryBackend;
  clock: FakeClock | null;
  /** Captured log lines. */
  lines: LogLine[];
  /** Shared ordered record: broker events (`ack:<id>`) and whatever tasks push. */
  timeline: string[];
  /** Creates and starts a worker (closed by {@link closeEnvs}). */
  startWorker(options?: WorkerOptions): Promise<Worker>;
}

const open: { env: TestEnv; workers: Worker[] }[] = [];

/**
 * An app with its own memory broker and backend, a capturing logger and, with
 * `fakeClock: true`, one {@link FakeClock} shared by app, broker and backend.
 */
export function makeEnv(settings: Settings = {}, options: { fakeClock?: boolean } = {}): TestEnv {
  const clock = options.fakeClock ? new FakeClock() : null;
  const timeline: string[] = [];
  const memory = new MemoryBroker(clock ? { clock } : {});
  const backend = new MemoryBackend(clock ? { clock } : {});
  const broker = new RecordingBroker(memory, timeline);
  const { logger, lines } = captureLogger();
  const app = createApp(settings, { broker, backend, logger, ...(clock ? { clock } : {}) });
  const workers: Worker[] = [];
  const env: TestEnv = {
    app,
    broker,
    memory,
    backend,
    clock,
    lines,
    timeline,
    async startWorker(workerOptions: WorkerOptions = {}) {
      const worker = new Worker(app, { hostname: 'w1@testhost', ...workerOptions });
      workers.push(worker);
      await worker.start();
      return worker;
    },
  };
  open.push({ env, workers });
  return env;
}

/** Cold-stops every worker and closes every app made since the last call (use in afterEach). */
export async function closeEnvs(): Promise<void> {
  for (const { env, workers } of open.splice(0)) {
    for (const w of workers) if (w.state !== 'closed') await w.terminate();
    await env.app.close();
  }
}

// The one wait and flush of the tests (celeriac/testing), under the names these tests import.
export { flush, waitFor } from 'celeriac/testing';

/** Waits until the stored state of `taskId` is `state`; returns the meta. */
export function waitForState(env: TestEnv, taskId: string, state: string, timeoutMs = 3000) {
  return waitFor(async () => {
    const meta = await env.backend.get(taskId);
    return meta?.status === state ? meta : null;
  }, `task ${taskId} to reach ${state}`, timeoutMs);
}

/** A promise with its resolver exposed. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Counts tasks running at once. Each run calls `enter()`, which resolves when the test
 * calls `releaseOne()` / `releaseAll()` (FIFO), so the test decides when tasks end.
 */
export class Gate {
  running = 0;
  maxRunning = 0;
  started = 0;
  finished = 0;
  private readonly waiting: (() => void)[] = [];
  private open = false;

  async enter(): Promise<void> {
    this.started++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (!this.open) await new Promise<void>((resolve) => this.waiting.push(resolve));
    } finally {
      this.running--;
      this.finished++;
    }
  }

  /** Number of runs currently blocked in `enter()`. */
  get blocked(): number {
    return this.waiting.length;
  }

  releaseOne(): void {
    this.waiting.shift()?.();
  }

  /** Releases every blocked run and lets later ones through at once. */
  releaseAll(): void {
    this.open = true;
    for (const release of this.waiting.splice(0)) release();
  }
}

/**
 * The pool's handles on the runs in progress in `worker` (reached through the executor's
 * private job records): for tests of a pool's terminate itself, without a revoke.
 */
export function runHandles(worker: Worker): RunHandle[] {
  const executor = (worker as unknown as { executor: { held: { values(): { running: RunHandle | null }[] } } }).executor;
  return executor.held.values().flatMap((job) => (job.running === null ? [] : [job.running]));
}
