/**
 * @module core/module-thread
 * Starts a worker thread on a module of this package, from its compiled `.js` (dist) or,
 * when running from source (tests, tsx), its `.ts` through tsx: hooks registered in this
 * thread do not reach a new one, so the thread registers tsx itself before the first import.
 * The module reads what it was given as `workerData.data`.
 */
import { Worker } from 'node:worker_threads';
import { isTypeScriptModule, tsxRegisterUrl } from './typescript-modules.js';

/** What the boot snippet hands a module thread (`workerData`). */
export interface ModuleThreadData<T> {
  readonly entry: string;
  readonly tsx: string | null;
  readonly data: T;
}

// A failure to boot (tsx missing, a syntax error) becomes the thread's 'error' event. Only
// import(), no require: a thread inherits the process's flags, and in a program run with
// `--input-type=module` its eval code is an ES module.
const BOOT = `
(async () => {
  const { workerData } = await import('node:worker_threads');
  if (workerData.tsx !== null) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((err) => { setImmediate(() => { throw err; }); });
`;

/**
 * Starts a background thread running `entry` (a URL beside the caller: `new URL('./x.js',
 * import.meta.url)` resolves to x.ts from source), its messages to `onMessage`. The thread never
 * keeps the process alive: it is unref'd after the listener is added, since adding a 'message'
 * listener refs a worker again (Node 20), and a keeper lingering after its last session would
 * hold a closed app's process open until it ends. Throws APP_LOAD when the entry is TypeScript
 * and tsx is missing.
 */
export function startModuleThread<T, M>(entry: URL, data: T, name: string, onMessage: (message: M) => void): Worker {
  const href = entry.href.replace(/\.js$/, import.meta.url.endsWith('.ts') ? '.ts' : '.js');
  const workerData: ModuleThreadData<T> = { entry: href, tsx: isTypeScriptModule(href) ? tsxRegisterUrl(href) : null, data };
  const thread = new Worker(BOOT, { eval: true, workerData, name });
  thread.on('message', onMessage);
  thread.unref();
  return thread;
}
