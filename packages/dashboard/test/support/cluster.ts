/**
 * The cluster the dashboard tests run against: a {@link MixedFleet} (Redis with a random
 * kombu key prefix, Celeriac and Python Celery workers) and dashboards on it whose history
 * lives in Postgres under a random schema (fast to create and drop; the embedded default is
 * covered by the restart test).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { MixedFleet, mixedFleetReady } from '../../../celeriac/test/interop/mixed-fleet.js';
import { startDashboard, type DashboardOptions, type RunningDashboard } from '../../src/dashboard.js';

export const PG_URL = process.env['CELERIAC_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when Postgres answers; throws under CI when it does not. */
export async function postgresReady(what: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (error) {
    if (process.env['CI'] === 'true') throw new Error(`${what}: Postgres not reachable at ${PG_URL} (required under CI)`, { cause: error });
    console.warn(`[skip] ${what}: Postgres not reachable at ${PG_URL}`);
    return false;
  }
}

/** Redis, Python Celery and Postgres all there. */
export async function clusterReady(what: string): Promise<boolean> {
  return (await mixedFleetReady(what)) && (await postgresReady(what));
}

/** A fleet plus dashboards with their own schema. */
export class DashboardCluster {
  readonly fleet: MixedFleet;
  readonly schema = `dash_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  readonly #dashboards: RunningDashboard[] = [];

  constructor(tag: string, db = 9) {
    this.fleet = new MixedFleet(tag, db);
  }

  /** Starts a dashboard on the fleet's broker (port 0: a free one), history in this cluster's schema. */
  async dashboard(options: Partial<DashboardOptions> = {}): Promise<RunningDashboard> {
    const d = await startDashboard({
      app: options.app ?? this.fleet.app(),
      port: 0,
      address: '127.0.0.1',
      dataDir: null,
      databaseUrl: PG_URL,
      storeOptions: { schema: this.schema },
      unauthenticatedApi: true,
      // The shared test Redis holds other suites' results: backfill only where a test asks.
      backfill: 0,
      ingest: { inspectIntervalMs: 2000, queuePollMs: 1000, enableEventsMs: 2000, flushMs: 50 },
      ...options,
    });
    this.#dashboards.push(d);
    return d;
  }

  async close(): Promise<void> {
    for (const d of this.#dashboards.splice(0)) await d.close().catch(() => {});
    await this.fleet.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    } finally {
      await client.end();
    }
  }
}
