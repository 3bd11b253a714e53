/**
 * @module worker/pools/child-main
 * Entry of a pool child, a thread of the `threads` pool or a process of the `prefork` pool:
 * imports the app module, then runs the task bodies the worker sends, one at a time. The
 * child holds no broker or backend connection of its own for what the worker must see:
 * `ctx.updateState`, tasks sent from inside a task, the sizes of chords they send and parts
 * added to a chord go through the worker, so they land where the worker's own would (memory adapters included),
 * and so do the app's log lines (child-log.ts).
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { App } from '../../core/app.js';
import { pickExport } from '../../core/app-export.js';
import type { ChordJoinStore } from '../../core/spi/chord-join.js';
import type { Broker } from '../../core/spi/broker.js';
import type { Settings } from '../../core/settings.js';
import { ErrorCodes, coerceError } from '../../errors.js';
import { EncodeError, NotRegistered } from '../../core/task-errors.js';
import { traceTask, type TraceOutcome } from '../../core/trace.js';
import { flushTelemetry, underCarried } from '../../core/otel.js';
import { forwardingLogger } from './child-log.js';
import { decodeError, encodeError } from './error-transfer.js';
import { CHILD_DATA_ENV, type ChildCall, type ChildData, type FromChild, type ToChild } from './child-protocol.js';

/** How a child talks to the worker: its thread port, or its process's IPC channel. */
interface ParentLink {
  post(message: FromChild): void;
  listen(onMessage: (message: ToChild) => void): void;
  /** Memory to report after a run, in bytes. */
  memory(): number;
}

function parentLink(): ParentLink {
  const port = parentPort;
  if (port !== null) {
    return {
      post: (message) => port.postMessage(message),
      listen: (onMessage) => port.on('message', onMessage),
      // A thread has no memory of its own: its V8 heap is what a leak in task code grows.
      memory: () => getHeapStatistics().used_heap_size,
    };
  }
  if (process.send === undefined) throw new Error('child-main must run in a pool thread or a pool process');
  const send = process.send.bind(process);
  // The worker is gone (killed, crashed): nobody will send work or read results, and open
  // handles of the app (a connection pool) must not keep an orphan alive.
  process.once('disconnect', () => process.exit(0));
  // As Celery's pool children: a Ctrl-C on a terminal reaches the whole process group, and the
  // worker, not this child, decides what it means (a warm shutdown lets this child's task
  // finish; it ended here at once, the task lost). SIGUSR1 is the worker's to answer too: without
  // a listener node would open its inspector in this child, for any local user to attach to.
  for (const signal of ['SIGINT', 'SIGUSR1'] as const) process.on(signal, () => {});
  return {
    post: (message) => void send(message),
    listen: (onMessage) => process.on('message', (message) => onMessage(message as ToChild)),
    // As Celery measures a prefork child: its resident set.
    memory: () => process.memoryUsage.rss(),
  };
}

const link = parentLink();
const data = (parentPort !== null ? workerData : JSON.parse(process.env[CHILD_DATA_ENV] ?? '{}')) as ChildData;

const post = (message: FromChild): void => link.post(message);
const runs = new Map<number, AbortController>();
const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
let nextCallId = 1;

function call(request: ChildCall): Promise<void> {
  const callId = nextCallId++;
  return new Promise((resolve, reject) => {
    pending.set(callId, { resolve, reject });
    try {
      post({ type: 'call', callId, ...request });
    } catch (err) {
      // What the task passes (a state's meta nested too deep to clone) never left the child.
      pending.delete(callId);
      reject(new EncodeError(`a ${request.kind} call could not be passed from the pool child to the worker: ${coerceError(err).message}`));
    }
  });
}

function looksLikeApp(value: unknown): value is App {
  return typeof value === 'object' && value !== null && 'sendTask' in value && 'lookup' in value && 'tasks' in value;
}

