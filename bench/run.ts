/**
 * `npm run bench`: Celeriac, BullMQ, Bee-Queue and Python Celery on the same Redis, in one run.
 * Prints one Markdown table and writes it, with the raw numbers as JSON, to bench/results/.
 *
 * Flags: see `--help` (lib/args.ts).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, UsageError, USAGE, type BenchArgs } from './lib/args.js';
import { runLayoutFloor } from './lib/floor.js';
import { buildWorkers } from './lib/proc.js';
import { adminClient, redisCpuSeconds } from './lib/redis.js';
import { medianDrains, medianEnqueue, renderMarkdown, type PeerResults, type RunReport } from './lib/report.js';
import { collectGarbage, nowMs } from './lib/stats.js';
import { cpuTicks, stealShare, timeLoop, type Steadiness } from './lib/steadiness.js';
import { PEER_LABELS, PEER_NAMES, type BenchContext, type Peer, type PeerName } from './lib/types.js';

const SIZES = {
  full: { oneByOne: 10_000, batched: 20_000, drain: 20_000, roundTrip: 2_000, concurrencies: [1, 10, 100] },
  quick: { oneByOne: 1_000, batched: 2_000, drain: 2_000, roundTrip: 200, concurrencies: [1, 10, 100] },
};
/** Whole-run budget: steps not started by then are skipped with a note. */
const BUDGET_MS = 12 * 60_000;

