/**
 * @module worker/executor
 * Handles one delivery from receipt to settlement: decode (malformed messages are set aside,
 * never run), skip unknown, revoked and expired tasks, wait out rate limits, wait for a pool
 * slot, check revokes again, run the task under its time limits, store its result (or its
 * retry, reject, ignore, terminate outcome), send follow-ups, then settle the message through
 * `decideSettlement`.
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import type { Delivery } from '../core/spi/broker.js';
import { afterFinalState, sendFailureFollowUps, sendSuccessFollowUps } from '../canvas/follow-up.js';
import { buildMeta, type MetaContext } from '../core/result-meta.js';
import {
  NotRegistered,
  TaskRevokedError,
  TimeLimitExceeded,
  WorkerLostError,
  formatTraceback,
  toExceptionRecord,
} from '../core/task-errors.js';
import type { TraceOutcome } from '../core/trace.js';
import type { AnyTask } from '../core/task.js';
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';
import { decodeEnvelope } from '../protocol/envelope.js';
import { ProtocolError } from '../protocol/errors.js';
import { decodeTaskMessage } from '../protocol/task-message.js';
import { parseIsoTime } from '../protocol/time.js';
import type { Json, ResultTuple, TaskMessage, TaskState } from '../protocol/types.js';
import { LinkedSet, type Link } from '../core/linked-set.js';
import { Semaphore, type Release } from './semaphore.js';
import type { TimeLimitTable } from './pools/time-limit-table.js';
import type { RunResult, TaskPool } from './pools/types.js';
import { decideSettlement, type AckPolicy, type DeliveryOutcome, type Settlement } from './settlement.js';
import { finishControlFlow, type OutcomeContext } from './task-outcomes.js';
import { LazyAbortController } from './lazy-abort.js';
import type { TaskEvent } from './task-events.js';

/**
 * Finishing permits per pool slot. With one, a pool whose slots all finished in one turn
 * waited for that batch's store round trip (queued in Redis behind other scripts) before
 * the next bodies could start; four let about four batches be stored at once, and still
 * bound how far a slow backend lets the pool run ahead.
 */
const FINISHING_PER_SLOT = 4;

/** What a step with nothing to wait for returns. */
const SETTLED: Promise<void> = Promise.resolve();

/** A task request the worker holds: reserved (waiting for a slot) or active (running). */
export interface Job {
  readonly delivery: Delivery;
  readonly message: TaskMessage;
  readonly task: AnyTask;
  state: 'reserved' | 'active';
  /** Epoch ms when it started running. */
  startedAt: number | null;
  ackedEarly: boolean;
  readonly abort: LazyAbortController;
  /** Set when shutdown gives up on the job; the running promise is then ignored. */
  abandon?: () => void;
  /**
   * Set by the pool while the task runs: ends the run now with `reason` as its error (revoke
   * with terminate: the async pool aborts `ctx.signal` and frees the slot; the threads pool
   * ends the thread).
   */
  terminate?: (reason: Error) => void;
  /** The signal of a revoke-terminate (a `SIGXXX` name), once asked for. */
  terminatedBy?: string;
}

/** A job for a delivery just admitted: reserved, until a slot lets it start. */
function newJob(delivery: Delivery, message: TaskMessage, task: AnyTask): Job {
  return { delivery, message, task, state: 'reserved', startedAt: null, ackedEarly: false, abort: new LazyAbortController() };
}

/** What the executor needs from its worker. */
export interface ExecutorHost {
  readonly app: App;
  readonly hostname: string;
  readonly pool: TaskPool;
  /** Time limits set at run time, and the precedence rules. */
  readonly timeLimits: TimeLimitTable;
  readonly log: Logger;
  /** Counts finished tasks per name (for stats). */
  countProcessed(name: string): void;
  /** False once shutdown began: a message that has not started by then is given back. */
  accepting(): boolean;
  /** Reports a step of a task's life (Celery's task events); must not throw. */
  emit(event: TaskEvent): void;
  /** True when the task id is revoked (the worker's in-memory set; a promise only as a fallback). */
  isRevoked(taskId: string): boolean | Promise<boolean>;
  /** Remembers an expired task's id as revoked, as Celery does. */
  rememberRevoked(taskId: string): void;
  /** Null when the task may start now under its rate limits; else resolves when it may (rejects on shutdown). Holds no slot. */
  throttle(task: AnyTask): Promise<void> | null;
}

