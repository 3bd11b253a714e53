// Types of workers.js for the unit tests (the browser loads the .js as it is).
export const STALE_INSPECT_SEC: number;
export function workerRows(doc: unknown): (Record<string, unknown> & { hostname: string })[];
export function workerWarnings(w: Record<string, unknown>): string[];
export function render(ctx: unknown): Promise<void>;
