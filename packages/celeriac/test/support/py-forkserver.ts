/**
 * The interop tests' Python processes (producer scripts, `celery inspect ...`, Celery workers,
 * `celery events`), forked from a Python process that has imported Celery already
 * (fixtures/py_forkserver.py).
 *
 * Why: the suite is CPU-bound on the 2-core CI machine, and a Python process that imports
 * Celery spends 0.3 to 0.6 CPU-seconds on the imports before its first line of work; a run
 * started about 250 of them. A child forked from the server starts from its state just after
 * those imports: the same modules, none of them touched by another job, in the job's own
 * directory, environment and argv, with stdin from /dev/null. It is a process like any other:
 * a test signals it by its pid and reads its output as it comes.
 *
 * One server per test run and Python environment (the PYTHON* variables: an oracle's
 * PYTHONPATH is read at start-up), on a Unix socket named after the run's main process. The
 * first test process that needs one starts it; it ends once that main process has. A test
 * process that dies takes its children with it (the server kills a job whose client went away).
 *
 * `CELERIAC_TEST_PY_FORKSERVER=0` starts each one as a process of its own instead, to tell
 * whether a failure is the server's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const SERVER_SCRIPT = fileURLToPath(new URL('./fixtures/py_forkserver.py', import.meta.url));

/** The run's main process: a vitest worker's parent, else this process. The servers end with it. */
const OWNER = process.env['VITEST_POOL_ID'] === undefined ? process.pid : process.ppid;

/** What the tests use of a child process, for a Python process forked by the server or spawned. */
export interface PythonProcess {
  /** Undefined until the server has forked it. */
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  /** Sends `signal` (SIGTERM by default), once it has a pid. */
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  /** It could not be started (the reason is in its stderr too). */
  once(event: 'error', listener: (err: Error) => void): this;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
}

/** Where and with what a Python process runs. */
export interface PythonSpawnOptions {
  /** Its whole environment, as `spawn`'s `env`. */
  env: NodeJS.ProcessEnv;
  /** @default process.cwd() */
  cwd?: string;
}

