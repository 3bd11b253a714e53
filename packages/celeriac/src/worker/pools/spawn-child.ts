/**
 * @module worker/pools/spawn-child
 * Starting a pool child: a worker thread (`threads`) or a child process (`prefork`). Both
 * boot from the same CommonJS snippet, so that tsx is registered before the first ESM import
 * (hooks registered in the worker do not reach a new thread, and a new process has none),
 * then import child-main, which loads the app module. Each kind is wrapped as a
 * {@link ChildChannel}, the one shape the pool talks to. A thread also imports the modules the
 * worker was started with `--import` (Node runs them in the main thread only; a process runs
 * them itself), so an instrumentation preload (a tracer provider) is there in every thread.
 */
import { spawn } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker as NodeWorker } from 'node:worker_threads';
import type { Settings } from '../../core/settings.js';
import { isTypeScriptModule, tsxRegisterUrl } from '../../core/typescript-modules.js';
import { CHILD_DATA_ENV, type ChildData, type FromChild, type ToChild } from './child-protocol.js';

/** The kinds of pool children. */
export type ChildKind = 'thread' | 'process';

/** How a pool child ended: a process's exit code or signal; a thread has only a code. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One pool child as the pool sees it, whatever its kind. */
export interface ChildChannel {
  readonly kind: ChildKind;
  /** Thread id, or process id. */
  readonly id: number;
  post(message: ToChild): void;
  onMessage(listener: (message: FromChild) => void): void;
  offMessage(listener: (message: FromChild) => void): void;
  /** An error the child could not handle (a thread's uncaught exception, a process that could not spawn). */
  onError(listener: (error: Error) => void): void;
  offError(listener: (error: Error) => void): void;
  onExit(listener: (exit: ChildExit) => void): void;
  /**
   * Ends the child: a thread is terminated; a process gets `signal` (SIGTERM by default) and,
   * if it is still there after {@link KILL_GRACE_MS}, SIGKILL, as billiard does on a hard
   * time limit. Resolves once it has exited.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** How long a process may take to exit after a signal before it gets SIGKILL (billiard waits 0.1 s). */
export const KILL_GRACE_MS = 100;

// Compiled (dist) code runs child-main.js; from source (tests, tsx) child-main.ts.
const SELF = import.meta.url;
const FROM_SOURCE = SELF.endsWith('.ts');
const ENTRY = new URL(`./child-main.${FROM_SOURCE ? 'ts' : 'js'}`, SELF).href;

/** The global symbol (by `Symbol.for`) a pool child's boot sets, read by {@link isPoolChild}. */
const POOL_CHILD_MARK = 'celeriac.poolChild';

/**
 * True inside a child of the `threads` or `prefork` pool: every child imports the app module,
 * so its top-level code runs there too. Guard side effects that belong to the worker's own
 * process (sending tasks, starting a server) with `if (!isPoolChild())`.
 */
export function isPoolChild(): boolean {
  return (globalThis as Record<symbol, unknown>)[Symbol.for(POOL_CHILD_MARK)] === true;
}

// A failure before child-main runs (tsx missing, a syntax error in the entry) is reported as
// `fatal`, as child-main reports a module that cannot load. Only import(), no require: a
// thread inherits the worker's flags, and in a program run with `--input-type=module` its
// eval code is an ES module.
const BOOT = `
globalThis[Symbol.for('${POOL_CHILD_MARK}')] = true;
(async () => {
  const { workerData, parentPort } = await import('node:worker_threads');
  const data = parentPort ? workerData : JSON.parse(process.env.${CHILD_DATA_ENV});
  const post = (m) => (parentPort ? parentPort.postMessage(m) : process.send(m));
  try {
    if (data.tsx !== null && data.tsxFirst) (await import(data.tsx)).register();
    for (const spec of data.preloads) {
      await import(spec).catch((err) => console.warn('celeriac pool thread: --import ' + spec + ' failed in the thread: ' + (err && err.message || err)));
    }
    await import(data.entry);
  } catch (err) {
    post({ type: 'fatal', error: { record: { exc_type: 'Error', exc_message: [String(err && err.message || err)], exc_module: null }, stack: err && err.stack || null, codec: null, data: null } });
  }
})();
`;

/** What a child loads: the app module, and the settings to apply to its app. */
export interface ChildSpec {
  readonly appModule: string;
  /** The export that is the app; null: `app`, else the default export. */
  readonly appAttr: string | null;
  /** JSON values only (see ChildData.settings). */
  readonly settings: Settings;
}

/** Starts a child of `kind` that will load the app module. Throws APP_LOAD when tsx is needed and missing. */
export function spawnChild(kind: ChildKind, { appModule, appAttr, settings }: ChildSpec): ChildChannel {
  const tsx = FROM_SOURCE || isTypeScriptModule(appModule) ? tsxRegisterUrl(appModule) : null;
  const preloads = kind === 'thread' ? threadPreloads(process.execArgv, process.env['NODE_OPTIONS'], process.cwd()) : [];
  const tsxFirst = FROM_SOURCE || preloads.some(isTypeScriptModule);
  const data: ChildData = { appModule, appAttr, settings, entry: ENTRY, tsx, tsxFirst, preloads };
  return kind === 'thread' ? threadChannel(data) : processChannel(data);
}

/**
 * The modules a pool thread imports before the app: what `--import` named in the worker's
 * flags and NODE_OPTIONS, paths made absolute from `cwd` as Node resolves them; tsx is left
 * out (the boot registers it its own way).
 */
export function threadPreloads(execArgv: readonly string[], nodeOptions: string | undefined, cwd: string): string[] {
  const args = [...execArgv, ...(nodeOptions ?? '').split(/\s+/).filter((a) => a !== '')];
  const specs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--import' && i + 1 < args.length) specs.push(args[++i]!);
    else if (arg.startsWith('--import=')) specs.push(arg.slice('--import='.length));
  }
  return specs
    .map((spec) => spec.replace(/^(["'])(.*)\1$/, '$2'))
    .filter((spec) => spec !== '' && !/^tsx(\/|$)/.test(spec))
    .map((spec) => (/^\.{0,2}\//.test(spec) || isAbsolute(spec) ? pathToFileURL(resolve(cwd, spec)).href : spec));
}

/**
 * The worker's Node flags a prefork child runs with: all of them (memory limits, --import of
 * instrumentation), as with fork(), but a debugger port, which cannot be shared, and the
 * worker's own code given on the command line (`-e`/`-p` and their text, `--input-type`),
 * which would replace or reinterpret the child's boot code.
 */
export function childExecArgv(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i] as string;
    if (/^--inspect/.test(a) || /^--input-type=/.test(a) || /^--(eval|print)=/.test(a)) continue;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '--input-type') {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

function threadChannel(data: ChildData): ChildChannel {
  const thread = new NodeWorker(BOOT, { eval: true, workerData: data });
  let exited: Promise<void> | null = null;
  const gone = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  return {
    kind: 'thread',
    id: thread.threadId,
    post: (message) => thread.postMessage(message),
    onMessage: (l) => thread.on('message', l),
    offMessage: (l) => thread.off('message', l),
    onError: (l) => thread.on('error', l),
    offError: (l) => thread.off('error', l),
    onExit: (l) => thread.once('exit', (code) => l({ code, signal: null })),
    kill: () => (exited ??= thread.terminate().then(() => gone)),
  };
}

function processChannel(data: ChildData): ChildChannel {
  const child = spawn(process.execPath, [...childExecArgv(process.execArgv), '-e', BOOT], {
    // stdout and stderr are the worker's, so the app's log lines in the child show up there.
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    env: { ...process.env, [CHILD_DATA_ENV]: JSON.stringify(data) },
  });
  let exit: ChildExit | null = null;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    });
    // A process that could not be spawned at all never exits: count it as gone.
    child.once('error', () => {
      if (child.pid !== undefined) return;
      exit = { code: null, signal: null };
      resolve();
    });
  });
  return {
    kind: 'process',
    id: child.pid ?? -1,
    post: (message) => {
      // A child that is gone cannot be written to; its exit is what reports it.
      if (child.connected) child.send(message);
    },
    onMessage: (l) => child.on('message', l as (m: unknown) => void),
    offMessage: (l) => child.off('message', l as (m: unknown) => void),
    onError: (l) => child.on('error', l),
    offError: (l) => child.off('error', l),
    onExit: (l) => child.once('exit', (code, signal) => l({ code, signal })),
    kill: async (signal = 'SIGTERM') => {
      if (exit !== null) return;
      child.kill(signal);
      const grace = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      await gone;
      clearTimeout(grace);
    },
  };
}
