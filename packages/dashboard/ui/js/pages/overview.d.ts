// Types of overview.js for the unit tests (the browser loads the .js as it is).
export interface OverviewState {
  points: { t: number; succeeded?: number; failed?: number; p50?: number | null }[];
  queueDepth: { t: number; queues: Record<string, number> }[];
  counts: Record<string, number> | null;
  workers?: unknown;
  events?: unknown;
}
export function mergeOverview(state: OverviewState, doc: unknown): OverviewState;
export function render(ctx: unknown): Promise<void>;
