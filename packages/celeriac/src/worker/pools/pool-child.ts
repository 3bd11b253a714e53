/**
 * @module worker/pools/pool-child
 * The worker's handle on one pool child, a thread or a process (spawn-child.ts): starts it
 * and waits until it loaded the app module, hands it one run at a time, relays its
 * `ctx.updateState`, publish and chord requests and its log lines, and ends it. A child that dies mid-run fails that
 * run with `WorkerLostError`, worded as billiard words it.
 */
import { constants } from 'node:os';
import type { Logger } from 'pino';
import type { CarriedSpan } from '../../core/otel.js';
import type { StoreOptions } from '../../core/spi/backend.js';
import type { PublishOptions } from '../../core/spi/broker.js';
import { EncodeError, WorkerLostError, type SoftTimeLimitExceeded } from '../../core/task-errors.js';
import type { TraceOutcome } from '../../core/trace.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import type { DeliveryInfo, Json, Message, TaskMessage, TaskState } from '../../protocol/types.js';
import type { ChildCall, FromChild, ToChild } from './child-protocol.js';
import { childLogRelay, childProcessName } from './child-log.js';
import { decodeError, encodeError } from './error-transfer.js';
import { spawnChild, type ChildChannel, type ChildExit, type ChildKind, type ChildSpec } from './spawn-child.js';

/** What a child asks of the worker besides running tasks. */
export interface ChildHost {
  /** The worker's logger: the child's log lines are written through it. */
  readonly log: Logger;
  publish(message: Message, options: PublishOptions): Promise<void>;
  setChordSize(groupId: string, size: number, options: StoreOptions): Promise<void>;
  addToChord(groupId: string, count: number, options: StoreOptions): Promise<void>;
}

/** One run as the child needs it. */
export interface ChildRun {
  readonly message: TaskMessage;
  readonly hostname: string;
  readonly deliveryInfo: DeliveryInfo;
  readonly timeLimit: readonly [number | null, number | null];
  /** The worker's run span, when it traces. */
  readonly span: CarriedSpan | undefined;
  updateState(state: TaskState, meta: Json): Promise<void>;
}

/** billiard's `human_status`: `exitcode 3`, `signal 9 (SIGKILL)`. */
export function humanStatus(exit: ChildExit): string {
  if (exit.signal !== null) return `signal ${constants.signals[exit.signal] ?? '?'} (${exit.signal})`;
  return `exitcode ${exit.code ?? 0}`;
}

const closingError = () => new CeleriacError(ErrorCodes.STATE, 'pool is closing');

/** A running pool child. */
export class PoolChild {
  /** Runs finished on this child. */
  tasksRun = 0;
  /** Memory after the last run, in bytes (a thread's heap, a process's resident set). */
  memory = 0;
  private nextRunId = 1;
  private current: { runId: number; run: ChildRun; settle: (outcome: TraceOutcome) => void } | null = null;
  private exited = false;

  private constructor(
    private readonly channel: ChildChannel,
    private readonly host: ChildHost,
  ) {}

  /** Thread id or process id. */
  get id(): number {
    return this.channel.id;
  }

  /** True while a run is in progress. */
  get busy(): boolean {
    return this.current !== null;
  }

  /** True once the child has ended (killed, crashed or failed to start). */
  get dead(): boolean {
    return this.exited;
  }

  /**
   * Starts a child and waits until it loaded the app module. `stop` aborted while it loads
   * (the pool closes) ends the child at once and rejects with a STATE error: an app module
   * that takes minutes to load, or hundreds of children loading at once, must not hold up a
   * shutdown.
   */
  static start(kind: ChildKind, spec: ChildSpec, host: ChildHost, stop: AbortSignal): Promise<PoolChild> {
    const { appModule } = spec;
    if (stop.aborted) return Promise.reject(closingError());
    const channel = spawnChild(kind, spec);
    const handle = new PoolChild(channel, host);
    const what = kind === 'thread' ? 'a thread' : 'a child process';
    // First, so that lines logged while the app module loads (before `ready`) are written too.
    const relay = childLogRelay(host.log, childProcessName(kind, channel.id));
    channel.onMessage((msg) => {
      if (msg.type === 'log') relay(msg.line);
    });
    return new Promise((resolve, reject) => {
      const abandon = () => {
        handle.exited = true;
        void channel.kill('SIGKILL');
        reject(closingError());
      };
      stop.addEventListener('abort', abandon, { once: true });
      const fail = (err: Error) => {
        stop.removeEventListener('abort', abandon);
        void channel.kill('SIGKILL');
        reject(new CeleriacError(ErrorCodes.APP_LOAD, `${kind === 'thread' ? 'threads' : 'prefork'} pool: ${what} could not load ${appModule}: ${err.message}`, { cause: err }));
      };
      channel.onError(fail);
      channel.onExit((exit) => {
        handle.exited = true;
        fail(new Error(`${what} exited with ${humanStatus(exit)}`));
        handle.lost(`Worker exited prematurely: ${humanStatus(exit)}`);
      });
      const onFirst = (msg: FromChild) => {
        if (msg.type === 'log') return;
        stop.removeEventListener('abort', abandon);
        channel.offMessage(onFirst);
        channel.offError(fail);
        if (msg.type === 'fatal') return fail(decodeError(msg.error, ''));
        channel.onMessage((m) => handle.onMessage(m));
        channel.onError((err) => handle.lost(`pool ${kind} crashed: ${coerceError(err).message}`));
        resolve(handle);
      };
      channel.onMessage(onFirst);
    });
  }

