/**
 * Runs Python's own `celery` command line (Debian's Celery 5.2.6, or the `oracle` given)
 * against a broker, with a throwaway app module that applies the test's kombu `global_keyprefix`, so `celery
 * inspect`, `celery control` and `celery events` see only the test's keys and channels.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oracleEnv, type CeleryOracle } from '../support/oracles.js';
import { runPythonProcess, spawnPython, type PythonProcess } from '../support/py-forkserver.js';

const CTL_MODULE = `
import os
from celery import Celery
app = Celery('ctl', broker=os.environ['CELERY_BROKER'], backend=os.environ['CELERY_BACKEND'])
pfx = os.environ.get('CELERY_KEYPREFIX')
if pfx:
    app.conf.broker_transport_options = {'global_keyprefix': pfx}
`;

// Runs several `celery` command lines one after another in one Python process (Celery's own
// click command, as `python -m celery` runs it), each with its output captured: one process
// and one broker connection for all.
const BATCH = `
import contextlib, io, json, sys
from celery.bin.celery import celery as cli
out = []
for args in json.loads(sys.argv[1]):
    o, e = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try:
            cli.main(args=args, prog_name='celery')
        except SystemExit as x:
            code = x.code if isinstance(x.code, int) else (0 if x.code is None else 1)
    out.append({'code': code, 'stdout': o.getvalue(), 'stderr': e.getvalue()})
sys.__stdout__.write(json.dumps(out))
`;

/** What one `celery ...` run printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function inspectArgs(command: string, args: readonly string[], node: string): string[] {
  return ['inspect', command, ...args, '-j', '-t', '5', '-d', node];
}

function parseInspect(command: string, r: CliResult): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`celery inspect ${command} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** A `celery -A ctl` runner bound to one broker, backend and key prefix. */
export class CeleryCli {
  readonly #dir = mkdtempSync(join(tmpdir(), 'celeriac-ctl-'));

  constructor(private readonly env: { broker: string; backend: string; keyPrefix: string; oracle?: CeleryOracle | undefined }) {
    writeFileSync(join(this.#dir, 'ctl.py'), CTL_MODULE);
  }

  #args(args: readonly string[]): string[] {
    return ['-m', 'celery', '--workdir', this.#dir, '-A', 'ctl', ...args];
  }

  #processEnv(): NodeJS.ProcessEnv {
    return { ...process.env, CELERY_BROKER: this.env.broker, CELERY_BACKEND: this.env.backend, CELERY_KEYPREFIX: this.env.keyPrefix, ...oracleEnv(this.env.oracle), PYTHONUNBUFFERED: '1' };
  }

  /** Runs `celery -A ctl <args>` to completion (any exit code). */
  async run(args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
    const r = await runPythonProcess(this.#args(args), { env: this.#processEnv(), timeoutMs });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * Runs each `celery -A ctl <args>` of `commands` in turn, in one Python process (the same
   * command code as {@link run}, one interpreter start for all), and returns what each printed.
   */
  async runAll(commands: readonly (readonly string[])[], timeoutMs = 60_000): Promise<CliResult[]> {
    const argv = commands.map((args) => this.#args(args).slice(2));
    const r = await runPythonProcess(['-c', BATCH, JSON.stringify(argv)], { env: this.#processEnv(), timeoutMs });
    try {
      return JSON.parse(r.stdout) as CliResult[];
    } catch {
      throw new Error(`celery batch failed (exit ${r.status ?? r.signal}${r.timedOut ? ', timed out' : ''}):\n${r.stdout}\n${r.stderr}`);
    }
  }

  /** `celery inspect <command> -j`, parsed: `{node: reply}`. Throws with the output when it is not JSON. */
  async inspect(command: string, args: readonly string[], node: string): Promise<Record<string, unknown>> {
    return parseInspect(command, await this.run(inspectArgs(command, args, node)));
  }

  /** Several `celery inspect <command> -j` in one Python process ({@link runAll}), parsed, in order. */
  async inspectAll(commands: readonly (readonly [string, ...string[]])[], node: string): Promise<Record<string, unknown>[]> {
    const results = await this.runAll(commands.map(([command, ...args]) => inspectArgs(command, args, node)));
    return results.map((r, i) => parseInspect(commands[i]![0], r));
  }

  /** Starts a long-running `celery -A ctl <args>` (e.g. `events --dump`), collecting its output. */
  spawn(args: readonly string[]): { child: PythonProcess; output: () => string } {
    const child = spawnPython(this.#args(args), { env: this.#processEnv() });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    return { child, output: () => output };
  }

  /** Removes the module directory. */
  dispose(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
