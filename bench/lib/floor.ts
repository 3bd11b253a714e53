/**
 * @module bench/lib/floor
 * Runs bench/layout-floor.ts in a child process and reads its result line. Shared by the bench
 * (`run.ts`, the drain's n) and the CI guard (`guard.ts`, a small n): a floor that fails is a
 * broken part of the bench, never a number left out.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Where and how much the floor runs. */
export interface FloorRun {
  readonly n: number;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly timeoutMs: number;
  /** Concurrent loops (layout-floor.ts's --loops). @default its own default, 8 */
  readonly loops?: number;
}

/** The floor's result line, or why it failed. */
export type FloorOutcome = { readonly ok: true; readonly line: string } | { readonly ok: false; readonly why: string };

/**
 * The line the floor printed, or the reason it failed: the first stderr line naming an error,
 * else the process error, else 'no result line'. Exported for its tests.
 */
export function readFloorOutput(stdout: string, stderr: string, error: Error | null): FloorOutcome {
  const line = stdout.split('\n').find((l) => l.startsWith('Layout floor:'));
  if (line !== undefined && error === null) return { ok: true, line };
  const why = stderr.split('\n').find((l) => /Error/.test(l)) ?? error?.message.split('\n')[0] ?? 'no result line';
  return { ok: false, why };
}

/** Runs layout-floor.ts once; never rejects. */
export function runLayoutFloor(run: FloorRun): Promise<FloorOutcome> {
  const script = fileURLToPath(new URL('../layout-floor.ts', import.meta.url));
  const args = ['--import', 'tsx', script, '--n', String(run.n), '--redis', `${run.host}:${run.port}`, '--db', String(run.db)];
  if (run.loops !== undefined) args.push('--loops', String(run.loops));
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: run.timeoutMs }, (error, stdout, stderr) => resolve(readFloorOutput(stdout, stderr, error)));
  });
}
