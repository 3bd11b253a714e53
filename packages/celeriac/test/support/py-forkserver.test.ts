import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { CELERY_5_6, oracleEnv, selectedOracles } from './oracles.js';
import { forkServerPath, runPythonProcess, spawnPython } from './py-forkserver.js';

const run = selectedOracles('the Python fork server').length > 0;
const dir = mkdtempSync(join(tmpdir(), 'celeriac-forkserver-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A PYTHON* variable of its own gives this file a server of its own (the server is chosen by
// them), so killing it here fails no other file's job.
const env = { ...process.env, PYTHONCELERIACTEST: randomUUID(), FORKSERVER_TEST: 'seen' };
const py = (script: string, args: string[] = [], timeoutMs = 20_000, jobEnv: NodeJS.ProcessEnv = env) => runPythonProcess(['-c', script, ...args], { env: jobEnv, cwd: dir, timeoutMs });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.runIf(run)('the Python fork server: a job runs as `python3 <argv>` would', () => {
  it('with its argv, environment, directory, sys.path[0] and an empty stdin, as its own process', async () => {
    const script = 'import json, os, sys; print(json.dumps([sys.argv, os.environ.get("FORKSERVER_TEST"), os.getcwd(), sys.path[0], sys.stdin.read()])); print("to stderr", file=sys.stderr)';
    const alone = execFileSync('/usr/bin/python3', ['-c', script, 'a', 'b c'], { env, cwd: dir, input: '', encoding: 'utf8' });
    const forked = await py(script, ['a', 'b c']);
    expect(forked).toMatchObject({ status: 0, signal: null, stdout: alone, stderr: 'to stderr\n', timedOut: false });
    expect(JSON.parse(forked.stdout)).toEqual([['-c', 'a', 'b c'], 'seen', dir, '', '']);
  });

  it('`-m celery` runs the command line of the Celery on its PYTHONPATH', async () => {
    const debian = await runPythonProcess(['-m', 'celery', '--version'], { env, timeoutMs: 20_000 });
    expect(debian).toMatchObject({ status: 0, stdout: expect.stringMatching(/^5\.2\.6 /) });
    if (selectedOracles('the 5.6 oracle').includes(CELERY_5_6)) {
      const newer = await runPythonProcess(['-m', 'celery', '--version'], { env: { ...env, ...oracleEnv(CELERY_5_6) }, timeoutMs: 20_000 });
      expect(newer).toMatchObject({ status: 0, stdout: expect.stringMatching(/^5\.6\.3 /) });
    }
  });

  it('starts with Celery imported, from the same state every time: what one job changed, the next does not see', async () => {
    const script = 'import os, sys; preloaded = "celery.app.base" in sys.modules; import celery.app.base as b; print(preloaded, getattr(b, "touched", False), os.getppid()); b.touched = True';
    const [first, second] = [await py(script), await py(script)];
    expect(first.stdout).toMatch(/^True False \d+\n$/);
    expect(second.stdout).toBe(first.stdout); // the same server, the same state
  });

  it('exits with the status the script gives, and reports an exception as Python does, without the server in the traceback', async () => {
    expect(await py('import sys; sys.exit(3)')).toMatchObject({ status: 3, signal: null });
    expect(await py('raise SystemExit("bad input")')).toMatchObject({ status: 1, stderr: 'bad input\n' });
    const raised = await py('def f():\n    raise ValueError("boom")\nf()');
    expect(raised.status).toBe(1);
    expect(raised.stderr).toMatch(/^Traceback \(most recent call last\):\n {2}File "<string>", line 3, in <module>\n.*\nValueError: boom\n$/s);
    expect(raised.stderr).not.toContain('py_forkserver');
  });

  it('joins the threads and runs the atexit handlers before it exits, and hands over output of any size whole', async () => {
    // The thread prints once the main thread's print is done, and then only after it has ended.
    const script = 'import atexit, threading, time\natexit.register(lambda: print("atexit é"))\nprinted = threading.Event()\ndef late():\n    printed.wait()\n    time.sleep(0.2)\n    print("thread")\nthreading.Thread(target=late).start()\nprint("x" * 5_000_000)\nprinted.set()';
    const r = await py(script);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${'x'.repeat(5_000_000)}\nthread\natexit é\n`);
  });

  it('ends a job when its process exits, though a process it started still holds its output', async () => {
    // As a child process's 'exit': a Celery worker SIGKILLed while its pool's children live on.
    const r = await py('import subprocess; p = subprocess.Popen(["sleep", "60"]); print(p.pid)');
    expect(r.status).toBe(0);
    process.kill(Number(r.stdout), 'SIGKILL');
  });

  it('runs jobs side by side, each with its own output', async () => {
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => py('import sys, time; time.sleep(0.1); print(sys.argv[1])', [String(i)])));
    expect(results.map((r) => r.stdout)).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n']);
  });

  it('streams a long-running job’s output as it comes, and ends it with the signal it is sent', async () => {
    const child = spawnPython(['-c', 'import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: (print("bye"), sys.exit(5)))\nprint("ready", flush=True)\ntime.sleep(60)'], { env, cwd: dir });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(() => output === 'ready\n', 'the job says ready', 10_000);
    const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    expect(child.kill('SIGTERM')).toBe(true);
    expect(await exited).toEqual([5, null]);
    expect(output).toBe('ready\nbye\n');
    expect(child.exitCode).toBe(5);
  });

  it('serves its other clients while one does not read what its job prints', async () => {
    await py('pass'); // the server is up
    const idle = connect(forkServerPath(env));
    await new Promise<void>((resolve, reject) => idle.once('connect', resolve).once('error', reject));
    idle.pause(); // reads nothing: its job's 8 MB wait in the server
    // The job can print it all only if the server takes it in while the client reads nothing.
    const marker = join(dir, 'printed');
    const script = `import pathlib\nprint("x" * 8_000_000, flush=True)\npathlib.Path(${JSON.stringify(marker)}).touch()`;
    idle.write(`${JSON.stringify({ argv: ['-c', script], env, cwd: dir })}\n`);
    try {
      await waitFor(() => existsSync(marker), 'the job printed all of it', 15_000);
      expect((await py('print("served")')).stdout).toBe('served\n');
    } finally {
      idle.destroy();
    }
  });

  it('ends a job that outruns its timeout with SIGTERM', async () => {
    const r = await py('import time; time.sleep(60)', [], 300);
    expect(r).toMatchObject({ status: null, signal: 'SIGTERM', timedOut: true });
  });

  it('refuses an argv that is neither -c nor -m, and goes on', async () => {
    await expect(runPythonProcess(['script.py'], { env, timeoutMs: 5_000 })).rejects.toThrow(/argv must start with -c <script> or -m <module>/);
    expect((await py('print(1)')).stdout).toBe('1\n');
  });

  it('fails the jobs of a server that died; the next job starts a new one', async () => {
    const server = Number((await py('import os; print(os.getppid())')).stdout);
    // Prints until its output goes away with the server (a broken pipe ends it): no orphan stays.
    const running = py('import time\nwhile True:\n    print(".", flush=True)\n    time.sleep(0.05)');
    await py('pass');
    process.kill(server, 'SIGKILL');
    await expect(running).rejects.toThrow(/the Python fork server closed the connection before the job ended/);
    const next = await py('import os; print(os.getppid())');
    expect(next.status).toBe(0);
    expect(Number(next.stdout)).not.toBe(server);
  });

  it('kills the job of a test process that died, and ends with the process that owns it', async () => {
    // A process of its own owns its server (no VITEST_POOL_ID): it prints the server's pid and
    // the pid of a job that would sleep a minute, then is SIGKILLed.
    const script = join(import.meta.dirname, 'fixtures', 'py-forkserver-child.ts');
    const childEnv: NodeJS.ProcessEnv = { ...env, PYTHONCELERIACTEST: randomUUID() };
    delete childEnv['VITEST_POOL_ID'];
    // With tsx, not compiled elsewhere (node-script.ts): the server's script is found beside the module.
    const owner = spawn(process.execPath, ['--import', 'tsx', script], { env: childEnv, stdio: ['ignore', 'pipe', 'inherit'] });
    let printed = '';
    owner.stdout.on('data', (d: Buffer) => (printed += d.toString()));
    await waitFor(() => /^\d+ \d+ \S+\n$/.test(printed), 'the child prints the server, the job and the socket', 30_000);
    const [server, job, socket] = printed.trim().split(' ') as [string, string, string];
    expect([alive(Number(server)), alive(Number(job)), existsSync(socket)]).toEqual([true, true, true]);
    owner.kill('SIGKILL');
    await waitFor(() => !alive(Number(job)), 'the job killed once its client is gone', 10_000);
    await waitFor(() => !alive(Number(server)), 'the server ended once its owner is gone', 10_000);
    expect(existsSync(socket)).toBe(false);
  }, 60_000);
});
