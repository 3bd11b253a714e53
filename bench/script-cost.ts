/**
 * What each of a task's Redis scripts costs the Redis server, per task: the broker's fetch
 * (fetch.lua), its ack with and without the running record an early ack writes (ack.lua), the
 * backend's store (store-metas.lua) and the record's removal (carried by the next ack call, or
 * an ack.lua call of its own: transitions.ts forgetRunning). Each phase is called alone, in batches, one
 * call at a time, and measured by the server's own CPU (`INFO cpu`, user + system), which a
 * loaded machine moves far less than wall-clock time; the median over `--rounds` rounds is
 * printed. Where the layout floor (layout-floor.ts) gives the whole loop's cost, this splits it.
 *
 *   npm run build && node --import tsx bench/script-cost.ts [--n 20000] [--batch 100] [--rounds 3] [--redis 127.0.0.1:6379]
 *
 * `INFO cpu` counts every client of the server: give it a redis-server of its own (`--redis`)
 * on a machine others use. Keys live under a unique global_keyprefix and are deleted at the
 * end, with the result keys by exact name. Nothing here runs under `npm test`.
 */
import { parseArgs } from 'node:util';
import { redisAddress } from './lib/args.js';
import { openLayoutRig } from './lib/layout-rig.js';
import { redisCpuSeconds } from './lib/redis.js';
import { median } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    redis: { type: 'string', default: '127.0.0.1:6379' },
  },
});
const n = Number(values.n);
const batch = Number(values.batch);
const rounds = Number(values.rounds);
const { host, port } = redisAddress(values.redis);
// --batch 1 is a round trip's case: one message per call, each script's fixed cost whole.
for (const [name, v, least] of [['n', n, 2], ['batch', batch, 1], ['rounds', rounds, 2]] as const) {
  if (!Number.isInteger(v) || v < least) throw new Error(`--${name} must be an integer >= ${least}`);
}

const rig = await openLayoutRig({ name: 'scripts', host, port, db: 0 });
const { app, redis, keys } = rig;

/** Redis CPU microseconds per item of what `fn` sends. */
async function cost(items: number, fn: () => Promise<void>): Promise<number> {
  const before = await redisCpuSeconds(redis);
  await fn();
  return (((await redisCpuSeconds(redis)) - before) / items) * 1e6;
}

/** Runs `fn` on `list` in slices of `batch`, each slice's calls in one turn (one script call), one slice at a time. */
async function inBatches<T>(list: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < list.length; i += batch) await Promise.all(list.slice(i, i + batch).map(fn));
}

async function round(): Promise<Record<string, number>> {
  const ids = await rig.fill(n);
  const transitions = rig.transitions('script-cost-holder');
  const buckets = keys.buckets('bench');
  const got: { tag: string; token: string; running?: 'pending' }[] = [];
  let calls = 0;
  const out: Record<string, number> = {};
  out['fetch.lua'] = await cost(n, async () => {
    while (got.length < n) {
      const fetched = await transitions.fetch(buckets, ['bench'], batch, Date.now(), 60_000, `sc:${calls++}`);
      if (fetched.length === 0) throw new Error(`fetch found ${got.length} of ${n} messages`);
      got.push(...fetched);
    }
  });
  const early = got.slice(0, n / 2);
  const late = got.slice(n / 2);
  let refused = 0;
  const ack = async (h: { tag: string; token: string; running?: 'pending' }): Promise<void> => void (refused += (await transitions.ack(h)) ? 0 : 1);
  out['ack.lua, early ack (writes the running record)'] = await cost(early.length, () => inBatches(early, (h) => ack({ ...h, running: 'pending' })));
  out['ack.lua, late ack (no record)'] = await cost(late.length, () => inBatches(late, ack));
  out['store-metas.lua (SUCCESS meta + PUBLISH)'] = await cost(n, () =>
    inBatches(ids, (id) => app.backend.store({ status: 'SUCCESS', result: null, traceback: null, children: [], date_done: new Date().toISOString().slice(0, -1), task_id: id }, { expiresSec: 86_400 })),
  );
  out['running record removal (alone: ack.lua with no delivery)'] = await cost(early.length, async () => {
    for (let i = 0; i < early.length; i += batch) {
      for (const h of early.slice(i, i + batch)) transitions.forgetRunning(h.tag);
      await transitions.flushRemovals();
    }
  });
  const left = [refused > 0 && `${refused} acks refused`, (await redis.hlen(keys.unacked)) > 0 && 'messages still held', (await redis.hlen(keys.running)) > 0 && 'running records left'].filter(Boolean);
  if (left.length > 0) throw new Error(`a phase did not do its work: ${left.join(', ')}`);
  return out;
}

async function main(): Promise<void> {
  await rig.connect();
  const all: Record<string, number>[] = [];
  for (let r = 0; r < rounds; r++) all.push(await round());
  const lines = [`| Redis CPU per task, us (n=${n}, batches of ${batch}, median of ${rounds} rounds) | median | all rounds |`, '| --- | ---: | --- |'];
  for (const phase of Object.keys(all[0] ?? {})) {
    const samples = all.map((o) => o[phase] as number);
    lines.push(`| ${phase} | ${median(samples).toFixed(2)} | ${samples.map((s) => s.toFixed(2)).join(' ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rig.close());
