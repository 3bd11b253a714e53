/**
 * @module worker/pools/task-thread
 * The worker's handle on one pool thread: starts it (loading the app module, TypeScript
 * through tsx), hands it one run at a time, relays its `ctx.updateState` and publish
 * requests, and ends it. A thread that dies mid-run fails that run with `WorkerLostError`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker as NodeWorker } from 'node:worker_threads';
import type { StoreOptions } from '../../core/spi/backend.js';
import type { PublishOptions } from '../../core/spi/broker.js';
import { WorkerLostError, type SoftTimeLimitExceeded } from '../../core/task-errors.js';
import type { TraceOutcome } from '../../core/trace.js';
import { isTypeScriptModule, tsxMissingError } from '../../core/typescript-modules.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';
import type { DeliveryInfo, Json, Message, TaskMessage, TaskState } from '../../protocol/types.js';
import { decodeError, encodeError } from './error-transfer.js';
import type { FromThread, ThreadCall, ThreadData, ToThread } from './thread-protocol.js';

/** What a thread asks of the worker besides running tasks. */
export interface ThreadHost {
  publish(message: Message, options: PublishOptions): Promise<void>;
  setChordSize(groupId: string, size: number, options: StoreOptions): Promise<void>;
}

/** One run as the thread needs it. */
export interface ThreadRun {
  readonly message: TaskMessage;
  readonly hostname: string;
  readonly deliveryInfo: DeliveryInfo;
  readonly timeLimit: readonly [number | null, number | null];
  updateState(state: TaskState, meta: Json): Promise<void>;
}

// Compiled (dist) code runs thread-main.js; from source (tests, tsx) thread-main.ts.
const SELF = import.meta.url;
const FROM_SOURCE = SELF.endsWith('.ts');
const ENTRY = new URL(`./thread-main.${FROM_SOURCE ? 'ts' : 'js'}`, SELF).href;

// The thread starts from a CommonJS snippet, so that tsx is registered before the first ESM
// import: hooks registered in the worker's own thread do not reach new threads.
const BOOT = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  if (workerData.tsx !== null) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((err) => parentPort.postMessage({ type: 'fatal', error: { record: { exc_type: 'Error', exc_message: [String(err && err.message || err)], exc_module: null }, stack: err && err.stack || null, codec: null, data: null } }));
`;

let tsxUrl: string | undefined;
/** URL of tsx's ESM register API, found through tsx's own package exports. */
function tsxApi(module: string): string {
  if (tsxUrl === undefined) {
    let manifest: string;
    try {
      manifest = createRequire(SELF).resolve('tsx/package.json');
    } catch (err) {
      throw tsxMissingError(module, err);
    }
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
    tsxUrl = new URL(pkg.exports['./esm/api']!.import.default, pathToFileURL(manifest)).href;
  }
  return tsxUrl;
}

/** A running pool thread. */
export class TaskThread {
  /** Runs finished on this thread. */
  tasksRun = 0;
  /** V8 heap in use after the last run, in bytes. */
  heapUsed = 0;
  private nextRunId = 1;
  private current: { runId: number; run: ThreadRun; settle: (outcome: TraceOutcome) => void } | null = null;
  private exited = false;

  private constructor(
    private readonly thread: NodeWorker,
    private readonly host: ThreadHost,
  ) {}

  /** Node's thread id. */
  get threadId(): number {
    return this.thread.threadId;
  }

  /** True while a run is in progress. */
  get busy(): boolean {
    return this.current !== null;
  }

  /** True once the thread has ended (terminated, crashed or failed to start). */
  get dead(): boolean {
    return this.exited;
  }

  /** Starts a thread and waits until it loaded the app module. */
  static start(appModule: string, host: ThreadHost): Promise<TaskThread> {
    const tsx = FROM_SOURCE || isTypeScriptModule(appModule) ? tsxApi(appModule) : null;
    const thread = new NodeWorker(BOOT, { eval: true, workerData: { appModule, entry: ENTRY, tsx } satisfies ThreadData & Record<string, unknown> });
    const handle = new TaskThread(thread, host);
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        void thread.terminate();
        reject(new CeleriacError(ErrorCodes.APP_LOAD, `threads pool: a thread could not load ${appModule}: ${err.message}`, { cause: err }));
      };
      thread.once('error', fail);
      thread.once('exit', (code) => {
        handle.exited = true;
        fail(new Error(`thread exited with code ${code}`));
        handle.lost(`pool thread exited with code ${code}`);
      });
      const onFirst = (msg: FromThread) => {
        thread.off('message', onFirst);
        thread.off('error', fail);
        if (msg.type === 'fatal') return fail(decodeError(msg.error, ''));
        thread.on('message', (m: FromThread) => handle.onMessage(m));
        thread.on('error', (err) => handle.lost(`pool thread crashed: ${coerceError(err).message}`));
        resolve(handle);
      };
      thread.on('message', onFirst);
    });
  }

  /** Runs a task body on this thread; the thread must be idle. */
  run(run: ThreadRun): Promise<TraceOutcome> {
    if (this.exited) return Promise.resolve({ ok: false, error: new WorkerLostError('pool thread is gone') });
    if (this.current !== null) throw new CeleriacError(ErrorCodes.STATE, 'pool thread is busy');
    const runId = this.nextRunId++;
    return new Promise((settle) => {
      this.current = { runId, run, settle };
      const { message, hostname, deliveryInfo, timeLimit } = run;
      this.send({ type: 'run', runId, message, hostname, deliveryInfo, timeLimit });
    });
  }

  /** Aborts the current run's `ctx.signal` (seen when the task next yields to its event loop). */
  softLimit(reason: SoftTimeLimitExceeded): void {
    if (this.current !== null) this.send({ type: 'abort', runId: this.current.runId, reason: encodeError(reason) });
  }

  /** Ends the thread, whatever it is doing. */
  async terminate(): Promise<void> {
    this.exited = true;
    this.current = null;
    await this.thread.terminate();
  }

  private send(msg: ToThread): void {
    if (!this.exited) this.thread.postMessage(msg);
  }

  private lost(why: string): void {
    this.exited = true;
    const current = this.current;
    this.current = null;
    current?.settle({ ok: false, error: new WorkerLostError(why) });
  }

  private onMessage(msg: FromThread): void {
    if (msg.type === 'done') {
      const current = this.current;
      if (current === null || current.runId !== msg.runId) return;
      this.current = null;
      this.tasksRun += 1;
      this.heapUsed = msg.heapUsed;
      const taskId = current.run.message.headers.id;
      current.settle(msg.outcome.ok ? msg.outcome : { ok: false, error: decodeError(msg.outcome.error, taskId) });
    } else if (msg.type === 'call') {
      void this.serve(msg).then(
        () => this.send({ type: 'reply', callId: msg.callId, error: null }),
        (err: unknown) => this.send({ type: 'reply', callId: msg.callId, error: encodeError(err) }),
      );
    }
  }

  private serve(request: ThreadCall): Promise<void> {
    if (request.kind === 'publish') return this.host.publish(request.message, request.options);
    if (request.kind === 'chord-size') return this.host.setChordSize(request.groupId, request.size, request.options);
    const current = this.current;
    // A state from a run that already ended (it cannot happen in order, but be safe) is dropped.
    if (current === null || current.runId !== request.runId) return Promise.resolve();
    return current.run.updateState(request.state, request.meta);
  }
}
