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
    let slow = 0;
    const result = await runRoundTrip(ctx, 20, {
      startWorker: () => Promise.resolve(worker()),
      // The warm-up calls take 20 ms each, the timed ones nothing: a warm-up counted in the
      // samples would show in p99.
      call: async () => {
        calls++;
        if (calls <= WARMUP_CALLS && calls % 1000 === 0) {
          slow++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
      cleanup: () => Promise.resolve(),
    });
    expect(WARMUP_CALLS).toBeGreaterThanOrEqual(2000);
    expect(calls).toBe(WARMUP_CALLS + 20);
    expect(slow).toBeGreaterThan(0);
    expect(result.n).toBe(20);
    expect(result.p99Ms).toBeLessThan(20);
  });
});
