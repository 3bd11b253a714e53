/**
 * The real `celeriac` bin in child processes: `-A app.ts` loads TypeScript with no build step
 * (the bin registers tsx; 'celeriac' resolves to the built package), the worker prints its
 * banner, runs tasks, and shuts down warm on SIGTERM and cold on a second one.
 */
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, killAll, runCli, sleep, spawnCli } from './spawn.js';

beforeAll(() => {
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
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
    expect(out).toContain(`celeriac 0.1.0  worker alpha@${hostname()}`);
    expect(out).toMatch(/app\s+fixtures\/app\.ts/);
    expect(out).toMatch(/broker\s+memory:\/\//);
    expect(out).toMatch(/results\s+memory:\/\//);
    expect(out).toMatch(/concurrency\s+2 \(async pool\)/);
    expect(out).toMatch(/prefetch\s+2\n/);
    expect(out).toMatch(/\[queues\]\n {4}\.> celery\n {4}\.> extra\n/);
    expect(out).toMatch(/\[tasks\]\n {4}\. fixture\.add\n {4}\. fixture\.extra\n {4}\. fixture\.mul\n {4}\. fixture\.sleep\n/);
    expect(out).toContain('RESULT add=5');
    expect(out).toContain('RESULT mul=20');
    expect(out).toContain('RESULT extra="extra-done"'); // consumed from the second queue
    expect(out).toMatch(/"msg":"alpha@[^"]+ ready\."/);
    expect(out.indexOf('[tasks]')).toBeLessThan(out.indexOf('ready.')); // banner first

    const t0 = Date.now();
    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(cli.stdout()).toMatch(/warm shutdown requested/);
    expect(cli.stdout()).toMatch(/worker stopped/);
  });

  it('stays up while idle until signalled (memory:// holds no handle)', async () => {
    const cli = spawnCli(['-A', 'fixtures/app.ts', 'worker', '-l', 'warning']);
    await cli.waitFor(/\[tasks\]/);
    await sleep(1500);
    expect(cli.child.exitCode).toBeNull();
    cli.child.kill('SIGINT'); // Ctrl-C behaves like SIGTERM
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it('a warm shutdown lets the running task finish, then exits 0', async () => {
    const cli = spawnCli(['-A', 'fixtures/app.ts', 'worker', '-l', 'info', '--shutdown-timeout', '30'], { env: { FIXTURE_SLEEP: '1500' } });
    await cli.waitFor(/SLEEP-SENT/);
    await sleep(200);
    const t0 = Date.now();
    cli.child.kill('SIGTERM');
    await cli.waitFor(/"running":1[,}].*warm shutdown: no longer fetching/);
    const exit = await cli.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
    expect(cli.stdout()).toMatch(/Task fixture\.sleep\[[0-9a-f-]{36}\] succeeded/);
  });

  it('a second SIGTERM does a cold shutdown and exits promptly', async () => {
    const cli = spawnCli(['-A', 'fixtures/app.ts', 'worker', '-l', 'info', '--shutdown-timeout', '30'], { env: { FIXTURE_SLEEP: '60000' } });
    await cli.waitFor(/SLEEP-SENT/);
    await sleep(200);
    cli.child.kill('SIGTERM');
    await cli.waitFor(/warm shutdown requested/);
    await sleep(1000);
    expect(cli.child.exitCode).toBeNull(); // still waiting for the task
    const t0 = Date.now();
    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(0);
    expect(cli.stdout()).toMatch(/cold shutdown: abandoning running tasks/);
    expect(cli.stdout()).not.toMatch(/Task fixture\.sleep\[[0-9a-f-]{36}\] succeeded/);
  });

  it('-A takes a module whose only export is the default', async () => {
    const cli = spawnCli(['-A', 'fixtures/default-only.ts', 'worker', '-l', 'warning'], { env: { FIXTURE_SEND: '1' } });
    await cli.waitFor(/RESULT ping="pong"/);
    expect(cli.stdout()).toMatch(/\[tasks\]\n {4}\. fixture\.default\.ping\n/);
    expect(cli.stdout()).toMatch(/worker celery@/);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('-b memory:// --result-backend memory:// are accepted', async () => {
    const cli = spawnCli(['-A', 'fixtures/app.ts', '-b', 'memory://', '--result-backend', 'memory://', 'worker', '-l', 'warning'], {
      env: { FIXTURE_SEND: '1' },
    });
    await cli.waitFor(/RESULT add=5/);
    expect(cli.stdout()).toMatch(/broker\s+memory:\/\//);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });
});

describe('celeriac errors (spawned)', () => {
  it('-A nosuch.ts exits non-zero with "Cannot find app module"', async () => {
    const res = await runCli(['-A', 'nosuch.ts', 'worker']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/^error: Cannot find app module "nosuch\.ts" \(looked in .*test\/cli\)/);
    expect(res.stdout).toBe('');
  });

  it('a module without an app export says it exports no app', async () => {
    const res = await runCli(['-A', 'fixtures/no-app.ts', 'worker']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/no-app\.ts exports no app: export it as `app` or as the default export/);
    expect(res.stderr).toMatch(/\(it exports (helper, notAnApp|notAnApp, helper)\)/);
  });

  it('-b nosuch://x fails naming the scheme and listing the known ones', async () => {
    const res = await runCli(['-A', 'fixtures/app.ts', '-b', 'nosuch://x', 'worker']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/No broker adapter for nosuch:\/\/x; known schemes: memory:\/\//);
    expect(res.stdout).not.toMatch(/\[tasks\]/); // no banner
  });

  it('--result-backend nosuch://x fails the same way, and hides a password', async () => {
    const res = await runCli(['-A', 'fixtures/app.ts', '--result-backend', 'nosuch://u:hunter2@h/0', 'worker']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/No result backend adapter for nosuch:\/\/u:\*\*@h\/0; known schemes: memory:\/\//);
    expect(res.stderr).not.toContain('hunter2');
  });

  it('worker without -A exits 2 naming -A', async () => {
    const res = await runCli(['worker']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/-A <module>/);
  });

  it('--help exits 0; an unknown command exits non-zero', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: celeriac/);
    const bad = await runCli(['nosuchcommand']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown command 'nosuchcommand'/);
  });

  it('call through -A prints an id and warns that memory:// is per process', async () => {
    const res = await runCli(['-A', 'fixtures/app.ts', 'call', 'fixture.add', '--args', '[1,2]']);
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.stderr).toMatch(/warning: memory:\/\/ lives inside one process/);
  });

  it('call with bad JSON exits 2', async () => {
    const res = await runCli(['call', 'x', '--args', '{']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--args must be a JSON array/);
  });
});

describe('celeriac worker -P (spawned)', () => {
  it('-P threads runs tasks in threads of the built package; --time-limit ends a busy thread, a fresh one follows', async () => {
    const cli = spawnCli(['-A', 'fixtures/threads-app.ts', 'worker', '-P', 'threads', '-c', '1', '--time-limit', '2', '--max-tasks-per-child', '100', '-l', 'info'], {
      env: { FIXTURE_SEND: '1' },
      timeoutMs: 60_000,
    });
    await cli.waitFor(/RESULT again=.*\n/, 45_000);
    const out = cli.stdout();
    expect(out).toMatch(/concurrency\s+1 \(threads pool\)/);
    const first = Number(/RESULT where=(\d+)/.exec(out)?.[1]);
    const again = Number(/RESULT again=(\d+)/.exec(out)?.[1]);
    expect(first).toBeGreaterThan(0); // not the main thread
    expect(out).toContain('RESULT forever=TimeLimitExceeded');
    expect(out).toMatch(/hard time limit \(2s\) exceeded/);
    expect(again).toBeGreaterThan(0);
    expect(again).not.toBe(first);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 60_000);

  it('-P with an unknown pool exits 2 listing the pools', async () => {
    const res = await runCli(['-A', 'fixtures/app.ts', 'worker', '-P', 'prefork']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--pool "prefork": must be async, threads or solo/);
  });
});

describe('without tsx (an optional peer dependency)', () => {
  const HIDE_TSX = ['--import', './fixtures/hide-tsx.mjs'];

  it('runs a compiled app, on the async and the threads pool, with neither tsx nor esbuild', async () => {
    for (const pool of ['async', 'threads']) {
      const cli = spawnCli(['-A', 'fixtures/compiled-app.mjs', 'worker', '-P', pool, '-c', '1', '-l', 'warning'], { nodeArgs: HIDE_TSX, env: { FIXTURE_SEND: '1' } });
      await cli.waitFor(/RESULT ping="pong"/, 15_000);
      expect(cli.stdout()).toContain(`(${pool} pool)`);
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    }
  }, 40_000);

  it('says a .ts app needs tsx, and how to do without it', async () => {
    // Node >= 22.18 strips types itself; keep that off so the test means the same everywhere.
    const strip = (process.features as { typescript?: unknown }).typescript ? ['--no-experimental-strip-types'] : [];
    const res = await runCli(['-A', 'fixtures/app.ts', 'report'], { nodeArgs: [...strip, ...HIDE_TSX] });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Cannot load .*fixtures\/app\.ts: TypeScript modules load through tsx, which is not installed\. Install it \(npm install --save-dev tsx\) or compile the app/);
    expect(res.stderr).toContain('[CELERIAC_ERR_APP_LOAD]');
  });
});
