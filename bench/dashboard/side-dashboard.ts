/**
 * The Celeriac side of bench/dashboard/side-by-side.ts: a dashboard on a broker URL, history in
 * Postgres under the given schema, in its own process (so its RSS and CPU are its own).
 *
 *   node --import tsx bench/dashboard/side-dashboard.ts <broker-url> <port> <schema> [database-url] [keep]
 *
 * `keep`: no retention (store-bench.ts's data is dated 2026-11-01, older than the 7 days kept).
 */
import { createApp } from 'celeriac';
import { pino } from 'pino';
import { startDashboard } from '../../packages/dashboard/src/index.js';

const [brokerUrl, port, schema, databaseUrl = 'postgres://postgres@127.0.0.1:5432/postgres', keep] = process.argv.slice(2);
if (brokerUrl === undefined || port === undefined || schema === undefined) {
  process.stderr.write('usage: side-dashboard.ts <broker-url> <port> <schema> [database-url] [keep]\n');
  process.exit(2);
}
const app = createApp({ broker: brokerUrl }, { env: {}, logger: pino({ level: 'silent' }) });
const d = await startDashboard({ app, port: Number(port), address: '127.0.0.1', dataDir: null, databaseUrl, storeOptions: keep === 'keep' ? { schema, maxAgeMs: 1e13, failureMaxAgeMs: 1e13 } : { schema }, ...(keep === 'keep' ? { maxTasks: 1e9 } : {}), unauthenticatedApi: true, backfill: 0 });
process.stdout.write(`ready ${d.url}\n`);
const stop = async () => {
  await d.close();
  await app.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
