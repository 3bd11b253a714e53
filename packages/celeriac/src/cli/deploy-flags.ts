/**
 * @module cli/deploy-flags
 * The deployment flags `worker` and `beat` share, as Celery's: `-D/--detach`, `--pidfile`,
 * `-f/--logfile`, `--log-format`, `--uid`, `--gid`, `--umask`, `--executable`. In order: paths
 * expanded for the node, the umask set, privileges dropped (before the app module is loaded,
 * and before detaching, as Celery does), detach (the command starts again in the background,
 * on `--executable` when given, and this one is done), then, once the app is loaded, its
 * logger, and the pidfile, taken once the command's signal handlers are on and held until it
 * ends.
 */
import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { App } from '../core/app.js';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { DETACHED_ENV, detach, dropPrivileges } from './daemon.js';
import { type CliContext, UsageError } from './io.js';
import { createLogger, LOG_FORMATS, type LogFormat } from '../core/log.js';
import { makeDirs } from '../core/make-dirs.js';
import { expandPathTemplate } from './path-template.js';
import { acquirePidfile, type Pidfile } from './pidfile.js';

/** The flags as commander gives them. */
export interface DeployFlags {
  detach?: boolean;
  pidfile?: string;
  logfile?: string;
  logFormat?: string;
  uid?: string;
  gid?: string;
  umask?: string;
  executable?: string;
}

/** Declares the flags on `command`. */
export function addDeployFlags(command: Command, what: 'worker' | 'beat'): Command {
  return command
    .option('-D, --detach', `start ${what === 'worker' ? 'the worker' : 'beat'} as a background process and return`)
    .option('--pidfile <path>', 'write the process id here; refuse to start while a live process holds it (%n node name, %h host, %p full node name)')
    .option('-f, --logfile <path>', 'append log lines to this file instead of stdout (%n, %h, %p, %i, %I as in Celery)')
    .option('--log-format <format>', 'human (as Celery prints), json, or auto: human on a terminal, json otherwise (setting logFormat; default auto)')
    .option('--uid <user>', 'run as this user (name or number) once started; needs root')
    .option('--gid <group>', 'run as this group (name or number) once started; needs root')
    .option('--umask <mask>', 'file mode creation mask of the process, as Celery reads it: octal when it starts with 0 (022), else decimal')
    .option('--executable <path>', 'the node binary that runs the background process of --detach (default: this one)');
}

/**
 * `--umask` as Celery reads it (`celery.platforms.DaemonContext`): octal when the text starts
 * with 0, else decimal.
 */
export function parseUmask(text: string): number {
  const octal = text.startsWith('0');
  const digits = octal ? text.replace(/^0o?/i, '') || '0' : text;
  const value = (octal ? /^[0-7]+$/ : /^\d+$/).test(digits) ? Number.parseInt(digits, octal ? 8 : 10) : Number.NaN;
  if (!(value >= 0 && value <= 0o777)) throw new UsageError(`--umask must be a mask from 0 to 0777 (octal when it starts with 0, else decimal, as Celery), got ${JSON.stringify(text)}`);
  return value;
}

/** What the command goes on with when it did not detach. */
export interface Deployment {
  /** Installs the CLI logger on the app when the flags or a terminal ask for one. */
  useLogging(app: App): void;
  /**
   * Runs the long-lived command `work` as a service: the pidfile (if any) taken first and
   * released after it or at exit, the event loop held open meanwhile (adapters unref their
   * timers, and memory:// has no socket: node would exit with code 13 on a pending await).
   * Call it once SIGTERM and SIGINT have listeners, and pass what removes them; it runs when
   * the pidfile cannot be taken and once `work` ends. Without a listener node dies of those
   * signals with no 'exit' event, and a supervisor's stop right after its start left the file.
   */
  holding<T>(removeSignals: () => void, work: () => Promise<T>): Promise<T>;
  /**
   * Starts the command again in the background, as `--detach` did, when this process is such a
   * background copy (it has no supervisor to do it): a worker's restart on SIGHUP, once this
   * one has stopped and let go of its pidfile. Returns the new process's pid, or null when this
   * process was not detached.
   */
  restart(): number | null;
}

