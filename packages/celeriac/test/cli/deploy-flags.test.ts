/**
 * The deployment flags of the real `celeriac worker` bin: `--pidfile` (refuses a live holder,
 * replaces a stale file, removed at exit), `--logfile` with `%n` and Celery's log lines
 * (`--log-format human`), `--detach` (a background process found by its pidfile and stopped
 * with SIGTERM), `-A module:attr` (the pool children find the app there too), `--uid/--gid`
 * (switch to nobody as root; a clear error for another user), and the same flags on `beat`.
 * `celeriac multi` has its own file (multi.test.ts), so the two run side by side.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readPidfile } from '../../src/cli/pidfile.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { buildDistIfStale } from '../support/node-script.js';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';
import { alive, BIN, CLI_DIR, detached, type Exit, fixtureApp, killAll, runCli, spawnCli } from './spawn.js';

let dir = '';

beforeAll(() => {
  buildDistIfStale();
  dir = mkdtempSync(join(tmpdir(), 'celeriac-deploy-'));
}, 120_000);

afterEach(killAll);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited (for a stale pidfile). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid!;
  await new Promise((resolve) => child.once('close', resolve));
  return pid;
}

const WORKER = ['-A', fixtureApp('app'), 'worker', '-l', 'info'];

describe('celeriac worker --pidfile', () => {
  it('writes its pid, refuses a second worker while it lives, and removes the file at exit', async () => {
    const pidfile = join(dir, '%n.pid');
    const first = spawnCli([...WORKER, '-n', 'pidone@%h', '--pidfile', pidfile]);
    await first.waitFor(/ready\./, 20_000);
    const path = join(dir, 'pidone.pid');
    expect(readFileSync(path, 'utf8')).toBe(`${first.child.pid}\n`);
    const second = await runCli([...WORKER, '-n', 'pidone@%h', '--pidfile', pidfile], { timeoutMs: 30_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`pidfile ${path} holds pid ${first.child.pid}, which is running`);
    expect(second.stdout).not.toMatch(/ready\./);
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale pidfile whose process is gone', async () => {
    const path = join(dir, 'stale.pid');
    writeFileSync(path, `${await deadPid()}\n`);
    const cli = spawnCli([...WORKER, '--pidfile', path]);
    await cli.waitFor(/ready\./, 20_000);
    expect(readFileSync(path, 'utf8')).toBe(`${cli.child.pid}\n`);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(false);
  });
});

describe('celeriac worker --logfile --log-format', () => {
  it('appends Celery-style lines to the file named with %n; stdout keeps the banner only', async () => {
    const cli = spawnCli([...WORKER, '-n', 'logger@%h', '-f', join(dir, 'logs/%n%I.log'), '--log-format', 'human'], { env: { FIXTURE_SEND: '1' } });
    const file = join(dir, 'logs', 'logger.log');
    await cli.waitFor(/RESULT mul=/, 20_000);
    const text = await waitFor(() => {
      const t = existsSync(file) ? readFileSync(file, 'utf8') : '';
      return /Task fixture\.mul\[/.test(t) ? t : null;
    }, 'the success lines in the log file', { timeoutMs: 10_000 });
    expect(text).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}: INFO\/MainProcess\] Task fixture\.add\[[0-9a-f-]{36}\] succeeded in \d+\.\d{3}s: 5$/m);
    expect(text).toMatch(/^\[[^\]]+: INFO\/MainProcess\] Task fixture\.mul\[[0-9a-f-]{36}\] succeeded in \d+\.\d{3}s: 20$/m);
    expect(text).toMatch(new RegExp(`^\\[[^\\]]+: INFO/MainProcess\\] logger@${hostname().replace(/\./g, '\\.')} ready\\.$`, 'm'));
    expect(cli.stdout()).toContain('[tasks]');
    expect(cli.stdout()).not.toMatch(/"msg":/);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(readFileSync(file, 'utf8')).toMatch(/WARNING\/MainProcess\] warm shutdown requested/);
  });

  it('a log file folder that cannot be made (under /proc, where node\'s own mkdir -p never returns) is an error at once, in the foreground and with -D', async () => {
    for (const detach of [[], ['-D']]) {
      const r = await runCli([...WORKER, '-f', '/proc/celeriac-no-such-folder/w.log', ...detach], { timeoutMs: 20_000 });
      // Before, the worker spun at 100 % CPU in mkdir until it was killed.
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toBe("error: cannot open log file /proc/celeriac-no-such-folder/w.log: ENOENT: no such file or directory, mkdir '/proc/celeriac-no-such-folder' [CELERIAC_ERR_STATE]\n");
    }
  });

  // The children's own lines (ctx.log, workerProcessInit) land in the worker's file, in its
  // format and level, named after the child, and nowhere else.
  for (const [pool, name] of [
    ['prefork', 'ForkPoolWorker'],
    ['threads', 'ThreadPoolWorker'],
  ] as const) {
    it(`-P ${pool}: the children's lines go to the worker's --logfile as human lines`, async () => {
      const file = join(dir, `pool-${pool}.log`);
      const cli = spawnCli(['-A', fixtureApp('pool-log-app'), 'worker', '-l', 'info', '-P', pool, '-c', '1', '-f', file, '--log-format', 'human'], { env: { FIXTURE_SEND: '1' }, timeoutMs: 40_000 });
      const ran = Number((await cli.waitFor(/RESULT chatty=\d+/, 35_000)).slice('RESULT chatty='.length));
      const text = await waitFor(() => {
        const t = existsSync(file) ? readFileSync(file, 'utf8') : '';
        return /Task fixture\.chatty\[/.test(t) ? t : null;
      }, 'the success line in the log file', { timeoutMs: 20_000 });
      const child = `${name}-\\d+`;
      expect(text).toMatch(new RegExp(`^\\[[^\\]]+: INFO/${child}\\] child init done$`, 'm'));
      expect(text).toMatch(new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3}: INFO/${child}\\] chatty says hello from ${ran}$`, 'm'));
      expect(text).toMatch(new RegExp(`^\\[[^\\]]+: WARNING/${child}\\] chatty warns \\{"taskId":"[0-9a-f-]{36}","taskName":"fixture\\.chatty"\\}\\nRangeError: out of range\\n`, 'm'));
      expect(text).not.toContain('whispers');
      expect(text).not.toMatch(/"msg":/);
      if (pool === 'prefork') expect(ran).not.toBe(cli.child.pid);
      // Nothing of the children's on stdout: it keeps the banner and the fixture's prints.
      expect(cli.stdout()).not.toMatch(/chatty says|chatty warns|child init/);
      expect(cli.stdout()).toContain('[tasks]');
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    }, 90_000); // its own waits (35 s for the result, 20 s for the file) outlast the 20 s default
  }

  it('refuses an unknown --log-format with exit 2', async () => {
    const r = await runCli([...WORKER, '--log-format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--log-format must be one of auto, human, json, got "xml"');
  });
});

describe('celeriac worker --detach', () => {
  it('returns at once; the background worker runs, logs to the file, and stops on SIGTERM', async () => {
    const pidfile = join(dir, 'detached.pid');
    const logfile = join(dir, 'detached.log');
    const r = await runCli([...WORKER, '-D', '-n', 'bg@%h', '--pidfile', pidfile, '--logfile', logfile], { env: { FIXTURE_SEND: '1' }, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const pid = await waitFor(() => readPidfile(pidfile), 'the pidfile', { timeoutMs: 20_000 });
    detached.push(pid);
    expect(alive(pid)).toBe(true);
    // The banner and the fixture's prints land in the log file too: the process has no terminal.
    const text = await waitFor(() => {
      const t = readFileSync(logfile, 'utf8');
      return t.includes('RESULT mul=') && /bg@\S+ ready\./.test(t) ? t : null;
    }, 'the worker to run the tasks', { timeoutMs: 20_000 });
    expect(text).toContain('[tasks]');
    expect(text).toContain('RESULT add=5');
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid) && !existsSync(pidfile), 'the worker to exit and remove its pidfile', { timeoutMs: 20_000 });
  });

  it('restarts in the background on SIGHUP once its task is done, as Celery restarts in place; a SIGTERM after the SIGHUP stops it', async () => {
    // Before, the background worker stopped on SIGHUP (exit 129), with no supervisor to start it again.
    const pidfile = join(dir, 'hup.pid');
    const logfile = join(dir, 'hup.log');
    const log = () => readFileSync(logfile, 'utf8');
    const count = (what: string) => log().split(what).length - 1;
    const until = (what: string, times: number, label: string) => waitFor(() => count(what) === times || null, label, { timeoutMs: 20_000 });
    // Each process runs the fixture's tasks (on its own memory:// broker) and then one that blocks until SIGUSR2.
    const r = await runCli([...WORKER, '-D', '-n', 'hup@%h', '--pidfile', pidfile, '--logfile', logfile], { env: { FIXTURE_SEND: '1', FIXTURE_BLOCK: '1' }, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    // Read as the worker reads it: the old process removes the file while the new one is starting.
    const pidIn = () => readPidfile(pidfile);
    const first = await waitFor(pidIn, 'the pidfile', { timeoutMs: 20_000 });
    detached.push(first);
    await until('RESULT mul=', 1, 'the first worker to run the tasks');
    await until('BLOCK-STARTED', 1, 'the blocking task to start');
    process.kill(first, 'SIGHUP');
    await until('warm shutdown requested', 1, 'the warm shutdown');
    expect(pidIn()).toBe(first); // waiting for the task
    process.kill(first, 'SIGUSR2'); // the task ends
    // The new process takes the pidfile once the old one let go of it.
    const second = await waitFor(() => {
      const pid = pidIn();
      return pid !== null && pid !== first ? pid : null;
    }, 'a new pid in the pidfile', { timeoutMs: 20_000 });
    detached.push(second);
    await waitFor(() => !alive(first) || null, 'the first worker to exit', { timeoutMs: 20_000 });
    expect(log()).toContain(`restarted: a new worker runs in the background as pid ${second}`);
    await until('RESULT mul=', 2, 'the restarted worker to run the tasks');
    await until('BLOCK-STARTED', 2, 'its blocking task to start');
    // SIGHUP, then SIGTERM while the task runs: a stop, not a restart.
    process.kill(second, 'SIGHUP');
    await until('warm shutdown requested', 2, 'the second warm shutdown');
    process.kill(second, 'SIGTERM');
    await waitFor(() => (!alive(second) && !existsSync(pidfile)) || null, 'the restarted worker to stop and remove its pidfile', { timeoutMs: 20_000 });
    expect(log()).toMatch(/"signal":"SIGTERM".*cold shutdown: abandoning running tasks/);
    expect(count('restarted: a new worker')).toBe(1);
  }, 60_000);

  it('an idle worker sent SIGHUP and SIGTERM at once stops: the SIGTERM is not lost in the instant the worker stops', async () => {
    // An idle worker on memory:// stops within the turn of the event loop that handled the SIGHUP.
    // Its signal listeners were removed right then, so a SIGTERM caught meanwhile was dropped,
    // and the worker started again.
    const pidfile = join(dir, 'hupterm.pid');
    const logfile = join(dir, 'hupterm.log');
    expect((await runCli([...WORKER, '-D', '-n', 'hupterm@%h', '--pidfile', pidfile, '--logfile', logfile], { timeoutMs: 30_000 })).code).toBe(0);
    const pid = await waitFor(() => readPidfile(pidfile), 'the pidfile', { timeoutMs: 20_000 });
    detached.push(pid);
    await waitFor(() => /hupterm@\S+ ready\./.test(readFileSync(logfile, 'utf8')) || null, 'the worker to be ready', { timeoutMs: 20_000 });
    // Both arrive while the worker is stopped, so it takes them together. Sent one after the
    // other to a running worker, a loaded machine could hold this process between the two long
    // enough for the worker to handle the SIGHUP alone and restart, as it should then.
    process.kill(pid, 'SIGSTOP');
    process.kill(pid, 'SIGHUP');
    process.kill(pid, 'SIGTERM');
    process.kill(pid, 'SIGCONT');
    await waitFor(() => (!alive(pid) && !existsSync(pidfile)) || null, 'the worker to stop and remove its pidfile', { timeoutMs: 20_000 });
    expect(readFileSync(logfile, 'utf8')).not.toContain('restarted: a new worker');
  });
});

describe('celeriac beat --detach --pidfile --logfile', () => {
  it('runs beat in the background as %n = beat, with human lines, and stops on SIGTERM', async () => {
    const r = await runCli(['-A', fixtureApp('app'), 'beat', '-D', '--pidfile', join(dir, 'beatd/%n.pid'), '-f', join(dir, 'beatd/%n.log'), '--log-format', 'human'], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    const pidfile = join(dir, 'beatd', 'beat.pid');
    const pid = await waitFor(() => readPidfile(pidfile), 'the beat pidfile', { timeoutMs: 20_000 });
    detached.push(pid);
    const log = join(dir, 'beatd', 'beat.log');
    await waitFor(() => /^\[[^\]]+: INFO\/MainProcess\] beat: this process leads now/m.test(readFileSync(log, 'utf8')), 'beat to lead', { timeoutMs: 20_000 });
    expect(readFileSync(log, 'utf8')).toContain('celeriac beat v');
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid) && !existsSync(pidfile), 'beat to exit and remove its pidfile', { timeoutMs: 20_000 });
    expect(readFileSync(log, 'utf8')).toMatch(/INFO\/MainProcess\] beat stopped/);
  });
});

describe('celeriac beat --detach --umask --executable', () => {
  it('starts the background process on the given node, its files made under the mask', async () => {
    // A node of its own: a script that says it ran, then runs this node.
    const marker = join(dir, 'wrapper-ran');
    const wrapper = join(dir, 'node-wrapper.sh');
    writeFileSync(wrapper, `#!/bin/sh\necho "$$" > '${marker}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
    const logfile = join(dir, 'masked', 'beat.log');
    const pidfile = join(dir, 'masked', 'beat.pid');
    const r = await runCli(['-A', fixtureApp('app'), 'beat', '-D', '--umask', '027', '--executable', wrapper, '--pidfile', pidfile, '-f', logfile], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    const pid = await waitFor(() => readPidfile(pidfile), 'the beat pidfile', { timeoutMs: 20_000 });
    detached.push(pid);
    // exec keeps the pid: the process the wrapper started is the one holding the pidfile.
    expect(Number(readFileSync(marker, 'utf8').trim())).toBe(pid);
    expect(statSync(logfile).mode & 0o777).toBe(0o640);
    expect(statSync(pidfile).mode & 0o777).toBe(0o640);
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid) && !existsSync(pidfile), 'beat to exit and remove its pidfile', { timeoutMs: 20_000 });
  });

  it('refuses a mask that is not one, and an executable that is not there, before starting anything', async () => {
    const mask = await runCli(['-A', fixtureApp('app'), 'beat', '--umask', 'rw-'], { timeoutMs: 30_000 });
    expect([mask.code, mask.stderr]).toEqual([2, expect.stringContaining('--umask must be a mask from 0 to 0777')]);
    const exe = await runCli(['-A', fixtureApp('app'), 'worker', '-D', '--executable', join(dir, 'no-such-node')], { timeoutMs: 30_000 });
    expect([exe.code, exe.stderr]).toEqual([2, expect.stringContaining('no executable file there')]);
  });
});

/**
 * Starts the bin with `--pidfile <dir>/<name>` in a folder of its own and sends SIGTERM the
 * moment the file is created (inotify, before the process writes its pid in it): the stop a
 * supervisor sends right after its start. Resolves with how the process ended.
 */
