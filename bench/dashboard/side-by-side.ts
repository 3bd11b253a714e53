/**
 * Celeriac's dashboard beside real Flower 2.0.1 (../shared/oracles) on one event stream: both
 * subscribe to the same Redis (a private redis-server), publisher processes
 * (side-publisher.ts) send synthetic task events (bench/dashboard/events.ts: received, started,
 * succeeded/failed) at rising rates, and this script reads how many events each side has taken
 * in: `flower_events_total` summed for Flower, and for Celeriac the events stored whole in its
 * history (`celeriac_dashboard_events_written_total` less `celeriac_dashboard_events_dropped_total`,
 * the events whose timeline entry the write buffer gave up), so falling behind anywhere between
 * the broker and the database counts. RSS is each process's highest so far, sampled every 200 ms.
 * "Folded into its live state" is Celeriac's `celeriac_dashboard_events_ingested_total`, the
 * events applied to its in-memory cluster state: the point Flower's count measures (its history
 * is that state), before the database write.
 *
 *   node --import tsx bench/dashboard/side-by-side.ts [--rates 2000,5000,10000,20000] [--seconds 6]
 *        [--publishers 1] [--multi 1] [--port 7604] [--oracles ../shared/oracles]
 *        [--database-url postgres://...] [--celeriac-root <checkout>] [--runner dist|tsx]
 *
 * `--multi N` sends `task.multi` batches of N events, as a Celery worker with an event loop
 * does; `--publishers P` splits each step's rate over P processes. A rate is "kept up with"
 * when a side counted at least 99% of the step's events within 3 s after the step ended.
 * `--celeriac-root` runs another checkout's dashboard (a before/after pair on one machine);
 * one that predates the written-events metric is measured by its stored timeline rows.
 * `--runner`: the dashboard process runs the built packages with plain node (`dist`, the
 * default where side-dashboard.mjs exists) or the sources through tsx (`tsx`, as it ran before
 * the dashboard was built).
 * `--sides flower|celeriac` runs one side alone on the same stream (on a 2-core machine the two
 * compete for CPU with each other and with the publishers; alone is each one's own ceiling).
 * `--sides each` runs Flower alone up the ladder until it falls behind, stops it, then Celeriac
 * alone up the same ladder until it does, and prints each one's ceiling (the last rate it kept
 * up with) and their ratio: both measured in one run, on one machine, by the same publishers.
 * CPU is each process's user+system time during the step and the 3 s after it (/proc), per event
 * it counted: what the machine pays per event on each side.
 * Ports: redis --port, Flower --port+1, Celeriac --port+2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { createApp } from 'celeriac';
import pg from 'pg';
import { pino } from 'pino';
import { cpuSeconds, stopChild } from '../lib/proc.js';
import { sideDashboard } from './side-dashboard-args.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    rates: { type: 'string', default: '2000,5000,10000,20000' },
    seconds: { type: 'string', default: '6' },
    publishers: { type: 'string', default: '1' },
    multi: { type: 'string', default: '1' },
    port: { type: 'string', default: '7604' },
    oracles: { type: 'string', default: resolve(ROOT, '../shared/oracles') },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'celeriac-root': { type: 'string', default: ROOT },
    runner: { type: 'string' },
    sides: { type: 'string', default: 'both' },
  },
});
if (!['both', 'each', 'flower', 'celeriac'].includes(flags.sides)) throw new Error('--sides must be both, each, flower or celeriac');
const RUN = { flower: flags.sides !== 'celeriac', celeriac: flags.sides !== 'flower' };
const RATES = flags.rates.split(',').map(Number);
const SECONDS = Number(flags.seconds);
const PORT = Number(flags.port);
const PUBLISHERS = Math.max(1, Number(flags.publishers));
const BROKER = `redis://127.0.0.1:${PORT}/0`;
const SCHEMA = `dash_side_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
const children: ChildProcess[] = [];
const HEADER = '| target events/s | offered events/s | Flower counted | Celeriac stored | Celeriac folded into its live state | Celeriac shed msgs / dropped events / Redis cut-offs (either side) | Flower CPU in the step, per event counted | Celeriac CPU in the step, per event stored | Flower peak RSS MB | Celeriac peak RSS MB |\n| ---: | ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: |';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, talk = false): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: [talk ? 'pipe' : 'ignore', 'pipe', 'pipe'], cwd: ROOT });
  if (!talk) child.stdout?.resume();
  child.stderr?.resume();
  children.push(child);
  return child;
}
async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
/** User + system CPU seconds of a process so far (0 for a side that is not running). */
const cpuSec = (pid: number | undefined): number => (pid === undefined ? 0 : cpuSeconds(pid, false));
function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}
/** Lines a child writes on stdout, one at a time. */
function lines(child: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  return () => (queue.length > 0 ? Promise.resolve(queue.shift() as string) : new Promise((r) => waiting.push(r)));
}
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const redis = start('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
/** Subscribers Redis closed for overcoming the pub/sub output-buffer limit (its log says so). */
let cutOffs = 0;
redis.stdout?.on('data', (d: Buffer) => (cutOffs += d.toString().split('overcoming of output buffer limits').length - 1));
const app = createApp({ broker: BROKER }, { env: {}, logger: pino({ level: 'silent' }) });
const fUrl = `http://127.0.0.1:${PORT + 1}`;
const cUrl = `http://127.0.0.1:${PORT + 2}`;
type Publisher = { child: ChildProcess; next: () => Promise<string> };

/** What one ladder found: its table rows and the highest rate each side kept up with. */
interface Ladder {
  rows: string[];
  ceiling: { flower: number; celeriac: number };
  /** Whether the side fell behind within the ladder (if not, its ceiling is only a lower bound). */
  fellBehind: { flower: boolean; celeriac: boolean };
}

/**
 * Starts the sides `run` names, offers each rate for SECONDS and reads what each side took in,
 * then stops them. With `untilBehind`, the ladder ends after the first step a side fell behind in.
 */
async function ladder(run: { flower: boolean; celeriac: boolean }, publishers: Publisher[], untilBehind: boolean): Promise<Ladder> {
  const flower = !run.flower ? undefined : start('/usr/bin/python3', ['-m', 'flower', '-b', BROKER, 'flower', `--port=${PORT + 1}`, '--address=127.0.0.1'], { PYTHONPATH: join(flags.oracles, 'flower-2.0.1'), FLOWER_UNAUTHENTICATED_API: 'true' });
  const celeriac = !run.celeriac ? undefined : start(process.execPath, [...sideDashboard(flags['celeriac-root'], flags.runner), BROKER, String(PORT + 2), SCHEMA, flags['database-url'], 'keep']);
  const db = new pg.Client({ connectionString: flags['database-url'] });
  const peak = { flower: 0, celeriac: 0 };
  const sampler = setInterval(() => {
    peak.flower = Math.max(peak.flower, rssMb(flower?.pid));
    peak.celeriac = Math.max(peak.celeriac, rssMb(celeriac?.pid));
  }, 200);
  try {
    if (run.flower) await until('Flower', async () => (await fetch(`${fUrl}/healthcheck`)).ok);
    if (run.celeriac) await until('Celeriac', async () => (await fetch(`${cUrl}/healthcheck`)).ok);
    await sleep(2000); // subscribed
    const counts = { flower: 0, celeriac: 0, folded: 0 };
    await db.connect();
    const hasWritten = !run.celeriac || (await (await fetch(`${cUrl}/metrics`)).text()).includes('celeriac_dashboard_events_written_total');
    const stored = async () => !run.celeriac ? 0 : hasWritten
      ? (await metric(cUrl, 'celeriac_dashboard_events_written_total')) - (await metric(cUrl, 'celeriac_dashboard_events_dropped_total'))
      : Number((await db.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".task_events`)).rows[0].n);
    const read = async () => ({
      flower: run.flower ? await metric(fUrl, 'flower_events_total') : 0,
      celeriac: await stored(),
      folded: run.celeriac ? await metric(cUrl, 'celeriac_dashboard_events_ingested_total').catch(() => 0) : 0,
    });
    Object.assign(counts, await read());
    const fellBehind = { flower: false, celeriac: false };
    const result: Ladder = { rows: [], ceiling: { flower: 0, celeriac: 0 }, fellBehind };
    for (const rate of RATES) {
      const total = rate * SECONDS;
      const cpu0 = { flower: cpuSec(flower?.pid), celeriac: cpuSec(celeriac?.pid) };
      for (const p of publishers) p.child.stdin?.write(`go ${rate / PUBLISHERS} ${Math.ceil(total / PUBLISHERS)}\n`);
      let sent = 0;
      let ms = 0;
      for (const p of publishers) {
        const [, n, took] = (await p.next()).split(' ');
        sent += Number(n);
        ms = Math.max(ms, Number(took));
      }
      const offered = Math.round(sent / (ms / 1000));
      const before = { ...counts };
      let after = await read();
      const end = Date.now() + 3000;
      while (Date.now() < end && ((run.flower && after.flower - before.flower < sent * 0.99) || (run.celeriac && after.celeriac - before.celeriac < sent * 0.99))) {
        await sleep(250);
        after = await read();
      }
      Object.assign(counts, after);
      const got = (k: 'flower' | 'celeriac' | 'folded') => after[k] - before[k];
      const keptUp = (k: 'flower' | 'celeriac' | 'folded') => got(k) >= sent * 0.99;
      const mark = (k: 'flower' | 'celeriac' | 'folded') => (!run[k === 'folded' ? 'celeriac' : k] ? '-' : `${got(k).toLocaleString('en')} ${keptUp(k) ? 'kept up' : `behind (${Math.round((100 * got(k)) / sent)}%)`}`);
      const cpu = { flower: cpuSec(flower?.pid) - cpu0.flower, celeriac: cpuSec(celeriac?.pid) - cpu0.celeriac };
      const perEvent = (k: 'flower' | 'celeriac') => (!run[k] || got(k) === 0 ? '-' : `${cpu[k].toFixed(1)} s, ${Math.round((cpu[k] * 1e6) / got(k))} us`);
      // Where Celeriac's missing events went: shed on arrival (messages), left out of timelines by
      // the write buffer (events), or cut off by Redis (subscribers dropped past the pub/sub
      // output-buffer limit, their messages lost uncounted). Cumulative over the steps.
      const shed = run.celeriac ? await metric(cUrl, 'celeriac_dashboard_event_messages_shed_total').catch(() => Number.NaN) : Number.NaN;
      const dropped = run.celeriac ? await metric(cUrl, 'celeriac_dashboard_events_dropped_total').catch(() => Number.NaN) : Number.NaN;
      result.rows.push(`| ${rate.toLocaleString('en')} | ${offered.toLocaleString('en')} | ${mark('flower')} | ${mark('celeriac')} | ${mark('folded')} | ${shed} / ${dropped} / ${cutOffs} | ${perEvent('flower')} | ${perEvent('celeriac')} | ${peak.flower} | ${peak.celeriac} |`);
      process.stdout.write(`${result.rows.at(-1)}\n`);
      // A side's ceiling is the last rate it kept up with before it first fell behind.
      for (const k of ['flower', 'celeriac'] as const) {
        if (!run[k] || fellBehind[k]) continue;
        if (keptUp(k)) result.ceiling[k] = rate;
        else fellBehind[k] = true;
      }
      if (untilBehind && (fellBehind.flower || fellBehind.celeriac)) break;
    }
    return result;
  } finally {
    clearInterval(sampler);
    await db.end().catch(() => {});
    if (flower !== undefined) await stopChild(flower, 10_000);
    if (celeriac !== undefined) await stopChild(celeriac, 10_000);
  }
}

try {
  await until('redis', async () => (await app.broker.connect().then(() => true)));
  const publishers: Publisher[] = Array.from({ length: PUBLISHERS }, (_, i) => {
    const child = start(process.execPath, ['--import', 'tsx', 'bench/dashboard/side-publisher.ts', BROKER, String(i * 10_000_000), flags.multi], {}, true);
    return { child, next: lines(child) };
  });
  for (const p of publishers) if ((await p.next()) !== 'ready') throw new Error('publisher failed to start');
  process.stdout.write(`${HEADER}\n`);
  const ladders = flags.sides === 'each'
    ? [await ladder({ flower: true, celeriac: false }, publishers, true), await ladder({ flower: false, celeriac: true }, publishers, true)]
    : [await ladder(RUN, publishers, false)];
  for (const p of publishers) p.child.stdin?.end('stop\n');
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const rows = ladders.flatMap((l) => l.rows);
  let summary = '';
  if (flags.sides === 'each') {
    const f = ladders[0]?.ceiling.flower ?? 0;
    const c = ladders[1]?.ceiling.celeriac ?? 0;
    // A side that never fell behind kept up with the whole ladder: its ceiling is a lower bound.
    const atLeast = (l: Ladder | undefined, k: 'flower' | 'celeriac') => (l?.fellBehind[k] === true ? '' : 'at least ');
    const bound = atLeast(ladders[0], 'flower') !== '' || atLeast(ladders[1], 'celeriac') !== '';
    const ratio = f === 0 ? '-' : `${(c / f).toFixed(1)}x${bound ? ', only a bound: a side never fell behind' : ''}`;
    summary = `\nEach side alone, one after the other on the same stream, until it fell behind: Flower kept up with ${atLeast(ladders[0], 'flower')}${f.toLocaleString('en')} events/s, Celeriac with ${atLeast(ladders[1], 'celeriac')}${c.toLocaleString('en')} events/s (${ratio}).\n`;
  }
  process.stdout.write(`\nload average at the end: ${load}\n\nsides ${flags.sides}, publishers ${PUBLISHERS}, events per message ${flags.multi}\n\n${HEADER}\n${rows.join('\n')}\n${summary}`);
} finally {
  for (const c of children.reverse()) c.kill('SIGTERM');
  await app.close().catch(() => {});
  const client = new pg.Client({ connectionString: flags['database-url'] });
  await client.connect().then(() => client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`)).finally(() => client.end()).catch(() => {});
}
