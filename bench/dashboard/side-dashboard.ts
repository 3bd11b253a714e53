/**
 * The Celeriac side of bench/dashboard/side-by-side.ts: a dashboard on a broker URL, history in
 * Postgres under the given schema, in its own process (so its RSS and CPU are its own).
 *
 *   node --import tsx bench/dashboard/side-dashboard.ts <broker-url> <port> <schema> [database-url]
 */
import { createApp } from 'celeriac';
import { pino } from 'pino';
import { startDashboard } from '../../packages/dashboard/src/index.js';

const [brokerUrl, port, schema, databaseUrl = 'postgres://postgres@127.0.0.1:5432/postgres'] = process.argv.slice(2);
if (brokerUrl === undefined || port === undefined || schema === undefined) {
  process.stderr.write('usage: side-dashboard.ts <broker-url> <port> <schema> [database-url]\n');
  process.exit(2);
}
const app = createApp({ broker: brokerUrl }, { env: {}, logger: pino({ level: 'silent' }) });
const d = await startDashboard({ app, port: Number(port), address: '127.0.0.1', dataDir: null, databaseUrl, storeOptions: { schema }, unauthenticatedApi: true, backfill: 0 });
process.stdout.write(`ready ${d.url}\n`);
const stop = async () => {
  await d.close();
  await app.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
