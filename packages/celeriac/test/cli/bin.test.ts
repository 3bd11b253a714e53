/**
 * The real `celeriac` bin in child processes: `-A app.ts` loads TypeScript with no build step
 * (the bin registers tsx before it imports a .ts app; 'celeriac' resolves to the built package), the worker prints its
 * banner, runs tasks, and shuts down warm on SIGTERM and cold on a second one. Started before
 * its Redis (the docker-compose start order), it waits, logging Celery's "Cannot connect to
 * broker ... Trying again" line, and serves tasks once Redis is up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { createApp } from '../../src/index.js';
import { freePort, RedisServerProcess, redisServerOnPath } from '../support/redis.js';
import { buildDistIfStale } from '../support/node-script.js';
import { fixtureApp, killAll, runCli, spawnCli } from './spawn.js';

/** The version the CLI must report: the package's own. */
const CELERIAC_VERSION = packageJson.version;

beforeAll(() => {
  buildDistIfStale();
}, 120_000);

afterEach(killAll);

const WORKER = ['-A', 'fixtures/app.ts', 'worker', '-c', '2', '-n', 'alpha@%h', '-Q', 'celery,extra', '--prefetch-multiplier', '1', '-l', 'info'];

describe('celeriac worker (spawned)', () => {
  it('prints the banner, runs the tasks, and exits 0 on SIGTERM (warm shutdown)', async () => {
    const cli = spawnCli(WORKER, { env: { FIXTURE_SEND: '1' } });
    await cli.waitFor(/RESULT extra=.*\n/);
    // The worker logs a success after storing the result, so a caller waiting on that
    // result may print first.
    await cli.waitFor(/Task fixture\.add\[[0-9a-f-]{36}\] succeeded/);
    const out = cli.stdout();
    expect(out).toContain(`celeriac ${CELERIAC_VERSION}  worker alpha@${hostname()}`);
    expect(out).toMatch(/app\s+fixtures\/app\.ts/);
    expect(out).toMatch(/broker\s+memory:\/\//);
    expect(out).toMatch(/results\s+memory:\/\//);
    expect(out).toMatch(/concurrency\s+2 \(async pool\)/);
    expect(out).toMatch(/prefetch\s+2\n/);
    expect(out).toMatch(/\[queues\]\n {4}\.> celery\n {4}\.> extra\n/);
    expect(out).toMatch(/\[tasks\]\n {4}\. fixture\.add\n {4}\. fixture\.block\n {4}\. fixture\.extra\n {4}\. fixture\.fail\n {4}\. fixture\.mul\n/);
    expect(out).toContain('RESULT add=5');
    expect(out).toContain('RESULT mul=20');
    expect(out).toContain('RESULT extra="extra-done"'); // consumed from the second queue
    expect(out).toMatch(/"msg":"alpha@[^"]+ ready\."/);
    expect(out.indexOf('[tasks]')).toBeLessThan(out.indexOf('ready.')); // banner first

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stdout()).toMatch(/warm shutdown requested/);
    expect(cli.stdout()).toMatch(/worker stopped/);
  });

  it('stays up while idle until signalled (memory:// holds no handle)', async () => {
    const cli = spawnCli(['-A', fixtureApp('app'), 'worker', '-l', 'info']);
    await cli.waitFor(/ready\./);
    // Idle now. Node exits as soon as nothing holds the event loop; answering two probes sent
    // one after the other, after start-up, shows the worker keeps it open.
    cli.child.kill('SIGUSR2');
    await cli.waitFor(/ALIVE 1/);
    cli.child.kill('SIGUSR2');
    await cli.waitFor(/ALIVE 2/);
    expect(cli.child.exitCode).toBeNull();
    cli.child.kill('SIGINT'); // Ctrl-C behaves like SIGTERM
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it.each([
    ['SIGTERM', 0],
    // SIGHUP without a terminal restarts Celery's worker in place; a Node process cannot, so it
    // exits 129 for its supervisor to start it again. Before, node's default: the process died
    // at once (signal SIGHUP), the task with it.
    ['SIGHUP', 129],
  ] as const)('a warm shutdown (%s) lets the running task finish, then exits %i', async (signal, code) => {
    const cli = spawnCli(['-A', fixtureApp('app'), 'worker', '-l', 'info', '--shutdown-timeout-sec', '30'], { env: { FIXTURE_BLOCK: '1' } });
    await cli.waitFor(/BLOCK-STARTED/);
    cli.child.kill(signal);
    await cli.waitFor(/"running":1[,}].*warm shutdown: no longer fetching/);
    expect(cli.child.exitCode).toBeNull(); // waiting for the task
    cli.child.kill('SIGUSR2'); // the task ends
    expect(await cli.exited).toEqual({ code, signal: null });
    expect(cli.stdout()).toMatch(new RegExp(`"signal":"${signal}".*warm shutdown requested`));
    expect(cli.stdout()).toMatch(/Task fixture\.block\[[0-9a-f-]{36}\] succeeded/);
  });

  it('a second SIGTERM does a cold shutdown and exits', async () => {
    // The task never ends by itself and the warm shutdown would wait 30 s for it, longer than
    // the test's 20 s: a clean exit in time proves the cold shutdown cut it short.
    const cli = spawnCli(['-A', fixtureApp('app'), 'worker', '-l', 'info', '--shutdown-timeout-sec', '30'], { env: { FIXTURE_BLOCK: '1' } });
    await cli.waitFor(/BLOCK-STARTED/);
    cli.child.kill('SIGTERM');
    await cli.waitFor(/"running":1[,}].*warm shutdown: no longer fetching/);
    expect(cli.child.exitCode).toBeNull(); // waiting for the task
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stdout()).toMatch(/cold shutdown: abandoning running tasks/);
    expect(cli.stdout()).not.toMatch(/Task fixture\.block\[[0-9a-f-]{36}\] succeeded/);
  });

  it("SIGQUIT is a cold shutdown at once, exiting 1 as Celery's worker does", async () => {
    // Before, node's default: the process died at once (signal SIGQUIT), saying nothing.
    const cli = spawnCli(['-A', fixtureApp('app'), 'worker', '-l', 'info', '--shutdown-timeout-sec', '30'], { env: { FIXTURE_BLOCK: '1' } });
    await cli.waitFor(/BLOCK-STARTED/);
    cli.child.kill('SIGQUIT');
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stdout()).toMatch(/"signal":"SIGQUIT".*cold shutdown: abandoning running tasks/);
    // It said "warm shutdown: no longer fetching" next, which it was not.
    expect(cli.stdout()).toMatch(/"running":1[,}].*"cold shutdown: no longer fetching"/);
    expect(cli.stdout()).not.toMatch(/warm shutdown/);
    expect(cli.stdout()).toMatch(/worker stopped/);
  });

  it("SIGUSR1 logs the tasks held, as Celery's worker dumps its threads, and opens no inspector", async () => {
    // Before, node's default: its inspector listened on 127.0.0.1:9229 for anyone on the machine.
    const cli = spawnCli(['-A', fixtureApp('app'), 'worker', '-l', 'info'], { env: { FIXTURE_BLOCK: '1' } });
    await cli.waitFor(/BLOCK-STARTED/);
    cli.child.kill('SIGUSR1');
    await cli.waitFor(/"signal":"SIGUSR1".*"msg":"SIGUSR1: 1 running, 0 reserved: fixture\.block\[[0-9a-f-]{36}\] running \d+\.\d s"/);
    expect(cli.stderr()).not.toMatch(/Debugger listening/);
    cli.child.kill('SIGUSR2'); // the task ends
    await cli.waitFor(/Task fixture\.block\[[0-9a-f-]{36}\] succeeded/);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it('-P prefork: SIGUSR1 and a Ctrl-C sent to the whole process group, as a terminal sends them, reach only the worker', async () => {
    // Before, the pool child died of the SIGINT (WorkerLostError ... signal 2 (SIGINT)) while the
    // worker began a warm shutdown to let its task finish, and opened an inspector on SIGUSR1.
    const cli = spawnCli(['-A', fixtureApp('app'), 'worker', '-P', 'prefork', '-c', '1', '-l', 'info', '--shutdown-timeout-sec', '30'], { env: { FIXTURE_BLOCK: '1' }, group: true });
    const group = -cli.child.pid!;
    await cli.waitFor(/BLOCK-STARTED/); // printed by the task, in the pool child
    process.kill(group, 'SIGUSR1');
    await cli.waitFor(/"msg":"SIGUSR1: 1 running, 0 reserved: fixture\.block\[/);
    process.kill(group, 'SIGINT');
    await cli.waitFor(/"running":1[,}].*warm shutdown: no longer fetching/);
    process.kill(group, 'SIGUSR2'); // the task ends, in the child
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stdout()).toMatch(/Task fixture\.block\[[0-9a-f-]{36}\] succeeded in [\d.]+s: 'released'/);
    expect(cli.stdout() + cli.stderr()).not.toMatch(/WorkerLostError|Debugger listening/);
  });
});

