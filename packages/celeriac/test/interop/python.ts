/**
 * Python Celery as the interop oracle (Debian's 5.2.6 on /usr/bin/python3, or another from
 * ../support/oracles.ts through `PyEnv.oracle`): a worker process with a small tasks module,
 * and one-off producer scripts.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oracleEnv, type CeleryOracle } from '../support/oracles.js';
import { runPythonProcess, spawnPython, type PythonProcess } from '../support/py-forkserver.js';

/**
 * How long the oracle's results (and a mixed fleet's) live on the shared Redis, seconds.
 * Celery 5.2.6 puts no key prefix on results, and a canvas makes its children's ids itself,
 * so a suite cannot delete every result key it caused: they expire in 10 minutes instead
 * of Celery's day.
 */
export const TEST_RESULT_EXPIRES_SEC = 600;

/** The tasks a Python worker offers to interop tests. */
export const PY_TASKS = `
import os, time
from celery import Celery
app = Celery('interop', broker=os.environ['CELERY_BROKER'], backend=os.environ['CELERY_BACKEND'])
pfx = os.environ.get('CELERY_KEYPREFIX')
transport = {}
if pfx:
    transport['global_keyprefix'] = pfx
if os.environ.get('CELERY_VISIBILITY_TIMEOUT'):
    transport['visibility_timeout'] = float(os.environ['CELERY_VISIBILITY_TIMEOUT'])
if transport:
    app.conf.broker_transport_options = transport
app.conf.update(worker_send_task_events=False, result_extended=True, worker_hijack_root_logger=False, result_expires=${TEST_RESULT_EXPIRES_SEC},
                task_acks_late=os.environ.get('CELERY_ACKS_LATE') == '1', worker_prefetch_multiplier=1)

@app.task(name='py.add')
def add(x, y):
    return x + y

@app.task(name='py.fail')
def fail(msg='boom'):
    raise ValueError(msg)

@app.task(name='py.sleep')
def sleep(s):
    time.sleep(s)
    return s

@app.task(name='mix.add')
def mix_add(x, y):
    return x + y

@app.task(name='py.echo')
def echo(*args, **kwargs):
    return {'args': list(args), 'kwargs': kwargs}

@app.task(name='py.tsum')
def tsum(values):
    return sum(values)

@app.task(name='py.count')
def count(key, seconds=0, first_seconds=None):
    # Counts its runs in the result backend's Redis (so a test sees a second run), then sleeps
    # first_seconds on the first run (one to be killed) and seconds on later ones.
    # Celeriac's twin: test/failure/fixtures/tasks.ts.
    import redis
    n = redis.Redis.from_url(os.environ['CELERY_BACKEND']).incr(key)
    time.sleep(first_seconds if n == 1 and first_seconds is not None else seconds)
    return n
`;

/** Environment for Python processes. */
export interface PyEnv {
  broker: string;
  backend: string;
  /** kombu global_keyprefix for test isolation. */
  keyPrefix?: string;
  acksLate?: boolean;
  /** kombu's visibility_timeout transport option, seconds. @default kombu's 3600 */
  visibilityTimeout?: number;
  /** The Python Celery to run. @default Debian's 5.2.6 */
  oracle?: CeleryOracle;
  /** More environment for the Python processes (where a test oracle writes what it saw, ...). */
  extraEnv?: Readonly<Record<string, string>>;
}

/** The environment of a Python process for `py` (broker, backend, options, the oracle's PYTHONPATH). */
export function envFor(py: PyEnv): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CELERY_BROKER: py.broker,
    CELERY_BACKEND: py.backend,
    ...(py.keyPrefix ? { CELERY_KEYPREFIX: py.keyPrefix } : {}),
    ...(py.acksLate ? { CELERY_ACKS_LATE: '1' } : {}),
    ...(py.visibilityTimeout === undefined ? {} : { CELERY_VISIBILITY_TIMEOUT: String(py.visibilityTimeout) }),
    ...oracleEnv(py.oracle),
    PYTHONUNBUFFERED: '1',
    ...py.extraEnv,
  };
}

/** A running Python worker. */
export interface PyWorker {
  readonly process: PythonProcess;
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts a Python Celery worker and resolves once it logged `ready.`. */
export async function startPythonWorker(
  py: PyEnv,
  options: { queues?: string[]; name?: string; concurrency?: number; pool?: string; extraTasks?: string; /** -E and heartbeats on (monitor tests). */ events?: boolean; /** More `celery worker` flags. */ extraArgs?: string[] } = {},
): Promise<PyWorker> {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-py-'));
  writeFileSync(join(dir, 'interop_tasks.py'), PY_TASKS + (options.extraTasks ?? ''));
  const args = [
    '-m', 'celery', '--workdir', dir, '-A', 'interop_tasks', 'worker',
    '-Q', (options.queues ?? ['celery']).join(','),
    '-n', options.name ?? `py-${process.pid}@%h`,
    '-c', String(options.concurrency ?? 2), '-P', options.pool ?? 'prefork',
    '--without-mingle', '--without-gossip', ...(options.events ? ['-E'] : ['--without-heartbeat']), '-l', 'INFO',
    ...(options.extraArgs ?? []),
  ];
  const child = spawnPython(args, { env: envFor(py), cwd: dir });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`python worker not ready in 30 s:\n${output}`)), 30_000);
    const check = () => {
      if (/ready\./.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`python worker exited (${code}) before ready:\n${output}`));
    });
  });
  return {
    process: child,
    log: () => output,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs a Python script with the broker/backend env (forked from ../support/py-forkserver.ts's
 * server); resolves with stdout, rejects with stderr when it does not exit 0.
 */
export async function runPython(py: PyEnv, script: string, args: string[] = [], timeoutMs = 60_000): Promise<string> {
  const r = await runPythonProcess(['-c', script, ...args], { env: envFor(py), timeoutMs });
  if (r.status === 0) return r.stdout;
  const how = r.timedOut ? `timed out after ${timeoutMs} ms` : r.signal !== null ? `killed by ${r.signal}` : `exit ${r.status}`;
  throw new Error(`python failed (${how}):\n${r.stderr}`);
}

/** A Python preamble building a Celery app from the environment (for runPython scripts). */
export const PY_CLIENT = `
import os, sys, json
from celery import Celery
app = Celery(broker=os.environ['CELERY_BROKER'], backend=os.environ['CELERY_BACKEND'])
app.conf.result_expires = ${TEST_RESULT_EXPIRES_SEC}
pfx = os.environ.get('CELERY_KEYPREFIX')
if pfx:
    app.conf.broker_transport_options = {'global_keyprefix': pfx}
`;