/** `app[key]` with the methods in `routed` answered by the worker instead of the app's own adapter. */
function routeThroughWorker<K extends 'broker' | 'backend'>(app: App, key: K, routed: Partial<App[K]>): void {
  const own = (): App[K] => Reflect.get(Object.getPrototypeOf(app) as object, key, app) as App[K];
  const proxy = new Proxy({} as App[K], {
    get(_target, prop) {
      if (Object.hasOwn(routed, prop)) return (routed as Record<PropertyKey, unknown>)[prop];
      const target = own();
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  Object.defineProperty(app, key, { get: () => proxy, configurable: true });
}

/**
 * Sends `publish` through the worker, and the chord sizes of chords sent from a task and the
 * parts `ctx.addToChord` adds, so they land where the worker's own would; everything else
 * reaches the app's own adapters.
 */
function routePublishing(app: App): void {
  const publish: Broker['publish'] = (message, options) => call({ kind: 'publish', message, options });
  routeThroughWorker(app, 'broker', { publish });
  const setChordSize: ChordJoinStore['setChordSize'] = (groupId, size, options) => call({ kind: 'chord-size', groupId, size, options });
  const addToChord: NonNullable<ChordJoinStore['addToChord']> = (groupId, count, options) => call({ kind: 'chord-add', groupId, count, options });
  routeThroughWorker(app, 'backend', { setChordSize, addToChord });
}

async function loadApp(): Promise<App> {
  // tsx only now, for the app's own modules: the library is loaded already (ChildData.tsxFirst).
  if (data.tsx !== null && !data.tsxFirst) (await import(data.tsx)).register();
  const mod = (await import(data.appModule)) as Record<string, unknown>;
  const attr = data.appAttr ?? null;
  const app = attr === null ? (mod['app'] ?? mod['default']) : pickExport(mod, attr);
  if (!looksLikeApp(app)) throw new Error(`module ${data.appModule} exports no app (as ${attr === null ? '`app` or default' : `\`${attr}\``})`);
  return app;
}

async function run(app: App, msg: Extract<ToChild, { type: 'run' }>): Promise<void> {
  const { runId, message } = msg;
  const abort = new AbortController();
  runs.set(runId, abort);
  const task = app.lookup(message.headers.task);
  let outcome: TraceOutcome;
  if (task === undefined) {
    outcome = { ok: false, error: new NotRegistered(message.headers.task) };
  } else {
    outcome = await underCarried(msg.span, () =>
      traceTask(task, message, {
        hostname: msg.hostname,
        deliveryInfo: msg.deliveryInfo,
        isEager: false,
        timeLimit: msg.timeLimit,
        signal: abort.signal,
        log: app.log,
        updateState: (state, meta) => call({ kind: 'state', runId, state, meta }),
      }),
    );
  }
  runs.delete(runId);
  const memory = link.memory();
  const done = (o: Extract<FromChild, { type: 'done' }>['outcome']): FromChild => ({ type: 'done', runId, outcome: o, memory });
  const children = outcome.children === undefined ? {} : { children: outcome.children };
  try {
    post(outcome.ok ? done({ ok: true, value: outcome.value, ...children }) : done({ ok: false, error: encodeError(outcome.error), ...children }));
  } catch (err) {
    // A value or error structured clone refuses (nested some thousands of levels deep, a
    // function, a class instance with private state): the task fails as on the async pool,
    // where its result cannot be encoded. An error's refused clone, thrown out of here, ended the child.
    const what = outcome.ok ? 'result' : 'error';
    const why = new EncodeError(`the ${what} of task ${message.headers.task}[${message.headers.id}] could not be passed back from its pool child: ${coerceError(err).message}`);
    post(done({ ok: false, error: encodeError(why) }));
  }
}

function onMessage(app: App, msg: ToChild): void {
  if (msg.type === 'run') {
    void run(app, msg);
  } else if (msg.type === 'abort') {
    runs.get(msg.runId)?.abort(decodeError(msg.reason, ''));
  } else if (msg.type === 'flush') {
    void flushTelemetry().then(() => post({ type: 'flushed' }));
  } else {
    const waiter = pending.get(msg.callId);
    pending.delete(msg.callId);
    if (msg.error === null) waiter?.resolve();
    else waiter?.reject(decodeError(msg.error, ''));
  }
}

/**
 * Applies the worker's setting overrides (CLI flags) to the child's app. A module that opened
 * its broker or backend at import keeps that adapter: the other settings still apply.
 */
function applySettings(app: App, settings: Settings): void {
  if (Object.keys(settings).length === 0) return;
  try {
    app.overrideSettings(settings);
  } catch (err) {
    // By code, not class: the app module may have loaded another copy of celeriac.
    if ((err as { code?: unknown } | null)?.code !== ErrorCodes.STATE) throw err;
    const { broker: _broker, backend: _backend, ...rest } = settings;
    app.log.warn(`pool child: the app module opened its broker or backend at import, so the worker's broker and backend URLs do not apply to it`);
    app.overrideSettings(rest);
  }
}

try {
  const app = await loadApp();
  // Lines go to the worker, which writes them where and as its own (--logfile, --log-format).
  // A child that lost its worker exits (see parentLink): a line then has nowhere to go.
  app.useLogger(forwardingLogger(app.settings.logLevel, (line) => process.connected !== false && post({ type: 'log', line })));
  applySettings(app, data.settings ?? {});
  routePublishing(app);
  // Celery's worker_process_init: per-child setup (a connection pool, a tracer) before any task.
  await app.signals.emit('workerProcessInit', { pid: process.pid, threadId });
  link.listen((msg) => onMessage(app, msg));
  post({ type: 'ready', tasks: [...app.tasks.keys()] });
} catch (err) {
  post({ type: 'fatal', error: encodeError(err) });
}
