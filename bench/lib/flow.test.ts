/**
 * The warm-ups: the calls and sends before the timed ones are made and not counted, so a
 * round-trip or enqueue row describes a running service, not V8's warm-up of a fresh one (or
 * its re-compiling after the step's full GC), and no full GC falls between them.
 */
import { describe, expect, it } from 'vitest';
import { ENQUEUE_WARMUP, runDrain, runRoundTrip, timeBatched, timeOneByOne, WARMUP_CALLS, type DrainParts } from './flow.js';
import type { WorkerHandle } from './proc.js';
import type { BenchContext } from './types.js';

const ctx: BenchContext = {
  redisHost: '127.0.0.1',
  redisPort: 0,
  redisDb: 0,
  runPrefix: 'flow-test:',
  stepTimeoutMs: 60_000,
  log: () => undefined,
  redisCpuSeconds: () => Promise.resolve(0),
};

function worker(): WorkerHandle {
  return {
    pid: 0,
    go: () => Promise.resolve(0),
    rss: () => ({ peakMb: 1 }) as never,
    cpu: () => 0,
    stop: () => Promise.resolve(),
    output: () => '',
  };
}

describe('runRoundTrip', () => {
  it(`makes ${WARMUP_CALLS} unmeasured calls first, then times n`, async () => {
    let calls = 0;
    const result = await runRoundTrip(ctx, 20, {
      startWorker: () => Promise.resolve(worker()),
      call: () => {
        calls++;
        return Promise.resolve();
      },
      cleanup: () => Promise.resolve(),
    });
    expect(WARMUP_CALLS).toBeGreaterThanOrEqual(2000);
    expect(calls).toBe(WARMUP_CALLS + 20);
    // Only the 20 timed calls are samples: the warm-up is in no percentile.
    expect(result.n).toBe(20);
  });
});

describe('the enqueue timings', () => {
  it('send the warm-up untimed first, then time n (one by one)', async () => {
    const sent: number[] = [];
    const r = await timeOneByOne(5, (i) => Promise.resolve(sent.push(i)), 3);
    expect(sent).toEqual([0, 1, 2, 0, 1, 2, 3, 4]);
    expect(r.n).toBe(5);
    expect(ENQUEUE_WARMUP).toBeGreaterThanOrEqual(1000);
  });

  it('send the warm-up in the same batches, and none for a fill (batched)', async () => {
    const batches: number[] = [];
    const send = (count: number) => Promise.resolve(batches.push(count));
    expect((await timeBatched(5, 2, send, 4)).n).toBe(5);
    expect(batches).toEqual([2, 2, 2, 2, 1]);
    batches.length = 0;
    await timeBatched(5, 2, send);
    expect(batches).toEqual([2, 2, 1]);
  });

  it('no full GC between the round trips\' warm-up and the timed calls', async () => {
    const g = globalThis as { gc?: () => void };
    const saved = g.gc;
    let calls = 0;
    let gcAt = -1;
    g.gc = () => {
      gcAt = calls;
    };
    try {
      await runRoundTrip(ctx, 5, { startWorker: () => Promise.resolve(worker()), call: () => Promise.resolve(calls++), cleanup: () => Promise.resolve() });
    } finally {
      if (saved === undefined) delete g.gc;
      else g.gc = saved;
    }
    expect(calls).toBe(WARMUP_CALLS + 5);
    expect(gcAt).toBe(-1);
  });
});

describe('runDrain and a counting worker (bench/instructions.ts)', () => {
  /** A worker whose instruction counter the fake queue moves: 5 per task sent, 100 per poll. */
  function rig(): { log: string[]; parts: DrainParts } {
    const log: string[] = [];
    let count = 0;
    const counting: WorkerHandle = {
      ...worker(),
      go: () => Promise.resolve(void log.push('go')).then(() => 0),
      callgrind: {
        zero: () => {
          log.push('zero');
          count = 0;
        },
        dump: () => {
          log.push(`dump ${count}`);
          return { total: count, compiler: 7, gc: 3 };
        },
      },
    };
    const parts: DrainParts = {
      enqueue: (n) => {
        log.push(`enqueue ${n}`);
        count += 5 * n;
        return Promise.resolve({ n, seconds: 1, perSec: n });
      },
      startWorker: () => Promise.resolve(counting),
      remaining: () => {
        count += 100;
        return Promise.resolve(0);
      },
      cleanup: () => Promise.resolve(),
    };
    return { log, parts };
  }

  it('counts from before go to the end, the fill outside it', async () => {
    const { log, parts } = rig();
    const r = await runDrain(ctx, 10, { concurrency: 1, label: '-c 1' }, parts);
    expect(log).toEqual(['enqueue 10', 'zero', 'go', 'dump 100']);
    expect(r.instructions).toEqual({ total: 100, compiler: 7, gc: 3 });
  });

  it('with a warm-up, drains it first and counts only the n, from before their fill', async () => {
    const { log, parts } = rig();
    const r = await runDrain(ctx, 10, { concurrency: 1, label: '-c 1', warmup: 30 }, parts);
    expect(log).toEqual(['enqueue 30', 'go', 'zero', 'enqueue 10', 'dump 150']);
    // The fill of the n is inside the count here (the worker consumes as it arrives): 50 + one poll.
    expect(r.instructions?.total).toBe(150);
    expect(r.enqueue.n).toBe(10);
  });

  it('has no count for a worker that does not count', async () => {
    const { parts } = rig();
    const r = await runDrain(ctx, 10, { concurrency: 1, label: '-c 1' }, { ...parts, startWorker: () => Promise.resolve(worker()) });
    expect(r.instructions).toBeUndefined();
  });
});