describe('SIGUSR1 in the commands other than worker (spawned)', () => {
  // Before, only the worker listened: beat, events and flower opened node's inspector on
  // 127.0.0.1:9229, where anyone on the machine could run code as their user.
  it('beat logs whether it leads and what it schedules', async () => {
    const cli = spawnCli(['-A', fixtureApp('app'), 'beat', '-l', 'info', '--log-format', 'json']);
    await cli.waitFor(/celeriac beat v/);
    cli.child.kill('SIGUSR1');
    await cli.waitFor(/"signal":"SIGUSR1".*"msg":"SIGUSR1: beat running, (leading \(it sends\)|standing by [^"]*); \d+ entries/);
    expect(cli.stderr()).not.toMatch(/Debugger listening/);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('events --dump says it ignores it', async () => {
    const cli = spawnCli(['-b', 'memory://', 'events', '--dump']);
    await cli.waitFor(/starting capture/);
    cli.child.kill('SIGUSR1');
    await cli.waitFor(/celeriac: SIGUSR1 ignored/);
    expect(cli.stderr()).not.toMatch(/Debugger listening/);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });
});

describe('celeriac errors (spawned)', () => {
  // The messages of each error are checked in-process (program.test.ts, call-result.test.ts);
  // here only that the bin turns an error into its exit status and stderr.
  it('-A nosuch.ts exits 1 with "Cannot find app module" on stderr and nothing on stdout', async () => {
    const res = await runCli(['-A', 'nosuch.ts', 'worker']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: Cannot find app module "nosuch\.ts" \(looked in .*test\/cli\)/);
    expect(res.stdout).toBe('');
  });

  it('output into a pipe is written whole before the command exits (it was cut at the pipe\'s 64 KiB, exit 0 all the same)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-pipe-'));
    try {
      // A signature with 20,000 callbacks: `graph` prints about a megabyte of DOT.
      const file = join(dir, 'wide.json');
      writeFileSync(file, JSON.stringify({ task: 'a.b', args: [], options: { link: Array.from({ length: 20_000 }, (_, i) => ({ task: `t${i}` })) } }));
      const res = await runCli(['graph', `@${file}`]);
      expect(res.code).toBe(0);
      expect(res.stdout.length).toBeGreaterThan(1_000_000);
      expect(res.stdout.trimEnd().endsWith('}')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a client command logs to stderr: its stdout is only its answer (the id of a sent task)", async () => {
    // A broker that refuses: the send is retried, each retry logged, then fails.
    const res = await runCli(['-b', `redis://127.0.0.1:${await freePort()}/0`, 'call', 'proj.add'], { timeoutMs: 60_000 });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/ECONNREFUSED/);
    expect(res.stderr).toMatch(/could not send task proj\.add/);
  }, 60_000);

  it('a usage error exits 2', async () => {
    const res = await runCli(['call', 'x', '--args', '{']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--args must be a JSON array/);
  });
});

