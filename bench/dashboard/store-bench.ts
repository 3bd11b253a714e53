/**
 * The dashboard's history store, measured on its own (no broker, no HTTP): how fast batches
 * of task events go in, how much memory the dashboard process holds, and how long the tasks
 * page query takes with filters and search, at each size. See bench/README.md.
 *
 *   npm run bench:dashboard -- [--sizes 100000,1000000] [--store pglite,postgres] [--batch 2000]
 *                              [--queries 20] [--database-url postgres://...]
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openHistoryStore } from '../../packages/dashboard/src/store/index.js';
import type { HistoryStore, TaskQuery } from '../../packages/dashboard/src/store/index.js';
import { collectGarbage, percentile } from '../lib/stats.js';
import { bulkLoad } from './bulk-load.js';
import { sideDashboard } from './side-dashboard-args.js';
import { eventBatches } from './events.js';
import { SHAPES } from './query-shapes.js';

const USAGE = `Usage: npm run bench:dashboard -- [flags]
  --sizes <n,n>        task counts to measure at, cumulative (default 100000,1000000)
  --store <s,s>        pglite, postgres or both (default pglite,postgres)
  --batch <n>          events per writeEvents call (default 2000)
  --queries <n>        runs of each query shape per size (default 20)
  --database-url <u>   Postgres server (default postgres://postgres@127.0.0.1:5432/postgres)
  --keep-schema <name> Postgres: fill this schema and keep it afterwards (to EXPLAIN queries)
  --http               Postgres: also send the mix to /api/tasks of a dashboard server in its own
                       process (side-dashboard.mjs, the built packages) and read that process's RSS
  --runner <r,r>       the --http server: dist (default, plain node) and/or tsx (the sources, as
                       before the build); with both, each size is measured on one server of each
  --fill <how>         events (writeEvents, measures ingest) or sql (Postgres only: rows made in
                       SQL by bulk-load.ts in a throw-away database, to reach 1M tasks quickly)
  --reuse              no fill: measure the tasks a run with --fill sql --keep-schema left (give
                       its database as --database-url, the same --keep-schema, and its size; the
                       store migrates it first, as a dashboard upgraded in place would)
`;

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    store: { type: 'string', default: 'pglite,postgres' },
    batch: { type: 'string', default: '2000' },
    queries: { type: 'string', default: '20' },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'keep-schema': { type: 'string' },
    fill: { type: 'string', default: 'events' },
    http: { type: 'boolean', default: false },
    reuse: { type: 'boolean', default: false },
    runner: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const SIZES = flags.sizes.split(',').map(Number).sort((a, b) => a - b);
const STORES = flags.store.split(',') as ('pglite' | 'postgres')[];
const BATCH = Number(flags.batch);
const QUERIES = Number(flags.queries);
const FILL = flags.fill;
const REUSE = flags.reuse;
if (REUSE && (flags['keep-schema'] === undefined || SIZES.length !== 1 || STORES.join() !== 'postgres')) {
  process.stderr.write('--reuse needs --keep-schema, one size (the tasks it holds) and --store postgres\n');
  process.exit(2);
}
const RUNNERS = (flags.runner ?? 'dist').split(',');
if ((FILL !== 'events' && FILL !== 'sql') || (FILL === 'sql' && STORES.includes('pglite')) || SIZES.some((n) => !Number.isInteger(n) || n <= 0) || !(BATCH > 0) || !(QUERIES > 0) || STORES.some((s) => s !== 'pglite' && s !== 'postgres')) {
  process.stderr.write(USAGE);
  process.exit(2);
}

// --- measuring -------------------------------------------------------------------------------

function rssMb(): number {
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
}


interface SizeResult {
  tasks: number;
  events: number;
  ingestSeconds: number;
  eventsPerSecond: number;
  rssMb: number;
  queries: { label: string; p50: number; p95: number; total: string }[];
  allP50: number;
  allP95: number;
  searchP95: number;
  /** The --http server's runner (dist or tsx), on its rows. */
  runner?: string;
}

async function measureQueries(store: HistoryStore, n: number): Promise<Pick<SizeResult, 'queries' | 'allP50' | 'allP95' | 'searchP95'>> {
  const all: number[] = [];
  const search: number[] = [];
  const queries: SizeResult['queries'] = [];
  for (const shape of SHAPES) {
    await store.queryTasks(shape.query(QUERIES, n)); // warm-up
    const times: number[] = [];
    let total = '';
    for (let k = 0; k < QUERIES; k++) {
      const t0 = performance.now();
      const page = await store.queryTasks(shape.query(k, n));
      times.push(performance.now() - t0);
      total = page.totalExact ? String(page.total) : `${page.total}+`;
    }
    all.push(...times);
    if (shape.label.startsWith('search')) search.push(...times);
    queries.push({ label: shape.label, p50: percentile(times, 50), p95: percentile(times, 95), total });
  }
  return { queries, allP50: percentile(all, 50), allP95: percentile(all, 95), searchP95: percentile(search, 95) };
}


