/**
 * The dashboard's whole ingest path in one process, without a network: kombu envelopes go
 * through a memory broker to the EventReceiver, the Ingest (cluster state, metrics, write
 * buffer) and the history store, and the clock stops when the store has written every event.
 * Reports the end-to-end rate, the rate at which the envelopes could be offered, the Node
 * process's CPU per event, its peak RSS and the timeline entries the write buffer dropped
 * (a tree that drops them does less work per event).
 *
 *   node --import tsx bench/dashboard/ingest-path.ts [--events 90000] [--multi 1]
 *        [--store postgres|pglite] [--root <checkout>] [--database-url postgres://...]
 *
 * `--multi N` sends `task.multi` envelopes of N events; `--root` runs another checkout's
 * dashboard code (a before/after pair on one machine). The envelopes are encoded before the
 * clock starts, in slices of 1000 per macrotask as a socket would deliver them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type * as Celeriac from 'celeriac';
import type * as IngestModule from '../../packages/dashboard/src/ingest/ingest.js';
import type * as StoreModule from '../../packages/dashboard/src/store/index.js';
import { encodeEventEnvelope, eventRoutingKey, TASK_MULTI_ROUTING_KEY } from '../../packages/celeriac/src/protocol/events.js';
import { eventBatches } from './events.js';

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '90000' },
    multi: { type: 'string', default: '1' },
    store: { type: 'string', default: 'postgres' },
    root: { type: 'string', default: fileURLToPath(new URL('../../', import.meta.url)) },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const N = Number(flags.events);
const MULTI = Math.max(1, Number(flags.multi));
const { createApp } = await import(`${flags.root}/packages/celeriac/src/index.ts`) as typeof Celeriac;
const { Ingest } = await import(`${flags.root}/packages/dashboard/src/ingest/ingest.ts`) as typeof IngestModule;
const { openHistoryStore } = await import(`${flags.root}/packages/dashboard/src/store/index.ts`) as typeof StoreModule;

const schema = `bench_ingest_${process.pid}`;
const store = await openHistoryStore(flags.store === 'postgres' ? { databaseUrl: flags['database-url'], schema } : {});
const app = createApp({ broker: 'memory://' }, { env: {}, logger: pino({ level: 'silent' }) });
// The envelopes are offered faster than any store writes them: a queue that holds them all, so
// the run measures the whole path's CPU per event, not what a bounded queue sheds.
const ingest = new Ingest(app, store, { enableEventsMs: 0, inspectIntervalMs: 1e9, queuePollMs: 1e9, pruneMs: 1e9, maxPendingEventBytes: 2 ** 31 });
await ingest.start();
const envelopes: [string, string][] = [];
let tag = 0;
for (const batch of eventBatches(0, Math.ceil(N / 3), MULTI)) {
  const key = MULTI === 1 ? eventRoutingKey(batch[0]!.type) : TASK_MULTI_ROUTING_KEY;
  envelopes.push([key, encodeEventEnvelope(MULTI === 1 ? batch[0]! : batch, { hostname: 'w', routingKey: key, deliveryTag: String(tag++) })]);
}
const total = ingest.eventsIngested + envelopes.reduce((n, [key]) => n + (key === TASK_MULTI_ROUTING_KEY ? MULTI : 1), 0);
const written = () => (ingest as unknown as { eventsWritten: number }).eventsWritten;
const cpu0 = process.cpuUsage();
let rss = 0;
const t0 = performance.now();
for (let i = 0; i < envelopes.length; i += 1000) {
  for (const [key, raw] of envelopes.slice(i, i + 1000)) void app.broker.publishFanout('celeryev', key, raw);
  await new Promise((r) => setImmediate(r));
  rss = Math.max(rss, process.memoryUsage().rss);
}
const offeredMs = performance.now() - t0;
while (written() < ingest.eventsIngested || ingest.eventsIngested < total) {
  await ingest.flush().catch(() => {});
  await new Promise((r) => setTimeout(r, 5));
  rss = Math.max(rss, process.memoryUsage().rss);
}
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(`${JSON.stringify({
  root: flags.root, store: flags.store, multi: MULTI, events: ingest.eventsIngested, written: written(),
  timelineDropped: (ingest as unknown as { eventsDropped: number }).eventsDropped,
  offeredPerSec: Math.round((ingest.eventsIngested / offeredMs) * 1000), endToEndPerSec: Math.round((ingest.eventsIngested / ms) * 1000),
  nodeCpuUsPerEvent: +((cpu.user + cpu.system) / ingest.eventsIngested).toFixed(1), peakRssMb: Math.round(rss / 1048576),
  load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
})}\n`);
await ingest.close();
if (flags.store === 'postgres') await (store as unknown as { db: { query(sql: string): Promise<unknown> } }).db.query(`DROP SCHEMA ${schema} CASCADE`);
await store.close();
await app.close();
