/**
 * side-dashboard.ts compiled: the same dashboard process, run with plain node against the built
 * packages (`npm run build`), as `celeriac flower` runs for a user: no tsx, no TypeScript
 * compiled in memory. side-by-side.ts and store-bench.ts use it when it exists (their
 * `--runner tsx` picks side-dashboard.ts instead, as the dashboard ran before it was built).
 *
 *   node bench/dashboard/side-dashboard.mjs <broker-url> <port> <schema> [database-url] [keep]
 *
 * CELERIAC_BENCH_MEMORY_LOG=<file>: appends process.memoryUsage() and the dashboard's counters
 * once a second (where the RSS is: V8 heap, external, array buffers).
 */
import { appendFileSync } from 'node:fs';
import { createApp } from 'celeriac';
import * as dashboard from '@celeriac/dashboard';
import { pino } from 'pino';

const [brokerUrl, port, schema, databaseUrl = 'postgres://postgres@127.0.0.1:5432/postgres', keep] = process.argv.slice(2);
if (brokerUrl === undefined || port === undefined || schema === undefined) {
  process.stderr.write('usage: side-dashboard.mjs <broker-url> <port> <schema> [database-url] [keep]\n');
  process.exit(2);
}
const app = createApp({ broker: brokerUrl }, { env: {}, logger: pino({ level: 'silent' }) });
// As `celeriac flower` runs (cli.ts); CELERIAC_BENCH_HEAP_GROWING=<percent> or `v8` (V8's own factor) to compare.
const growingEnv = process.env['CELERIAC_BENCH_HEAP_GROWING'];
const growing = growingEnv === 'v8' ? {} : growingEnv !== undefined && growingEnv !== '' ? { heapGrowingPercent: Number(growingEnv) } : dashboard.FLOWER_HEAP_GROWING_PERCENT === undefined ? {} : { heapGrowingPercent: dashboard.FLOWER_HEAP_GROWING_PERCENT };
const d = await dashboard.startDashboard({ ...growing, app, port: Number(port), address: '127.0.0.1', dataDir: null, databaseUrl, storeOptions: keep === 'keep' ? { schema, maxAgeMs: 1e13, failureMaxAgeMs: 1e13 } : { schema }, ...(keep === 'keep' ? { maxTasks: 1e9 } : {}), unauthenticatedApi: true, backfill: 0 });
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
