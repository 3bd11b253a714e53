/**
 * The Celeriac dashboard (`celeriac flower`): a Flower-compatible monitor with a history that
 * survives restarts. Embed it with {@link startDashboard}; the CLI is {@link runFlowerCli}.
 *
 * @module @celeriac/dashboard
 */
export { startDashboard, normalizePrefix, DASHBOARD_VERSION, DEFAULT_UI_DIR, FLOWER_HEAP_GROWING_PERCENT } from './dashboard.js';
export type { DashboardOptions, RunningDashboard } from './dashboard.js';
export { runFlowerCli } from './cli.js';
export type { FlowerCliContext } from './cli.js';
export { Ingest } from './ingest/ingest.js';
export type { IngestOptions } from './ingest/ingest.js';
export type { HealthReport } from './ingest/health-watch.js';
export { openHistoryStore } from './store/index.js';
export { seedDataDir as seedPgliteDataDir } from './store/pglite-template.js';
export { pgTransaction } from './store/sql-driver.js';
export type { HistoryStore, HistoryStoreOptions } from './store/index.js';
