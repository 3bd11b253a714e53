/**
 * @module bench/lib/flow
 * The measurement procedures every peer shares; a peer supplies only its own enqueue, worker
 * start, progress probe, round-trip call and cleanup.
 */
import type { WorkerHandle } from './proc.js';
import { waitUntilDone } from './proc.js';
import { collectGarbage, mean, nowMs, percentile, StepTimeout, withTimeout } from './stats.js';
import type { BenchContext, DrainResult, EnqueueResult, RoundTripResult, WorkerConfig } from './types.js';

/** Sends `n` calls of a no-argument task in bulk, 1,000 per `applyAsyncMany`; their task ids, in order. */
export async function fillNoops(task: { applyAsyncMany(argsList: readonly [][]): Promise<readonly { id: string }[]> }, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1000) for (const r of await task.applyAsyncMany(Array.from({ length: Math.min(1000, n - i) }, () => [] as []))) ids.push(r.id);
  return ids;
}

/** Runs one measurement, then clears what it left in Redis, whatever happened. */
export async function thenCleanUp<T>(measure: () => Promise<T>, cleanup: () => Promise<unknown>): Promise<T> {
  try {
    return await measure();
  } finally {
    await cleanup();
  }
}

/**
 * Untimed sends before a producer's timed ones (one-by-one, and the standalone batched
 * enqueue; not a drain's fill, whose queue holds exactly n). Each step begins with a full GC of
 * the bench process (collectGarbage), and a forced full GC makes V8 drop the optimized code of
 * functions whose embedded objects it frees (--trace-deopt: "marking dependent code ... reason:
 * weak objects"), so without them the timed sends paid for compiling the producer's path again,
 * more the longer the path: a running service's producer is warm. Same for every JS peer.
 */
export const ENQUEUE_WARMUP = 2000;

/** Times `send(i)` run n times one after the other, after `warmup` untimed sends. */
export async function timeOneByOne(n: number, send: (i: number) => Promise<unknown>, warmup = ENQUEUE_WARMUP): Promise<EnqueueResult> {
  for (let i = 0; i < warmup; i++) await send(i);
  const t0 = nowMs();
  for (let i = 0; i < n; i++) await send(i);
  const seconds = (nowMs() - t0) / 1000;
  return { n, seconds, perSec: n / seconds };
}

/**
 * Times n sends issued in batches of `batch` (each batch awaited before the next), after
 * `warmup` untimed sends in the same batches ({@link ENQUEUE_WARMUP}; 0 for a drain's fill).
 */
export async function timeBatched(n: number, batch: number, sendBatch: (count: number) => Promise<unknown>, warmup = 0): Promise<EnqueueResult> {
  for (let left = warmup; left > 0; left -= batch) await sendBatch(Math.min(batch, left));
  const t0 = nowMs();
  for (let left = n; left > 0; left -= batch) await sendBatch(Math.min(batch, left));
  const seconds = (nowMs() - t0) / 1000;
  return { n, seconds, perSec: n / seconds };
}

/** The parts of a drain a peer supplies. */
export interface DrainParts {
  /** Fills the queue with n tasks (timed). */
  enqueue(n: number): Promise<EnqueueResult>;
  /** Starts a worker process, connected but not consuming yet where the library allows. */
  startWorker(config: WorkerConfig): Promise<WorkerHandle>;
  /** Tasks whose result is not stored yet. */
  remaining(): Promise<number>;
  /** Removes the run's keys. */
  cleanup(): Promise<void>;
}

/**
 * Pre-enqueue, start the worker, time until every result is stored; bounded by ctx.stepTimeoutMs.
 * With `config.warmup`, the worker first drains that many tasks unmeasured, and the measure
 * starts before the n are enqueued, the worker consuming as they arrive.
 */