async function stopAtPidfile(args: readonly string[], name: string): Promise<{ exit: Exit; left: boolean; output: string }> {
  const folder = mkdtempSync(join(dir, 'early-'));
  const pidfile = join(folder, name);
  const cli = spawnCli([...args, '--pidfile', pidfile], { timeoutMs: 30_000 });
  // Set up in the same tick as the spawn: node takes far longer to start than this.
  const watcher = watch(folder);
  watcher.on('change', (_kind, file) => {
    if (file !== name) return;
    watcher.close();
    cli.child.kill('SIGTERM');
  });
  try {
    return { exit: await cli.exited, left: existsSync(pidfile), output: cli.stdout() + cli.stderr() };
  } finally {
    watcher.close();
  }
}

describe('a SIGTERM the moment the pidfile exists', () => {
  // Before, the pidfile was taken before the signal handlers were on: node died of the
  // signal by default, with no 'exit' event, and left the file (CI's beat --umask test
  // waited 20 s for it). Two tries each: the old order failed the first of every run made.
  it('beat: stops cleanly (exit 0) and removes the file, every time', async () => {
    for (let i = 0; i < 2; i += 1) {
      const r = await stopAtPidfile(['-A', fixtureApp('app'), 'beat'], 'beat.pid');
      expect([r.exit, r.left], r.output).toEqual([{ code: 0, signal: null }, false]);
    }
  }, 60_000);

  it('worker -P solo --purge: a warm shutdown before it started, exit 0, the file removed', async () => {
    for (let i = 0; i < 2; i += 1) {
      const r = await stopAtPidfile([...WORKER, '-P', 'solo', '--purge'], 'worker.pid');
      expect([r.exit, r.left], r.output).toEqual([{ code: 0, signal: null }, false]);
    }
  }, 60_000);
});

