// Types of side-dashboard-run.mjs for side-dashboard.ts (plain node loads the .mjs as it is).
export function runSideDashboard(dashboard: { startDashboard: (options: never) => Promise<{ url: string; close(): Promise<void> }>; FLOWER_HEAP_GROWING_PERCENT?: number }, entry: string): Promise<void>;