  /** Runs a task body on this child; the child must be idle. */
  run(run: ChildRun): Promise<TraceOutcome> {
    if (this.exited) return Promise.resolve({ ok: false, error: new WorkerLostError('pool child is gone') });
    if (this.current !== null) throw new CeleriacError(ErrorCodes.STATE, 'pool child is busy');
    const runId = this.nextRunId++;
    return new Promise((settle) => {
      this.current = { runId, run, settle };
      const { message, hostname, deliveryInfo, timeLimit, span } = run;
      try {
        this.send(span === undefined ? { type: 'run', runId, message, hostname, deliveryInfo, timeLimit } : { type: 'run', runId, message, hostname, deliveryInfo, timeLimit, span });
      } catch (err) {
        // Never handed over (arguments too deep for postMessage's structured clone): the child
        // stays idle. Thrown out of here, it left the child marked busy, and every task the
        // pool gave it after waited for ever.
        this.current = null;
        settle({ ok: false, error: new EncodeError(`the message of task ${message.headers.task}[${message.headers.id}] could not be passed to a pool child: ${coerceError(err).message}`) });
      }
    });
  }

  /** Aborts the current run's `ctx.signal` (seen when the task next yields to its event loop). */
  softLimit(reason: SoftTimeLimitExceeded): void {
    if (this.current !== null) this.send({ type: 'abort', runId: this.current.runId, reason: encodeError(reason) });
  }

  /**
   * Asks the child to export what its tracer and meter providers hold; resolves when it says
   * it did, when it is gone, or after `timeoutMs`.
   */
  flush(timeoutMs: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.channel.offMessage(listener);
        resolve();
      };
      const listener = (msg: FromChild) => {
        if (msg.type === 'flushed') done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.channel.onMessage(listener);
      this.send({ type: 'flush' });
    });
  }

  /** Ends the child, whatever it is doing; a process gets `signal` first (see ChildChannel.kill). */
  async terminate(signal?: NodeJS.Signals): Promise<void> {
    this.exited = true;
    this.current = null;
    await this.channel.kill(signal);
  }

  private send(msg: ToChild): void {
    if (!this.exited) this.channel.post(msg);
  }

  private lost(why: string): void {
    this.exited = true;
    const current = this.current;
    this.current = null;
    current?.settle({ ok: false, error: new WorkerLostError(`${why} Job: ${current.runId}.`) });
  }

  private onMessage(msg: FromChild): void {
    if (msg.type === 'done') {
      const current = this.current;
      if (current === null || current.runId !== msg.runId) return;
      this.current = null;
      this.tasksRun += 1;
      this.memory = msg.memory;
      const taskId = current.run.message.headers.id;
      const children = msg.outcome.children === undefined ? {} : { children: msg.outcome.children };
      current.settle(msg.outcome.ok ? msg.outcome : { ok: false, error: decodeError(msg.outcome.error, taskId), ...children });
    } else if (msg.type === 'call') {
      void this.serve(msg).then(
        () => this.send({ type: 'reply', callId: msg.callId, error: null }),
        (err: unknown) => this.send({ type: 'reply', callId: msg.callId, error: encodeError(err) }),
      );
    }
  }

  private async serve(request: ChildCall): Promise<void> {
    if (request.kind === 'publish') return this.host.publish(request.message, request.options);
    if (request.kind === 'chord-size') return this.host.setChordSize(request.groupId, request.size, request.options);
    if (request.kind === 'chord-add') return this.host.addToChord(request.groupId, request.count, request.options);
    const current = this.current;
    // A state from a run that already ended (it cannot happen in order, but be safe) is dropped.
    if (current === null || current.runId !== request.runId) return;
    return current.run.updateState(request.state, request.meta);
  }
}
