/**
 * @module cli/pidfile
 * `--pidfile` as Celery's: created exclusively with this process's id; a file whose process
 * is alive refuses the start (another worker holds it), a stale one (its process is gone, or
 * it holds no pid) is replaced. Removed at exit, only while it still holds our pid.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { CeleriacError, ErrorCodes } from '../errors.js';

/** True when a process with this id exists (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid a pidfile holds, or null when it holds none (empty, garbage, missing). */
export function readPidfile(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** A held pidfile. */
export interface Pidfile {
  readonly path: string;
  /** Removes the file if it still holds this process's id; idempotent, never throws. */
  release(): void;
}

/**
 * Creates `path` holding this process's id. Throws CeleriacError (STATE) when a live process
 * holds it; replaces a stale one. `pid` is the id written (tests).
 */
export function acquirePidfile(path: string, pid: number = process.pid): Pidfile {
  for (let attempt = 0; ; attempt += 1) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new CeleriacError(ErrorCodes.STATE, `cannot create pidfile ${path}: ${(err as Error).message}`, { cause: err });
      const holder = readPidfile(path);
      if (holder !== null && holder !== pid && processAlive(holder)) {
        throw new CeleriacError(ErrorCodes.STATE, `pidfile ${path} holds pid ${holder}, which is running: is a worker already running? (remove the file if that process is not one)`);
      }
      // Stale (or garbage, or ours from a crash of this very pid): replace it. Twice in a row
      // means another process keeps creating it: give up rather than fight.
      if (attempt > 0) throw new CeleriacError(ErrorCodes.STATE, `pidfile ${path} was re-created by another process while this one replaced it`);
      try {
        unlinkSync(path);
      } catch {
        // Gone already: the next open decides.
      }
      continue;
    }
    try {
      writeSync(fd, `${pid}\n`);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      path,
      release() {
        if (released) return;
        released = true;
        try {
          if (readPidfile(path) === pid) unlinkSync(path);
        } catch {
          // Best effort at exit.
        }
      },
    };
  }
}
