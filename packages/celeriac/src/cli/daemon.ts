/**
 * @module cli/daemon
 * What `worker --detach --uid --gid` do before the worker starts, as Celery's `detached()`:
 * start the same command again as a background process of its own session (its output to
 * the log file or nowhere), and give up root for another user and group.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { UsageError } from './io.js';

/** The flags that ask for detaching; the background process runs without them. */
const DETACH_FLAGS = new Set(['-D', '--detach']);

/**
 * Set in the environment of the background process, so that it knows it was detached (its own
 * command line no longer has the flag): a worker started so restarts itself on SIGHUP, as
 * Celery's does, where one under a supervisor leaves that to the supervisor.
 */
export const DETACHED_ENV = 'CELERIAC_DETACHED';

/**
 * Where a background process writes: appended to a log file, nowhere, or to this process's own
 * stdout and stderr. The last is a detached worker's restart: its output is the log file already,
 * opened before it gave up root (`--uid`), which it might not be allowed to open again.
 */
export type DetachOutput = { readonly logfile: string } | 'discard' | 'inherit';

/**
 * Starts `argv` (as `process.argv`: node, script, args) again without the detach flags, on
 * `executable` (else this node), in a new session with no terminal, its output as `output`
 * says. Returns its pid.
 */
export function detach(argv: readonly string[], cwd: string, output: DetachOutput, executable: string = process.execPath): number {
  const [, script, ...args] = argv;
  if (script === undefined) throw new UsageError('--detach: cannot tell which command to start again');
  const out = output === 'discard' ? 'ignore' : output === 'inherit' ? 'inherit' : openSync(output.logfile, 'a');
  try {
    const child = spawn(executable, [...process.execArgv, script, ...args.filter((a) => !DETACH_FLAGS.has(a))], {
      cwd,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, [DETACHED_ENV]: '1' },
    });
    child.unref();
    if (child.pid === undefined) throw new UsageError('--detach: the background process could not be started');
    return child.pid;
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
}

/** A user or group given by number or by name, looked up in /etc/passwd or /etc/group. */
function lookUp(file: '/etc/passwd' | '/etc/group', given: string): { id: number; gid: number } | null {
  const wanted = given.trim();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // No database: numbers still work.
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 3) continue;
    if (fields[0] === wanted || fields[2] === wanted) return { id: Number(fields[2]), gid: Number(fields[3] ?? fields[2]) };
  }
  if (/^\d+$/.test(wanted)) return { id: Number(wanted), gid: Number(wanted) };
  return null;
}

/**
 * Switches to `uid` and `gid` (names or numbers), as Celery's `--uid`/`--gid`: the group
 * first (the user's own group when only `--uid` is given), supplementary groups dropped,
 * then the user. Only root may; as another user, asking for yourself is a no-op and anything
 * else a UsageError saying so.
 */
export function dropPrivileges(uid: string | undefined, gid: string | undefined): void {
  if (uid === undefined && gid === undefined) return;
  if (typeof process.getuid !== 'function' || typeof process.setuid !== 'function' || typeof process.setgid !== 'function') {
    throw new UsageError('--uid and --gid are not supported on this platform');
  }
  const user = uid === undefined ? null : lookUp('/etc/passwd', uid);
  if (uid !== undefined && user === null) throw new UsageError(`--uid ${JSON.stringify(uid)}: no such user`);
  const group = gid === undefined ? null : lookUp('/etc/group', gid);
  if (gid !== undefined && group === null) throw new UsageError(`--gid ${JSON.stringify(gid)}: no such group`);
  const targetGid = group?.id ?? user?.gid ?? null;
  const current = process.getuid();
  if (current !== 0) {
    const same = (user === null || user.id === current) && (targetGid === null || targetGid === process.getgid?.());
    if (same) return;
    throw new UsageError(`--uid/--gid switch user, which needs root: this process runs as uid ${current}`);
  }
  if (targetGid !== null) {
    process.setgroups?.([targetGid]);
    process.setgid(targetGid);
  }
  if (user !== null) process.setuid(user.id);
}
