/**
 * What `waitReplicas` costs a producer: sends to a private master with one replica on the same
 * machine (both redis-servers of this run's own, no persistence), without and with
 * `brokerTransportOptions: { waitReplicas: 1 }`, alternating round by round. One by one (each
 * send's latency, p50 and p99, and the rate) and batched (`sendTasks`, one WAIT per batch).
 * A replica on another host adds its network round trip to every send that waits.
 * Never run by the tests: a manual measurement (bench/README.md, "Sends that wait for a replica").
 *
 *   node --import tsx bench/wait-replicas.ts [--rounds 3] [--n 3000] [--batch 5000] [--port 6610]
 *
 * The replica listens on --port + 1.
 */
import { createApp } from 'celeriac';
import { strictFlags, wholeNumber } from './lib/args.js';
import { privateRedis, stopPrivateRedis } from './lib/redis.js';
import { median, nowMs, sleep } from './lib/stats.js';

const values = strictFlags(process.argv.slice(2), {
  rounds: { type: 'string', default: '3' },
  n: { type: 'string', default: '3000' },
  batch: { type: 'string', default: '5000' },
  port: { type: 'string', default: '6610' },
});
const rounds = wholeNumber('--rounds', values.rounds, 1);
const n = wholeNumber('--n', values.n, 100);
const batch = wholeNumber('--batch', values.batch, 1);
const port = wholeNumber('--port', values.port, 1, 65534);

interface Round {
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly batchedPerSec: number;
}

/** One round of sends through a fresh app: warm-up, n one by one (timed each), one batch. */
async function round(waitReplicas: number): Promise<Round> {
  const app = createApp({ broker: `redis://127.0.0.1:${port}/0`, backend: 'memory://', brokerTransportOptions: { waitReplicas } }, { env: {} });
  try {
    for (let i = 0; i < 500; i++) await app.sendTask('bench.wait', [i], {}, { queue: 'wait-replicas' });
    const latencies: number[] = [];
    const t0 = nowMs();
    for (let i = 0; i < n; i++) {
      const t = nowMs();
      await app.sendTask('bench.wait', [i], {}, { queue: 'wait-replicas' });
      latencies.push(nowMs() - t);
    }
    const seconds = (nowMs() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const t1 = nowMs();
    await app.sendTasks(Array.from({ length: batch }, (_, i) => ({ name: 'bench.wait', args: [i], options: { queue: 'wait-replicas' } })));
    const batchSeconds = (nowMs() - t1) / 1000;
    return { perSec: n / seconds, p50Ms: latencies[Math.floor(n / 2)] as number, p99Ms: latencies[Math.floor(n * 0.99)] as number, batchedPerSec: batch / batchSeconds };
  } finally {
    await app.close();
  }
}

const master = await privateRedis(port);
const replica = await privateRedis(port + 1, ['--replicaof', '127.0.0.1', String(port), '--dir', '/tmp', '--dbfilename', `celeriac-bench-replica-${port + 1}.rdb`]);
try {
  while (!String(await replica.redis.info('replication')).includes('master_link_status:up')) await sleep(100);
  const runs: Record<string, Round[]> = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) {
    // Alternating, each round starting with the other side: the machine's drift falls on both.
    for (const side of r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      runs[side]?.push(await round(side === 'on' ? 1 : 0));
      await master.redis.del('wait-replicas');
    }
  }
  const cell = (side: string, pick: (x: Round) => number, digits: number) => median((runs[side] ?? []).map(pick)).toFixed(digits);
  const lines = [
    `| medians of ${rounds} rounds | waitReplicas 0 | waitReplicas 1 |`,
    '| --- | ---: | ---: |',
    `| one by one, sends/s (n=${n}) | ${cell('off', (x) => x.perSec, 0)} | ${cell('on', (x) => x.perSec, 0)} |`,
    `| one by one, p50 ms | ${cell('off', (x) => x.p50Ms, 3)} | ${cell('on', (x) => x.p50Ms, 3)} |`,
    `| one by one, p99 ms | ${cell('off', (x) => x.p99Ms, 3)} | ${cell('on', (x) => x.p99Ms, 3)} |`,
    `| sendTasks of ${batch}, sends/s | ${cell('off', (x) => x.batchedPerSec, 0)} | ${cell('on', (x) => x.batchedPerSec, 0)} |`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await stopPrivateRedis(replica);
  await stopPrivateRedis(master);
}
