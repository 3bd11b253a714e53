/**
 * @module cli/worker-heap
 * The V8 heap policy `celeriac worker` runs with: a major GC once the old generation has grown
 * 30% past what the last one left live (`--heap-growing-percent=30`), instead of V8's own
 * factor of up to 4x, which on a worker lets the short-lived objects a stream of tasks promotes
 * pile up to several times the live heap before they are collected. Measured on the bench's
 * worker (bench/results/2026-11-25-vm-footprint.md): peak RSS over 1,000 round trips 112.0 ->
 * 104.9 MiB, CPU per task unchanged within the rounds' noise.
 *
 * V8 reads this flag whenever it recomputes the old generation's limit, so setting it once the
 * process runs works (unlike the heap's sizes, fixed when the isolate is made). It is a policy
 * of the whole process, so the CLI sets it, as the owner of the process; an app that embeds a
 * Worker keeps V8's default. A value given on node's command line
 * (`node --heap-growing-percent=N $(which celeriac) worker`) wins.
 */
import { setFlagsFromString } from 'node:v8';

/** The old generation's growth, in percent of its live size, between two major GCs. */
export const WORKER_HEAP_GROWING_PERCENT = 30;

/**
 * Applies {@link WORKER_HEAP_GROWING_PERCENT} unless node was started with its own
 * `--heap-growing-percent` (either spelling); returns whether it did.
 */
export function tuneWorkerHeap(execArgv: readonly string[] = process.execArgv, setFlags: (flags: string) => void = setFlagsFromString): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return false;
  setFlags(`--heap-growing-percent=${WORKER_HEAP_GROWING_PERCENT}`);
  return true;
}
