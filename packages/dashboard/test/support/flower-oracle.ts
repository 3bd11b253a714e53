/**
 * Real Flower 2.0.1 (../shared/oracles/flower-2.0.1, run with Debian's Python) on the same
 * cluster as the dashboard under test, so API tests compare answers route by route. It loads
 * the Python interop tasks module, so it sees the fleet's kombu key prefix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from 'celeriac/testing';
import { PY_TASKS, type PyEnv } from '../../../celeriac/test/interop/python.js';

/** Where the oracle lives (outside the repository). */
export const FLOWER_ORACLE = process.env['CELERIAC_FLOWER_ORACLE'] ?? resolve(import.meta.dirname, '../../../../../shared/oracles/flower-2.0.1');

/** True when the oracle and its Python dependencies are there; throws under CI when not. */
export function flowerOracleAvailable(): boolean {
  const ok = existsSync(join(FLOWER_ORACLE, 'flower', '__init__.py'));
  if (!ok && process.env['CI'] === 'true') throw new Error(`Flower oracle missing at ${FLOWER_ORACLE} (required under CI)`);
  return ok;
}

/** A running Flower. */
export interface FlowerProcess {
  readonly url: string;
  readonly process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Starts Flower on `port` and resolves once `/healthcheck` answers. */
export async function startFlower(py: PyEnv, port: number, extraArgs: string[] = []): Promise<FlowerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-flower-'));
  writeFileSync(join(dir, 'interop_tasks.py'), PY_TASKS);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONPATH: FLOWER_ORACLE,
    FLOWER_UNAUTHENTICATED_API: 'true',
    CELERY_BROKER: py.broker,
    CELERY_BACKEND: py.backend,
    ...(py.keyPrefix ? { CELERY_KEYPREFIX: py.keyPrefix } : {}),
    PYTHONUNBUFFERED: '1',
  };
  const child = spawn('/usr/bin/python3', ['-m', 'flower', '--workdir', dir, '-A', 'interop_tasks', 'flower', `--port=${port}`, '--address=127.0.0.1', ...extraArgs], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`flower exited (${child.exitCode}):\n${output}`);
        return fetch(`${url}/healthcheck`).then((r) => r.ok, () => false);
      },
      'Flower to answer /healthcheck',
      { timeoutMs: 30_000, maxIntervalMs: 200 },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  return {
    url,
    process: child,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
