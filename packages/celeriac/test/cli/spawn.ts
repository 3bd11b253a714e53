/**
 * Runs the real `celeriac` bin in a child process, bounded by a timeout, and keeps every
 * child it started so `killAll()` (called from afterEach) leaves nothing running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledModule } from '../support/node-script.js';

/** The repository root (where `npm run build` runs). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The bin under test. */
export const BIN = fileURLToPath(new URL('../../bin/celeriac.js', import.meta.url));
/** Working directory of the children: `-A fixtures/app.ts` resolves from here. */
export const CLI_DIR = fileURLToPath(new URL('./', import.meta.url));

/**
 * `-A` for the fixture `name` (`'app'`: fixtures/app.ts) in a test that is not about loading
 * TypeScript: compiled against dist/ when current (test/support/node-script.ts), so the bin and
 * its pool children load it with no tsx; else the .ts itself. Tests of `-A app.ts` name the .ts.
 */
export function fixtureApp(name: string): string {
  return compiledModule(join(CLI_DIR, 'fixtures', `${name}.ts`)) ?? `fixtures/${name}.ts`;
}

/** How a child ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `celeriac` process. */
export interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the child exited (or was killed by the timeout). */
  exited: Promise<Exit>;
  /** Resolves once stdout+stderr match `pattern`; rejects after `timeoutMs` or on exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

const children = new Set<ChildProcess>();

/** How to start the bin: extra environment, node flags before the script, a time bound. */
export interface SpawnOptions {
  env?: Record<string, string>;
  /** Flags for node itself (e.g. `--import` a hook). */
  nodeArgs?: readonly string[];
  timeoutMs?: number;
  /** Run the child as this user id (the tests run as root). */
  uid?: number;
  /** Working directory. @default CLI_DIR */
  cwd?: string;
  /** In a process group of its own, as a terminal's job: `process.kill(-pid, signal)` reaches the whole group. */
  group?: boolean;
}

/** Starts `node bin/celeriac.js ...args`, killed with SIGKILL after `timeoutMs`. */
export function spawnCli(args: readonly string[], options: SpawnOptions = {}): Cli {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  for (const key of Object.keys(env)) if (key.startsWith('CELERY_') || key.startsWith('CELERIAC_')) delete env[key];
  Object.assign(env, options.env);
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], { cwd: options.cwd ?? CLI_DIR, env, stdio: ['ignore', 'pipe', 'pipe'], ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }), ...(options.group === true ? { detached: true } : {}) });
  children.add(child);
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const l of listeners) l();
  };
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    changed();
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
    changed();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      children.delete(child);
      changed();
      resolve({ code, signal });
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const text = out + err;
        const match = pattern.exec(text);
        if (match !== null) {
          finish();
          resolve(match[0]);
        } else if (done) {
          finish();
          reject(new Error(`process exited before ${pattern} appeared.\nstdout:\n${out}\nstderr:\n${err}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${pattern} did not appear within ${timeoutMs} ms.\nstdout:\n${out}\nstderr:\n${err}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return { child, stdout: () => out, stderr: () => err, exited, waitFor };
}

/** Runs the bin to completion and returns its exit and output. */
export async function runCli(args: readonly string[], options: SpawnOptions = {}) {
  const cli = spawnCli(args, options);
  const exit = await cli.exited;
  return { ...exit, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Pids of detached processes a test started (`--detach`, `multi start`): killAll SIGKILLs them too. */
export const detached: number[] = [];

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether process `pid` runs the bin under test; whether it lives where there is no /proc. */
function runsBin(pid: number): boolean {
  if (!existsSync('/proc/self/cmdline')) return alive(pid);
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(BIN);
  } catch {
    return false; // gone
  }
}

/** Kills every child still running, and every detached process recorded in `detached` (afterEach). */
export async function killAll(): Promise<void> {
  for (const pid of detached.splice(0)) {
    // Most have exited by now, and a busy machine reuses pids within minutes (pid_max is
    // often 32768): only a process that still runs this bin is ours to kill.
    if (!runsBin(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const waits: Promise<unknown>[] = [];
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((resolve) => child.once('close', resolve)));
      child.kill('SIGKILL');
    }
  }
  children.clear();
  await Promise.all(waits);
}
