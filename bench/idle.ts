/**
 * Idle bench: what idle consumers cost Redis. N Redis brokers in this process, each consuming
 * an empty queue of its own, on a private redis-server; after a settle, Redis's CPU (INFO cpu)
 * and its commands (INFO commandstats, reset first) over a window, per consumer and second.
 * With `--python-every-ms`, a producer that rings no doorbell (as Python's kombu) pushes one
 * message to each queue that often, and the bench reports how long they waited. With
 * `--sentinel`, the brokers find that server through a sentinel of their own (on the next port),
 * as a `redis+sentinel://` URL: consumers there wait on pub/sub wake-ups, not doorbells; the
 * sentinel's own commands to the server (a PING a second, INFO, its hello PUBLISH) are counted.
 * Never run by the tests: a manual measurement (bench/README.md, "Idle consumers").
 *
 *   node --import tsx bench/idle.ts [--consumers 20] [--seconds 10] [--settle-seconds 3]
 *     [--port 6510] [--poll-ms 50] [--quiet-poll-ms 1000] [--quiet-after-ms 600000]
 *     [--python-every-ms 0] [--sentinel]
 */
import { randomUUID } from 'node:crypto';
import { RedisBroker, type RedisBrokerOptions } from 'celeriac/redis';
import type { Redis } from 'ioredis';
import { parseOrExit, strictFlags, wholeNumber } from './lib/args.js';
import { privateRedis, privateSentinel, redisCpuSeconds, stopPrivateRedis } from './lib/redis.js';
import { median, nowMs, sleep } from './lib/stats.js';

const USAGE = `Usage: node --import tsx bench/idle.ts [--consumers 20] [--seconds 10] [--settle-seconds 3]
  [--port 6510] [--poll-ms 50] [--quiet-poll-ms N] [--quiet-after-ms N] [--python-every-ms 0] [--sentinel]`;

interface IdleArgs {
  readonly help: boolean;
  readonly consumers: number;
  readonly seconds: number;
  readonly settleSeconds: number;
  readonly port: number;
  readonly broker: RedisBrokerOptions;
  readonly pythonEveryMs: number;
  readonly sentinel: boolean;
}

function parseIdleArgs(argv: readonly string[]): IdleArgs {
  const f = strictFlags(argv, {
    help: { type: 'boolean', default: false },
    consumers: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    'settle-seconds': { type: 'string', default: '3' },
    port: { type: 'string', default: '6510' },
    'poll-ms': { type: 'string' },
    'quiet-poll-ms': { type: 'string' },
    'quiet-after-ms': { type: 'string' },
    'python-every-ms': { type: 'string', default: '0' },
    sentinel: { type: 'boolean', default: false },
  });
  const optional = (flag: string, text: string | undefined) => (text === undefined ? undefined : wholeNumber(flag, text, 1));
  const broker: Record<string, number> = {};
  for (const [flag, key] of [['poll-ms', 'pollIntervalMs'], ['quiet-poll-ms', 'quietPollIntervalMs'], ['quiet-after-ms', 'quietAfterMs']] as const) {
    const v = optional(`--${flag}`, f[flag]);
    if (v !== undefined) broker[key] = v;
  }
  return {
    help: f.help,
    consumers: wholeNumber('--consumers', f.consumers, 1, 2000),
    seconds: wholeNumber('--seconds', f.seconds, 1),
    settleSeconds: wholeNumber('--settle-seconds', f['settle-seconds'], 0),
    port: wholeNumber('--port', f.port, 1, 65535),
    broker,
    pythonEveryMs: wholeNumber('--python-every-ms', f['python-every-ms'], 0),
    sentinel: f.sentinel,
  };
}

/** A task message as a Python producer writes it to Redis (kombu's envelope, protocol 2). */
function kombuEnvelope(id: string, queue: string): string {
  const body = Buffer.from(JSON.stringify([[], {}, { callbacks: null, errbacks: null, chain: null, chord: null }])).toString('base64');
  return JSON.stringify({
    body,
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { lang: 'py', task: 'bench.idle', id, root_id: id, parent_id: null, group: null, retries: 0, eta: null, expires: null },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2, delivery_info: { exchange: '', routing_key: queue }, priority: 0, body_encoding: 'base64', delivery_tag: randomUUID() },
  });
}

