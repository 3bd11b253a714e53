/**
 * What a round trip would cost if the sender subscribed to the result before the task could
 * end (issue 42 item 3's p50 target), against `delay()` then `get()` as the engine does it, on
 * a redis-server of its own, against the bench's worker child (-c 10, as `npm run bench`).
 *
 * - "(await delay()).get()": `get()` on the awaited result reads it; when the task has not
 *   ended yet (often, for a no-op task: the read races the worker's store), it subscribes and
 *   reads again. Two to three socket writes per call.
 * - "delay().get()": the wait chained on the send, which the engine subscribes in the send's
 *   write on the backend's RESP3 subscriber connection (core/early-wait.ts): this design, built
 *   into the engine.
 * - "subscribe first": lib/subscribe-first.ts's client. One RESP3 connection sends the result
 *   channel's SUBSCRIBE, the message's LPUSH and the doorbell's LPUSH in one write, so Redis has
 *   the subscription before any worker can take the message, and the result comes as a push.
 *   The message is the engine's own, so the worker does the same work on both sides.
 *
 * Session 19 measured `get()` subscribing and reading in one RESP3 write and kept neither variant
 * (results/2026-11-27-vm-session19.md, "Experiments not kept"); it named subscribing at send,
 * in the write that carries the publish, as the way to Bee-Queue's one write, unmeasured. This
 * measures that. It is a measurement of a design, not a feature: the engine's result backend subscribes on a
 * RESP2 connection of its own and its broker publishes on another, so subscribing first there
 * means a SUBSCRIBE acknowledged before the send, or one write more. Prints, per way and round
 * (alternating), the p50 and p99, the client's CPU per call and its socket writes and reads per
 * call (/proc/self/io). Nothing here runs under `npm test`.
 *
 *   npm run build && node --import tsx bench/rt-subscribe-first.ts [--n 3000] [--rounds 4] [--port 6411]
 */
import { parseArgs } from 'node:util';
import { createApp } from 'celeriac';
import { buildWorkers, startNodeWorker } from './lib/proc.js';
import { processIo } from './lib/probe-stats.js';
import { privateRedis } from './lib/redis.js';
import { subscribeFirstClient, type SubscribeFirstClient } from './lib/subscribe-first.js';
import { nowMs, percentile } from './lib/stats.js';
import { celeriacUrls, NOOP_TASK } from './peers/celeriac-shared.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '3000' }, rounds: { type: 'string', default: '4' }, port: { type: 'string', default: '6411' } } });
const n = Number(values.n);
const rounds = Number(values.rounds);
const port = Number(values.port);
const PREFIX = 'rtfirst:';
const QUEUE = 'bench';

async function main(): Promise<void> {
  buildWorkers();
  const { server, redis: admin } = await privateRedis(port);
  const urls = celeriacUrls({ host: '127.0.0.1', port, db: 0, prefix: PREFIX });
  const app = createApp({ broker: urls.broker, backend: urls.backend, logLevel: 'warn', taskDefaultQueue: QUEUE });
  const noop = app.task(NOOP_TASK, () => null);
  const worker = await startNodeWorker('celeriac', { host: '127.0.0.1', port, db: 0, prefix: PREFIX, queue: QUEUE, concurrency: 10 });
  let client: SubscribeFirstClient | undefined;
  try {
    await app.broker.connect();
    await app.backend.connect();
    client = await subscribeFirstClient({ host: '127.0.0.1', port, prefix: PREFIX, queue: QUEUE, task: noop, admin });
    await worker.go();
    const subscribeFirst = client.call;
    const engine = async (): Promise<void> => {
      await (await noop.delay()).get({ timeoutMs: 10_000 });
    };
    // The engine's own way of subscribing at send: `.get()` chained on the send (core/early-wait.ts).
    const chained = async (): Promise<void> => {
      await noop.delay().get({ timeoutMs: 10_000 });
    };
    const ways: [string, () => Promise<void>][] = [
      ['subscribe first', subscribeFirst],
      ['(await delay()).get()', engine],
      ['delay().get()', chained],
    ];
    for (let i = 0; i < 300; i++) for (const [, call] of ways) await call();
    const rows = new Map<string, string[]>(ways.map(([name]) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const [name, call] of round % 2 === 0 ? ways : [...ways].reverse()) {
        const samples: number[] = [];
        const io0 = processIo('self');
        const cpu0 = process.cpuUsage();
        for (let i = 0; i < n; i++) {
          const t0 = nowMs();
          await call();
          samples.push(nowMs() - t0);
        }
        const cpu = process.cpuUsage(cpu0);
        const io = processIo('self');
        rows
          .get(name)!
          .push(
            `p50 ${percentile(samples, 50).toFixed(3)} ms, p99 ${percentile(samples, 99).toFixed(3)} ms, client CPU ${((cpu.user + cpu.system) / n).toFixed(0)} µs, writes ${((io.syscw - io0.syscw) / n).toFixed(2)}, reads ${((io.syscr - io0.syscr) / n).toFixed(2)}`,
          );
      }
    }
    process.stdout.write(`n=${n} per round, rounds alternating:\n`);
    for (const [name, list] of rows) process.stdout.write(`${name}\n${list.map((r, i) => `  round ${i + 1}: ${r}`).join('\n')}\n`);
  } finally {
    await worker.stop();
    await client?.close();
    await app.close();
    admin.disconnect();
    server.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
  process.exitCode = 1;
});
