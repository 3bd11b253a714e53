/**
 * The Celeriac side of side-by-side.ts and store-bench.ts on the dashboard's sources, through
 * tsx (`--runner tsx`), as the dashboard ran before it had a build.
 *
 *   node --import tsx bench/dashboard/side-dashboard.ts <broker-url> <port> <schema> [database-url] [keep]
 *
 * Arguments and environment: side-dashboard-run.mjs.
 */
import * as dashboard from '../../packages/dashboard/src/index.js';
import { runSideDashboard } from './side-dashboard-run.mjs';

await runSideDashboard(dashboard, 'side-dashboard.ts');
