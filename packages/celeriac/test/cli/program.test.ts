/**
 * The `celeriac` program in-process: help, version, unknown commands, `-A` loading errors,
 * and the `worker` command run against an embedded app, stopped through its signal handler.
 */
import { fileURLToPath } from 'node:url';
import { availableParallelism, hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import packageJson from '../../package.json' with { type: 'json' };
import { SETTINGS, type Settings } from '../../src/core/settings.js';
import { type TestApp, makeApp, run } from './helpers.js';

/** The version the CLI must report: the package's own. */
const CELERIAC_VERSION = packageJson.version;

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
let t: TestApp | undefined;

afterEach(async () => {
  await t?.app.close();
  t = undefined;
});

describe('help and version', () => {
  it('--help for the program lists the commands and global options', async () => {
    const res = await run(['--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Usage: celeriac \[options\] \[command\]/);
    for (const word of ['-A, --app <module>', '-b, --broker <url>', '--result-backend <url>', 'worker', 'call', 'result']) {
      expect(res.stdout).toContain(word);
    }
  });

  for (const [command, usage, flags] of [
    ['worker', 'Usage: celeriac worker [options]', ['-Q, --queues', '-c, --concurrency', '-n, --hostname', '-l, --loglevel', '--prefetch-multiplier', '--shutdown-timeout-sec', '-P, --pool']],
    ['call', 'Usage: celeriac call [options] <name>', ['--args', '--kwargs', '--queue', '--countdown', '--eta', '--expires', '--priority']],
    ['result', 'Usage: celeriac result [options] <id>', ['--traceback', '--timeout']],
  ] as const) {
    it(`${command} --help prints its usage and exits 0`, async () => {
      const res = await run([command, '--help']);
      expect(res.code).toBe(0);
      expect(res.stdout.startsWith(usage)).toBe(true);
      for (const flag of flags) expect(res.stdout).toContain(flag);
      expect(res.stderr).toBe('');
    });

    it(`help ${command} prints the same usage`, async () => {
      const res = await run(['help', command]);
      expect(res.code).toBe(0);
      expect(res.stdout.startsWith(usage)).toBe(true);
    });
  }

  it('--version prints the version', async () => {
    const res = await run(['--version']);
    expect(res).toEqual({ code: 0, stdout: `${CELERIAC_VERSION}\n`, stderr: '' });
  });

  it('an unknown command is a usage error (exit 2, as Celery) and says so', async () => {
    const res = await run(['frobnicate']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('an unknown option is a usage error (exit 2) and says so', async () => {
    const res = await run(['call', 'x', '--bogus']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('no command prints the usage and exits 2', async () => {
    const res = await run([]);
    expect(res.code).toBe(2);
    expect(res.stdout + res.stderr).toMatch(/Usage: celeriac/);
  });
});

describe('migrate (in-process)', () => {
  it('refuses a source that is the destination (it moved the same messages round for ever), exit 2, before connecting', async () => {
    for (const [from, to] of [
      ['redis://127.0.0.1:6379/3', 'redis://127.0.0.1:6379/3'],
      ['redis://localhost/0', 'redis://127.0.0.1:6379'],
      ['amqp://guest:guest@localhost//', 'amqp://127.0.0.1:5672/'],
    ]) {
      const res = await run(['migrate', from!, to!]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/^error: source and destination are the same broker/);
    }
    // Another database, another key prefix: another place.
    expect((await run(['migrate', 'redis://127.0.0.1:1/3', 'redis://127.0.0.1:1/4', '-t', '0.1'])).stderr).not.toMatch(/same broker/);
  });
});

describe('-A loading (in-process)', () => {
  it('worker without -A exits 2 naming -A', async () => {
    const res = await run(['worker']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: .*-A <module>/);
    expect(res.stdout).toBe('');
  });

  it('a missing module names the path it looked for', async () => {
    const res = await run(['-A', 'nosuch.ts', 'worker'], { cwd: fixtures });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('Cannot find app module "nosuch.ts"');
    expect(res.stderr).toContain(fixtures.replace(/\/$/, ''));
  });

  it('a module without an app lists what it exports', async () => {
    const res = await run(['-A', 'no-app.ts', 'worker'], { cwd: fixtures });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/exports no app: export it as `app` or as the default export \(it exports notAnApp, helper\)/);
  });

  it('a module that throws on import reports the cause', async () => {
    const res = await run(['-A', 'throws', 'worker'], { cwd: fixtures });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Failed to load app module .*throws\.ts: fixture exploded on import/);
  });

  it('-b overrides the module\'s broker: an unknown scheme fails naming it and the known ones', async () => {
    const res = await run(['-A', 'app.ts', '-b', 'nosuch://x', 'worker'], { cwd: fixtures });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/No broker adapter for nosuch:\/\/x; known schemes: memory:\/\//);
    expect(res.stdout).not.toMatch(/\[tasks\]/); // no banner
  });

  it('--result-backend overrides the backend the same way, and hides a password', async () => {
    const res = await run(['-A', 'app.ts', '--result-backend', 'nosuch://u:hunter2@h/0', 'worker'], { cwd: fixtures });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/No result backend adapter for nosuch:\/\/u:\*\*@h\/0; known schemes: memory:\/\//);
    expect(res.stderr).not.toContain('hunter2');
  });

  it('the extension may be left out; call through a memory:// app warns it is per process', async () => {
    const res = await run(['-A', 'default-only', 'call', 'fixture.default.ping'], { cwd: fixtures });
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.stderr).toMatch(/the broker is memory:\/\/, which lives inside one process/);
  });
});

/** Runs `worker` with an embedded app; returns the run and a way to send it a "signal". */
async function startWorkerCommand(args: string[], settings: Settings = {}, tuneHeap?: () => void) {
  t = makeApp();
  t.app.overrideSettings(settings);
  const before = new Set(process.listeners('SIGTERM'));
  const running = run(['worker', ...args], { app: t.app, ...(tuneHeap === undefined ? {} : { tuneHeap }) });
  // The handlers are installed once the worker started; find the ones the command added.
  const handlers = await waitFor(() => {
    const added = process.listeners('SIGTERM').filter((l) => !before.has(l));
    return added.length > 0 ? added : null;
  }, "the worker command's SIGTERM handler", 1000);
  expect(handlers).toHaveLength(1);
  const handler = handlers[0] as NodeJS.SignalsListener;
  return { running, signal: () => handler('SIGTERM'), app: t.app };
}

describe('worker (in-process, embedded app)', () => {
  it('prints the banner, runs tasks, stops on SIGTERM with exit 0 and removes its handlers', async () => {
    const sigintBefore = process.listenerCount('SIGINT');
    const w = await startWorkerCommand(['-c', '3', '-n', 'beta@%h', '-Q', 'celery,other', '--prefetch-multiplier', '2']);
    const r = await w.app.sendTask('cli.add', [20, 22]);
    expect(await r.get({ timeoutMs: 5000 })).toBe(42);
    w.signal();
    const res = await w.running;
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`worker beta@${hostname()}`);
    expect(res.stdout).toMatch(/app\s+\(embedded\)/);
    expect(res.stdout).toMatch(/concurrency\s+3 \(async pool\)/);
    expect(res.stdout).toMatch(/prefetch\s+6/);
    expect(res.stdout).toMatch(/\[queues\]\n {4}\.> celery\n {4}\.> other\n/);
    expect(res.stdout).toMatch(/\[tasks\]\n {4}\. cli\.add\n {4}\. cli\.fail\n {4}\. cli\.kw\n/);
    expect(process.listenerCount('SIGINT')).toBe(sigintBefore);
  });

  it('-c 0 runs one slot per CPU, as Celery reads it', async () => {
    const w = await startWorkerCommand(['-c', '0']);
    w.signal();
    const res = await w.running;
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`concurrency\\s+${availableParallelism()} \\(async pool\\)`));
  });

  it('declares a flag for every setting the table gives worker or beat, with its setting and default in the help', async () => {
    for (const command of ['worker', 'beat'] as const) {
      const help = (await run([command, '--help'])).stdout.replace(/\s+/g, ' ');
      const rows = SETTINGS.filter((s) => s.cli?.commands.includes(command));
      expect(rows.length).toBeGreaterThan(0);
      for (const spec of rows) expect(help).toContain(`${spec.cli!.flags} ${spec.cli!.help} (default: setting ${spec.name},`);
    }
  });

  it("sets the worker's heap policy once, before the worker starts; other commands leave V8's own", async () => {
    let tuned = 0;
    const w = await startWorkerCommand(['-c', '1'], {}, () => void tuned++);
    expect(tuned).toBe(1);
    w.signal();
    expect((await w.running).code).toBe(0);
    const other = makeApp();
    try {
      expect((await run(['call', 'cli.add', '-a', '[1,2]'], { app: other.app, tuneHeap: () => void tuned++ })).code).toBe(0);
    } finally {
      await other.app.close();
    }
    expect(tuned).toBe(1);
  });

  it('flags override the settings of the loaded app; settings not given on the command line stay', async () => {
    const w = await startWorkerCommand(['-c', '2', '--time-limit', '30', '-E'], { workerPrefetchMultiplier: 7 });
    expect(w.app.settings).toMatchObject({ workerConcurrency: 2, taskTimeLimitSec: 30, workerSendTaskEvents: true, workerPrefetchMultiplier: 7 });
    w.signal();
    expect((await w.running).code).toBe(0);
  });

  it('--shutdown-timeout, the flag of 0.1, still sets workerShutdownTimeoutSec, warned once', async () => {
    const w = await startWorkerCommand(['--shutdown-timeout', '12']);
    expect(w.app.settings.workerShutdownTimeoutSec).toBe(12);
    w.signal();
    const res = await w.running;
    expect(res.code).toBe(0);
    expect(res.stderr.match(/--shutdown-timeout is deprecated: use --shutdown-timeout-sec \(the same number of seconds\)/g)).toHaveLength(1);
  });

  it('--prefetch-multiplier 0 shows unlimited prefetch', async () => {
    const w = await startWorkerCommand(['--prefetch-multiplier', '0']);
    w.signal();
    expect((await w.running).stdout).toMatch(/prefetch\s+unlimited/);
  });

  for (const [label, flags, message] of [
    ['an unknown log level', ['-l', 'loud'], /--loglevel "loud": must be one of trace, debug, info, warning, error, critical, silent \(or pino.s warn, fatal\) \(setting logLevel\)/],
    ['an empty queue list', ['-Q', ' , '], /-Q\/--queues must name at least one queue/],
    ['an unknown pool', ['-P', 'gevent'], /--pool "gevent": must be async, threads, prefork or solo \(setting workerPool\)/],
    ['a bad autoscale range', ['--autoscale', 'ten'], /--autoscale "ten": must be max,min \(e\.g\. 10,3\) or max \(setting workerAutoscale\)/],
    ['an autoscale min above its max', ['--autoscale', '2,8'], /--autoscale "2,8": must be max,min with max 1 or more and min at most max \(e\.g\. 10,3\) \(setting workerAutoscale\)/],
    ['an autoscale max of 0', ['--autoscale', '0'], /--autoscale "0": must be max,min with max 1 or more/],
    ['a negative concurrency', ['-c', '-1'], /--concurrency "-1": must be 0 or more \(setting workerConcurrency\)/],
    ['a fractional concurrency', ['-c', '1.5'], /--concurrency "1.5": expected an integer, got 1.5/],
    ['a negative prefetch multiplier', ['--prefetch-multiplier', '-1'], /--prefetch-multiplier "-1": must be 0 or more/],
    ['a bad shutdown timeout', ['--shutdown-timeout-sec', 'forever'], /--shutdown-timeout-sec "forever": expected a number/],
    ['both names of the shutdown timeout', ['--shutdown-timeout', '5', '--shutdown-timeout-sec', '6'], /--shutdown-timeout and --shutdown-timeout-sec are one option: give only --shutdown-timeout-sec/],
  ] as const) {
    it(`rejects ${label} with exit 2`, async () => {
      t = makeApp();
      const res = await run(['worker', ...flags], { app: t.app });
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(res.stdout).toBe(''); // no banner before the options are known good
    });
  }

  it('accepts Celery log level names (warning, critical)', async () => {
    for (const [level, pino] of [['WARNING', 'warn'], ['critical', 'fatal'], ['ERROR', 'error']] as const) {
      const w = await startWorkerCommand(['-l', level]);
      expect(w.app.log.level).toBe(pino);
      w.app.log.level = 'silent'; // keep the test output quiet
      w.signal();
      expect((await w.running).code).toBe(0);
    }
  });
});
