/**
 * The rig of the queue-age tests, on Redis (queue-age.test.ts) and RabbitMQ
 * (queue-age-amqp.test.ts): a producer app on a FakeClock two minutes behind (so an age is two
 * minutes and more), a dashboard on a schema of its own that polls `queues` every 200 ms, a
 * queue reader through the producer's broker (`pollMs` 0: every call reads), and one series of
 * the dashboard's /metrics at a time.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { createApp, type App } from 'celeriac';
import { FakeClock } from 'celeriac/testing';
import { startDashboard, type RunningDashboard } from '../../src/dashboard.js';
import { queueReaderFor, type QueueReader } from '../../src/ingest/queues.js';
import { PG_URL } from './cluster.js';

export interface QueueAgeRig {
  /** Epoch ms the producer's clock started at. */
  readonly start: number;
  readonly clock: FakeClock;
  readonly producer: App;
  readonly dash: RunningDashboard;
  readonly reader: QueueReader;
  /** The value of `series{queue="<queue>"}` in the dashboard's /metrics, or undefined. */
  scrape(series: string, queue: string): Promise<number | undefined>;
  /** Closes everything and drops the dashboard's schema. */
  close(): Promise<void>;
}

export async function startQueueAgeRig(url: string, queues: readonly string[]): Promise<QueueAgeRig> {
  const schema = `dash_qage_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const start = Date.now() - 120_000;
  const clock = new FakeClock(start);
  const silent = pino({ level: 'silent' });
  const producer = createApp({ broker: url }, { env: {}, clock, logger: silent });
  const dashApp = createApp({ broker: url }, { env: {}, logger: silent });
  const reader = queueReaderFor(url, producer.broker, {}, 0);
  const dash = await startDashboard({
    app: dashApp, port: 0, address: '127.0.0.1', dataDir: null, databaseUrl: PG_URL, storeOptions: { schema }, backfill: 0, unauthenticatedApi: true,
    ingest: { inspectIntervalMs: 60_000, queuePollMs: 200, enableEventsMs: 0, flushMs: 50, inspectTimeoutMs: 200, queues: [...queues] },
  });
  return {
    start,
    clock,
    producer,
    dash,
    reader,
    async scrape(series, queue) {
      const text = await (await fetch(`${dash.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${series}{queue="${queue}"} `));
      return line === undefined ? undefined : Number(line.split(' ')[1]);
    },
    async close() {
      await dash.close();
      await reader.close();
      await Promise.all([producer.close(), dashApp.close()]);
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
    },
  };
}