/** Runs deliveries. One per worker. */
export class Executor {
  /** Jobs being handled, in arrival order (a linked set: see core/linked-set.ts). */
  readonly jobs = new LinkedSet<Job>();

  /**
   * Permits for tasks whose body is done and whose result is being stored,
   * {@link FINISHING_PER_SLOT} per pool slot. A task gives its pool slot to
   * the next one as soon as its body ends, so the next body need not wait a round trip for
   * this result to be stored. Holding a permit, not a slot, while storing keeps a slow
   * backend holding the pool back: a task that finds no permit keeps its slot.
   */
  private readonly finishing = new Semaphore(1);

  /** Deliveries being handled now, and who waits for there to be none. */
  private handling = 0;
  private readonly idleWaiters: (() => void)[] = [];

  /** Ack policies per task: [not acked early, acked early]. Task options and settings do not change. */
  private readonly policies = new WeakMap<AnyTask, readonly [AckPolicy, AckPolicy]>();

  /** What the outcome handlers of task-outcomes.ts may use. */
  private readonly outcomeContext: OutcomeContext;

  constructor(private readonly host: ExecutorHost) {
    this.outcomeContext = {
      host,
      policy: (task, ackedEarly) => this.policy(task, ackedEarly),
      storeFinal: (message, delivery, state, result, traceback, children) => this.storeFinal(message, delivery, state, result, traceback, children),
    };
  }

