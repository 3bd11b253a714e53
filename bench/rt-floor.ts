/**
 * Can a round trip on Celery's Redis layout reach Bee-Queue's p50 on this machine (issue 42
 * item 3)? Three ways, each a worker child and a client, in rounds that rotate their order, on
 * a redis-server of its own, each with the main bench's warm-up (lib/flow.ts runRoundTrip):
 *
 * - "Bee-Queue": the bench's Bee-Queue round trip (peers/bee-queue.ts, worker -c 10).
 * - "layout floor": the least a round trip on Celery's layout costs with the engine's scripts
 *   (peers/layout-floor.ts): lib/subscribe-first.ts's client (one write: SUBSCRIBE, the message,
 *   its doorbell; the result as a push) against peers/layout-floor-worker.ts (no engine around
 *   the scripts: a block plus fetch in one write, decode, store plus ack in one write).
 * - "Celeriac": the bench's own round trip, `delay()` then `get()` against the engine's worker
 *   (peers/celeriac.ts, -c 10).
 *
 * The floor's p50 against Bee-Queue's says whether the target is within reach of a worker that
 * keeps Celery's layout (and Python interop) here; Celeriac's against the floor's, how much
 * of the gap is the engine's. Prints each round, then the medians: p50, p99, and CPU per call
 * of the client (this process), the worker (all its threads) and Redis.
 * Nothing here runs under `npm test`; bench/lib/rt-floor.test.ts runs the floor's parts.
 *
 *   npm run build && node --import tsx bench/rt-floor.ts [--n 2000] [--rounds 3] [--port 6412]
 */
import { randomBytes } from 'node:crypto';
import { parseOrExit, strictFlags, UsageError, wholeNumber } from './lib/args.js';
import { buildWorkers } from './lib/proc.js';
import { privateRedis, redisCpuSeconds } from './lib/redis.js';
import { median } from './lib/stats.js';
import type { BenchContext, RoundTripResult } from './lib/types.js';
import { BeeQueuePeer } from './peers/bee-queue.js';
import { CeleriacPeer } from './peers/celeriac.js';
import { layoutFloorRoundTrip } from './peers/layout-floor.js';

const USAGE = 'usage: node --import tsx bench/rt-floor.ts [--n 2000] [--rounds 3] [--port 6412]\n';
const { n, rounds, port } = parseOrExit('rt-floor', USAGE, () => {
  const v = strictFlags(process.argv.slice(2), { n: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' }, port: { type: 'string', default: '6412' }, help: { type: 'boolean', default: false } });
  return { help: v.help, n: wholeNumber('--n', v.n, 1), rounds: wholeNumber('--rounds', v.rounds, 1), port: wholeNumber('--port', v.port, 1, 65535) };
});

/** One way of making round trips: a name and a run of n of them. */
type Way = readonly [name: string, run: () => Promise<RoundTripResult>];

async function main(): Promise<void> {
  buildWorkers();
  const { server, redis: admin } = await privateRedis(port);
  const ctx: BenchContext = {
    redisHost: '127.0.0.1',
    redisPort: port,
    redisDb: 0,
    runPrefix: `celeriac-bench:rtfloor-${randomBytes(4).toString('hex')}:`,
    stepTimeoutMs: 300_000,
    log: (line) => process.stderr.write(`[rt-floor] ${line}\n`),
    redisCpuSeconds: () => redisCpuSeconds(admin),
  };
  const bee = new BeeQueuePeer(ctx);
  const engine = new CeleriacPeer(ctx);
  try {
    const ways: Way[] = [
      ['Bee-Queue', () => bee.roundTrip(n)],
      ['layout floor', () => layoutFloorRoundTrip(ctx, n)],
      ['Celeriac', () => engine.roundTrip(n)],
    ];
    const results = new Map<string, RoundTripResult[]>(ways.map(([name]) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      const order = [...ways.slice(round % ways.length), ...ways.slice(0, round % ways.length)];
      for (const [name, run] of order) {
        ctx.log(`round ${round + 1}: ${name}, ${n} round trips after the warm-up`);
        const r = await run();
        if (r.skipped !== undefined) throw new Error(`${name}: ${r.skipped}`);
        results.get(name)!.push(r);
        ctx.log(`  ${describe(r)}`);
      }
    }
    process.stdout.write(report(results));
  } finally {
    await bee.close();
    await engine.close();
    admin.disconnect();
    server.kill('SIGTERM');
  }
}

function describe(r: RoundTripResult): string {
  const cpu = r.cpuUs === undefined ? '' : `; CPU per call ${Math.round(r.cpuUs.client + r.cpuUs.worker + r.cpuUs.redis)} µs (${Math.round(r.cpuUs.client)} + ${Math.round(r.cpuUs.worker)} + ${Math.round(r.cpuUs.redis)})`;
  return `p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms${cpu}`;
}

/** The medians of each way's rounds, as a Markdown table. */
function report(results: ReadonlyMap<string, readonly RoundTripResult[]>): string {
  const lines = [
    `Round trips on a redis-server of its own (port ${port}): ${n} per round after the warm-up, ${rounds} rounds, medians of the rounds.`,
    '',
    '| way | p50, ms | p99, ms | CPU per call, µs: client + worker + Redis |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const [name, list] of results) {
    const cpu = (pick: (c: NonNullable<RoundTripResult['cpuUs']>) => number) => Math.round(median(list.map((r) => (r.cpuUs === undefined ? 0 : pick(r.cpuUs)))));
    lines.push(
      `| ${name} | ${median(list.map((r) => r.p50Ms)).toFixed(3)} | ${median(list.map((r) => r.p99Ms)).toFixed(3)} | ${cpu((c) => c.client + c.worker + c.redis)} (${cpu((c) => c.client)} + ${cpu((c) => c.worker)} + ${cpu((c) => c.redis)}) |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

main().catch((error: unknown) => {
  // A taken --port is the caller's to fix (exit 2, as a bad flag); anything else is a failure.
  process.stderr.write(error instanceof UsageError ? `rt-floor: ${error.message}\n${USAGE}` : `${String((error as Error).stack ?? error)}\n`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