let args: BenchArgs;
try {
  args = parseBenchArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench: ${err.message}\n\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const selected = args.peers;
const sizes = args.quick ? SIZES.quick : SIZES.full;
/** Interleaved drain rounds (the JS peers; Celery is drained once). */
const rounds = args.rounds;

const ctx: BenchContext = {
  redisHost: args.redisHost,
  redisPort: args.redisPort,
  redisDb: args.db,
  runPrefix: `celeriac-bench:${randomBytes(4).toString('hex')}:`,
  stepTimeoutMs: args.stepTimeoutSec * 1000,
  log: (line) => process.stderr.write(`[bench ${((nowMs() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`),
  redisCpuSeconds: () => redisCpuSeconds((cpuProbe ??= adminClient(ctx))),
};
/** The connection that reads the Redis server's CPU around each drain (opened on first use). */
let cpuProbe: ReturnType<typeof adminClient> | undefined;
const started = nowMs();

// Peers are imported when measured: `--help` and a bad flag answer without loading their
// clients (bench/lib/args.test.ts runs both).
async function makePeer(name: PeerName): Promise<Peer> {
  switch (name) {
    case 'celeriac':
      return new (await import('./peers/celeriac.js')).CeleriacPeer(ctx, args.cpuProf !== undefined ? { cpuProf: args.cpuProf } : {});
    case 'bullmq':
      return new (await import('./peers/bullmq.js')).BullmqPeer(ctx);
    case 'bee-queue':
      return new (await import('./peers/bee-queue.js')).BeeQueuePeer(ctx);
    case 'celery':
      return new (await import('./peers/celery.js')).CeleryPeer(ctx);
  }
}

/**
 * The commit the measured Celeriac was built from, `+changes` when the tree differs from it
 * (bench/results/ aside: an earlier run's output there is not a change to what is measured).
 */
function sourceCommit(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results') === '' ? '' : '+changes'}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

async function machine(): Promise<Record<string, string>> {
  const redis = adminClient(ctx);
  try {
    const info = await redis.info('server');
    return {
      host: hostname(),
      cpu: cpus()[0]?.model ?? 'unknown CPU',
      cores: String(cpus().length),
      memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
      node: process.version,
      redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
      redisAddress: `${ctx.redisHost}:${ctx.redisPort}/${ctx.redisDb}`,
      commit: sourceCommit(),
      gcBeforeSteps: collectGarbage() ? 'yes' : 'no (node ran without --expose-gc)',
    };
  } finally {
    redis.disconnect();
  }
}

/** Runs one step, recording a note instead of a number when it fails, times out, or is over budget. */
async function step<T>(r: PeerResults, key: string, what: string, run: () => Promise<T>): Promise<T | undefined> {
  if (nowMs() - started > BUDGET_MS) {
    r.notes[key] = `skipped: the whole run passed its ${BUDGET_MS / 60_000} min budget`;
    return undefined;
  }
  ctx.log(what);
  collectGarbage();
  try {
    return await run();
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    r.notes[key] = `failed: ${message}`;
    ctx.log(`  ${what} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return undefined;
  }
}

/** One one-by-one enqueue, one batched enqueue and one drain of every configuration of one peer, added to its samples. */
async function measureRound(peer: Peer, r: PeerResults, round: number): Promise<void> {
  const label = PEER_LABELS[peer.name];
  const one = await step(r, 'oneByOne', `${label}: enqueue ${sizes.oneByOne} one by one (round ${round})`, () => peer.enqueueOneByOne(sizes.oneByOne));
  if (one !== undefined) {
    (r.oneByOneSamples ??= []).push(one);
    ctx.log(`  ${Math.round(one.perSec)} tasks/s`);
  }
  const batched = await step(r, 'batched', `${label}: enqueue ${sizes.batched} batched (round ${round})`, () => peer.enqueueBatched(sizes.batched));
  if (batched !== undefined) {
    r.batchedSamples.push(batched);
    ctx.log(`  ${Math.round(batched.perSec)} tasks/s`);
  }
  for (const config of peer.drainConfigs(sizes.concurrencies)) {
    const d = await step(r, `drain ${config.label}`, `${label}: drain ${sizes.drain} at ${config.label} (round ${round})`, () => peer.drain(sizes.drain, config));
    if (d === undefined) continue;
    r.drainSamples.push(d);
    ctx.log(`  ${d.skipped ?? `${Math.round(d.perSec)} tasks/s in ${d.seconds.toFixed(2)} s`}, peak RSS ${d.rss?.peakMb.toFixed(1)} MB; fill ${Math.round(d.enqueue.perSec)}/s`);
  }
}

async function measureRoundTrip(peer: Peer, r: PeerResults): Promise<void> {
  r.roundTrip = await step(r, 'roundTrip', `${PEER_LABELS[peer.name]}: ${sizes.roundTrip} sequential round trips`, () => peer.roundTrip(sizes.roundTrip));
  if (r.roundTrip) ctx.log(`  p50 ${r.roundTrip.p50Ms.toFixed(3)} ms, p99 ${r.roundTrip.p99Ms.toFixed(3)} ms`);
}

/**
 * Runs layout-floor.ts on the bench's Redis with the drain's n; its result line. A floor that
 * fails is a broken part of the bench, not a missing number: the report says FAILED with the
 * reason and the run exits non-zero.
 */
async function layoutFloor(): Promise<string> {
  ctx.log(`layout floor: ${sizes.drain} tasks, bare loop`);
  const floor = await runLayoutFloor({ n: sizes.drain, host: ctx.redisHost, port: ctx.redisPort, db: ctx.redisDb, timeoutMs: ctx.stepTimeoutMs });
  if (floor.ok) {
    ctx.log(`  ${floor.line}`);
    return floor.line;
  }
  ctx.log(`  LAYOUT FLOOR FAILED: ${floor.why}`);
  process.exitCode = 1;
  return `FAILED: ${floor.why}`;
}

/**
 * The round trip's floor on Celery's layout (peers/layout-floor.ts), as many calls as the peers'
 * round trips. A floor that fails is a broken part of the bench, as the drain's is.
 */
async function roundTripFloor(): Promise<NonNullable<RunReport['roundTripFloor']>> {
  ctx.log(`round-trip floor: ${sizes.roundTrip} sequential round trips, bare worker, subscribe-first client`);
  try {
    const { layoutFloorRoundTrip } = await import('./peers/layout-floor.js');
    const r = await layoutFloorRoundTrip(ctx, sizes.roundTrip);
    if (r.skipped !== undefined) throw new Error(r.skipped);
    ctx.log(`  p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms`);
    return r;
  } catch (err) {
    const failed = String((err as Error).message ?? err).split('\n')[0] ?? 'unknown';
    ctx.log(`  ROUND-TRIP FLOOR FAILED: ${failed}`);
    process.exitCode = 1;
    return { failed };
  }
}

/** The run's steadiness checks (lib/steadiness.ts), from the steal ticks read at its start. */
const steadiness: Steadiness = { checks: [], stealPct: null };
const ticksAtStart = cpuTicks();

/** Times the steadiness loop before `before` is measured. */
function checkSteadiness(before: string): void {
  const loopMs = timeLoop();
  steadiness.checks.push({ atSec: (nowMs() - started) / 1000, before, loopMs });
  ctx.log(`steadiness check: ${loopMs.toFixed(1)} ms`);
}

async function main(): Promise<void> {
  ctx.log('compiling worker children (bench/tsconfig.workers.json)');
  buildWorkers();
  const report: RunReport = {
    startedAt: new Date().toISOString(),
    durationSec: 0,
    quick: args.quick,
    rounds,
    machine: await machine(),
    sizes,
    peers: {},
  };
  const open: Peer[] = [];
  const closeAll = async () => {
    await Promise.allSettled(open.splice(0).map((p) => p.close()));
  };
  process.once('SIGINT', () => {
    ctx.log('interrupted: deleting this run\'s keys');
    void closeAll().finally(() => process.exit(130));
  });
  const peers: { peer: Peer; results: PeerResults }[] = [];
  for (const name of selected) {
    const peer = await makePeer(name);
    open.push(peer);
    const results: PeerResults = { batchedSamples: [], drains: [], drainSamples: [], notes: {} };
    report.peers[name] = results;
    peers.push({ peer, results });
  }
  try {
    for (const { peer, results } of peers) results.version = await step(results, 'version', `${PEER_LABELS[peer.name]}: version`, () => peer.version());
    // Enqueues and drains in interleaved rounds, each starting with the next peer,
    // so that a slow or fast spell of the machine falls on every peer alike; a row shows the
    // median round. Celery's three drain configurations take about a minute a round, so it is
    // measured in the first only.
    for (let round = 1; round <= rounds; round++) {
      for (let i = 0; i < peers.length; i++) {
        const { peer, results } = peers[(round - 1 + i) % peers.length] as (typeof peers)[number];
        if (peer.name === 'celery' && round > 1) continue;
        checkSteadiness(`${PEER_LABELS[peer.name]}'s round ${round}`);
        await measureRound(peer, results, round);
      }
    }
    for (const { results } of peers) {
      results.drains = medianDrains(results.drainSamples);
      results.oneByOne = medianEnqueue(results.oneByOneSamples ?? []);
      results.batched = medianEnqueue(results.batchedSamples);
    }
    // The floor right after Bee-Queue's round trip (the target's other side), or Celeriac's
    // without Bee-Queue: measured minutes apart, they would compare two loads of the machine.
    const floorAfter = selected.includes('bee-queue') ? 'bee-queue' : 'celeriac';
    checkSteadiness('the round trips');
    for (const { peer, results } of peers) {
      await measureRoundTrip(peer, results);
      if (selected.includes('celeriac') && peer.name === floorAfter) report.roundTripFloor = await roundTripFloor();
    }
  } finally {
    await closeAll();
    cpuProbe?.disconnect();
  }
  if (selected.includes('celeriac')) report.layoutFloor = await layoutFloor();
  checkSteadiness('the end of the run');
  steadiness.stealPct = stealShare(ticksAtStart, cpuTicks());
  report.steadiness = steadiness;
  report.durationSec = (nowMs() - started) / 1000;
  const markdown = renderMarkdown(report);
  process.stdout.write(`\n${markdown}`);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const stem = `${report.startedAt.slice(0, 10)}-${hostname()}${report.quick ? '-quick' : ''}${selected.length < PEER_NAMES.length ? `-${selected.join('+')}` : ''}`;
  // A second run on the same day gets -2, -3...: a results file often has notes added below its table.
  let base = stem;
  for (let k = 2; existsSync(`${dir}${base}.md`) || existsSync(`${dir}${base}.json`); k++) base = `${stem}-${k}`;
  writeFileSync(`${dir}${base}.md`, markdown);
  writeFileSync(`${dir}${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  ctx.log(`wrote bench/results/${base}.md and .json`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