  /** Resolves once no delivery is being handled (at once when none is). */
  whenIdle(): Promise<void> {
    if (this.handling === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Handles one delivery to the end; never rejects. Not async, as runAtOnce: it runs for every task. */
  handle(delivery: Delivery): Promise<void> {
    this.handling += 1;
    let handled: Promise<void>;
    try {
      handled = this.dispatch(delivery);
    } catch (err) {
      handled = Promise.reject(err);
    }
    return handled.then(this.handled, (err: unknown) => this.giveBack(delivery, err));
  }

  /**
   * Decodes, admits and runs a delivery. The usual path (a valid message for a known task,
   * free to run) takes no detour through extra promises: decode and admit answer at once
   * unless they must settle.
   */
  private dispatch(delivery: Delivery): Promise<void> {
    const message = this.decode(delivery);
    if (typeof message === 'string') return this.setAside(delivery, message);
    this.host.emit({ type: 'task-received', message });
    const admitted = this.admit(delivery, message);
    if (admitted instanceof Promise) return admitted.then((task) => (task === null ? undefined : this.run(delivery, message, task)));
    return this.runAtOnce(delivery, message, admitted) ?? this.run(delivery, message, admitted);
  }

  /** One delivery less being handled; wakes whoever waits for none. */
  private readonly handled = (): void => {
    this.handling -= 1;
    if (this.handling === 0 && this.idleWaiters.length > 0) for (const wake of this.idleWaiters.splice(0)) wake();
  };

  /**
   * Only a bug or a dead backend lands here. Give the message back rather than hold it:
   * a broker with leases would otherwise keep it (and a prefetch slot) until shutdown.
   */
  private async giveBack(delivery: Delivery, err: unknown): Promise<void> {
    try {
      this.host.log.error({ err: coerceError(err), tag: delivery.tag }, 'unexpected error while handling a message; giving it back');
      await delivery.restore().catch(() => {
        // Already settled (an early ack) or the broker is gone: nothing left to give back.
      });
    } finally {
      this.handled();
    }
  }

  /** The task message, or why it cannot be decoded. */
  private decode(delivery: Delivery): TaskMessage | string {
    try {
      return decodeTaskMessage(decodeEnvelope(delivery.raw).message);
    } catch (err) {
      return err instanceof ProtocolError ? `${err.reason}: ${err.message}` : coerceError(err).message;
    }
  }

  /** A malformed message is set aside where operators can inspect it, never run. */
  private async setAside(delivery: Delivery, reason: string): Promise<void> {
    this.host.log.error({ queue: delivery.queue, tag: delivery.tag, reason }, 'malformed message set aside, not executed');
    await delivery.setAside(reason);
  }

  /**
   * Returns the task to run (at once when nothing stands in the way), or resolves with null
   * after settling a message that must not run now.
   */
  private admit(delivery: Delivery, message: TaskMessage): AnyTask | Promise<AnyTask | null> {
    const h = message.headers;
    const task = this.host.app.lookup(h.task);
    if (task === undefined || this.host.isRevoked(h.id) !== false || h.expires !== null || h.eta !== null) {
      return this.admitSlowly(delivery, message, task);
    }
    return task;
  }

  private async admitSlowly(delivery: Delivery, message: TaskMessage, task: AnyTask | undefined): Promise<AnyTask | null> {
    const { app } = this.host;
    const h = message.headers;
    if (task === undefined) {
      const error = new NotRegistered(h.task);
      this.host.log.error({ taskId: h.id, taskName: h.task }, `received unregistered task of type ${JSON.stringify(h.task)}; message acked and FAILURE stored`);
      await this.storeFinal(message, delivery, 'FAILURE', toExceptionRecord(error) as never, null, []);
      await afterFinalState(app, message, 'FAILURE', toExceptionRecord(error) as never);
      await this.settle(delivery, 'skipped', { acksLate: false, acksOnFailureOrTimeout: true, ackedEarly: false });
      return null;
    }
    const now = app.clock.now();
    if (await this.discardIfRevoked(delivery, message, task)) return null;
    if (h.expires !== null && parseIsoTime(h.expires) <= now) {
      // Not run, and remembered as revoked, as Celery does (also when an ETA fires too late).
      this.host.rememberRevoked(h.id);
      await this.discard(delivery, message, task, 'expired');
      return null;
    }
    const eta = h.eta === null ? null : parseIsoTime(h.eta);
    if (eta !== null && eta > now) {
      // Sent straight to the queue with a future ETA (as Python does): the broker holds it, not us.
      await delivery.defer(eta);
      return null;
    }
    return task;
  }

  /** Skips a revoked task: REVOKED stored, acked, task-revoked emitted. True when it was. */
  private async discardIfRevoked(delivery: Delivery, message: TaskMessage, task: AnyTask): Promise<boolean> {
    const revoked = this.host.isRevoked(message.headers.id);
    if (!(revoked === true || (revoked !== false && (await revoked)))) return false;
    await this.discard(delivery, message, task, 'revoked');
    return true;
  }

  private async discard(delivery: Delivery, message: TaskMessage, task: AnyTask, reason: 'revoked' | 'expired'): Promise<void> {
    const h = message.headers;
    this.host.log.info({ taskId: h.id, taskName: h.task }, `discarding ${reason} task`);
    const record = toExceptionRecord(new TaskRevokedError(reason)) as never;
    await this.storeFinal(message, delivery, 'REVOKED', record, null, []);
    // A revoked chord header part must still end its chord (the body fails with ChordError).
    await afterFinalState(this.host.app, message, 'REVOKED', record);
    await this.settle(delivery, 'skipped', this.policy(task, false));
    this.host.emit({ type: 'task-revoked', message, expired: reason === 'expired', terminated: false, signum: null });
  }

  /** The ack policy of a task (its options over the app's settings), made once per task and ackedEarly. */
  private policy(task: AnyTask, ackedEarly: boolean): AckPolicy {
    let pair = this.policies.get(task);
    if (pair === undefined) {
      const s = this.host.app.settings;
      const base = {
        acksLate: task.options.acksLate ?? s.taskAcksLate,
        acksOnFailureOrTimeout: task.options.acksOnFailureOrTimeout ?? s.taskAcksOnFailureOrTimeout,
        rejectOnWorkerLost: task.options.rejectOnWorkerLost ?? s.taskRejectOnWorkerLost,
      };
      pair = [Object.freeze({ ...base, ackedEarly: false }), Object.freeze({ ...base, ackedEarly: true })];
      this.policies.set(task, pair);
    }
    return pair[ackedEarly ? 1 : 0];
  }

  /**
   * The common case, without an async frame per step: a task free to start now (an early
   * ack, no STARTED state to store, a free slot and finishing permit, no rate limit to wait
   * for, not revoked, not shutting down) whose body returns at once with a value and has no
   * callbacks, chain or chord. Its handling is then one chain on the store's reply; with
   * the steps of {@link run} as async functions, a drain spent about 8 % more CPU (more
   * promises, more garbage, and larger code for V8 to optimize while warming up).
   *
   * Null when the job does not qualify before its body ran (nothing is taken then); a body
   * that turns out otherwise finishes the general way ({@link finishRun}).
   */
  private runAtOnce(delivery: Delivery, message: TaskMessage, task: AnyTask): Promise<void> | null {
    const { app, pool } = this.host;
    if (this.policy(task, false).acksLate || (task.options.trackStarted ?? app.settings.taskTrackStarted)) return null;
    const permits = this.permits();
    if (pool.busy >= pool.size || permits.busy >= permits.size) return null;
    if (!this.host.accepting() || this.host.isRevoked(message.headers.id) !== false) return null;
    const throttled = this.host.throttle(task);
    if (throttled !== null) return this.run(delivery, message, task, throttled);
    // A pool grants a slot at once while one is free (TaskPool.acquire).
    const slot = pool.acquire() as Release;
    const job = newJob(delivery, message, task);
    const held = this.jobs.add(job);
    const acked = this.begin(job) as Promise<void>;
    let ran: RunResult | Promise<RunResult>;
    try {
      ran = this.startBody(job);
    } catch (err) {
      ran = Promise.reject(err);
    }
    const e = message.embed;
    if (ran instanceof Promise || ran === 'abandoned' || !ran.ok || e.callbacks?.length || e.chain?.length || e.chord || permits.busy >= permits.size) {
      return this.endJob(held, slot, acked, this.finishRun(job, slot, ran));
    }
    const leave = permits.acquire() as Release;
    slot();
    const value = ran.value;
    const took = this.runtime(job);
    // As run() ends: the job is held until its early ack (which never rejects) is answered.
    const forget = (): void => {
      this.jobs.delete(held);
    };
    return this.storeFinal(message, delivery, 'SUCCESS', value, null, []).then(
      () => {
        try {
          this.succeeded(job, value, took);
          this.host.countProcessed(task.name);
          this.settle(delivery, 'success', this.policy(task, true));
        } finally {
          leave();
        }
        return acked.then(forget);
      },
      (err: unknown) => {
        leave();
        return acked.then(() => {
          forget();
          throw err;
        });
      },
    );
  }

  /** Runs the job once its rate limit (`throttled` when already asked for) and a slot allow. */
  private async run(delivery: Delivery, message: TaskMessage, task: AnyTask, throttled = this.host.throttle(task)): Promise<void> {
    const job = newJob(delivery, message, task);
    const held = this.jobs.add(job);
    let release: Release;
    try {
      try {
        // Rate limits first, so a throttled message waits without holding a slot.
        if (throttled !== null) await throttled;
        const slot = this.host.pool.acquire();
        release = typeof slot === 'function' ? slot : await slot;
      } catch {
        await this.settle(delivery, 'not-started', this.policy(task, false));
        return;
      }
      if (!this.host.accepting()) {
        // Shutdown began while this message was being admitted or waited for a slot
        // (after the pool's waiters were cancelled): it never started, so give it back.
        release();
        await this.settle(delivery, 'not-started', this.policy(task, false));
        return;
      }
      // A revoke may have come in while it waited for its limit or its slot.
      if (this.host.isRevoked(message.headers.id) !== false && (await this.discardIfRevoked(delivery, message, task))) {
        release();
        return;
      }
      const acked = this.begin(job);
      await this.endJob(held, release, acked, this.runAndFinish(job, release));
    } finally {
      // Also when it never started (endJob has forgotten it otherwise: a second delete is a no-op).
      this.jobs.delete(held);
    }
  }

  /** Marks the job running; its early ack, or null with late acks. */
  private begin(job: Job): Promise<void> | null {
    job.state = 'active';
    job.startedAt = this.host.app.clock.now();
    return this.policy(job.task, false).acksLate ? null : this.ackEarly(job);
  }

  /**
   * Ends a started job once `finished` settles: its slot freed, then (the delivery is handled
   * only once its early ack is answered, see ackEarly) the ack awaited, then the job forgotten.
   */
  private async endJob(held: Link<Job>, slot: Release, acked: Promise<void> | null, finished: Promise<void>): Promise<void> {
    try {
      await finished;
    } finally {
      slot();
      if (acked !== null) await acked;
      this.jobs.delete(held);
    }
  }

  /**
   * Sends the early ack of a task that starts now. As in Celery, where the ack follows the
   * pool's acceptance while the child already runs the task, the body does not wait for the
   * reply: holding a slot for a round trip (behind the fetch queued before the ack) left
   * the pool idle for a quarter of a busy drain. The handling of the delivery ends only once
   * the reply is in. A failed ack is logged: the task has run, and the message may come back.
   */
  private ackEarly(job: Job): Promise<void> {
    job.ackedEarly = true;
    return job.delivery.ack().catch((err: unknown) => {
      const h = job.message.headers;
      this.host.log.error({ err: coerceError(err), taskId: h.id, taskName: h.task, tag: job.delivery.tag }, 'early ack failed; the task ran, and its message may be delivered again');
    });
  }

  /** Runs the job's body holding `slot`, then frees the slot and finishes (see {@link finishing}). */
  private async runAndFinish(job: Job, slot: Release): Promise<void> {
    const { app } = this.host;
    if (job.task.options.trackStarted ?? app.settings.taskTrackStarted) {
      await this.storeState(job.message, job.delivery, 'STARTED', { pid: process.pid, hostname: this.host.hostname });
    }
    await this.finishRun(job, slot, this.startBody(job));
  }

  /** Starts the job's body in the pool: its outcome (at once for a plain body), or a promise of it. */
  private startBody(job: Job): RunResult | Promise<RunResult> {
    const { log } = this.host;
    const { message, task } = job;
    const h = message.headers;
    const { hard, soft } = this.host.timeLimits.resolve(task, message);
    if (log.isLevelEnabled('debug')) log.debug({ taskId: h.id, taskName: h.task }, 'task started');
    this.host.emit({ type: 'task-started', message });
    // A terminate that came before the pool could arm it: stop here instead of running.
    return job.terminatedBy !== undefined ? { ok: false as const, error: new TaskRevokedError('terminated') } : this.runWithLimits(job, hard, soft);
  }

  /** Once the body ran: frees the slot when a finishing permit is held, stores the outcome, settles. */
  private async finishRun(job: Job, slot: Release, ran: RunResult | Promise<RunResult>): Promise<void> {
    const { task, delivery } = job;
    const outcome = ran instanceof Promise ? await ran : ran;
    if (outcome === 'abandoned') {
      await this.finishAbandoned(job);
      return;
    }
    const permit = this.permits().acquire();
    const leave = typeof permit === 'function' ? permit : await permit;
    slot();
    try {
      const kind = await this.finish(job, outcome);
      this.host.countProcessed(task.name);
      const settled = this.settle(delivery, kind, this.policy(task, job.ackedEarly));
      if (settled !== undefined) await settled;
    } finally {
      leave();
    }
  }

  /** The finishing permits, {@link FINISHING_PER_SLOT} per pool slot now. */
  private permits(): Semaphore {
    const size = this.host.pool.size * FINISHING_PER_SLOT;
    if (this.finishing.size !== size) this.finishing.resize(size);
    return this.finishing;
  }

  /** Runs the task in the pool: its outcome (at once for a plain body), a timeout failure, or 'abandoned'. */
  private runWithLimits(job: Job, hard: number | null, soft: number | null): RunResult | Promise<RunResult> {
    const { app, log, hostname } = this.host;
    const { message, delivery } = job;
    return this.host.pool.run({
      job,
      limits: { hard, soft },
      hostname,
      // A plain object: one with a getter is built slowly (some 0.4 us) and copied whole
      // into a worker thread; finding out `redelivered` costs a substring search at most.
      deliveryInfo: { exchange: '', routing_key: delivery.queue, priority: message.properties.priority, redelivered: delivery.redelivered },
      log,
      clock: app.clock,
      updateState: (state, meta) => this.storeState(message, delivery, state, meta),
    });
  }

  /** Stores the outcome and sends follow-ups; returns the outcome kind for settlement. */
  private async finish(job: Job, outcome: TraceOutcome): Promise<DeliveryOutcome> {
    const { app, log } = this.host;
    const { message, delivery } = job;
    const h = message.headers;
    const took = this.runtime(job);
    if (outcome.ok) {
      let children: ResultTuple[];
      try {
        const sent = sendSuccessFollowUps(app, message, outcome.value);
        children = Array.isArray(sent) ? sent : await sent;
      } catch (err) {
        // As in Celery's tracer: a callback that cannot be sent fails the task.
        log.error({ err: coerceError(err), taskId: h.id }, 'failed to send callbacks');
        return this.finish(job, { ok: false, error: err });
      }
      await this.storeFinal(message, delivery, 'SUCCESS', outcome.value, null, children);
      const reported = afterFinalState(app, message, 'SUCCESS', outcome.value);
      if (reported !== undefined) await reported;
      this.succeeded(job, outcome.value, took);
      return 'success';
    }
    const error = outcome.error;
    const special = await finishControlFlow(this.outcomeContext, job, error);
    if (typeof special === 'object' && special !== null) return this.finish(job, { ok: false, error: special.failWith });
    if (special !== null) return special;
    const traceback = formatTraceback(error);
    let children: ResultTuple[] = [];
    try {
      children = await sendFailureFollowUps(app, message);
    } catch (err) {
      log.error({ err: coerceError(err), taskId: h.id }, 'failed to send errbacks');
    }
    await this.storeFinal(message, delivery, 'FAILURE', toExceptionRecord(error) as never, traceback, children);
    await afterFinalState(app, message, 'FAILURE', toExceptionRecord(error) as never, traceback);
    this.host.emit({ type: 'task-failed', message, error, traceback });
    log.error({ taskId: h.id, taskName: h.task, err: coerceError(error) }, `Task ${h.task}[${h.id}] raised: ${coerceError(error).name}: ${coerceError(error).message}`);
    return error instanceof TimeLimitExceeded ? 'timeout' : error instanceof WorkerLostError ? 'worker-lost' : 'failure';
  }

  /** Seconds since the job started, until its outcome is about to be stored. */
  private runtime(job: Job): number {
    const now = this.host.app.clock.now();
    return (now - (job.startedAt ?? now)) / 1000;
  }

  /** Reports a success whose result is stored; `took` is its {@link runtime}. */
  private succeeded(job: Job, value: Json, took: number): void {
    const { log } = this.host;
    const { message } = job;
    const h = message.headers;
    this.host.emit({ type: 'task-succeeded', message, result: value, runtime: took });
    if (log.isLevelEnabled('info')) log.info({ taskId: h.id, taskName: h.task, runtime: took }, `Task ${h.task}[${h.id}] succeeded in ${took.toFixed(3)}s`);
  }

  private async finishAbandoned(job: Job): Promise<void> {
    const { message, delivery, task } = job;
    const decision = decideSettlement('abandoned', this.policy(task, job.ackedEarly));
    if (decision.action !== 'restore') {
      // The message is gone, so record why the task never finished.
      const record = toExceptionRecord(new WorkerLostError('worker shut down before the task finished'));
      await this.storeFinal(message, delivery, 'FAILURE', record as never, null, []).catch(() => undefined);
      await afterFinalState(this.host.app, message, 'FAILURE', record as never)?.catch(() => undefined);
    }
    await this.settle(delivery, 'abandoned', this.policy(task, job.ackedEarly));
  }

  private metaContext(message: TaskMessage, delivery: Delivery): MetaContext {
    const { app, hostname } = this.host;
    return { message, worker: hostname, queue: delivery.queue, extended: app.settings.resultExtended, now: app.clock.now() };
  }

  private async storeState(message: TaskMessage, delivery: Delivery, state: TaskState, meta: Json): Promise<void> {
    if (message.headers.ignore_result) return;
    const { app } = this.host;
    await app.backend.store(buildMeta(this.metaContext(message, delivery), state, meta), { expiresSec: app.settings.resultExpires });
  }

  /** Stores a final state. Not async: every task stores one, and the store's promise is enough to chain on. */
  private storeFinal(message: TaskMessage, delivery: Delivery, state: TaskState, result: Json, traceback: string | null, children: ResultTuple[]): Promise<void> {
    if (message.headers.ignore_result) return SETTLED;
    const { app } = this.host;
    let stored: Promise<void>;
    try {
      stored = app.backend.store(buildMeta(this.metaContext(message, delivery), state, result, { traceback, children }), { expiresSec: app.settings.resultExpires });
    } catch (err) {
      stored = Promise.reject(err);
    }
    return stored.then(undefined, (err: unknown) => this.storeEncodeError(message, delivery, traceback, err));
  }

  /**
   * Only an encoding failure becomes EncodeError; a backend that is down is not the task's
   * fault: that error goes up, and the message is given back (see handle).
   */
  private async storeEncodeError(message: TaskMessage, delivery: Delivery, traceback: string | null, err: unknown): Promise<void> {
    if (!(err instanceof CeleriacError && err.code === ErrorCodes.INVALID_ARGUMENT)) throw err;
    const { app, log } = this.host;
    // A result that cannot be encoded (a BigInt, a cycle) must not lose the task's end.
    log.error({ err: coerceError(err), taskId: message.headers.id }, 'could not store result; storing the encoding error instead');
    const record = { exc_type: 'EncodeError', exc_message: [coerceError(err).message], exc_module: 'kombu.exceptions' };
    await app.backend.store(buildMeta(this.metaContext(message, delivery), 'FAILURE', record, { traceback }), { expiresSec: app.settings.resultExpires });
  }

  /** Applies the settlement decision (undefined when there is nothing to do, as after an early ack). */
  private settle(delivery: Delivery, outcome: DeliveryOutcome, policy: AckPolicy): Promise<void> | undefined {
    const decision = decideSettlement(outcome, policy);
    if (this.host.log.isLevelEnabled('debug')) this.host.log.debug({ tag: delivery.tag, action: decision.action }, decision.reason);
    return decision.action === 'none' ? undefined : this.applyDecision(delivery, decision.action);
  }

  /** A failed settlement is logged; the message then comes back later. */
  private async applyDecision(delivery: Delivery, action: Exclude<Settlement['action'], 'none'>): Promise<void> {
    try {
      if (action === 'ack') await delivery.ack();
      else if (action === 'reject') await delivery.reject({ requeue: false });
      else if (action === 'requeue') await delivery.reject({ requeue: true });
      else await delivery.restore();
    } catch (err) {
      this.host.log.error({ err: coerceError(err), tag: delivery.tag, action }, 'could not settle message');
    }
  }
}
