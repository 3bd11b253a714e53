/**
 * The ceiling of a drain on Celery's Redis layout, on this machine: a bare consumer loop, no
 * worker around it, that does only what the layout requires per task, through the engine's own
 * calls of its Lua scripts: the broker's fetch (fetch.lua: pop + kombu's unacked bookkeeping +
 * lease), decode the envelope and body, the backend's store of a SUCCESS meta (store-metas.lua:
 * SET + PUBLISH, the stores of one event-loop turn in one call) and the broker's ack (ack.lua,
 * likewise batched). `--loops` such loops run at once in one process. What it reaches bounds
 * what any worker keeping Celery's layout (and Python interop) can drain here; compare it with
 * the main bench's drain rows.
 *
 * It calls the broker's typed transitions (brokers/redis/transitions.ts, from dist) rather than
 * the scripts with arguments of its own: twice a script's arguments changed and this file,
 * which restated them, broke unnoticed. bench/guard.ts (CI) runs it with a small n.
 *
 *   npm run bench:floor                       # 20,000 tasks, 8 loops, batches of 100
 *   npm run bench:floor -- --n 50000 --loops 4 --batch 50 --redis 127.0.0.1:6390
 *
 * Keys live under a unique global_keyprefix and are deleted at the end, with the result keys
 * by exact name. Nothing here runs under `npm test`; any error exits 1.
 */
import { parseArgs } from 'node:util';
import { redisAddress } from './lib/args.js';
import { openLayoutRig } from './lib/layout-rig.js';
import { redisCpuSeconds } from './lib/redis.js';

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
const db = Number(values.db);
const { host, port } = redisAddress(values.redis);
for (const [name, v] of Object.entries({ n, loops, batch, db })) {
  if (!Number.isInteger(v) || v < (name === 'db' ? 0 : 1)) throw new Error(`--${name} must be a positive integer`);
}

const rig = await openLayoutRig({ name: 'floor', host, port, db });
const { app, redis, keys, resultKeys } = rig;

async function main(): Promise<void> {
  await rig.connect();
  await rig.fill(n);
  // No running records ('' holder): the floor does only what the layout requires.
  const transitions = rig.transitions('');
  const buckets = keys.buckets('bench');
  const queues = ['bench'];
  const backend = app.backend;

  let done = 0;
  let calls = 0;
  let notAcked = 0;
  const loop = async (): Promise<void> => {
    while (done < n) {
      const tokenPrefix = `floor:${calls++}`;
      const got = await transitions.fetch(buckets, queues, batch, Date.now(), 60_000, tokenPrefix);
      if (got.length === 0) {
        if (done >= n) return;
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const stores: Promise<void>[] = [];
      for (const m of got) {
        const envelope = JSON.parse(m.raw) as { body: string; headers: { id: string } };
        const [args] = JSON.parse(Buffer.from(envelope.body, 'base64').toString('utf8')) as [unknown[]];
        const id = envelope.headers.id;
        const result = (args.length === 0 ? null : args[0]) as null;
        const meta = { status: 'SUCCESS' as const, result, traceback: null, children: [], date_done: new Date().toISOString().slice(0, -1), task_id: id };
        stores.push(backend.store(meta, { expiresSec: 86_400 }));
      }
      await Promise.all(stores);
      const acked = await Promise.all(got.map((m) => transitions.ack({ tag: m.tag, token: m.token })));
      notAcked += acked.filter((a) => !a).length;
      done += got.length;
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
  const held = await redis.hlen(keys.unacked);
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
  .finally(() => rig.close());