/** Runs `open`; a failure to make or open the log file is said as such, without a stack (as the pidfile's). */
function logFileError<T>(logfile: string | undefined, open: () => T): T {
  try {
    return open();
  } catch (err) {
    if (logfile === undefined) throw err;
    throw new CeleriacError(ErrorCodes.STATE, `cannot open log file ${logfile}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Applies the flags that come before the app is loaded. Null when the command detached: a
 * background copy of it runs now, and this one must end (exit 0).
 */
export function deploy(ctx: CliContext, flags: DeployFlags, nodename: string): Deployment | null {
  const logfile = flags.logfile === undefined ? undefined : resolve(ctx.io.cwd, expandPathTemplate(flags.logfile, nodename));
  const pidPath = flags.pidfile === undefined ? undefined : resolve(ctx.io.cwd, expandPathTemplate(flags.pidfile, nodename));
  const format = flags.logFormat?.toLowerCase() as LogFormat | undefined;
  if (format !== undefined && !LOG_FORMATS.includes(format)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(flags.logFormat)}`);
  const executable = flags.executable === undefined ? undefined : resolve(ctx.io.cwd, flags.executable);
  if (executable !== undefined) {
    try {
      accessSync(executable, constants.X_OK);
    } catch {
      throw new UsageError(`--executable ${JSON.stringify(flags.executable)}: no executable file there`);
    }
  }
  // Before any file is made: the log file, the pidfile, and the background copy's (which
  // gets the flag again) are created under it. Celery applies it to the detached process only.
  if (flags.umask !== undefined) process.umask(parseUmask(flags.umask));
  // Read once and taken out of the environment, so that a process this one starts (a task's,
  // a pool child) does not take itself for a detached copy.
  const background = process.env[DETACHED_ENV] === '1';
  delete process.env[DETACHED_ENV];
  if (flags.detach === true && (ctx.app !== undefined || ctx.argv === undefined)) {
    throw new UsageError('--detach needs the celeriac command line (it starts the command again in the background)');
  }
  // Before detaching, as Celery's `detached()` does: the log file is then made by the user the
  // worker runs as (one made by root refused it, and the background copy died at its first
  // line), and a switch this process may not make is refused here, not in the background.
  dropPrivileges(flags.uid, flags.gid);
  if (flags.detach === true && ctx.argv !== undefined) {
    if (logfile !== undefined) logFileError(logfile, () => makeDirs(dirname(logfile)));
    detach(ctx.argv, ctx.io.cwd, logfile === undefined ? 'discard' : { logfile }, executable);
    return null;
  }
  return {
    useLogging(app) {
      // The app's own logger already writes as its logFormat setting says (createApp).
      if (logfile === undefined && (format === undefined || format === app.settings.logFormat)) return;
      const logger = logFileError(logfile, () => createLogger({ level: app.settings.logLevel, format: format ?? app.settings.logFormat, ...(logfile === undefined ? {} : { file: logfile }) }));
      app.useLogger(logger);
    },
    async holding(removeSignals, work) {
      const keepAlive = setInterval(() => {}, 1 << 30);
      let pidfile: Pidfile | undefined;
      const release = () => pidfile?.release();
      try {
        if (pidPath !== undefined) pidfile = acquirePidfile(pidPath);
        process.once('exit', release);
        return await work();
      } finally {
        clearInterval(keepAlive);
        removeSignals();
        release();
        process.off('exit', release);
      }
    },
    restart() {
      return background && ctx.argv !== undefined ? detach(ctx.argv, ctx.io.cwd, 'inherit', executable) : null;
    },
  };
}
