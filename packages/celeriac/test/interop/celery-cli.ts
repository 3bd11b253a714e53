/**
 * Runs Python's own `celery` command line (Debian's Celery 5.2.6) against a broker, with a
 * throwaway app module that applies the test's kombu `global_keyprefix`, so `celery
 * inspect`, `celery control` and `celery events` see only the test's keys and channels.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';

const CTL_MODULE = `
import os
from celery import Celery
app = Celery('ctl', broker=os.environ['CELERY_BROKER'], backend=os.environ['CELERY_BACKEND'])
pfx = os.environ.get('CELERY_KEYPREFIX')
if pfx:
    app.conf.broker_transport_options = {'global_keyprefix': pfx}
`;

/** What one `celery ...` run printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A `celery -A ctl` runner bound to one broker, backend and key prefix. */
export class CeleryCli {
  readonly #dir = mkdtempSync(join(tmpdir(), 'celeriac-ctl-'));

  constructor(private readonly env: { broker: string; backend: string; keyPrefix: string }) {
    writeFileSync(join(this.#dir, 'ctl.py'), CTL_MODULE);
  }

  #args(args: readonly string[]): string[] {
    return ['-m', 'celery', '--workdir', this.#dir, '-A', 'ctl', ...args];
  }

  #processEnv(): NodeJS.ProcessEnv {
    return { ...process.env, CELERY_BROKER: this.env.broker, CELERY_BACKEND: this.env.backend, CELERY_KEYPREFIX: this.env.keyPrefix, PYTHONUNBUFFERED: '1' };
  }

  /** Runs `celery -A ctl <args>` to completion (any exit code). */
  run(args: readonly string[], timeoutMs = 60_000): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(PYTHON, this.#args(args), { env: this.#processEnv(), timeout: timeoutMs }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** `celery inspect <command> -j`, parsed: `{node: reply}`. Throws with the output when it is not JSON. */
  async inspect(command: string, args: readonly string[], node: string): Promise<Record<string, unknown>> {
    const r = await this.run(['inspect', command, ...args, '-j', '-t', '5', '-d', node]);
    try {
      return JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      throw new Error(`celery inspect ${command} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  }

  /** Starts a long-running `celery -A ctl <args>` (e.g. `events --dump`), collecting its output. */
  spawn(args: readonly string[]): { child: ChildProcess; output: () => string } {
    const child = spawn(PYTHON, this.#args(args), { env: this.#processEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
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