/** Starts `python3 <argv>`: `argv` is `['-c', script, ...args]` or `['-m', module, ...args]`. */
export function spawnPython(argv: readonly string[], options: PythonSpawnOptions): PythonProcess {
  const cwd = options.cwd ?? process.cwd();
  if (process.env['CELERIAC_TEST_PY_FORKSERVER'] === '0') return spawn(PYTHON, [...argv], { env: options.env, cwd, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & PythonProcess;
  const env = definedEntries(options.env);
  const job = new ForkedPython();
  void job.run(argv, env, cwd);
  return job;
}

/** How a one-shot Python process ended and what it printed. */
export interface PythonResult {
  /** Its exit status; null when a signal ended it. */
  status: number | null;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether `timeoutMs` ran out (it was then sent SIGTERM). */
  timedOut: boolean;
}

/**
 * Runs `python3 <argv>` to completion. Resolves whatever its exit status; rejects only when it
 * could not run at all.
 */
export function runPythonProcess(argv: readonly string[], options: PythonSpawnOptions & { timeoutMs: number }): Promise<PythonResult> {
  return new Promise((resolve, reject) => {
    const child = spawnPython(argv, options);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (status, signal) => {
      clearTimeout(timer);
      // A ChildProcess's output may still be in its pipes at 'exit'; a forked one's has all come.
      setImmediate(() => resolve({ status, signal, stdout, stderr, timedOut }));
    });
  });
}

function definedEntries(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}

function signalName(signal: number | null): NodeJS.Signals | null {
  if (signal === null) return null;
  const entry = Object.entries(constants.signals).find(([, n]) => n === signal);
  return (entry?.[0] as NodeJS.Signals | undefined) ?? null;
}

type Reply = { pid: number } | { out: string } | { err: string } | { status: number | null; signal: number | null; cpuMs: number } | { error: string };

/** A job of the fork server, seen as a child process. */
class ForkedPython extends EventEmitter implements PythonProcess {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** Its CPU time, once it has exited. */
  cpuMs: number | undefined;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  #pendingSignal: NodeJS.Signals | undefined;
  #ended = false;

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.#ended) return false;
    if (this.pid === undefined) {
      this.#pendingSignal = signal;
      return true;
    }
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  async run(argv: readonly string[], env: Record<string, string>, cwd: string): Promise<void> {
    // A connection the server dropped before it said anything started nothing: a server that
    // died with the connection in its queue. The job is asked again, of a new server.
    for (let attempt = 1; ; attempt++) {
      let socket: Socket;
      try {
        socket = await connectToServer(env);
      } catch (err) {
        this.#end(err as Error);
        return;
      }
      const answered = await this.#job(socket, { argv, env, cwd });
      if (answered || attempt === 3) {
        if (!answered) this.#end(new Error('the Python fork server closed the connection before it started the job, three times'));
        return;
      }
      await delay(100);
    }
  }

  /** Runs the job over `socket`; resolves once the connection ends, with whether the server answered at all. */
  #job(socket: Socket, request: object): Promise<boolean> {
    return new Promise((resolve) => {
      let answered = false;
      let finished = false;
      socket.write(`${JSON.stringify(request)}\n`);
      const lines = createInterface({ input: socket });
      // readline passes on the socket's errors; a reset ends the job through 'close'.
      lines.on('error', () => {});
      lines.on('line', (line) => {
        answered = true;
        const reply = JSON.parse(line) as Reply;
        if ('pid' in reply) {
          this.pid = reply.pid;
          if (this.#pendingSignal !== undefined) this.kill(this.#pendingSignal);
        } else if ('out' in reply) this.stdout.write(reply.out);
        else if ('err' in reply) this.stderr.write(reply.err);
        else if ('error' in reply) {
          finished = true;
          this.#end(new Error(`the Python fork server could not start the job: ${reply.error}`));
        } else {
          finished = true;
          this.cpuMs = reply.cpuMs;
          this.#end(undefined, reply.status, signalName(reply.signal));
        }
      });
      socket.on('close', () => {
        if (answered && !finished) this.#end(new Error(`the Python fork server closed the connection before the job ended (pid ${this.pid ?? 'none yet'})`));
        resolve(answered);
      });
    });
  }

  #end(err: Error | undefined, status: number | null = null, signal: NodeJS.Signals | null = null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.exitCode = status;
    this.signalCode = signal;
    // As a child process that could not start: the reason in its stderr for a test that only
    // reads its output, and 'error' for whoever listens.
    if (err !== undefined) this.stderr.write(`${err.message}\n`);
    this.stdout.end();
    this.stderr.end();
    if (err !== undefined && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('exit', status, signal);
    this.emit('close', status, signal);
  }
}

/** The PYTHON* variables of `env`, which choose its server. */
function pythonVariables(env: NodeJS.ProcessEnv): [string, string][] {
  return Object.entries(definedEntries(env))
    .filter(([name]) => name.startsWith('PYTHON'))
    .sort();
}

/** The socket of the server for processes with `env`. */
export function forkServerPath(env: NodeJS.ProcessEnv): string {
  return join(tmpdir(), `celeriac-pyfork-${OWNER}-${createHash('sha256').update(JSON.stringify(pythonVariables(env))).digest('hex').slice(0, 12)}.sock`);
}

/** The connection for one job to this environment's server, which it starts when there is none. */
async function connectToServer(env: Record<string, string>): Promise<Socket> {
  const python = pythonVariables(env);
  const path = forkServerPath(env);
  const deadline = Date.now() + 30_000;
  let started = false;
  let refusedSince: number | undefined;
  for (;;) {
    try {
      return await tryConnect(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ECONNRESET: a server that died with this connection in its queue; asked again, its
      // socket file refuses, as below.
      if (code !== 'ENOENT' && code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw err;
      // Refused for a while: a server that died left its socket file (one starting listens
      // right after it binds).
      if (code === 'ECONNREFUSED' && !started) {
        refusedSince ??= Date.now();
        if (Date.now() - refusedSince > 2_000) {
          unlinkSync(path);
          startServer(path, python);
          started = true;
        }
      }
      if (code === 'ENOENT' && !started) {
        startServer(path, python);
        started = true;
      }
      if (Date.now() > deadline) throw new Error(`no Python fork server on ${path} after 30 s:\n${readLog(path)}`);
      await delay(20);
    }
  }
}

function tryConnect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      // A reset ends the job through 'close'.
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function startServer(path: string, python: [string, string][]): void {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PYTHON')));
  Object.assign(env, Object.fromEntries(python), { PYTHONUNBUFFERED: '1' });
  const log = openSync(`${path}.log`, 'a');
  try {
    spawn(PYTHON, [SERVER_SCRIPT, path, String(OWNER)], { env, detached: true, stdio: ['ignore', 'ignore', log] }).unref();
  } finally {
    closeSync(log);
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(`${path}.log`, 'utf8').slice(-4000);
  } catch {
    return '(no log)';
  }
}
