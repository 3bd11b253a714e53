/**
 * How side-by-side.ts and store-bench.ts start the dashboard process of a checkout: the built
 * packages with plain node (side-dashboard.mjs, as `celeriac flower` runs) or the sources
 * through tsx (side-dashboard.ts, as the dashboard ran before it had a build).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Node arguments (before the dashboard's own) for `runner` in the checkout at `root`; `runner` defaults to dist where the checkout has it. */
export function sideDashboard(root: string, runner?: string): string[] {
  const mjs = join(root, 'bench/dashboard/side-dashboard.mjs');
  const use = runner ?? (existsSync(mjs) ? 'dist' : 'tsx');
  if (use === 'dist') return [mjs];
  if (use === 'tsx') return ['--import', 'tsx', join(root, 'bench/dashboard/side-dashboard.ts')];
  throw new Error(`--runner must be dist or tsx, got ${JSON.stringify(runner)}`);
}