describe.runIf(await shouldRunRedisTests('celeriac beat: a second SIGTERM'))('celeriac beat: a second SIGTERM while it closes', () => {
  it('exits at once with 1, and removes its pidfile', async () => {
    // A beat that leads, then its link to Redis stalls (nothing comes back, no FIN): the close a
    // SIGTERM starts waits for the release of the lease, up to 5 s. Before, the second signal
    // met node's default death and left the pidfile.
    const proxy = new FaultProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    const prefix = randomKeyPrefix();
    try {
      const pidfile = join(mkdtempSync(join(dir, 'second-')), 'beat.pid');
      const broker = `${proxy.redisUrl(Number(new URL(REDIS_URL).pathname.slice(1) || 0))}?global_keyprefix=${encodeURIComponent(prefix)}`;
      const cli = spawnCli(['-A', fixtureApp('app'), '-b', broker, 'beat', '-l', 'info', '--pidfile', pidfile], { timeoutMs: 30_000 });
      await cli.waitFor(/leads now/, 20_000);
      proxy.stall();
      cli.child.kill('SIGTERM');
      await cli.waitFor(/shutting down/, 10_000);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toEqual({ code: 1, signal: null });
      expect(cli.stdout() + cli.stderr()).toContain('second signal: exiting now');
      expect(existsSync(pidfile)).toBe(false);
      // The stall held what the closing beat sent: its release of the lease.
      expect(proxy.stats.droppedToServer).toBeGreaterThan(0);
    } finally {
      await proxy.close();
      await deleteKeys(prefix);
    }
  });
});