// --- /api/tasks over HTTP, from a dashboard server in its own process ---------------------------

/** The Flower-style parameters of a query (what the tasks page sends). */
function httpParams(q: TaskQuery): URLSearchParams {
  const p = new URLSearchParams();
  if (q.states !== undefined) p.set('state', q.states.join(','));
  if (q.name !== undefined) p.set('taskname', q.name);
  if (q.worker !== undefined) p.set('workername', q.worker);
  const field = q.timeField === 'started' ? 'started' : 'received';
  if (q.from !== undefined) p.set(`${field}_start`, new Date(q.from).toISOString());
  if (q.to !== undefined) p.set(`${field}_end`, new Date(q.to).toISOString());
  if (q.runtimeMin !== undefined) p.set('runtime_min', String(q.runtimeMin));
  if (q.runtimeMax !== undefined) p.set('runtime_max', String(q.runtimeMax));
  if (q.search !== undefined) p.set('search', q.search);
  if (q.sort !== undefined) p.set('sort_by', `${q.sort.dir === 'desc' ? '-' : ''}${q.sort.field}`);
  p.set('offset', String(q.offset ?? 0));
  p.set('limit', String(q.limit ?? 50));
  return p;
}

interface HttpServer { readonly url: string; readonly pid: number; stop(): Promise<void> }

async function startServer(databaseUrl: string, schema: string, runner: string): Promise<HttpServer> {
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address() as AddressInfo;
      srv.close(() => resolve(p));
    });
  });
  const child = spawn(process.execPath, [...sideDashboard(fileURLToPath(new URL('../../', import.meta.url)), runner), 'memory://', String(port), schema, databaseUrl, 'keep'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready ')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`side-dashboard exited with ${code}`)));
  });
  // Its RSS once started and idle (the history already holds the first size's tasks).
  await new Promise((r) => setTimeout(r, 3000));
  const idle = procRssMb(child.pid as number);
  process.stdout.write(`  dashboard server (${runner}) started, idle: RSS ${idle.rss} MB (peak ${idle.peak} MB)\n`);
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** VmRSS and VmHWM (peak) of a process, MB. */
function procRssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

async function measureHttp(server: HttpServer, n: number): Promise<Pick<SizeResult, 'queries' | 'allP50' | 'allP95' | 'searchP95'> & { serverRss: number; serverPeak: number }> {
  const all: number[] = [];
  const search: number[] = [];
  const queries: SizeResult['queries'] = [];
  const get = async (q: TaskQuery) => {
    const res = await fetch(`${server.url}/api/tasks?${httpParams(q).toString()}`);
    if (!res.ok) throw new Error(`/api/tasks answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as Record<string, unknown>;
    return `${res.headers.get('x-total-count')}${res.headers.get('x-total-exact') === 'false' ? '+' : ''} (${Object.keys(body).length} rows)`;
  };
  for (const shape of SHAPES) {
    await get(shape.query(QUERIES, n));
    const times: number[] = [];
    let total = '';
    for (let k = 0; k < QUERIES; k++) {
      const t0 = performance.now();
      total = await get(shape.query(k, n));
      times.push(performance.now() - t0);
    }
    all.push(...times);
    if (shape.label.startsWith('search')) search.push(...times);
    queries.push({ label: shape.label, p50: percentile(times, 50), p95: percentile(times, 95), total });
  }
  const mem = procRssMb(server.pid);
  return { queries, allP50: percentile(all, 50), allP95: percentile(all, 95), searchP95: percentile(search, 95), serverRss: mem.rss, serverPeak: mem.peak };
}

/** With --fill sql: a throw-away database on the server of --database-url, and its URL. */
async function throwAwayDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `dash_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: flags['database-url'] });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(flags['database-url']);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: flags['database-url'] });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

const httpResults: SizeResult[] = [];

