/**
 * The ceiling of a drain on Celery's Redis layout, on this machine: a bare consumer loop, no
 * worker around it, that does only what the layout requires per task, with Celeriac's own
 * Lua scripts: fetch.lua (pop + kombu's unacked bookkeeping + lease), decode the envelope and
 * body, build a SUCCESS meta, store-metas.lua (SET + PUBLISH), ack.lua. `--loops` such loops
 * run at once in one process. What it reaches bounds what any worker keeping Celery's layout
 * (and Python interop) can drain here; compare it with the main bench's drain rows.
 *
 *   npm run bench:floor                       # 20,000 tasks, 8 loops, batches of 100
 *   npm run bench:floor -- --n 50000 --loops 4 --batch 50 --redis 127.0.0.1:6390
 *
 * Keys live under a unique global_keyprefix and are deleted at the end, with the result keys
 * by exact name. Nothing here runs under `npm test`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp } from 'celeriac';
import { Redis } from 'ioredis';
import type { readFetchReply as ReadFetchReply } from '../packages/celeriac/src/brokers/redis/transitions.js';
import { deleteByPrefix, deleteKeys, redisCpuSeconds } from './lib/redis.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    loops: { type: 'string', default: '8' },
    batch: { type: 'string', default: '100' },
    redis: { type: 'string', default: '127.0.0.1:6379' },
    db: { type: 'string', default: '0' },
  },
});
const n = Number(values.n);
const loops = Number(values.loops);
const batch = Number(values.batch);
const [host = '127.0.0.1', portText = '6379'] = String(values.redis).split(':');
const db = Number(values.db);
const port = Number(portText);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--redis must be host:port, got ${String(values.redis)}`);
for (const [name, v] of Object.entries({ n, loops, batch, db })) {
  if (!Number.isInteger(v) || v < (name === 'db' ? 0 : 1)) throw new Error(`--${name} must be a positive integer`);
}

const dist = join(dirname(createRequire(import.meta.url).resolve('celeriac/package.json')), 'dist');
const lua = (path: string): string => readFileSync(join(dist, path), 'utf8');
// The broker's own reader of fetch.lua's reply (not part of the public API, so from dist).
const { readFetchReply } = (await import(pathToFileURL(join(dist, 'brokers/redis/transitions.js')).href)) as { readFetchReply: typeof ReadFetchReply };

const prefix = `celeriac-bench:floor-${Math.random().toString(36).slice(2, 10)}:`;
const base = `redis://${host}:${portText}/${db}`;
const app = createApp({ broker: `${base}?global_keyprefix=${encodeURIComponent(prefix)}`, backend: base, logLevel: 'warn', taskDefaultQueue: 'bench' });
const noop = app.task('bench.noop', () => null);
const redis = new Redis({ host, port, db });
const resultKeys: string[] = [];

async function main(): Promise<void> {
  await app.broker.connect();
  for (let i = 0; i < n; i += 1000) {
    const sent = await noop.applyAsyncMany(Array.from({ length: Math.min(1000, n - i) }, () => [] as []));
    for (const r of sent) resultKeys.push(`celery-task-meta-${r.id}`);
  }
  const fetch = await redis.script('LOAD', lua('brokers/redis/scripts/fetch.lua')) as string;
  const ack = await redis.script('LOAD', lua('brokers/redis/scripts/ack.lua')) as string;
  const store = await redis.script('LOAD', lua('backends/redis/scripts/store-metas.lua')) as string;
  // The keys fetch.lua and ack.lua take, in their headers' order (see each script's KEYS).
  const book = ['unacked', 'unacked_index', 'celeriac.leases', 'celeriac.lease.data', 'celeriac.deliveries'].map((k) => prefix + k);
  const running = `${prefix}celeriac.running`;
  const buckets = ['', '\x06\x163', '\x06\x166', '\x06\x169'].map((step) => `${prefix}bench${step}`);

  let done = 0;
  let calls = 0;
  let notAcked = 0;
  const loop = async (): Promise<void> => {
    while (done < n) {
      const now = Date.now();
      const tokenPrefix = `floor:${calls++}`;
      const reply = (await redis.evalsha(fetch, book.length + buckets.length, ...book, ...buckets, '1', String(batch), String(Math.floor(now / 1000)), String(now + 60_000), tokenPrefix, '"bench"')) as string[];
      if (reply.length === 0) {
        if (done >= n) return;
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const keys: string[] = [];
      const metas: string[] = [];
      const held: string[] = [];
      for (const m of readFetchReply(reply, tokenPrefix)) {
        const envelope = JSON.parse(m.raw) as { body: string; headers: { id: string } };
        const [args] = JSON.parse(Buffer.from(envelope.body, 'base64').toString('utf8')) as [unknown[]];
        const id = envelope.headers.id;
        const result = args.length === 0 ? null : args[0];
        keys.push(`celery-task-meta-${id}`);
        metas.push(JSON.stringify({ status: 'SUCCESS', result, traceback: null, children: [], date_done: new Date().toISOString().slice(0, -1), task_id: id }), '86400000');
        held.push(m.tag, m.token, '0');
      }
      await redis.evalsha(store, keys.length, ...keys, ...metas);
      const acked = (await redis.evalsha(ack, book.length + 1, ...book, running, '', ...held)) as number[];
      notAcked += acked.filter((a) => a !== 1).length;
      done += keys.length;
    }
  };
  const cpu = process.cpuUsage();
  const redisCpu = await redisCpuSeconds(redis);
  const started = performance.now();
  await Promise.all(Array.from({ length: loops }, loop));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const redisUsed = (await redisCpuSeconds(redis)) - redisCpu;
  // A floor that skipped part of the work would be a false ceiling: check it all happened.
  let stored = 0;
  for (let i = 0; i < resultKeys.length; i += 1000) stored += await redis.exists(...resultKeys.slice(i, i + 1000));
  const held = await redis.hlen(book[0]!);
  const wrong = [stored !== n && `${n - stored} results missing`, notAcked > 0 && `${notAcked} acks refused`, held > 0 && `${held} messages still held`].filter(Boolean);
  if (wrong.length > 0) throw new Error(`the layout floor did not do its work: ${wrong.join(', ')}`);
  console.log(
    `Layout floor: ${n.toLocaleString('en-US')} tasks in ${seconds.toFixed(2)} s = ${Math.round(n / seconds).toLocaleString('en-US')} tasks/s, ` +
      `${((used.user + used.system) / n).toFixed(1)} us CPU per task in the loop process and ${((redisUsed / n) * 1e6).toFixed(1)} us in Redis (${loops} loops, batches of ${batch})`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await deleteByPrefix(redis, prefix);
    await deleteKeys(redis, resultKeys);
    await redis.quit();
    await app.close();
  });
