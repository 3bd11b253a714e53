/**
 * How side-by-side.ts and store-bench.ts start the dashboard process of a checkout: the built
 * packages with plain node (side-dashboard.mjs, as `celeriac flower` runs) or the sources
 * through tsx (side-dashboard.ts, as the dashboard ran before it had a build).
 * CELERIAC_BENCH_DASHBOARD_NODE_ARGS: node options for the dashboard process, split at spaces
 * (NODE_OPTIONS refuses some and would reach every process): e.g. `--cpu-prof --cpu-prof-dir
 * /tmp/prof`, or `--heapsnapshot-signal=SIGUSR2` to write a heap snapshot when signalled.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Node arguments (before the dashboard's own) for `runner` in the checkout at `root`; `runner` defaults to dist where the checkout has it. */
export function sideDashboard(root: string, runner?: string): string[] {
  const mjs = join(root, 'bench/dashboard/side-dashboard.mjs');
  const use = runner ?? (existsSync(mjs) ? 'dist' : 'tsx');
  const node = (process.env['CELERIAC_BENCH_DASHBOARD_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  if (use === 'dist') return [...node, mjs];
  if (use === 'tsx') return [...node, '--import', 'tsx', join(root, 'bench/dashboard/side-dashboard.ts')];
  throw new Error(`--runner must be dist or tsx, got ${JSON.stringify(runner)}`);
}