describe('celeriac --version (spawned)', () => {
  const LOG_LOADS = ['--import', './fixtures/log-dist-loads.mjs'];

  it('prints the version without loading the commands (it took a third of a CPU-second)', async () => {
    const res = await runCli(['--version'], { nodeArgs: LOG_LOADS });
    expect(res).toMatchObject({ code: 0, stdout: `${CELERIAC_VERSION}\n` });
    expect(res.stderr).not.toContain('LOADED');
    // The hook does see what a command loads: --help goes through the program.
    const help = await runCli(['--help'], { nodeArgs: LOG_LOADS });
    expect(help.code).toBe(0);
    expect(help.stderr).toMatch(/LOADED file:.*\/dist\/cli\/main\.js/);
    // With anything else on the line, the program answers, as before.
    const both = await runCli(['--version', '--help']);
    expect(both).toMatchObject({ code: 0, stdout: `${CELERIAC_VERSION}\n` });
  });
});

describe('celeriac worker -P (spawned)', () => {
  it.each(['threads', 'prefork'])('-P %s runs tasks in children of the built package; --time-limit ends a busy child, a fresh one follows; flags reach the children', async (pool) => {
    const cli = spawnCli(['-A', 'fixtures/threads-app.ts', 'worker', '-P', pool, '-c', '1', '--time-limit', '2', '--soft-time-limit', '30', '--max-tasks-per-child', '100', '-l', 'info'], {
      env: { FIXTURE_SEND: '1' },
      timeoutMs: 60_000,
    });
    await cli.waitFor(/RESULT again=.*\n/, 45_000);
    const out = cli.stdout();
    expect(out).toMatch(new RegExp(`concurrency\\s+1 \\(${pool} pool\\)`));
    const first = Number(/RESULT where=(\d+)/.exec(out)?.[1]);
    const again = Number(/RESULT again=(\d+)/.exec(out)?.[1]);
    expect(first).toBeGreaterThan(0); // not the main thread
    expect(first).not.toBe(cli.child.pid); // nor the worker's process
    // The flags reach the app each child imports, not only the worker's.
    expect(out).toContain('RESULT soft=30');
    expect(out).toContain('RESULT forever=TimeLimitExceeded');
    expect(out).toMatch(/hard time limit \(2s\) exceeded/);
    expect(again).toBeGreaterThan(0);
    expect(again).not.toBe(first);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 60_000);
});

describe('without tsx (an optional peer dependency)', () => {
  const HIDE_TSX = ['--import', './fixtures/hide-tsx.mjs'];

  it('runs a compiled app, on the async, threads and prefork pools, with neither tsx nor esbuild', async () => {
    for (const pool of ['async', 'threads', 'prefork']) {
      const cli = spawnCli(['-A', 'fixtures/compiled-app.mjs', 'worker', '-P', pool, '-c', '1', '-l', 'warning'], { nodeArgs: HIDE_TSX, env: { FIXTURE_SEND: '1' }, timeoutMs: 40_000 });
      await cli.waitFor(/RESULT ping="pong"/, 30_000);
      expect(cli.stdout()).toContain(`(${pool} pool)`);
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    }
  }, 120_000);

  it('says a .ts app needs tsx, and how to do without it', async () => {
    // Node >= 22.18 strips types itself; keep that off so the test means the same everywhere.
    const strip = (process.features as { typescript?: unknown }).typescript ? ['--no-experimental-strip-types'] : [];
    const res = await runCli(['-A', 'fixtures/app.ts', 'report'], { nodeArgs: [...strip, ...HIDE_TSX] });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Cannot load .*fixtures\/app\.ts: TypeScript modules load through tsx, which is not installed\. Install it \(npm install --save-dev tsx\) or compile the app/);
    expect(res.stderr).toContain('[CELERIAC_ERR_APP_LOAD]');
  });
});

