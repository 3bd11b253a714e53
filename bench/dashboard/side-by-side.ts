/**
 * Celeriac's dashboard beside real Flower 2.0.1 (../shared/oracles) on one event stream: both
 * subscribe to the same Redis (a private redis-server), this script publishes synthetic task
 * events (bench/dashboard/events.ts: received, started, succeeded/failed) at rising rates, and
 * reads how many events each has taken in (`flower_events_total` summed, and Celeriac's
 * `celeriac_dashboard_events_ingested_total`) and each process's RSS.
 *
 *   node --import tsx bench/dashboard/side-by-side.ts [--rates 2000,5000,10000,20000] [--seconds 6]
 *        [--port 7604] [--oracles ../shared/oracles] [--database-url postgres://...]
 *
 * A rate is "kept up with" when the consumer counted at least 99% of the step's events within
 * 3 s after the step ended. Ports: redis --port, Flower --port+1, Celeriac --port+2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp } from 'celeriac';
import { encodeEventEnvelope, eventRoutingKey } from '../../packages/celeriac/src/protocol/events.js';
import pg from 'pg';
import { pino } from 'pino';
import { eventBatches } from './events.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    rates: { type: 'string', default: '2000,5000,10000,20000' },
    seconds: { type: 'string', default: '6' },
    port: { type: 'string', default: '7604' },
    oracles: { type: 'string', default: resolve(ROOT, '../shared/oracles') },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const RATES = flags.rates.split(',').map(Number);
const SECONDS = Number(flags.seconds);
const PORT = Number(flags.port);
const BROKER = `redis://127.0.0.1:${PORT}/0`;
const SCHEMA = `dash_side_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
const children: ChildProcess[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  child.stdout?.resume();
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
function rssMb(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

start('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
const app = createApp({ broker: BROKER }, { env: {}, logger: pino({ level: 'silent' }) });
try {
  await until('redis', async () => (await app.broker.connect().then(() => true)));
  const flower = start('/usr/bin/python3', ['-m', 'flower', '-b', BROKER, 'flower', `--port=${PORT + 1}`, '--address=127.0.0.1'], { PYTHONPATH: join(flags.oracles, 'flower-2.0.1'), FLOWER_UNAUTHENTICATED_API: 'true' });
  const celeriac = start(process.execPath, ['--import', 'tsx', 'bench/dashboard/side-dashboard.ts', BROKER, String(PORT + 2), SCHEMA, flags['database-url']]);
  const fUrl = `http://127.0.0.1:${PORT + 1}`;
  const cUrl = `http://127.0.0.1:${PORT + 2}`;
  await until('Flower', async () => (await fetch(`${fUrl}/healthcheck`)).ok);
  await until('Celeriac', async () => (await fetch(`${cUrl}/healthcheck`)).ok);
  await sleep(2000); // both subscribed
  const counts = { flower: 0, celeriac: 0 };
  const read = async () => ({ flower: await metric(fUrl, 'flower_events_total'), celeriac: await metric(cUrl, 'celeriac_dashboard_events_ingested_total') });
  const rows: string[] = [];
  let next = 0;
  const batches = eventBatches(0, 10_000_000, 100);
  for (const rate of RATES) {
    const total = rate * SECONDS;
    let sent = 0;
    const t0 = Date.now();
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
      const publishes: Promise<void>[] = [];
      while (sent < due) {
        const batch = batches.next().value as ReturnType<typeof eventBatches> extends Generator<infer E> ? E : never;
        for (const e of batch) {
          publishes.push(app.broker.publishFanout('celeryev', eventRoutingKey(e.type), encodeEventEnvelope(e, { hostname: String(e['hostname']), routingKey: eventRoutingKey(e.type), deliveryTag: String(next++) })));
        }
        sent += batch.length;
      }
      await Promise.all(publishes);
      await sleep(20);
    }
    const offered = Math.round(sent / ((Date.now() - t0) / 1000));
    const before = { ...counts };
    let after = await read();
    const end = Date.now() + 3000;
    while (Date.now() < end && (after.flower - before.flower < sent * 0.99 || after.celeriac - before.celeriac < sent * 0.99)) {
      await sleep(250);
      after = await read();
    }
    Object.assign(counts, after);
    const got = (k: 'flower' | 'celeriac') => after[k] - before[k];
    const mark = (k: 'flower' | 'celeriac') => (got(k) >= sent * 0.99 ? 'kept up' : `behind (${Math.round((100 * got(k)) / sent)}%)`);
    rows.push(`| ${rate.toLocaleString('en')} | ${offered.toLocaleString('en')} | ${got('flower').toLocaleString('en')} ${mark('flower')} | ${got('celeriac').toLocaleString('en')} ${mark('celeriac')} | ${rssMb(flower.pid)} | ${rssMb(celeriac.pid)} |`);
    process.stdout.write(`${rows.at(-1)}\n`);
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stdout.write(`\nload average at the end: ${load}\n\n| target events/s | offered events/s | Flower counted | Celeriac counted | Flower RSS MB | Celeriac RSS MB |\n| ---: | ---: | --- | --- | ---: | ---: |\n${rows.join('\n')}\n`);
} finally {
  for (const c of children.reverse()) c.kill('SIGTERM');
  await app.close().catch(() => {});
  const client = new pg.Client({ connectionString: flags['database-url'] });
  await client.connect().then(() => client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`)).finally(() => client.end()).catch(() => {});
}
