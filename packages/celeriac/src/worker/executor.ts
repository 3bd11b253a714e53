/**
 * @module worker/executor
 * The life of one delivery, as one path: decode (a malformed message is set aside, never
 * run), admit (unknown, revoked, expired and future-ETA messages end here), wait for the
 * rate limit and a pool slot, check shutdown and revokes again, run the body in the pool,
 * then conclude: every way out, before or after the body, is an {@link Ending} applied by
 * {@link Executor.conclude} through its row of worker/outcome-table.ts (follow-ups, stored
 * state, event, count, ack decision). A delivery that ends before it is a task (malformed,
 * past its delivery limit) or whose handling failed ends by its row in
 * {@link Executor.endDelivery}. Both hand the decision to worker/settlement.ts; nothing else
 * stores a final state or settles a message.
 *
 * The path is written so that the usual task (a known task free to run, a free slot, a body
 * that returns at once) goes through one async frame ({@link Executor.run}) and one real
 * wait, the store: each wait on a value that may be ready (a slot, a rate limit, the pool's
 * result) is awaited only when it is a promise, and the ending's steps are chained on the
 * store. With each step its own async function a drain spent measurably more CPU (bench/ab.ts).
 */
import type { Logger } from 'pino';
import type { App } from '../core/app.js';
import type { Delivery } from '../core/spi/broker.js';
import { afterFinalState } from '../canvas/follow-up.js';
import { NotRegistered, TaskRevokedError } from '../core/task-errors.js';
import type { AnyTask } from '../core/task.js';
import { coerceError } from '../errors.js';
import { Settlement } from './settlement.js';
import { READY_STATES } from '../protocol/states.js';
import { decodeDelivery, failUnreadable } from './unreadable.js';
import { parseIsoTime } from '../protocol/time.js';
import type { TaskMessage } from '../protocol/types.js';
import { LinkedSet } from '../core/linked-set.js';
import { activeTracer, endRunSpan, inSpan, startRunSpan, type RunSpan } from '../core/otel.js';
import { newJob, type Job, type JobView } from './job.js';
import { OUTCOME_TABLE, type AckPolicy, type OutcomeRow } from './outcome-table.js';
import { NO_TASK_POLICY, TaskTraits } from './task-traits.js';
import { storeAfterEarlyAck } from './redelivery.js';
import { endedRun } from './pools/supervise.js';
import type { TimeLimitTable } from './pools/time-limit-table.js';
import type { RunHandle, TaskPool } from './pools/types.js';
import { ResultWriter } from './result-writer.js';
import { Semaphore, type Release } from './semaphore.js';
import type { TaskEvent } from './task-events.js';
import { announceEnding } from './ending-signals.js';
import { classifyRun, ending, eventOf, expiredBy, followUpsDue, logEnding, sendFollowUps, unencodable, type Ending, type FollowUpContext, type Subject } from './task-outcomes.js';

/**
 * Finishing permits per pool slot. With one, a pool whose slots all finished in one turn waited
 * for that batch's store round trip (queued in Redis behind other scripts) before the next bodies
 * could start; four let about four batches be stored at once, and still bound how far a slow
 * backend lets the pool run ahead.
 */
const FINISHING_PER_SLOT = 4;

/** An abandoned run takes no finishing permit: shutdown must not wait behind results being stored. */
const NO_PERMIT: Release = () => undefined;

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
  /** Records an early-acked task as running where its broker does not (Delivery.markRunning); null when not recorded. */
  markRunning(delivery: Delivery): (() => void) | null;
}

/** Runs deliveries. One per worker. */
export class Executor {
  /** Keeps an expired task's id as revoked (see expiredBy). */
  private readonly rememberRevoked = (id: string): void => this.host.rememberRevoked(id);

  /** Jobs being handled, in arrival order (a linked set: see core/linked-set.ts). */
  private readonly held = new LinkedSet<Job>();

  /**
   * Permits for tasks whose body is done and whose result is being stored,
   * {@link FINISHING_PER_SLOT} per pool slot. A task gives its pool slot to the next one as
   * soon as its body ends, so the next body need not wait a round trip for this result to be
   * stored. Holding a permit, not a slot, while storing keeps a slow backend holding the pool
   * back: a task that finds no permit keeps its slot.
   */
  private readonly finishing = new Semaphore(1);

  /** Deliveries being handled now, and who waits for there to be none. */
  private handling = 0;
  private readonly idleWaiters: (() => void)[] = [];

  private readonly traits: TaskTraits;
  private readonly writer: ResultWriter;
  private readonly followUps: FollowUpContext;
  private readonly settlement: Settlement;