describe.runIf(redisServerOnPath('cli: worker before broker'))('celeriac worker started before its broker', () => {
  // Started after the worker, on a free port of its own.
  let server: RedisServerProcess;

  beforeAll(async () => {
    server = new RedisServerProcess(await freePort());
  });
  afterAll(() => server.kill());

  it('waits, logging each attempt (the same failure again at debug level), then runs tasks and stops cleanly', async () => {
    const url = server.url;
    const cli = spawnCli(['-A', fixtureApp('app'), '-b', url, '--result-backend', url, 'worker', '-l', 'debug', '-n', `wbb-${process.pid}@test`], {
      // A short backoff of its own (the default waits 2 s, then 4 s): the lines show it is the one used.
      env: { CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"connectTimeoutMs":300}', CELERIAC_BROKER_CONNECTION_RETRY_INTERVALS: '{"intervalStart":0.2,"intervalStep":0.1,"intervalMax":0.5}' },
      timeoutMs: 60_000,
    });
    await cli.waitFor(/Cannot connect to broker redis:\/\/127\.0\.0\.1:\d+\/0: .*Trying again in 0\.20 seconds\.\.\. \(1\)/, 20_000);
    // Still waiting after the line: nothing made the process exit.
    await cli.waitFor(/Trying again in 0\.30 seconds\.\.\. \(2\)/, 20_000);
    expect(cli.child.exitCode).toBeNull();
    await server.start();
    await cli.waitFor(/ready\./, 30_000);
    const producer = createApp({ broker: url, backend: url }, { env: {}, logger: pino({ level: 'silent' }) });
    try {
      const r = await producer.sendTask('fixture.add', [2, 3]);
      expect(await r.get({ timeoutMs: 20_000 })).toBe(5);
    } finally {
      await producer.close();
    }
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 90_000);
});