describe('celeriac -A module:attr', () => {
  it('finds the app at the named export, in the worker and in its prefork children', async () => {
    const cli = spawnCli(['-A', 'fixtures/named-app.ts:celery', 'worker', '-P', 'prefork', '-c', '1', '-l', 'info'], { env: { NAMED_SEND: '1' }, timeoutMs: 30_000 });
    const line = await cli.waitFor(/RESULT whoami=.*\n/, 25_000);
    const ran = JSON.parse(line.slice('RESULT whoami='.length)) as { pid: number };
    expect(ran.pid).not.toBe(cli.child.pid); // a child process ran it
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 60_000);

  it('takes a dotted path, and names the export when it is not an app', async () => {
    const ok = await runCli(['-A', 'fixtures/named-app.ts:nested.worker', 'report']);
    expect(ok.code).toBe(0);
    const bad = await runCli(['-A', 'fixtures/named-app.ts:whoami', 'report']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('its export `whoami` is not an app');
    const missing = await runCli(['-A', 'fixtures/named-app.ts:nope', 'report']);
    expect(missing.stderr).toContain('its export `nope` is missing');
  }, 60_000);
});

/**
 * True when user nobody can run the bin and read the fixtures from here: a checkout in a
 * private folder (mode 700, as mkdtemp makes) cannot be, and the switch tests then skip.
 */
function nobodyCanRun(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = spawnSync(process.execPath, [BIN, '--version'], { cwd: CLI_DIR, uid: 65534, gid: 65534, stdio: 'ignore', timeout: 20_000 });
  const read = spawnSync(process.execPath, ['-e', "require('fs').accessSync('fixtures/named-app.ts')"], { cwd: CLI_DIR, uid: 65534, gid: 65534, stdio: 'ignore', timeout: 20_000 });
  return probe.status === 0 && read.status === 0;
}

describe('celeriac worker --uid --gid', () => {
  let runnable: boolean | undefined;
  /** Asked once, after beforeAll built the bin. */
  const root = () => (runnable ??= nobodyCanRun());

  it('as root: switches to the user and group before loading the app', async (t) => {
    if (!root()) t.skip();
    const cli = spawnCli(['-A', 'fixtures/named-app.ts:celery', 'worker', '--uid', 'nobody', '--gid', 'nogroup', '-l', 'info'], { env: { NAMED_SEND: '1' }, timeoutMs: 30_000 });
    const line = await cli.waitFor(/RESULT whoami=.*\n/, 25_000);
    expect(JSON.parse(line.slice('RESULT whoami='.length))).toMatchObject({ uid: 65534, gid: 65534 });
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 60_000);

  it('as root with --detach: the log file is made by that user, and the background worker runs', async (t) => {
    if (!root()) t.skip();
    // Before, the launcher (root) made the log file, and the background worker, already
    // nobody, died opening it (EACCES) before it said anything.
    const open = mkdtempSync(join(tmpdir(), 'celeriac-uid-'));
    try {
      chmodSync(open, 0o777);
      const pidfile = join(open, 'uid.pid');
      const logfile = join(open, 'uid.log');
      const r = await runCli([...WORKER, '-D', '--uid', 'nobody', '-n', 'uiddetach@%h', '--pidfile', pidfile, '--logfile', logfile], { timeoutMs: 30_000 });
      expect(r.code).toBe(0);
      const pid = await waitFor(() => readPidfile(pidfile), 'the pidfile', { timeoutMs: 20_000 });
      detached.push(pid);
      await waitFor(() => /uiddetach@\S+ ready\./.test(readFileSync(logfile, 'utf8')) || null, 'the worker to be ready', { timeoutMs: 20_000 });
      expect([statSync(logfile).uid, statSync(pidfile).uid]).toEqual([65534, 65534]);
      process.kill(pid, 'SIGTERM');
      await waitFor(() => (!alive(pid) && !existsSync(pidfile)) || null, 'the worker to stop and remove its pidfile', { timeoutMs: 20_000 });
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  }, 60_000);

  // With --detach the refusal comes before detaching: before, the command returned 0 and the
  // background copy failed where nobody saw it.
  for (const extra of [[], ['-D']]) {
    it(`as another user: a clear error, exit 2, nothing started (${extra.join(' ') || 'in the foreground'})`, async (t) => {
      if (!root()) t.skip();
      const r = await runCli([...WORKER, ...extra, '--uid', 'root'], { uid: 65534, timeoutMs: 30_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--uid/--gid switch user, which needs root: this process runs as uid 65534');
    }, 60_000);
  }

  it('an unknown user is named', async () => {
    const r = await runCli([...WORKER, '--uid', 'no-such-user-xyz']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--uid "no-such-user-xyz": no such user');
  });
});
