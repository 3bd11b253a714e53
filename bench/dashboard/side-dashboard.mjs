/**
 * The Celeriac side of side-by-side.ts and store-bench.ts on the built packages (`npm run
 * build`), with plain node, as `celeriac flower` runs for a user: no tsx, no TypeScript compiled
 * in memory. Both use it where it exists (their `--runner tsx` picks side-dashboard.ts).
 *
 *   node bench/dashboard/side-dashboard.mjs <broker-url> <port> <schema> [database-url] [keep]
 *
 * Arguments and environment: side-dashboard-run.mjs.
 */
import * as dashboard from '@celeriac/dashboard';
import { runSideDashboard } from './side-dashboard-run.mjs';

await runSideDashboard(dashboard, 'side-dashboard.mjs');
