/**
 * runRoundTrip's warm-up: the calls before the timed ones are made and not counted, so a
 * round-trip row describes a running service, not V8's warm-up of a fresh one.
 */
import { describe, expect, it } from 'vitest';
import { runRoundTrip, WARMUP_CALLS } from './flow.js';
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