/** INFO commandstats as calls and µs per command name. */
async function commandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    stats.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return stats;
}

async function main(): Promise<void> {
  const a = parseOrExit('bench/idle.ts', USAGE, () => parseIdleArgs(process.argv.slice(2)));
  const server = await privateRedis(a.port);
  const sentinel = a.sentinel ? await privateSentinel(a.port + 1, a.port, 'idle').catch(async (err: unknown) => {
    await stopPrivateRedis(server);
    throw err;
  }) : undefined;
  const url = sentinel === undefined ? `redis://127.0.0.1:${a.port}/0` : `redis+sentinel://127.0.0.1:${a.port + 1}/idle/0`;
  const brokers: RedisBroker[] = [];
  const waits: number[] = [];
  let producer: NodeJS.Timeout | undefined;
  try {
    const queues = Array.from({ length: a.consumers }, (_, i) => `idle-${i}-${randomUUID().slice(0, 6)}`);
    /** When each queue's pending message was pushed (the raw producer's), by its text. */
    const pushedAt = new Map<string, number>();
    for (const queue of queues) {
      const broker = new RedisBroker(url, a.broker);
      await broker.connect();
      brokers.push(broker);
      broker.consume({
        queues: [queue],
        prefetch: 1,
        onDelivery: (d) => {
          const sent = pushedAt.get(String((JSON.parse(d.raw) as { headers: { id?: string } }).headers.id));
          if (sent !== undefined) waits.push(nowMs() - sent);
          void d.ack();
        },
      });
    }
    if (a.pythonEveryMs > 0) {
      // kombu's publish: LPUSH of its envelope, no doorbell.
      let n = 0;
      producer = setInterval(() => {
        for (const queue of queues) {
          const id = `py-${n++}`;
          pushedAt.set(id, nowMs());
          void server.redis.lpush(queue, kombuEnvelope(id, queue));
        }
      }, a.pythonEveryMs);
    }
    await sleep(a.settleSeconds * 1000);
    await server.redis.config('RESETSTAT');
    const cpu0 = await redisCpuSeconds(server.redis);
    const t0 = nowMs();
    waits.length = 0;
    await sleep(a.seconds * 1000);
    const cpuMs = ((await redisCpuSeconds(server.redis)) - cpu0) * 1000;
    const seconds = (nowMs() - t0) / 1000;
    const stats = await commandStats(server.redis);
    const per = (x: number) => x / seconds / a.consumers;
    let calls = 0;
    for (const s of stats.values()) calls += s.calls;
    process.stdout.write(
      `${a.consumers} idle consumers${sentinel === undefined ? '' : ' on Sentinel'}, ${JSON.stringify(a.broker)}, ${seconds.toFixed(1)} s:\n` +
        `  Redis CPU ${(cpuMs / seconds).toFixed(1)} ms/s in all, ${((per(cpuMs)) * 1000).toFixed(0)} µs/s per consumer\n` +
        `  commands ${per(calls).toFixed(1)}/s per consumer (the python producer's included)\n`,
    );
    for (const [name, s] of [...stats].sort((x, y) => y[1].usec - x[1].usec).slice(0, 10)) {
      process.stdout.write(`    ${name.padEnd(14)} ${per(s.calls).toFixed(2).padStart(8)}/s ${per(s.usec).toFixed(1).padStart(8)} µs/s\n`);
    }
    if (a.pythonEveryMs > 0) {
      const sorted = [...waits].sort((x, y) => x - y);
      const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
      process.stdout.write(`  raw pushes (no doorbell) every ${a.pythonEveryMs} ms: ${waits.length} delivered, wait median ${median(waits).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms, max ${p(1).toFixed(1)} ms\n`);
    }
  } finally {
    if (producer !== undefined) clearInterval(producer);
    for (const b of brokers) await b.close();
    await stopPrivateRedis(sentinel);
    await stopPrivateRedis(server);
  }
}

await main();