export async function runDrain(ctx: BenchContext, n: number, config: WorkerConfig, parts: DrainParts): Promise<DrainResult> {
  let worker: WorkerHandle | undefined;
  try {
    const warmup = config.warmup ?? 0;
    const filled = await parts.enqueue(warmup > 0 ? warmup : n);
    // The fill's garbage is not the drain's to collect.
    collectGarbage();
    worker = await parts.startWorker(config);
    if (warmup > 0) {
      const started = await worker.go();
      const { doneAt, left } = await waitUntilDone(() => parts.remaining(), started + ctx.stepTimeoutMs);
      if (doneAt === null) throw new StepTimeout(`${config.label}: the warm-up drain of ${warmup} tasks left ${left} undone after ${ctx.stepTimeoutMs / 1000} s`);
    }
    // Before 'go' (or the fill): the worker starts consuming as soon as it has it.
    worker.callgrind?.zero();
    const t0 = warmup > 0 ? nowMs() : await worker.go();
    const cpu0 = worker.cpu();
    const mainCpu = worker.mainThreadCpu;
    const mainCpu0 = mainCpu?.();
    const redisCpu0 = await ctx.redisCpuSeconds();
    const enqueue = warmup > 0 ? await parts.enqueue(n) : filled;
    const { doneAt, left } = await waitUntilDone(() => parts.remaining(), t0 + ctx.stepTimeoutMs);
    const cpuSec = worker.cpu() - cpu0;
    const main = mainCpu === undefined || mainCpu0 === undefined ? {} : { mainThreadCpuSec: mainCpu() - mainCpu0 };
    const redisCpuSec = (await ctx.redisCpuSeconds()) - redisCpu0;
    const rss = worker.rss();
    const counted = worker.callgrind === undefined ? {} : { instructions: worker.callgrind.dump() };
    if (doneAt === null) {
      const seconds = (nowMs() - t0) / 1000;
      return { config, n, completed: n - left, seconds, perSec: (n - left) / seconds, rss, cpuSec, ...main, ...counted, redisCpuSec, enqueue, skipped: `exceeded ${ctx.stepTimeoutMs / 1000} s (${n - left}/${n} done)` };
    }
    const seconds = (doneAt - t0) / 1000;
    return { config, n, completed: n, seconds, perSec: n / seconds, rss, cpuSec, ...main, ...counted, redisCpuSec, enqueue };
  } finally {
    await worker?.stop();
    await parts.cleanup();
  }
}

/** The parts of a round-trip run a peer supplies. */
export interface RoundTripParts {
  startWorker(): Promise<WorkerHandle>;
  /** Sends one task and resolves when its result is back. */
  call(): Promise<unknown>;
  cleanup(): Promise<void>;
}

/** CPU seconds per process over `calls` calls, as µs per call. */
function perCall(calls: number, seconds: { client: number; worker: number; redis: number }): RoundTripResult['cpuUs'] {
  const us = (s: number) => (calls === 0 ? 0 : (s / calls) * 1e6);
  return { client: us(seconds.client), worker: us(seconds.worker), redis: us(seconds.redis) };
}

/**
 * Warm-up calls not measured, before the n measured ones: enough for every peer's client and
 * worker to reach their steady state. V8 compiles a JS peer's hot path only once it has run
 * many times; on the 2-vCPU VM (bench/results/2026-11-26-vm-session13.md) a fresh Celeriac
 * client and worker needed about 3,000 round trips to get there (the first few hundred cost
 * 3-5 times the CPU of the later ones), Bee-Queue's shorter path fewer. With 50, the row
 * measured mostly that warm-up, not the latency of a running service. Same for every peer,
 * Celery's Python producer included.
 */
export const WARMUP_CALLS = 3000;

/** n sequential round trips after a warm-up; bounded by ctx.stepTimeoutMs. */
export async function runRoundTrip(ctx: BenchContext, n: number, parts: RoundTripParts): Promise<RoundTripResult> {
  let worker: WorkerHandle | undefined;
  try {
    worker = await parts.startWorker();
    await worker.go();
    // No full GC between the warm-up and the timed calls (the step had one before it began):
    // a forced full GC makes V8 drop the optimized code of functions whose embedded objects it
    // frees (--trace-deopt: "marking dependent code ... reason: weak objects", Node's own
    // processTicksAndRejections and socket writes among them), so the timed calls would pay
    // for compiling the client's path again, which a running service does not.
    for (let i = 0; i < WARMUP_CALLS; i++) await withTimeout(parts.call(), 10_000, 'a warm-up round trip');
    const samples: number[] = [];
    const cpu0 = { client: process.cpuUsage(), worker: worker.cpu(), redis: await ctx.redisCpuSeconds() };
    const deadline = nowMs() + ctx.stepTimeoutMs;
    for (let i = 0; i < n; i++) {
      const t0 = nowMs();
      await withTimeout(parts.call(), 10_000, 'a round trip');
      samples.push(nowMs() - t0);
      if (nowMs() > deadline) break;
    }
    const client = process.cpuUsage(cpu0.client);
    const cpuUs = perCall(samples.length, { client: (client.user + client.system) / 1e6, worker: worker.cpu() - cpu0.worker, redis: (await ctx.redisCpuSeconds()) - cpu0.redis });
    const rss = worker.rss();
    const skipped = samples.length < n ? `exceeded ${ctx.stepTimeoutMs / 1000} s after ${samples.length} calls` : undefined;
    return { n: samples.length, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), meanMs: mean(samples), rss, cpuUs, ...(skipped ? { skipped } : {}) };
  } finally {
    await worker?.stop();
    await parts.cleanup();
  }
}