  constructor(private readonly host: ExecutorHost) {
    this.writer = new ResultWriter(host.app, host.hostname, host.log);
    this.traits = new TaskTraits(host.app);
    this.settlement = new Settlement(host.app, host.log, this.writer, (event) => host.emit(event));
    this.followUps = { app: host.app, log: host.log, hostname: host.hostname, policy: (s) => this.policy(s), emit: (event) => host.emit(event) };
  }

  /** The jobs held now, reserved and active, in arrival order (a snapshot). */
  jobs(): JobView[] {
    return this.held.values();
  }

  /** Resolves once no delivery is being handled (at once when none is). */
  whenIdle(): Promise<void> {
    if (this.handling === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Revoke with terminate: ends the running jobs of `ids` with TaskRevokedError (they end as
   * `terminated`); a job whose body has not started yet is stopped before it runs. Returns the ids.
   */
  terminate(ids: ReadonlySet<string>, signal: string): string[] {
    const out: string[] = [];
    for (const job of this.held) {
      if (job.state !== 'active' || job.terminatedBy !== null || !ids.has(job.message.headers.id)) continue;
      job.terminatedBy = signal;
      job.running?.terminate(new TaskRevokedError('terminated'), signal as NodeJS.Signals);
      out.push(job.message.headers.id);
    }
    return out;
  }

  /** Shutdown gives up on every running body (their messages end as `abandoned`). */
  abandonAll(): void {
    for (const job of this.held) job.running?.abandon();
  }

  /** Handles one delivery to the end; never rejects. */
  handle(delivery: Delivery): Promise<void> {
    this.handling += 1;
    let life: Promise<void>;
    try {
      life = this.admit(delivery);
    } catch (err) {
      life = Promise.reject(err);
    }
    return life.then(this.handled, (err: unknown) => this.giveBack(delivery, err));
  }

  /** One delivery less being handled; wakes whoever waits for none. */
  private readonly handled = (): void => {
    this.handling -= 1;
    if (this.handling === 0 && this.idleWaiters.length > 0) for (const wake of this.idleWaiters.splice(0)) wake();
  };

  /**
   * Only a worker-side failure lands here: the result store refusing writes or down, a bug.
   * Give the message back rather than hold it (a broker with leases would otherwise keep it,
   * and a prefetch slot, until shutdown), by its row: after a backoff, and only up to
   * `workerMaxDeliveries` times (see worker/redelivery.ts).
   */
  private async giveBack(delivery: Delivery, err: unknown): Promise<void> {
    try {
      const decoded = decodeDelivery(delivery);
      await this.endDelivery('worker-failure', delivery, typeof decoded === 'string' ? null : decoded, coerceError(err));
    } finally {
      this.handled();
    }
  }

  /** Gives back a delivery that arrived after fetching stopped (the `not-started` row): it was never this worker's to run. */
  refuse(delivery: Delivery): void {
    void this.endDelivery('not-started', delivery, null, null);
  }

  /** Ends a delivery by a row decided for it, whatever its task (malformed, past its delivery limit, a worker-side failure); `message` when decoded. */
  private endDelivery(kind: 'malformed' | 'over-limit' | 'worker-failure' | 'not-started', delivery: Delivery, message: TaskMessage | null, cause: Error | null): Promise<void> {
    const decision = OUTCOME_TABLE[kind].ack(NO_TASK_POLICY);
    if (this.host.log.isLevelEnabled('debug')) this.host.log.debug({ tag: delivery.tag, action: decision.action }, decision.reason);
    return decision.action === 'none' ? Promise.resolve() : this.settlement.settle(delivery, message, decision.action, cause);
  }

  /** Decodes the delivery and runs it, at once when nothing stands in its way. */
  private admit(delivery: Delivery): Promise<void> {
    const message = decodeDelivery(delivery);
    if (typeof message === 'string') return this.setAside(delivery, message);
    if (this.settlement.pastLimit(delivery)) return this.endDelivery('over-limit', delivery, message, new Error(this.settlement.overLimitReason(delivery)));
    const h = message.headers;
    const task = this.host.app.lookup(h.task);
    // An unknown task is never received (Celery's Consumer.on_unknown_task): it only fails.
    if (task === undefined) return this.admitSlowly(delivery, message, task);
    if (h.expires === null && h.eta === null && this.host.isRevoked(h.id) === false) return this.receive(delivery, message, task);
    return this.admitSlowly(delivery, message, task);
  }

  /**
   * Announces a task that will run (`task-received`, the `taskReceived` signal), then runs it.
   * As Celery's strategy does, a revoked or expired message is never received (it only sends
   * `task-revoked`), nor is one given back to the broker until its ETA (received when it returns).
   */
  private receive(delivery: Delivery, message: TaskMessage, task: AnyTask): Promise<void> {
    this.host.emit({ type: 'task-received', message });
    const h = message.headers;
    // Celery's worker line (strategy.py); one level check per task when info is off.
    const log = this.host.log;
    if (log.isLevelEnabled('info')) log.info({ taskId: h.id, taskName: h.task }, `Task ${h.task}[${h.id}] received`);
    const signals = this.host.app.signals;
    if (signals.has('taskReceived')) {
      const announced = signals.emit('taskReceived', { id: h.id, name: h.task, message });
      if (announced !== undefined) return announced.then(() => this.run(delivery, message, task));
    }
    return this.run(delivery, message, task);
  }

  /** No task message: set it aside for an operator, never run; FAILURE stored when its id can still be read (unreadable.ts). */
  private async setAside(delivery: Delivery, reason: string): Promise<void> {
    const failed = await failUnreadable(this.host.app, delivery, reason);
    this.host.log.error({ queue: delivery.queue, tag: delivery.tag, reason, ...(failed === null ? {} : { taskId: failed }) }, 'malformed message set aside, not executed');
    await this.host.app.signals.emit('taskRejected', { queue: delivery.queue, reason });
    await this.endDelivery('malformed', delivery, null, new Error(reason));
  }

  /** Ends a message that must not run now (unknown, revoked, expired, ETA ahead), else runs it. */
  private async admitSlowly(delivery: Delivery, message: TaskMessage, task: AnyTask | undefined): Promise<void> {
    const h = message.headers;
    const s: Subject = { delivery, message, task, ackedEarly: false, startedAt: null, terminatedBy: null };
    if (task === undefined) return this.conclude(s, ending('unregistered', new NotRegistered(h.task)));
    const now = this.host.app.clock.now();
    if (await this.isRevoked(h.id)) return this.conclude(s, ending('revoked', new TaskRevokedError('revoked')));
    // Not run, and remembered as revoked, as Celery does (also when an ETA fires too late).
    const expired = expiredBy(message, now, this.rememberRevoked);
    if (expired !== null) return this.conclude(s, expired);
    // Sent straight to the queue with a future ETA (as Python does): the broker holds it, not us.
    if (h.eta !== null && parseIsoTime(h.eta) > now) return this.conclude(s, ending('deferred'));
    return this.receive(delivery, message, task);
  }

  /** The worker's revoked set answers at once; a promise only in its fallback (see ExecutorHost). */
  private async isRevoked(id: string): Promise<boolean> {
    const revoked = this.host.isRevoked(id);
    return revoked === true || (revoked !== false && (await revoked));
  }

  /**
   * Runs an admitted task: its rate limit, then a pool slot (a throttled message waits
   * without holding one), then shutdown and revokes checked again, then the body. The slot
   * goes back in one place, before the ending is concluded: once the body ended and a
   * finishing permit is held (see {@link finishing}), or at once when the task does not start.
   * The job is forgotten once its early ack is answered.
   */
  private async run(delivery: Delivery, message: TaskMessage, task: AnyTask): Promise<void> {
    const job = newJob(delivery, message, task);
    const link = this.held.add(job);
    let acked: Promise<void> | null = null;
    try {
      let slot: Release;
      try {
        const throttled = this.host.throttle(task);
        if (throttled !== null) await throttled;
        const granted = this.host.pool.acquire();
        slot = typeof granted === 'function' ? granted : await granted;
      } catch {
        return await this.conclude(job, ending('not-started')); // shutdown cancelled the wait
      }
      let end: Ending;
      let leave = NO_PERMIT;
      let traced: RunSpan | undefined;
      try {
        // Shutdown began, a revoke came, or its `expires` passed while it waited (Celery's Request looks again too).
        const id = message.headers.id;
        const stop = !this.host.accepting() ? ending('not-started') : this.host.isRevoked(id) !== false && (await this.isRevoked(id)) ? ending('revoked', new TaskRevokedError('revoked')) : message.headers.expires === null ? null : expiredBy(message, this.host.app.clock.now(), this.rememberRevoked);
        if (stop !== null) {
          end = stop;
        } else {
          // Given back before: its start is marked first, so that this worker's death while it
          // runs counts against it, not against its prefetched neighbours (Delivery.countStart).
          if ((delivery.deliveryCount ?? 1) > 1 && delivery.countStart !== undefined) await delivery.countStart();
          acked = this.begin(job);
          if (this.traits.trackStarted(task)) await this.writer.storeState(message, delivery.queue, 'STARTED', { pid: process.pid, hostname: this.host.hostname });
          // With a tracer provider registered, the body and what the ending sends run in the span.
          const tracer = activeTracer();
          if (tracer !== undefined) traced = startRunSpan(tracer, message, delivery.queue, this.host.hostname);
          const running = (job.running = traced === undefined ? this.start(job) : inSpan(traced, () => this.start(job)));
          const ran = running.result instanceof Promise ? await running.result : running.result;
          job.running = null;
          const permit = ran === 'abandoned' ? NO_PERMIT : this.permits().acquire();
          leave = typeof permit === 'function' ? permit : await permit;
          end = classifyRun(ran, this.policy(job), job.terminatedBy);
        }
      } finally {
        slot();
      }
      try {
        await (traced === undefined ? this.conclude(job, end) : this.concludeTraced(job, end, traced));
      } finally {
        leave();
      }
    } finally {
      if (acked !== null) await acked;
      // Its end is stored (or could not be): no longer a task to report lost if this worker dies.
      job.endRunning?.();
      this.held.delete(link);
    }
  }

  /** Marks the job running; its early ack, or null with late acks. */
  private begin(job: Job): Promise<void> | null {
    job.state = 'active';
    job.startedAt = this.host.app.clock.now();
    return this.policy(job).acksLate ? null : this.ackEarly(job);
  }

  /**
   * Sends the early ack of a task that starts now. As in Celery, where the ack follows the
   * pool's acceptance while the child already runs the task, the body does not wait for the
   * reply: holding a slot for a round trip (behind the fetch queued before the ack) left
   * the pool idle for a quarter of a busy drain. The handling of the delivery ends only once
   * the reply is in.
   */
  private ackEarly(job: Job): Promise<void> {
    job.ackedEarly = true;
    job.endRunning = job.delivery.markRunning?.() ?? this.host.markRunning(job.delivery);
    return this.settlement.ackEarly(job.delivery, job.message);
  }

  /** Starts the job's body in the pool under its time limits. */
  private start(job: Job): RunHandle {
    const { app, log, hostname } = this.host;
    const { message, delivery, task } = job;
    const h = message.headers;
    if (log.isLevelEnabled('debug')) log.debug({ taskId: h.id, taskName: h.task }, 'task started');
    this.host.emit({ type: 'task-started', message });
    // A terminate that came before the body could start (while STARTED was stored): do not run it.
    if (job.terminatedBy !== null) return endedRun({ ok: false, error: new TaskRevokedError('terminated') });
    const limits = this.host.timeLimits.resolve(task, message);
    if (limits.hard !== null && delivery.limitLease !== undefined) delivery.limitLease(app.clock.now() + limits.hard * 1000);
    return this.host.pool.run({
      job,
      limits,
      hostname,
      // A plain object: one with a getter is built slowly and copied whole
      // into a worker thread; finding out `redelivered` costs a substring search at most.
      deliveryInfo: { exchange: '', routing_key: delivery.queue, priority: message.properties.priority, redelivered: delivery.redelivered },
      log,
      clock: app.clock,
      updateState: (state, meta) => this.writer.storeState(message, delivery.queue, state, meta),
    });
  }

  /** The finishing permits, {@link FINISHING_PER_SLOT} per pool slot now. */
  private permits(): Semaphore {
    const size = this.host.pool.size * FINISHING_PER_SLOT;
    if (this.finishing.size !== size) this.finishing.resize(size);
    return this.finishing;
  }

  /**
   * The one place a task message ends: applies its outcome's row, in order: follow-ups sent
   * before the state (which may turn it into a failure), the state stored, a ready state
   * reported to the task's chord and chain, the event, the log line, the count, and the ack
   * decision. A store that fails (the backend is down) goes up: the message is given back.
   * The steps are chained, not awaited in one async frame: the usual ending (nothing to send
   * first, no chord, chain or signal to wait for) then waits only for its store.
   */
  private conclude(s: Subject, first: Ending, final?: { ending: Ending }): Promise<void> {
    const row = OUTCOME_TABLE[first.kind];
    if (row.followUps === null || !followUpsDue(row.followUps, s.message)) return this.store(s, first, row, final);
    return sendFollowUps(this.followUps, s, first, row.followUps).then((e) => this.store(s, e, OUTCOME_TABLE[e.kind], final));
  }

  /** Stores the row's state for the ending (none for some rows), then reports it. */
  private store(s: Subject, e: Ending, row: OutcomeRow, final?: { ending: Ending }): Promise<void> {
    if (final !== undefined) final.ending = e;
    const now = this.host.app.clock.now();
    const runtime = (now - (s.startedAt ?? now)) / 1000;
    const state = row.state;
    if (state === null) return this.report(s, e, row, runtime) ?? DONE;
    const stored = this.writer.storeFinal(s.message, s.delivery.queue, state, e.result, e.traceback, e.children, e.kind === 'success');
    if (s.ackedEarly) s.delivery.storingEnd?.(stored); // an early ack not sent yet follows this store (no running record needed)
    return stored.then(
      () => this.stored(s, e, row, state, runtime),
      (err: unknown) => {
        const failed = unencodable(e, err); // a success whose value cannot be encoded ends as a failure
        return failed !== null ? this.conclude(s, failed, final) : this.storeFailed(s, e, row, state, err).then(() => this.stored(s, e, row, state, runtime));
      },
    );
  }

  /** A failed store: logged for a best-effort row; retried for a task acked early (worker/redelivery.ts); else it goes up. */
  private async storeFailed(s: Subject, e: Ending, row: OutcomeRow, state: NonNullable<OutcomeRow['state']>, err: unknown): Promise<void> {
    const { app, log } = this.host;
    if (row.bestEffort) return void log.warn({ err: coerceError(err), taskId: s.message.headers.id }, `could not store ${state} for the task; going on without it`);
    if (!s.ackedEarly) throw err;
    const retries = { clock: app.clock, maxAttempts: app.settings.workerMaxDeliveries, baseDelayMs: app.settings.workerRedeliveryDelaySec * 1000, log, taskId: s.message.headers.id };
    await storeAfterEarlyAck(() => this.writer.storeFinal(s.message, s.delivery.queue, state, e.result, e.traceback, e.children), retries, err);
  }

  /** The state is stored: a ready state goes to the task's chord and chain, then the ending is reported. */
  private stored(s: Subject, e: Ending, row: OutcomeRow, state: NonNullable<OutcomeRow['state']>, runtime: number): Promise<void> | undefined {
    const reported = READY_STATES.has(state) ? afterFinalState(this.host.app, s.message, state, e.result, e.traceback) : undefined;
    if (reported === undefined) return this.report(s, e, row, runtime);
    return (row.bestEffort ? reported.catch(ignore) : reported).then(() => this.report(s, e, row, runtime));
  }

  /** The event, the log line and the signal of an ending, then {@link count}; undefined when nothing is left to wait for. */
  private report(s: Subject, e: Ending, row: OutcomeRow, runtime: number): Promise<void> | undefined {
    if (row.event !== null && e.announced !== true) this.host.emit(eventOf(row.event, s, e, runtime));
    logEnding(this.host.log, s, e, runtime);
    const announced = announceEnding(this.host.app.signals, s, e);
    return announced === undefined ? this.count(s, e, row) : announced.then(() => this.count(s, e, row));
  }

  /** The count, then the ack decision carried out; undefined when there is none to carry out. */
  private count(s: Subject, e: Ending, row: OutcomeRow): Promise<void> | undefined {
    if (row.counted && s.task !== undefined) this.host.countProcessed(s.task.name);
    const decision = row.ack(this.policy(s));
    if (this.host.log.isLevelEnabled('debug')) this.host.log.debug({ tag: s.delivery.tag, action: decision.action }, decision.reason);
    if (decision.action === 'none') return undefined;
    return this.settlement.settle(s.delivery, s.message, decision.action, decision.action === 'redeliver' ? coerceError(e.error) : null);
  }

  /** {@link conclude} inside the run's span, which ends with the final outcome (the first, when concluding threw first). */
  private async concludeTraced(s: Subject, first: Ending, traced: RunSpan): Promise<void> {
    const final = { ending: first };
    try {
      await inSpan(traced, () => this.conclude(s, first, final));
    } finally {
      const { kind, error } = final.ending;
      const state = OUTCOME_TABLE[kind].state;
      endRunSpan(traced, state, kind, error, state === 'FAILURE');
    }
  }

  /** The ack policy in force for the subject: its task's options over the app's settings. */
  private policy(s: Subject): AckPolicy {
    return this.traits.policy(s.task, s.ackedEarly);
  }
}

const ignore = (): void => undefined;

/** What an ending with nothing left to do returns. */
const DONE: Promise<void> = Promise.resolve();