async function benchStore(kind: 'pglite' | 'postgres'): Promise<SizeResult[]> {
  const dataDir = kind === 'pglite' ? mkdtempSync(join(tmpdir(), 'celeriac-dash-bench-')) : undefined;
  const schema = flags['keep-schema'] ?? `dash_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const scratch = FILL === 'sql' && !REUSE ? await throwAwayDatabase() : null;
  const databaseUrl = scratch?.url ?? flags['database-url'];
  if (scratch !== null && flags['keep-schema'] !== undefined) process.stdout.write(`database kept: ${databaseUrl}\n`);
  const store = await openHistoryStore(kind === 'pglite' ? { dataDir, maxTasks: 10_000_000 } : { databaseUrl, schema, maxTasks: 10_000_000 });
  const loader = scratch === null ? null : new pg.Client({ connectionString: databaseUrl });
  await loader?.connect();
  const results: SizeResult[] = [];
  const servers = new Map<string, HttpServer>();
  try {
    let done = 0;
    let events = 0;
    let seconds = 0;
    for (const n of SIZES) {
      collectGarbage();
      const t0 = performance.now();
      if (REUSE) {
        process.stdout.write(`  reusing ${n.toLocaleString('en')} tasks in ${schema} of ${databaseUrl}\n`);
      } else if (loader !== null) {
        await bulkLoad(loader, schema, done, n, (line) => process.stdout.write(`${line}\n`));
        events += (n - done) * 3;
      } else {
        for (const batch of eventBatches(done, n, BATCH)) {
          await store.writeEvents(batch);
          events += batch.length;
        }
      }
      seconds += (performance.now() - t0) / 1000;
      done = n;
      collectGarbage();
      const rss = rssMb();
      const q = await measureQueries(store, n);
      // A SQL fill says nothing of the ingest rate.
      const rate = loader === null && !REUSE ? Math.round(events / seconds) : Number.NaN;
      const r: SizeResult = { tasks: n, events, ingestSeconds: seconds, eventsPerSecond: rate, rssMb: Math.max(rss, rssMb()), ...q };
      results.push(r);
      process.stdout.write(`${kind} ${n} tasks: ${loader === null ? `${r.eventsPerSecond} events/s` : `SQL fill ${seconds.toFixed(0)} s`}, RSS ${r.rssMb} MB, query p50 ${r.allP50.toFixed(1)} ms p95 ${r.allP95.toFixed(1)} ms (search p95 ${r.searchP95.toFixed(1)} ms)\n`);
      for (const x of q.queries) process.stdout.write(`    ${x.label.padEnd(30)} p50 ${x.p50.toFixed(1).padStart(7)} ms  p95 ${x.p95.toFixed(1).padStart(7)} ms  total ${x.total}\n`);
      if (flags.http && kind === 'postgres') {
        for (const runner of RUNNERS) {
          let server = servers.get(runner);
          if (server === undefined) servers.set(runner, (server = await startServer(databaseUrl, schema, runner)));
          const h = await measureHttp(server, n);
          httpResults.push({ ...r, ...h, rssMb: h.serverRss, runner });
          process.stdout.write(`  /api/tasks (${runner}): p50 ${h.allP50.toFixed(1)} ms p95 ${h.allP95.toFixed(1)} ms (search p95 ${h.searchP95.toFixed(1)} ms), server RSS ${h.serverRss} MB (peak ${h.serverPeak} MB)\n`);
          for (const x of h.queries) process.stdout.write(`    ${x.label.padEnd(30)} p50 ${x.p50.toFixed(1).padStart(7)} ms  p95 ${x.p95.toFixed(1).padStart(7)} ms  total ${x.total}\n`);
        }
      }
    }
  } finally {
    for (const server of servers.values()) await server.stop();
    await loader?.end();
    await store.close();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    if (scratch !== null) {
      if (flags['keep-schema'] === undefined) await scratch.drop();
    } else if (kind === 'postgres' && flags['keep-schema'] === undefined && !REUSE) {
      const c = new pg.Client({ connectionString: flags['database-url'] });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
  return results;
}

function table(kind: string, rows: SizeResult[]): string {
  const lines = [
    `### ${kind}`, '',
    '| Tasks | Events | Ingest (events/s) | Dashboard RSS (MB) | queryTasks p50 (ms) | p95 (ms) | search p95 (ms) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.tasks.toLocaleString('en')} | ${r.events.toLocaleString('en')} | ${Number.isNaN(r.eventsPerSecond) ? 'SQL fill' : r.eventsPerSecond.toLocaleString('en')} | ${r.rssMb} | ${r.allP50.toFixed(1)} | ${r.allP95.toFixed(1)} | ${r.searchP95.toFixed(1)} |`),
    '', '| Query | ' + rows.map((r) => `p50 / p95 at ${r.tasks.toLocaleString('en')} (ms)`).join(' | ') + ' |',
    '| --- | ' + rows.map(() => '---:').join(' | ') + ' |',
    ...SHAPES.map((s, i) => `| ${s.label} | ${rows.map((r) => `${r.queries[i]?.p50.toFixed(1)} / ${r.queries[i]?.p95.toFixed(1)}`).join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}

const sections: string[] = [
  `# Dashboard history store bench, ${new Date().toISOString()} on ${hostname()}`, '',
  `Batches of ${BATCH} events, ${QUERIES} runs per query shape, 3 events per task (received, started, succeeded or failed; 5% fail).`,
  'RSS is the bench process (the dashboard side); with Postgres the database runs in its own server process.', '',
];
for (const kind of STORES) sections.push(table(kind, await benchStore(kind)));
for (const runner of RUNNERS) {
  const rows = httpResults.filter((r) => r.runner === runner);
  if (rows.length > 0) sections.push(table(`postgres, /api/tasks over HTTP (RSS: the dashboard server process, run by ${runner})`, rows));
}
const out = sections.join('\n');
process.stdout.write(`\n${out}\n`);
const dir = new URL('../results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const file = new URL(`${new Date().toISOString().slice(0, 10)}-${hostname()}-dashboard-store-${STORES.join("-")}${FILL === 'sql' ? '-sql' : ''}.md`, dir);
writeFileSync(file, out);
process.stdout.write(`written to ${file.pathname}\n`);
