/**
 * The body of the dashboard process of side-by-side.ts and store-bench.ts, whichever dashboard
 * module it runs: side-dashboard.mjs passes the built package (plain node, as `celeriac flower`
 * runs), side-dashboard.ts the sources (through tsx, as the dashboard ran before it was built).
 *
 *   <entry> <broker-url> <port> <schema> [database-url] [keep]
 *
 * `keep`: no retention (store-bench.ts's data is dated 2026-11-01, older than the 7 days kept).
 * CELERIAC_BENCH_HEAP_GROWING=<percent> or `v8` (V8's own factor): the heap growing factor, by
 * default the one `celeriac flower` sets. CELERIAC_BENCH_MEMORY_LOG=<file>: appends
 * process.memoryUsage() once a second (where the RSS is: V8 heap, external, array buffers).
 * CELERIAC_BENCH_INGEST=<JSON>: ingest options (IngestOptions, e.g. '{"maxBuffered":8000}'), to
 * price a bound before changing its default.
 */
import { appendFileSync } from 'node:fs';
import { createApp } from 'celeriac';
import { pino } from 'pino';

/**
 * Starts the dashboard of `dashboard` (the module: startDashboard, FLOWER_HEAP_GROWING_PERCENT)
 * with the process's arguments, prints `ready <url>`, and stops on SIGTERM or SIGINT.
 */
export async function runSideDashboard(dashboard, entry) {
  const [brokerUrl, port, schema, databaseUrl = 'postgres://postgres@127.0.0.1:5432/postgres', keep] = process.argv.slice(2);
  if (brokerUrl === undefined || port === undefined || schema === undefined) {
    process.stderr.write(`usage: ${entry} <broker-url> <port> <schema> [database-url] [keep]\n`);
    process.exit(2);
  }
  const app = createApp({ broker: brokerUrl }, { env: {}, logger: pino({ level: 'silent' }) });
  const growingEnv = process.env['CELERIAC_BENCH_HEAP_GROWING'];
  const growing = growingEnv === 'v8' ? {} : growingEnv !== undefined && growingEnv !== '' ? { heapGrowingPercent: Number(growingEnv) } : dashboard.FLOWER_HEAP_GROWING_PERCENT === undefined ? {} : { heapGrowingPercent: dashboard.FLOWER_HEAP_GROWING_PERCENT };
  const ingestEnv = process.env['CELERIAC_BENCH_INGEST'];
  const ingest = ingestEnv !== undefined && ingestEnv !== '' ? { ingest: JSON.parse(ingestEnv) } : {};
  const d = await dashboard.startDashboard({ ...growing, ...ingest, app, port: Number(port), address: '127.0.0.1', dataDir: null, databaseUrl, storeOptions: keep === 'keep' ? { schema, maxAgeMs: 1e13, failureMaxAgeMs: 1e13 } : { schema }, ...(keep === 'keep' ? { maxTasks: 1e9 } : {}), unauthenticatedApi: true, backfill: 0 });
  process.stdout.write(`ready ${d.url}\n`);
  const log = process.env['CELERIAC_BENCH_MEMORY_LOG'];
  if (log !== undefined && log !== '') {
    const mb = (n) => Math.round(n / 1048576);
    setInterval(() => {
      const m = process.memoryUsage();
      appendFileSync(log, `${new Date().toISOString()} rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}\n`);
    }, 1000).unref();
  }
  const stop = async () => {
    await d.close();
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}
